/**
 * lam-mcp as a service: Streamable HTTP at /mcp, stateful (sessions with Mcp-Session-Id, idle expiry, a session
 * limit) or stateless; /healthz (liveness, no auth) and /metrics (Prometheus). Guards, in order: Host and Origin
 * allow-lists (DNS rebinding), CORS for browser clients, bearer token (constant-time), body size, per-client
 * concurrency. Graceful shutdown: stop accepting, let in-flight calls finish up to a deadline, cancel the rest.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { isLoopbackHost } from "../errors.js";
import { readCapped, type CappedBody } from "../upstream.js";
import { createServer } from "../server.js";
import type { Services } from "../services.js";
import { VERSION } from "../version.js";
import { createMetrics } from "./metrics.js";

export interface RunningHttp {
  url: string;
  port: number;
  server: Server;
  sessions(): number;
  /** MCP server instances alive (one per session, one per stateless request in flight): a leak shows here. */
  servers(): number;
  inflight(): number;
  /** Stops accepting, lets in-flight requests finish up to the deadline, then cancels the rest. */
  close(deadlineMs?: number): Promise<void>;
}

/** A start-up refusal the CLI prints as is (exit status 2). */
export class StartupError extends Error {}

interface Session {
  transport: StreamableHTTPServerTransport;
  mcp: McpServer;
  /** When its last request ended (or began, while none has ended). */
  lastSeen: number;
  /** Requests and streams open now (a running call, an SSE stream): a session with any is not idle. */
  open: number;
}

interface InFlight {
  transport: StreamableHTTPServerTransport;
  res: ServerResponse;
  ids: Array<string | number>;
}

const CORS_HEADERS = "Content-Type, Authorization, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID";

export async function serveHttp(services: Services): Promise<RunningHttp> {
  const { config, log } = services;
  if (!isLoopbackHost(config.host) && !config.authToken) {
    throw new StartupError(
      `Refusing to listen on ${config.host} without --auth-token: anyone who can reach that address could run the model, ` +
        "the searches and your actions. Set --auth-token / LAM_AUTH_TOKEN (16 characters or more), or bind 127.0.0.1 with --host.",
    );
  }
  const sessions = new Map<string, Session>();
  const inflight = new Set<InFlight>();
  const perClient = new Map<string, number>();
  const live = new Set<McpServer>();
  const metrics = createMetrics(services, () => sessions.size, () => live.size);
  const tokenDigest = config.authToken ? digest(config.authToken) : undefined;
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();
  let shuttingDown = false;

  const http = createHttpServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log.error("http request failed", { error });
      if (!res.headersSent) jsonRpcError(res, 500, -32603, "internal server error");
      else res.end();
    });
  });
  http.keepAliveTimeout = 5000;

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(shuttingDown ? 503 : 200, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: shuttingDown ? "shutting down" : "ok", version: VERSION, sessions: sessions.size }));
      return;
    }
    const host = header(req, "host");
    if (!host || !allowedHosts.has(host.toLowerCase())) {
      jsonRpcError(res, 403, -32000, `Invalid Host header ${JSON.stringify(host ?? "")}: add it with --allowed-hosts if clients really use that name`);
      return;
    }
    const origin = header(req, "origin");
    if (origin !== undefined) {
      if (!allowedOrigins.has(origin)) {
        jsonRpcError(res, 403, -32000, `Invalid Origin header ${JSON.stringify(origin)}: add it with --allowed-origins to let that page connect`);
        return;
      }
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Access-Control-Expose-Headers", "Mcp-Session-Id");
      res.setHeader("Vary", "Origin");
    }
    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
        "Access-Control-Allow-Headers": CORS_HEADERS,
        "Access-Control-Max-Age": "600",
      });
      res.end();
      return;
    }
    if (path !== "/mcp" && path !== "/metrics") {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: "not found: the MCP endpoint is /mcp" }));
      return;
    }
    if (tokenDigest && !authorized(req, tokenDigest)) {
      const given = header(req, "authorization") !== undefined;
      res.setHeader("WWW-Authenticate", `Bearer realm="lam-mcp"${given ? ', error="invalid_token"' : ""}`);
      jsonRpcError(res, 401, -32001, given ? "Unauthorized: the bearer token is not valid" : "Unauthorized: send Authorization: Bearer <token>");
      return;
    }
    if (path === "/metrics") {
      res.writeHead(200, { "content-type": metrics.contentType }).end(await metrics.render());
      return;
    }
    if (shuttingDown) {
      res.setHeader("Connection", "close");
      jsonRpcError(res, 503, -32000, "The server is shutting down; retry on another instance or later");
      return;
    }
    let body: unknown;
    if (req.method === "POST") {
      const read = await readJson(req, config.maxBodyBytes);
      if (!read.ok) {
        if (read.status === 413) {
          // The rest of the body is not read: answer, then close the connection.
          res.setHeader("Connection", "close");
          res.once("finish", () => req.destroy());
        }
        jsonRpcError(res, read.status, read.status === 413 ? -32600 : -32700, read.message);
        return;
      }
      body = read.value;
    } else if (req.method !== "GET" && req.method !== "DELETE") {
      res.setHeader("Allow", "GET, POST, DELETE, OPTIONS");
      jsonRpcError(res, 405, -32000, `Method ${req.method ?? ""} not allowed`);
      return;
    }
    const sessionId = header(req, "mcp-session-id");
    const client = sessionId ?? req.socket.remoteAddress ?? "unknown";
    // Only requests count: a notification (a cancellation, say) or a response is answered at once, and must get
    // through even when the client is at its limit.
    if (req.method === "POST" && requestIds(body).length > 0) {
      const n = perClient.get(client) ?? 0;
      if (n >= config.maxConcurrentPerClient) {
        res.setHeader("Retry-After", "1");
        jsonRpcError(res, 429, -32000, `Too many requests in flight for this client (${n}); the limit is ${config.maxConcurrentPerClient}`);
        return;
      }
      perClient.set(client, n + 1);
      res.once("close", () => {
        const left = (perClient.get(client) ?? 1) - 1;
        if (left <= 0) perClient.delete(client);
        else perClient.set(client, left);
      });
    }
    if (config.stateless) return serveStateless(req, res, body);
    if (sessionId) {
      const session = sessions.get(sessionId);
      if (!session) {
        jsonRpcError(res, 404, -32001, "Session not found: it expired or the server restarted; start a new session with initialize");
        return;
      }
      session.lastSeen = Date.now();
      session.open++;
      res.once("close", () => {
        session.open--;
        session.lastSeen = Date.now();
      });
      track(session.transport, res, body);
      await session.transport.handleRequest(req, res, body);
      closeCancelledStreams(session.transport, body);
      return;
    }
    if (req.method !== "POST" || !isInitializeRequest(body)) {
      jsonRpcError(res, 400, -32000, "Bad Request: no valid Mcp-Session-Id; send initialize first");
      return;
    }
    if (sessions.size >= config.maxSessions) {
      jsonRpcError(res, 503, -32000, `Too many sessions (${sessions.size}); the limit is ${config.maxSessions}. Close a session or retry later`);
      return;
    }
    // Host and Origin were checked above, once for every request: the transport does not check them again.
    const mcp = open();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, mcp, lastSeen: Date.now(), open: 1 });
        res.once("close", () => {
          const session = sessions.get(id);
          if (session) {
            session.open--;
            session.lastSeen = Date.now();
          }
        });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
    // An initialize the transport refused (406 Accept, 415 Content-Type, 400) made no session: free what it made.
    if (transport.sessionId === undefined) {
      await transport.close().catch(() => undefined);
      await mcp.close().catch(() => undefined);
    }
  }

  /** A new MCP server, counted while it lives. */
  function open(): McpServer {
    const mcp = createServer(services);
    live.add(mcp);
    const previous = mcp.server.onclose;
    mcp.server.onclose = () => {
      live.delete(mcp);
      previous?.();
    };
    return mcp;
  }

  /** Stateless mode: a fresh server and transport for each request, closed when its response ends. */
  async function serveStateless(req: IncomingMessage, res: ServerResponse, body: unknown) {
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST, OPTIONS");
      jsonRpcError(res, 405, -32000, "This server is stateless (--stateless): only POST is served");
      return;
    }
    const mcp = open();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.once("close", () => {
      void transport.close();
      void mcp.close();
    });
    await mcp.connect(transport);
    track(transport, res, body);
    await transport.handleRequest(req, res, body);
  }

  /** Tracks a request for shutdown; a client that hangs up before its answer cancels the request. */
  function track(transport: StreamableHTTPServerTransport, res: ServerResponse, body: unknown) {
    const ids = requestIds(body);
    if (ids.length === 0) return;
    const entry = { transport, res, ids };
    inflight.add(entry);
    res.once("close", () => {
      inflight.delete(entry);
      if (res.writableFinished) return;
      for (const requestId of ids) {
        transport.onmessage?.({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId, reason: "the HTTP client went away" } });
      }
    });
  }

  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const [id, session] of sessions) {
        if (session.open === 0 && now - session.lastSeen > config.sessionIdleMs) {
          log.info("closing an idle session", { session: id });
          sessions.delete(id);
          void session.transport.close();
          void session.mcp.close();
        }
      }
    },
    Math.min(60_000, Math.max(250, config.sessionIdleMs / 4)),
  );
  sweep.unref();

  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(config.port, config.host, () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  const hostForUrl = config.host.includes(":") ? `[${config.host}]` : config.host;
  allowedHosts = new Set([`${hostForUrl}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, ...config.allowedHosts].map((h) => h.toLowerCase()));
  allowedOrigins = new Set([`http://${hostForUrl}:${port}`, `http://localhost:${port}`, `http://127.0.0.1:${port}`, `http://[::1]:${port}`, ...config.allowedOrigins]);

  return {
    url: `http://${hostForUrl}:${port}/mcp`,
    port,
    server: http,
    sessions: () => sessions.size,
    servers: () => live.size,
    inflight: () => inflight.size,
    async close(deadlineMs = config.shutdownTimeoutMs) {
      shuttingDown = true;
      clearInterval(sweep);
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      const deadline = Date.now() + deadlineMs;
      while (inflight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      if (inflight.size > 0) log.warn(`cancelling ${inflight.size} request(s) still running at the shutdown deadline`);
      // Each request still running gets an error answer (so its client does not wait), then closing the transports
      // aborts the handlers: a generation stops at its next token and frees its sequence.
      for (const entry of [...inflight]) {
        for (const id of entry.ids) {
          const error = { code: -32000, message: "The server is shutting down; the call was cancelled" };
          await entry.transport.send({ jsonrpc: "2.0", id, error }, { relatedRequestId: id }).catch(() => undefined);
        }
      }
      for (const entry of inflight) await entry.transport.close().catch(() => undefined);
      for (const session of sessions.values()) {
        await session.transport.close().catch(() => undefined);
        await session.mcp.close().catch(() => undefined);
      }
      sessions.clear();
      http.closeAllConnections();
      await closed;
      metrics.close();
    },
  };
}

/**
 * A request cancelled with notifications/cancelled gets no answer (as the protocol says), so its SSE stream would
 * stay open until the client hangs up: close it, which frees the client's slot.
 */
function closeCancelledStreams(transport: StreamableHTTPServerTransport, body: unknown) {
  const messages = Array.isArray(body) ? (body as unknown[]) : [body];
  for (const m of messages) {
    if (typeof m !== "object" || m === null || (m as { method?: unknown }).method !== "notifications/cancelled") continue;
    const requestId = (m as { params?: { requestId?: string | number } }).params?.requestId;
    if (requestId !== undefined) setTimeout(() => transport.closeSSEStream(requestId), 0);
  }
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** Constant-time comparison of the bearer token (through digests, so lengths leak nothing either). */
function authorized(req: IncomingMessage, expected: Buffer): boolean {
  const value = header(req, "authorization");
  const m = value ? /^Bearer\s+(.+)$/i.exec(value) : null;
  return m ? timingSafeEqual(digest(m[1]!.trim()), expected) : false;
}

function requestIds(body: unknown): Array<string | number> {
  const messages = Array.isArray(body) ? (body as unknown[]) : [body];
  return messages
    .filter((m): m is { id: string | number; method: string } => typeof m === "object" && m !== null && "id" in m && "method" in m)
    .map((m) => m.id);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function jsonRpcError(res: ServerResponse, status: number, code: number, message: string) {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }));
}

/** The request body as JSON, at most max bytes; past that the rest is not read and the connection closes after the 413. */
async function readJson(req: IncomingMessage, max: number): Promise<{ ok: true; value: unknown } | { ok: false; status: number; message: string }> {
  const tooLarge = { ok: false as const, status: 413, message: `Request body larger than ${max} bytes (--max-body-bytes)` };
  if (Number(req.headers["content-length"] ?? NaN) > max) return tooLarge;
  let read: CappedBody;
  try {
    read = await readCapped(req, max);
  } catch {
    return { ok: false, status: 400, message: "The request body could not be read" };
  }
  if (read.over) return tooLarge;
  try {
    return { ok: true, value: JSON.parse(read.body.toString("utf8")) };
  } catch {
    return { ok: false, status: 400, message: "Parse error: the body is not valid JSON" };
  }
}
