/**
 * The HTTP service under load and under garbage, on 127.0.0.1: 200 concurrent tool calls (count_tokens, web_search
 * on the real searx, an http action) all succeed; a bounded fuzz of malformed JSON-RPC gets errors, never a crash.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { request } from "undici";
import { expect, inject, test } from "vitest";
import { silentLogger } from "../../src/log.js";
import { createServices } from "../../src/services.js";
import { serveHttp } from "../../src/transports/http.js";
import { testConfig } from "../helpers/harness.js";
import { startFixture } from "../helpers/http-fixture.js";
import { prng } from "../helpers/prng.js";

test("200 concurrent tool calls over HTTP: none fails, memory comes back", async () => {
  await using api = await startFixture({}, (req, res) => void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, path: req.url })));
  const dir = mkdtempSync(join(tmpdir(), "lam-load-"));
  writeFileSync(
    join(dir, "lookup.json"),
    JSON.stringify({
      name: "lookup",
      description: "Looks up an item.",
      input: { type: "object", properties: { id: { type: "integer" } }, required: ["id"] },
      http: { url: `${api.url}/lookup/{{id}}`, pick: "/path" },
    }),
  );
  const services = createServices(testConfig({ transport: "http", port: 0, toolsDir: dir, searxngUrl: inject("searxUrl") }), silentLogger, {
    env: { PATH: process.env.PATH ?? "" },
  });
  const http = await serveHttp(services);
  const clients = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const c = new Client({ name: "load", version: "0" });
      await c.connect(new StreamableHTTPClientTransport(new URL(http.url)));
      return c;
    }),
  );
  // Warm up: model, searx, action.
  await clients[0]!.callTool({ name: "count_tokens", arguments: { texts: ["Hello"] } });
  await clients[0]!.callTool({ name: "web_search", arguments: { query: "llamas warm" } });
  const before = process.memoryUsage().rss;
  const calls = Array.from({ length: 200 }, (_, i) => {
    const client = clients[i % 4]!;
    const kind = i % 3;
    const call =
      kind === 0
        ? client.callTool({ name: "count_tokens", arguments: { texts: ["Hello world", `call ${i}`] } })
        : kind === 1
          ? client.callTool({ name: "web_search", arguments: { query: `llamas load ${i % 10}` } })
          : client.callTool({ name: "lookup", arguments: { id: i } });
    return (call as Promise<CallToolResult>).then((r) => ({ i, kind, r }));
  });
  const results = await Promise.all(calls);
  for (const { i, kind, r } of results) {
    expect(r.isError, `call ${i}: ${JSON.stringify(r.content).slice(0, 300)}`).toBeFalsy();
    if (kind === 0) expect((r.structuredContent as { counts: number[] }).counts[0]).toBe(2);
    if (kind === 1) expect((r.structuredContent as { results: unknown[] }).results.length).toBeGreaterThan(0);
    if (kind === 2) expect((r.structuredContent as { result: string }).result).toBe(`/lookup/${i}`);
  }
  expect(http.inflight()).toBe(0);
  expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
  for (const c of clients) await c.close();
  await http.close(0);
  await services.close();
}, 60_000);

function corpus(count: number): Array<string | Buffer> {
  const random = prng(424242);
  const int = (n: number) => Math.floor(random() * n);
  const valid = [
    { jsonrpc: "2.0", id: 1, method: "tools/list" },
    { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "count_tokens", arguments: { texts: ["x"] } } },
    { jsonrpc: "2.0", id: 3, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "f", version: "0" } } },
  ];
  const weird: unknown[] = [
    null, 0, "string", [], [[]], {}, true,
    { jsonrpc: "1.0", id: 1, method: "tools/list" },
    { jsonrpc: "2.0", id: {}, method: "tools/list" },
    { jsonrpc: "2.0", id: 1e300, method: "tools/list" },
    { jsonrpc: "2.0", id: "x".repeat(100_000), method: "tools/list" },
    { jsonrpc: "2.0", id: 5, method: 5 },
    { jsonrpc: "2.0", id: 6, method: "no/such/method" },
    { jsonrpc: "2.0", id: 7, method: "tools/call", params: "not an object" },
    { jsonrpc: "2.0", id: 8, method: "tools/call", params: { name: 42, arguments: [] } },
    { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "tokenize", arguments: { text: "y".repeat(200_000) } } },
    { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "nope" } },
    { jsonrpc: "2.0", id: 10, result: {} },
    [valid[0], valid[1], { jsonrpc: "2.0", id: 11, method: "ping" }],
    [null, 1, "x"],
    Array.from({ length: 500 }, (_, i) => ({ jsonrpc: "2.0", id: 100 + i, method: "ping" })),
  ];
  const out: Array<string | Buffer> = [];
  for (let i = 0; i < count; i++) {
    switch (int(5)) {
      case 0: {
        out.push(Buffer.from(Array.from({ length: 1 + int(2000) }, () => int(256))));
        break;
      }
      case 1: {
        const text = JSON.stringify(valid[int(valid.length)]);
        out.push(text.slice(0, int(text.length)));
        break;
      }
      case 2:
        out.push(JSON.stringify(weird[int(weird.length)]));
        break;
      case 3:
        out.push("[".repeat(1 + int(20000)));
        break;
      default: {
        const base = structuredClone(valid[int(valid.length)]!) as Record<string, unknown>;
        const keys = ["jsonrpc", "id", "method", "params"];
        base[keys[int(keys.length)]!] = [null, -1, "", { deep: [[[]]] }, "\u0000\uffff", 1.5][int(6)];
        out.push(JSON.stringify(base));
      }
    }
  }
  return out;
}

test("malformed JSON-RPC gets a JSON-RPC error or a 4xx, never a crash; the server still answers", async () => {
  const services = createServices(testConfig({ transport: "http", port: 0, maxBodyBytes: 1024 * 1024 }), silentLogger);
  const http = await serveHttp(services);
  const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
  const init = await request(http.url, {
    method: "POST",
    headers,
    body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "f", version: "0" } } }),
  });
  const session = String(init.headers["mcp-session-id"]);
  await init.body.text();
  const withSession = { ...headers, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" };
  await (await request(http.url, { method: "POST", headers: withSession, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) })).body.text();

  const statuses = new Map<number, number>();
  const inputs = corpus(300);
  for (const [n, body] of inputs.entries()) {
    const res = await request(http.url, { method: "POST", headers: n % 2 ? withSession : headers, body, signal: AbortSignal.timeout(20_000) });
    const text = await res.body.text();
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    expect(res.statusCode, `input ${n}: ${String(body).slice(0, 80)}`).toBeLessThan(500);
    if (res.statusCode >= 400) {
      // Every refusal is a JSON-RPC error object.
      const parsed = JSON.parse(text) as { jsonrpc: string; error: { code: unknown; message: unknown } };
      expect(parsed.jsonrpc).toBe("2.0");
      expect(typeof parsed.error.code).toBe("number");
      expect(typeof parsed.error.message).toBe("string");
    }
  }
  expect([...statuses.keys()].some((s) => s >= 400)).toBe(true);
  // Still serving, on the same session and on a new one.
  const list = await request(http.url, { method: "POST", headers: withSession, body: JSON.stringify({ jsonrpc: "2.0", id: 999, method: "tools/list" }) });
  expect(list.statusCode).toBe(200);
  expect(await list.body.text()).toContain("count_tokens");
  const client = new Client({ name: "after", version: "0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(http.url)));
  expect((await client.listTools()).tools.length).toBeGreaterThan(0);
  await client.close();
  await http.close(0);
  await services.close();
}, 120_000);
