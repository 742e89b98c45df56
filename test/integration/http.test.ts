/** The Streamable HTTP transport: /mcp sessions, /healthz, Host/Origin validation (DNS rebinding), bad requests. */
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { createLogger, type LogRecord } from "../../src/log.js";
import { createServices, type Services } from "../../src/services.js";
import { serveHttp, type RunningHttp } from "../../src/transports/http.js";
import { testConfig } from "../helpers/harness.js";
import { hangUpMidGeneration, INITIALIZE, MCP_HEADERS } from "../helpers/raw-http.js";
import { baseArgs, httpServer } from "../helpers/spawn.js";

const init = INITIALIZE;
const mcpHeaders = MCP_HEADERS;

describe("HTTP transport", () => {
  let services: Services;
  let http: RunningHttp;
  const records: LogRecord[] = [];
  beforeAll(async () => {
    const log = createLogger({ level: "silent", format: "json" });
    log.subscribe((r) => records.push(r));
    services = createServices(testConfig({ transport: "http", port: 0, maxTokensLimit: 8000 }), log);
    http = await serveHttp(services);
  });
  afterAll(async () => {
    await http.close();
    await services.close();
  });

  test("binds 127.0.0.1 and answers /healthz", async () => {
    expect(http.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const res = await request(`http://127.0.0.1:${http.port}/healthz`);
    expect(res.statusCode).toBe(200);
    const health = (await res.body.json()) as { status: string; version: string };
    expect(health.status).toBe("ok");
    expect(health.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test("initialize creates a session; its id is required afterwards", async () => {
    const res = await request(http.url, { method: "POST", headers: mcpHeaders, body: JSON.stringify(init) });
    expect(res.statusCode).toBe(200);
    const sessionId = res.headers["mcp-session-id"];
    expect(typeof sessionId).toBe("string");
    await res.body.text();
    expect(http.sessions()).toBeGreaterThanOrEqual(1);
    const list = { jsonrpc: "2.0", id: 2, method: "tools/list" };
    const without = await request(http.url, { method: "POST", headers: mcpHeaders, body: JSON.stringify(list) });
    expect(without.statusCode).toBe(400);
    expect(await without.body.text()).toMatch(/send initialize first/);
    const unknown = await request(http.url, {
      method: "POST",
      headers: { ...mcpHeaders, "mcp-session-id": "00000000-0000-0000-0000-000000000000" },
      body: JSON.stringify(list),
    });
    expect(unknown.statusCode).toBe(404);
    await unknown.body.text();
  });

  test("a foreign Host header is refused (DNS rebinding)", async () => {
    const res = await request(http.url, { method: "POST", headers: { ...mcpHeaders, host: "evil.example:80" }, body: JSON.stringify(init) });
    expect(res.statusCode).toBe(403);
    expect(await res.body.text()).toMatch(/Invalid Host/);
  });

  test("a foreign Origin is refused; a loopback origin is accepted", async () => {
    const evil = await request(http.url, { method: "POST", headers: { ...mcpHeaders, origin: "http://evil.example" }, body: JSON.stringify(init) });
    expect(evil.statusCode).toBe(403);
    expect(await evil.body.text()).toMatch(/Invalid Origin/);
    const local = await request(http.url, {
      method: "POST",
      headers: { ...mcpHeaders, origin: `http://localhost:${http.port}` },
      body: JSON.stringify(init),
    });
    expect(local.statusCode).toBe(200);
    await local.body.text();
  });

  test("a client that goes away mid-generation cancels it and frees its sequence", async () => {
    const res = await request(http.url, { method: "POST", headers: mcpHeaders, body: JSON.stringify(init) });
    const session = res.headers["mcp-session-id"] as string;
    await res.body.text();
    const headers = { ...mcpHeaders, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" };
    await (await request(http.url, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) })).body.text();
    expect(await hangUpMidGeneration(http.url, headers)).toMatch(/text\/event-stream/);
    await expect.poll(() => records.find((r) => r.msg === "generation finished"), { timeout: 10_000 }).toBeDefined();
    const finished = records.find((r) => r.msg === "generation finished")!;
    expect(finished.finish_reason).toBe("cancelled");
    expect(finished.completion_tokens as number).toBeLessThan(8000);
    await expect.poll(async () => services.engine.stats()!.busy).toBe(0);
  });

  test("malformed JSON is a JSON-RPC parse error; other paths are 404", async () => {
    const res = await request(http.url, { method: "POST", headers: mcpHeaders, body: "{not json" });
    expect(res.statusCode).toBe(400);
    expect(((await res.body.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const other = await request(`http://127.0.0.1:${http.port}/elsewhere`);
    expect(other.statusCode).toBe(404);
    await other.body.text();
  });
});

test("a spawned HTTP server exits 0 on SIGTERM, having said once what it loaded", async () => {
  const s = await httpServer([...baseArgs(inject("modelPath")), "--tools-dir", fileURLToPath(new URL("../../tools/", import.meta.url))]);
  const client = await s.client();
  expect((await client.listTools()).tools.length).toBeGreaterThan(0);
  expect((await client.callTool({ name: "word_count", arguments: { text: "a b" } })).isError).toBeFalsy();
  const second = await s.client();
  await second.listTools();
  await new Promise((r) => setTimeout(r, 500));
  expect(await s.stop()).toBe(0);
  const lines = s.stderr().split("\n").filter((l) => l.includes('"msg":"actions: '));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/"msg":"actions: 6 loaded from /);
});
