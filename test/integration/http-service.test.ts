/**
 * lam-mcp as an HTTP service: bearer auth, CORS, body and concurrency limits, session limit and idle expiry,
 * stateless mode, /metrics, and graceful shutdown. Servers bind 127.0.0.1 on port 0.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { request } from "undici";
import { describe, expect, test } from "vitest";
import { silentLogger } from "../../src/log.js";
import { createServices } from "../../src/services.js";
import { serveHttp, StartupError } from "../../src/transports/http.js";
import { testConfig } from "../helpers/harness.js";
import { INITIALIZE, MCP_HEADERS } from "../helpers/raw-http.js";
import { runCli } from "../helpers/spawn.js";

const TOKEN = "test-token-0123456789abcdef";
const SLEEP = fileURLToPath(new URL("../fixtures/sleep.mjs", import.meta.url));
const init = INITIALIZE;
const mcpHeaders = MCP_HEADERS;

async function service(settings: Record<string, unknown> = {}) {
  const services = createServices(testConfig({ transport: "http", port: 0, maxTokensLimit: 8000, ...settings }), silentLogger);
  const http = await serveHttp(services);
  const clients: Client[] = [];
  const connect = async (headers: Record<string, string> = {}) => {
    const client = new Client({ name: "t", version: "0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(http.url), { requestInit: { headers } }));
    clients.push(client);
    return client;
  };
  const close = async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await http.close(0);
    await services.close();
  };
  return { services, http, connect, close, [Symbol.asyncDispose]: close };
}

describe("bearer token", () => {
  test("401 with WWW-Authenticate without a valid token; /healthz needs none; the right token works", async () => {
    await using s = await service({ authToken: TOKEN });
    const none = await request(s.http.url, { method: "POST", headers: mcpHeaders, body: JSON.stringify(init) });
    expect(none.statusCode).toBe(401);
    expect(none.headers["www-authenticate"]).toBe('Bearer realm="lam-mcp"');
    await none.body.text();
    const wrong = await request(s.http.url, { method: "POST", headers: { ...mcpHeaders, authorization: "Bearer nope" }, body: JSON.stringify(init) });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers["www-authenticate"]).toBe('Bearer realm="lam-mcp", error="invalid_token"');
    await wrong.body.text();
    const metrics = await request(`http://127.0.0.1:${s.http.port}/metrics`);
    expect(metrics.statusCode).toBe(401);
    await metrics.body.text();
    const health = await request(`http://127.0.0.1:${s.http.port}/healthz`);
    expect(health.statusCode).toBe(200);
    await health.body.text();
    const client = await s.connect({ authorization: `Bearer ${TOKEN}` });
    expect((await client.callTool({ name: "server_status", arguments: {} })).isError).toBeFalsy();
  });

  test("binding a non-loopback address without a token is refused, with the reason", async () => {
    await using services = createServices(testConfig({ transport: "http", host: "0.0.0.0", port: 0 }), silentLogger);
    await expect(serveHttp(services)).rejects.toSatisfy((e: unknown) => e instanceof StartupError && /without --auth-token/.test((e as Error).message));
    const cli = await runCli(["--transport", "http", "--host", "0.0.0.0", "--port", "0"]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toMatch(/Refusing to listen on 0\.0\.0\.0 without --auth-token[\s\S]*LAM_AUTH_TOKEN/);
  });
});

describe("guards", () => {
  test("CORS: a preflight from an allowed origin is answered; responses expose Mcp-Session-Id; other origins get 403", async () => {
    await using s = await service({ allowedOrigins: "https://app.example" });
    const pre = await request(s.http.url, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type, mcp-session-id" },
    });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers["access-control-allow-origin"]).toBe("https://app.example");
    expect(String(pre.headers["access-control-allow-methods"])).toContain("POST");
    expect(String(pre.headers["access-control-allow-headers"])).toContain("Mcp-Session-Id");
    await pre.body.text();
    const post = await request(s.http.url, { method: "POST", headers: { ...mcpHeaders, origin: "https://app.example" }, body: JSON.stringify(init) });
    expect(post.statusCode).toBe(200);
    expect(post.headers["access-control-expose-headers"]).toBe("Mcp-Session-Id");
    expect(post.headers["mcp-session-id"]).toBeTruthy();
    await post.body.text();
    const evil = await request(s.http.url, { method: "OPTIONS", headers: { origin: "https://evil.example" } });
    expect(evil.statusCode).toBe(403);
    await evil.body.text();
  });

  test("a body over the limit gets 413; the server keeps serving", async () => {
    await using s = await service({ maxBodyBytes: 2048 });
    const big = JSON.stringify({ ...init, params: { ...init.params, padding: "x".repeat(5000) } });
    const res = await request(s.http.url, { method: "POST", headers: mcpHeaders, body: big });
    expect(res.statusCode).toBe(413);
    expect(await res.body.text()).toMatch(/larger than 2048 bytes/);
    const client = await s.connect();
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
  });

  test("past the per-client concurrency limit a request gets 429", async () => {
    await using s = await service({ maxConcurrentPerClient: 2, sequences: 2 });
    const client = await s.connect();
    await client.callTool({ name: "generate", arguments: { prompt: "Hello", temperature: 0 } });
    const controllers = [new AbortController(), new AbortController()];
    const long = controllers.map((c) =>
      client.callTool({ name: "generate", arguments: { prompt: " la", temperature: 0, max_tokens: 8000 } }, undefined, { signal: c.signal }).catch(() => "aborted"),
    );
    await expect.poll(() => s.http.inflight()).toBe(2);
    await expect(client.callTool({ name: "server_status", arguments: {} })).rejects.toThrow(/429|Too many requests in flight/);
    for (const c of controllers) c.abort();
    await Promise.all(long);
    await expect.poll(() => s.http.inflight()).toBe(0);
    expect((await client.callTool({ name: "server_status", arguments: {} })).isError).toBeFalsy();
  });

  test("the session limit refuses new sessions; idle sessions expire", async () => {
    await using s = await service({ maxSessions: 2, sessionIdleMs: 1000 });
    // Raw sessions: an initialize, then nothing (no call running, no SSE stream open).
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await request(s.http.url, { method: "POST", headers: mcpHeaders, body: JSON.stringify(init) });
      ids.push(String(r.headers["mcp-session-id"]));
      await r.body.text();
    }
    await expect(s.connect()).rejects.toThrow(/Too many sessions/);
    expect(s.http.sessions()).toBe(2);
    await expect.poll(() => s.http.sessions(), { timeout: 5000, interval: 200 }).toBe(0);
    const gone = await request(s.http.url, { method: "POST", headers: { ...mcpHeaders, "mcp-session-id": ids[0]! }, body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" }) });
    expect(gone.statusCode).toBe(404);
    expect(await gone.body.text()).toMatch(/Session not found/);
    await s.connect();
    expect(s.http.sessions()).toBe(1);
    expect(s.http.servers()).toBe(1);
  });

  test("a session with a call running or an SSE stream open is not idle, however long it lasts", { timeout: 30_000 }, async () => {
    // A call that outlasts the idle time (1 s) several sweeps over (every 250 ms), whatever the machine's speed.
    const tools = mkdtempSync(join(tmpdir(), "lam-idle-"));
    writeFileSync(join(tools, "sleep.json"), JSON.stringify({ name: "sleep", description: "Sleeps.", command: { argv: [process.execPath, SLEEP, "1800"] } }));
    await using s = await service({ sessionIdleMs: 1000, toolsDir: tools });
    // An SDK client keeps its SSE stream (GET) open: the session lives on past the idle time.
    const client = await s.connect();
    await new Promise((r) => setTimeout(r, 1800));
    expect(s.http.sessions()).toBe(1);
    expect((await client.callTool({ name: "server_status", arguments: {} })).isError).toBeFalsy();
    // A raw session whose only activity is one long call: the sweep leaves it alone until the call ends.
    const r = await request(s.http.url, { method: "POST", headers: mcpHeaders, body: JSON.stringify(init) });
    const id = String(r.headers["mcp-session-id"]);
    await r.body.text();
    const headers = { ...mcpHeaders, "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" };
    await (await request(s.http.url, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) })).body.text();
    const call = await request(s.http.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "sleep", arguments: {} } }),
    });
    expect(await call.body.text()).toMatch(/"stdout":"slept"/);
    expect(s.http.sessions()).toBe(2);
  });

  test("initializes the transport refuses (406, 415, 400) leave no server, transport or log subscription behind", async () => {
    await using s = await service();
    const refused: Array<[number, Record<string, string>, string]> = [
      [406, { "content-type": "application/json", accept: "application/json" }, JSON.stringify(init)],
      [406, { "content-type": "application/json", accept: "text/event-stream" }, JSON.stringify(init)],
      [415, { "content-type": "text/plain", accept: "application/json, text/event-stream" }, JSON.stringify(init)],
      [400, mcpHeaders, JSON.stringify([init, { ...init, id: 2 }])],
    ];
    for (let i = 0; i < 500; i++) {
      const [status, headers, body] = refused[i % refused.length]!;
      const r = await request(s.http.url, { method: "POST", headers, body });
      expect([i, r.statusCode]).toEqual([i, status]);
      await r.body.text();
    }
    expect(s.http.sessions()).toBe(0);
    expect(s.http.servers()).toBe(0);
    const metrics = await (await request(`http://127.0.0.1:${s.http.port}/metrics`)).body.text();
    expect(metrics).toMatch(/^lam_mcp_servers 0$/m);
    // A good initialize still works after all that.
    await s.connect();
    expect(s.http.servers()).toBe(1);
  });
});

describe("stateless mode", () => {
  test("every request stands alone: no session id, tools work, GET is not served", async () => {
    await using s = await service({ stateless: "true" });
    const res = await request(s.http.url, { method: "POST", headers: mcpHeaders, body: JSON.stringify(init) });
    expect(res.statusCode).toBe(200);
    expect(res.headers["mcp-session-id"]).toBeUndefined();
    await res.body.text();
    const client = await s.connect();
    const out = await client.callTool({ name: "count_tokens", arguments: { texts: ["Hello world"] } });
    expect((out.structuredContent as { total: number }).total).toBe(2);
    expect(s.http.sessions()).toBe(0);
    const get = await request(s.http.url, { method: "GET", headers: { accept: "text/event-stream" } });
    expect(get.statusCode).toBe(405);
    await get.body.text();
  });
});

describe("/metrics", () => {
  test("Prometheus text with tool calls, durations, tokens, sessions, queue depth and model load time", async () => {
    await using s = await service();
    const client = await s.connect();
    await client.callTool({ name: "count_tokens", arguments: { texts: ["Hello"] } });
    await client.callTool({ name: "generate", arguments: { prompt: "Hello", temperature: 0 } });
    await client.callTool({ name: "generate", arguments: { prompt: "Hello", temperature: 9 } });
    const res = await request(`http://127.0.0.1:${s.http.port}/metrics`);
    expect(res.statusCode).toBe(200);
    expect(String(res.headers["content-type"])).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.body.text();
    expect(text).toContain('lam_tool_calls_total{tool="count_tokens",outcome="ok"} 1');
    expect(text).toContain('lam_tool_calls_total{tool="generate",outcome="ok"} 1');
    expect(text).toContain('lam_tool_calls_total{tool="generate",outcome="invalid_arguments"} 1');
    expect(text).toMatch(/lam_tool_call_duration_seconds_count\{tool="generate"\} 2/);
    expect(text).toContain('lam_tokens_total{direction="in"} 1');
    expect(text).toContain('lam_tokens_total{direction="out"} 2');
    expect(text).toContain("lam_sessions_active 1");
    expect(text).toContain("lam_generation_queue_depth 0");
    expect(text).toMatch(/lam_model_load_seconds\{kind="full"\} \d/);
    expect(text).toMatch(/lam_process_resident_memory_bytes \d+/);
  });
});

describe("graceful shutdown", () => {
  test("in-flight calls finish within the deadline; past it they are cancelled; new requests get 503", async () => {
    await using services = createServices(testConfig({ transport: "http", port: 0, maxTokensLimit: 8000, sequences: 2 }), silentLogger);
    const http = await serveHttp(services);
    const client = new Client({ name: "t", version: "0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(http.url)));
    await client.callTool({ name: "generate", arguments: { prompt: "Hello", temperature: 0 } });
    const short = client.callTool({ name: "generate", arguments: { prompt: " la", temperature: 0, max_tokens: 300 } });
    const long = client.callTool({ name: "generate", arguments: { prompt: " la", temperature: 0, max_tokens: 8000 } }).then(
      () => "finished",
      (e: Error) => `rejected: ${e.message}`,
    );
    await expect.poll(() => http.inflight()).toBe(2);
    const closing = http.close(1500);
    const shortResult = await short;
    expect((shortResult.structuredContent as { finish_reason: string }).finish_reason).toBe("length");
    await closing;
    expect(await long).toMatch(/^rejected/);
    await expect.poll(async () => services.engine.stats()!.busy).toBe(0);
  });
});
