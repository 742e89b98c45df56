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
  const { config } = services;
  if (!isLoopbackHost(config.host) && !config.authToken) {
    throw new StartupError(
      `Refusing to listen on ${config.host} without --auth-token: anyone who can reach that address could run the model, ` +
        "the searches and your actions. Set --auth-token / LAM_AUTH_TOKEN (16 characters or more), or bind 127.0.0.1 with --host.",
    );
  }
  const service = new HttpService(services);
  await service.listen();
  return service.running();
}

type ReadBody = { ok: true; value: unknown } | { ok: false; status: number; message: string };

/** One HTTP service: its listener, the guards every request passes, the sessions, and a graceful close. */
class HttpService {
  private readonly http: Server;
  private readonly sessions = new Map<string, Session>();
  private readonly inflight = new Set<InFlight>();
  private readonly perClient = new Map<string, number>();
  private readonly live = new Set<McpServer>();
  private readonly metrics: ReturnType<typeof createMetrics>;
  private readonly tokenDigest: Buffer | undefined;
  private readonly sweep: NodeJS.Timeout;
  private allowedHosts = new Set<string>();
  private allowedOrigins = new Set<string>();
  private shuttingDown = false;
  private port = 0;

  constructor(private readonly services: Services) {
    const { config, log } = services;
    this.metrics = createMetrics(services, () => this.sessions.size, () => this.live.size);
    this.tokenDigest = config.authToken ? digest(config.authToken) : undefined;
    this.http = createHttpServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        log.error("http request failed", { error });
        if (!res.headersSent) jsonRpcError(res, 500, -32603, "internal server error");
        else res.end();
      });
    });
    this.http.keepAliveTimeout = 5000;
    this.sweep = setInterval(() => this.closeIdleSessions(), Math.min(60_000, Math.max(250, config.sessionIdleMs / 4)));
    this.sweep.unref();
  }

  async listen(): Promise<void> {
    const { config } = this.services;
    await new Promise<void>((resolve, reject) => {
      this.http.once("error", reject);
      this.http.listen(config.port, config.host, () => resolve());
    });
    this.port = (this.http.address() as AddressInfo).port;
    const host = this.hostForUrl();
    const port = this.port;
    this.allowedHosts = new Set([`${host}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, ...config.allowedHosts].map((h) => h.toLowerCase()));
    this.allowedOrigins = new Set([`http://${host}:${port}`, `http://localhost:${port}`, `http://127.0.0.1:${port}`, `http://[::1]:${port}`, ...config.allowedOrigins]);
  }

  running(): RunningHttp {
    return {
      url: `http://${this.hostForUrl()}:${this.port}/mcp`,
      port: this.port,
      server: this.http,
      sessions: () => this.sessions.size,
      servers: () => this.live.size,
      inflight: () => this.inflight.size,
      close: (deadlineMs = this.services.config.shutdownTimeoutMs) => this.close(deadlineMs),
    };
  }

  private hostForUrl(): string {
    const { host } = this.services.config;
    return host.includes(":") ? `[${host}]` : host;
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.writeHead(this.shuttingDown ? 503 : 200, { "content-type": "application/json" });
      // Liveness of this process: a model server that is down degrades the answer's llm field, not the status (the
      // process still serves tokenizer, search and action tools, and restarting it would not bring the server back).
      const servers = this.services.engine.backend().servers;
      const llm = servers?.map((s) => ({ url: s.url, healthy: s.healthy, last_error: s.lastError }));
      res.end(JSON.stringify({ status: this.shuttingDown ? "shutting down" : "ok", version: VERSION, sessions: this.sessions.size, ...(llm ? { llm } : {}) }));
      return;
    }
    if (!this.passesGuards(req, res, path)) return;
    if (path === "/metrics") {
      res.writeHead(200, { "content-type": this.metrics.contentType }).end(await this.metrics.render());
      return;
    }
    if (this.shuttingDown) {
      res.setHeader("Connection", "close");
      jsonRpcError(res, 503, -32000, "The server is shutting down; retry on another instance or later");
      return;
    }
    let body: unknown;
    if (req.method === "POST") {
      const read = await readJson(req, this.services.config.maxBodyBytes);
      if (!read.ok) return refuseBody(req, res, read);
      body = read.value;
    } else if (req.method !== "GET" && req.method !== "DELETE") {
      res.setHeader("Allow", "GET, POST, DELETE, OPTIONS");
      jsonRpcError(res, 405, -32000, `Method ${req.method ?? ""} not allowed`);
      return;
    }
    const sessionId = header(req, "mcp-session-id");
    if (!this.admitClient(req, res, body, sessionId ?? req.socket.remoteAddress ?? "unknown")) return;
    if (this.services.config.stateless) return this.serveStateless(req, res, body);
    if (sessionId) return this.serveSession(sessionId, req, res, body);
    return this.initialize(req, res, body);
  }

  /**
   * Host and Origin allow-lists (DNS rebinding: checked here once for every request, not again by the SDK), CORS,
   * the path, the bearer token. Answers and returns false when the request may not go on.
   */
  private passesGuards(req: IncomingMessage, res: ServerResponse, path: string | undefined): boolean {
    const host = header(req, "host");
    if (!host || !this.allowedHosts.has(host.toLowerCase())) {
      jsonRpcError(res, 403, -32000, `Invalid Host header ${JSON.stringify(host ?? "")}: add it with --allowed-hosts if clients really use that name`);
      return false;
    }
    const origin = header(req, "origin");
    if (origin !== undefined) {
      if (!this.allowedOrigins.has(origin)) {
        jsonRpcError(res, 403, -32000, `Invalid Origin header ${JSON.stringify(origin)}: add it with --allowed-origins to let that page connect`);
        return false;
      }
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Access-Control-Expose-Headers", "Mcp-Session-Id");
      res.setHeader("Vary", "Origin");
    }
    if (req.method === "OPTIONS") {
      res.writeHead(204, { "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS", "Access-Control-Allow-Headers": CORS_HEADERS, "Access-Control-Max-Age": "600" });
      res.end();
      return false;
    }
    if (path !== "/mcp" && path !== "/metrics") {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: "not found: the MCP endpoint is /mcp" }));
      return false;
    }
    if (this.tokenDigest && !authorized(req, this.tokenDigest)) {
      const given = header(req, "authorization") !== undefined;
      res.setHeader("WWW-Authenticate", `Bearer realm="lam-mcp"${given ? ', error="invalid_token"' : ""}`);
      jsonRpcError(res, 401, -32001, given ? "Unauthorized: the bearer token is not valid" : "Unauthorized: send Authorization: Bearer <token>");
      return false;
    }
    return true;
  }

  /**
   * The per-client concurrency limit. Only requests count: a notification (a cancellation, say) or a response is
   * answered at once, and must get through even when the client is at its limit.
   */
  private admitClient(req: IncomingMessage, res: ServerResponse, body: unknown, client: string): boolean {
    if (req.method !== "POST" || requestIds(body).length === 0) return true;
    const { maxConcurrentPerClient } = this.services.config;
    const n = this.perClient.get(client) ?? 0;
    if (n >= maxConcurrentPerClient) {
      res.setHeader("Retry-After", "1");
      jsonRpcError(res, 429, -32000, `Too many requests in flight for this client (${n}); the limit is ${maxConcurrentPerClient}`);
      return false;
    }
    this.perClient.set(client, n + 1);
    res.once("close", () => {
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left <= 0) this.perClient.delete(client);
      else this.perClient.set(client, left);
    });
    return true;
  }

  /** A request of an existing session; a session with anything open (a call, an SSE stream) is not idle. */
  private async serveSession(sessionId: string, req: IncomingMessage, res: ServerResponse, body: unknown) {
    const session = this.sessions.get(sessionId);
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
    this.track(session.transport, res, body);
    await session.transport.handleRequest(req, res, body);
    closeCancelledStreams(session.transport, body);
  }

  /** A new session, from an initialize request. */
  private async initialize(req: IncomingMessage, res: ServerResponse, body: unknown) {
    if (req.method !== "POST" || !isInitializeRequest(body)) {
      jsonRpcError(res, 400, -32000, "Bad Request: no valid Mcp-Session-Id; send initialize first");
      return;
    }
    const { maxSessions } = this.services.config;
    if (this.sessions.size >= maxSessions) {
      jsonRpcError(res, 503, -32000, `Too many sessions (${this.sessions.size}); the limit is ${maxSessions}. Close a session or retry later`);
      return;
    }
    const mcp = this.open();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      // The replica's name first: a load balancer routes a session's requests on it (deploy/cluster).
      sessionIdGenerator: () => `${this.services.config.replicaId}.${randomUUID()}`,
      onsessioninitialized: (id) => {
        this.sessions.set(id, { transport, mcp, lastSeen: Date.now(), open: 1 });
        res.once("close", () => {
          const session = this.sessions.get(id);
          if (session) {
            session.open--;
            session.lastSeen = Date.now();
          }
        });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) this.sessions.delete(transport.sessionId);
    };
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
    // An initialize the transport refused (406 Accept, 415 Content-Type, 400) made no session: free what it made.
    if (transport.sessionId === undefined) {
      await transport.close().catch(() => undefined);
      await mcp.close().catch(() => undefined);
    }
  }

  /** Stateless mode: a fresh server and transport for each request, closed when its response ends. */
  private async serveStateless(req: IncomingMessage, res: ServerResponse, body: unknown) {
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST, OPTIONS");
      jsonRpcError(res, 405, -32000, "This server is stateless (--stateless): only POST is served");
      return;
    }
    const mcp = this.open();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.once("close", () => {
      void transport.close();
      void mcp.close();
    });
    await mcp.connect(transport);
    this.track(transport, res, body);
    await transport.handleRequest(req, res, body);
  }

  /** A new MCP server, counted while it lives. */
  private open(): McpServer {
    const mcp = createServer(this.services);
    this.live.add(mcp);
    const previous = mcp.server.onclose;
    mcp.server.onclose = () => {
      this.live.delete(mcp);
      previous?.();
    };
    return mcp;
  }

  /** Tracks a request for shutdown; a client that hangs up before its answer cancels the request. */
  private track(transport: StreamableHTTPServerTransport, res: ServerResponse, body: unknown) {
    const ids = requestIds(body);
    if (ids.length === 0) return;
    const entry = { transport, res, ids };
    this.inflight.add(entry);
    res.once("close", () => {
      this.inflight.delete(entry);
      if (res.writableFinished) return;
      for (const requestId of ids) {
        transport.onmessage?.({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId, reason: "the HTTP client went away" } });
      }
    });
  }

  private closeIdleSessions() {
    const now = Date.now();
    for (const [id, session] of this.sessions) {
      if (session.open === 0 && now - session.lastSeen > this.services.config.sessionIdleMs) {
        this.services.log.info("closing an idle session", { session: id });
        this.sessions.delete(id);
        void session.transport.close();
        void session.mcp.close();
      }
    }
  }

  /** Stops accepting, lets in-flight requests finish up to the deadline, then cancels the rest. */
  private async close(deadlineMs: number): Promise<void> {
    const { log } = this.services;
    this.shuttingDown = true;
    clearInterval(this.sweep);
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    const deadline = Date.now() + deadlineMs;
    while (this.inflight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    if (this.inflight.size > 0) log.warn(`cancelling ${this.inflight.size} request(s) still running at the shutdown deadline`);
    // Each request still running gets an error answer (so its client does not wait), then closing the transports
    // aborts the handlers: a generation stops at its next token and frees its sequence.
    for (const entry of [...this.inflight]) {
      for (const id of entry.ids) {
        const error = { code: -32000, message: "The server is shutting down; the call was cancelled" };
        await entry.transport.send({ jsonrpc: "2.0", id, error }, { relatedRequestId: id }).catch(() => undefined);
      }
    }
    for (const entry of this.inflight) await entry.transport.close().catch(() => undefined);
    for (const session of this.sessions.values()) {
      await session.transport.close().catch(() => undefined);
      await session.mcp.close().catch(() => undefined);
    }
    this.sessions.clear();
    this.http.closeAllConnections();
    await closed;
    this.metrics.close();
  }
}

/** A body that could not be taken: 413 (and the connection closed after it, the rest unread) or 400. */
function refuseBody(req: IncomingMessage, res: ServerResponse, read: Extract<ReadBody, { ok: false }>) {
  if (read.status === 413) {
    res.setHeader("Connection", "close");
    res.once("finish", () => req.destroy());
  }
  jsonRpcError(res, read.status, read.status === 413 ? -32600 : -32700, read.message);
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
async function readJson(req: IncomingMessage, max: number): Promise<ReadBody> {
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
