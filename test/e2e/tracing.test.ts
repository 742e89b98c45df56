/**
 * OpenTelemetry traces from a spawned lam-mcp to a real OTLP/HTTP receiver on loopback (this test's own HTTP server,
 * decoding the JSON the exporter sends): the spans, their parents (the client's traceparent continued), their
 * attributes, and nothing of the arguments.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { expect, inject, test } from "vitest";
import { startFixture } from "../helpers/http-fixture.js";
import { baseArgs, CLI, cleanEnv } from "../helpers/spawn.js";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
}

const SECRET = "sk-live-TRACE-SECRET-0123456789";

test("a span per tool call continues the client's trace; model load, generation, workflow steps and actions are its children; no argument leaves", async () => {
  const bodies: string[] = [];
  await using receiver = await startFixture({
    "/v1/traces": async (req, res) => {
      let body = "";
      for await (const chunk of req) body += (chunk as Buffer).toString();
      bodies.push(body);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    },
  });
  const tools = mkdtempSync(join(tmpdir(), "lam-trace-tools-"));
  writeFileSync(join(tools, "shout.json"), JSON.stringify({ name: "shout", description: "Upper-cases.", input: { type: "object", properties: { text: { type: "string" } }, required: ["text"] }, command: { argv: ["tr", "a-z", "A-Z"], stdin: "{{text}}" } }));
  writeFileSync(join(tools, "loud.yaml"), 'name: loud\ndescription: shouts, then counts\ninput: { type: object, properties: { text: { type: string } }, required: [text] }\nsteps:\n  - { id: a, tool: shout, arguments: { text: "{{input.text}}" } }\n  - { id: b, tool: count_tokens, arguments: { texts: ["{{steps.a.stdout}}"] } }\n');
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, ...baseArgs(inject("modelPath")), "--tools-dir", tools, "--state-dir", mkdtempSync(join(tmpdir(), "lam-state-"))],
    env: cleanEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "50", OTEL_SERVICE_NAME: "lam-trace-test" }),
    stderr: "pipe",
  });
  const client = new Client({ name: "t", version: "0" });
  await client.connect(transport);
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const parentId = "00f067aa0ba902b7";
  const call = (name: string, args: Record<string, unknown>) =>
    client.request({ method: "tools/call", params: { name, arguments: args, _meta: { traceparent: `00-${traceId}-${parentId}-01` } } }, CallToolResultSchema);
  expect((await call("generate", { prompt: "Hello", temperature: 0 })).isError).toBeFalsy();
  expect((await call("loud", { text: SECRET })).isError).toBeFalsy();
  expect((await call("count_tokens", { texts: [SECRET] })).isError).toBeFalsy();
  await client.close(); // stdin ends: the server flushes its spans and exits
  await expect.poll(() => bodies.length, { timeout: 10_000 }).toBeGreaterThan(0);
  await new Promise((r) => setTimeout(r, 300));

  const payload = bodies.join("\n");
  for (const form of [SECRET, Buffer.from(SECRET).toString("base64"), SECRET.toUpperCase()]) expect(payload).not.toContain(form);
  const batches = bodies.map((b) => JSON.parse(b) as { resourceSpans: Array<{ resource: { attributes: OtlpSpan["attributes"] }; scopeSpans: Array<{ spans: OtlpSpan[] }> }> });
  const resources = batches.flatMap((b) => b.resourceSpans.map((r) => r.resource));
  expect(resources.every((r) => r.attributes.some((a) => a.key === "service.name" && a.value.stringValue === "lam-trace-test"))).toBe(true);
  const spans = batches.flatMap((b) => b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
  const attr = (s: OtlpSpan, key: string) => {
    const v = s.attributes.find((a) => a.key === key)?.value;
    return v ? (v.stringValue ?? v.boolValue ?? (v.intValue === undefined ? v.doubleValue : Number(v.intValue))) : undefined;
  };
  const named = (name: string) => spans.filter((s) => s.name === name);
  const childrenOf = (s: OtlpSpan) => spans.filter((c) => c.parentSpanId === s.spanId);

  // Every call continues the client's trace, under the client's span.
  const calls = spans.filter((s) => s.name.startsWith("tools/call ") && s.parentSpanId === parentId);
  expect(calls.map((s) => s.name).sort()).toEqual(["tools/call count_tokens", "tools/call generate", "tools/call loud"]);
  for (const s of calls) expect(s.traceId).toBe(traceId);
  const generate = calls.find((s) => s.name === "tools/call generate")!;
  expect(attr(generate, "lam.outcome")).toBe("ok");
  const [generation] = childrenOf(generate);
  expect(generation!.name).toBe("generation");
  expect(attr(generation!, "gen_ai.usage.output_tokens")).toBe(2);
  expect(childrenOf(generation!).map((s) => s.name)).toContain("model.load");

  // The workflow: a span per step, each holding its tool call, the action's run inside the first.
  const loud = calls.find((s) => s.name === "tools/call loud")!;
  const steps = childrenOf(loud);
  expect(steps.map((s) => [s.name, attr(s, "lam.step")])).toEqual([
    ["workflow.step", "a"],
    ["workflow.step", "b"],
  ]);
  const shout = childrenOf(steps[0]!)[0]!;
  expect(shout.name).toBe("tools/call shout");
  const run = childrenOf(shout)[0]!;
  expect([run.name, attr(run, "lam.action"), attr(run, "process.exit.code")]).toEqual(["action.run", "shout", 0]);
  expect(childrenOf(steps[1]!).map((s) => s.name)).toEqual(["tools/call count_tokens"]);
  expect(named("tools/call count_tokens")).toHaveLength(2);
}, 60_000);
