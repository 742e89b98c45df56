/**
 * Streamable HTTP at /mcp (stateful sessions, one MCP server per session sharing the services) and /healthz.
 * Host and Origin headers are checked against the bound address (DNS rebinding protection, from the SDK).
 */
import { randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { createServer, type Services } from "../server.js";

export interface RunningHttp {
  url: string;
  port: number;
  server: Server;
  sessions(): number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

export async function serveHttp(services: Services): Promise<RunningHttp> {
  const { config, log } = services;
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  let allowedHosts: string[] = [];
  let allowedOrigins: string[] = [];

  const http = createHttpServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log.error("http request failed", { error });
      if (!res.headersSent) sendJsonRpcError(res, 500, -32603, "internal server error");
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: "ok" }));
      return;
    }
    if (path !== "/mcp") {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: "not found: the MCP endpoint is /mcp" }));
      return;
    }
    const sessionId = header(req, "mcp-session-id");
    let body: unknown;
    if (req.method === "POST") {
      const read = await readJson(req);
      if (!read.ok) {
        sendJsonRpcError(res, read.status, -32700, read.message);
        return;
      }
      body = read.value;
    }
    if (sessionId) {
      const transport = sessions.get(sessionId);
      if (!transport) {
        sendJsonRpcError(res, 404, -32001, "Session not found: start a new session with initialize");
        return;
      }
      cancelOnDisconnect(transport, res, body);
      await transport.handleRequest(req, res, body);
      return;
    }
    if (req.method !== "POST" || !isInitializeRequest(body)) {
      sendJsonRpcError(res, 400, -32000, "Bad Request: no valid Mcp-Session-Id; send initialize first");
      return;
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableDnsRebindingProtection: true,
      allowedHosts,
      allowedOrigins,
      onsessioninitialized: (id) => {
        sessions.set(id, transport);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    const mcp = createServer(services);
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(config.port, config.host, () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  const hostForUrl = config.host.includes(":") ? `[${config.host}]` : config.host;
  allowedHosts = [...new Set([`${hostForUrl}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, ...config.allowedHosts])];
  allowedOrigins = [
    ...new Set([`http://${hostForUrl}:${port}`, `http://localhost:${port}`, `http://127.0.0.1:${port}`, ...config.allowedOrigins]),
  ];
  const url = `http://${hostForUrl}:${port}/mcp`;
  return {
    url,
    port,
    server: http,
    sessions: () => sessions.size,
    async close() {
      for (const transport of sessions.values()) await transport.close().catch(() => undefined);
      sessions.clear();
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      await closed;
    },
  };
}

/**
 * When the client goes away before a request's response is complete, the request is cancelled as if the client
 * had sent notifications/cancelled, so its work (a generation) stops and frees what it holds.
 */
function cancelOnDisconnect(transport: StreamableHTTPServerTransport, res: ServerResponse, body: unknown) {
  const messages = Array.isArray(body) ? (body as unknown[]) : [body];
  const ids = messages
    .filter((m): m is { id: string | number; method: string } => typeof m === "object" && m !== null && "id" in m && "method" in m)
    .map((m) => m.id);
  if (ids.length === 0) return;
  res.once("close", () => {
    if (res.writableFinished) return;
    for (const requestId of ids) {
      transport.onmessage?.({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId, reason: "the HTTP client went away" } });
    }
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function sendJsonRpcError(res: ServerResponse, status: number, code: number, message: string) {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));
}

async function readJson(req: IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false; status: number; message: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return { ok: false, status: 413, message: `Request body larger than ${MAX_BODY_BYTES} bytes` };
    chunks.push(chunk as Buffer);
  }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString("utf8")) };
  } catch {
    return { ok: false, status: 400, message: "Parse error: the body is not valid JSON" };
  }
}
