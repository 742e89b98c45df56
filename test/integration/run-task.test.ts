/**
 * run_task on the tests' model: the model is offered tools as functions and plans calls, which run through the
 * server's own wrapper. The tiny model does not plan well; the grammar of tool_choice required makes its first
 * response a call, which is what these tests rely on.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, describe, expect, test } from "vitest";
import { acquireLlama } from "../../src/llm/local/binding.js";
import { toGbnfSchema, withoutNulls } from "../../src/llm/local/plan.js";
import { silentLogger } from "../../src/log.js";
import { builtInTools } from "../../src/services.js";
import { connect, sharedServices, testConfig } from "../helpers/harness.js";
import { startFixture } from "../helpers/http-fixture.js";

interface Ran {
  answer: string | null;
  steps: Array<{ tool: string; arguments: Record<string, unknown>; is_error: boolean; refused?: string; summary: string }>;
  finish_reason: string;
  backend: string;
  model: string;
  usage: { prompt_tokens: number; completion_tokens: number };
}

const env = { PATH: "/usr/bin:/bin" };
const dir = mkdtempSync(join(tmpdir(), "lam-run-task-"));
const marker = join(dir, "wiped");
writeFileSync(join(dir, "wc.json"), JSON.stringify({ name: "word_count", description: "Counts the words of a text.", input: { type: "object", properties: { text: { type: "string", maxLength: 40 } }, required: ["text"] }, command: { argv: ["wc", "-w"], stdin: "{{text}}" } }));
writeFileSync(join(dir, "wipe.json"), JSON.stringify({ name: "wipe", description: "Wipes everything.", annotations: { destructiveHint: true }, command: { argv: ["touch", marker] } }));
const shared = sharedServices();
afterAll(() => shared.close());

describe("run_task", () => {
  test("tool_choice required: the first response is a call of an offered tool with valid arguments; it runs, and the model answers", async () => {
    await using h = await shared.connect({ toolsDir: dir }, { env });
    const out = await h.ok<Ran>("run_task", { goal: "Count the words of: one two three", tools: ["word_count", "count_tokens"], tool_choice: "required", max_steps: 3, max_tokens: 1024 });
    expect(out.steps.length).toBeGreaterThanOrEqual(1);
    expect(["word_count", "count_tokens"]).toContain(out.steps[0]!.tool);
    expect(out.steps[0]!.is_error).toBe(false);
    expect(out.finish_reason).toBe("answered");
    expect(out.answer).toBe("Hello world!"); // the tiny model's own chain, once the call's result is back
    expect(out).toMatchObject({ backend: "local", model: "lam-tiny-test" });
    expect(out.usage.prompt_tokens).toBeGreaterThan(0);
    expect(out.usage.completion_tokens).toBeGreaterThan(0);
  });

  test("auto lets the model answer without calling; max_steps bounds the calls", async () => {
    await using h = await shared.connect({ toolsDir: dir }, { env });
    const direct = await h.ok<Ran>("run_task", { goal: "Say hello", tools: ["word_count"] });
    expect(direct).toMatchObject({ steps: [], finish_reason: "answered", answer: "Hello world!" });
    const bounded = await h.ok<Ran>("run_task", { goal: "Count the words of: a b", tools: ["word_count"], tool_choice: "required", max_steps: 1, max_tokens: 1024 });
    expect(bounded.steps).toHaveLength(1);
    expect(bounded).toMatchObject({ finish_reason: "max_steps", answer: null });
  });

  test("a destructive tool is refused (never run) without a way to confirm; with the user's yes it runs, with no it does not", async () => {
    await using h = await shared.connect({ toolsDir: dir }, { env });
    const refused = await h.ok<Ran>("run_task", { goal: "Wipe", tools: ["wipe"], tool_choice: "required", max_steps: 1 });
    expect(refused.steps[0]).toMatchObject({ tool: "wipe", is_error: true, refused: "wipe needs the user's confirmation, and this client cannot ask" });
    expect(existsSync(marker)).toBe(false);
    let answer: { action: "accept" | "decline"; content?: Record<string, unknown> } = { action: "decline" };
    const asked: string[] = [];
    await using e = await connect({ toolsDir: dir }, { env, clientCapabilities: { elicitation: {} } });
    e.client.setRequestHandler(ElicitRequestSchema, (request) => {
      asked.push(request.params.message);
      return answer;
    });
    const declined = await e.ok<Ran>("run_task", { goal: "Wipe", tools: ["wipe"], tool_choice: "required", max_steps: 1 });
    expect(declined.steps[0]!.refused).toMatch(/The user did not confirm wipe \(decline\)/);
    expect(existsSync(marker)).toBe(false);
    answer = { action: "accept", content: { confirm: true } };
    const ran = await e.ok<Ran>("run_task", { goal: "Wipe", tools: ["wipe"], tool_choice: "required", max_steps: 1 });
    expect(ran.steps[0]).toMatchObject({ tool: "wipe", is_error: false });
    expect(existsSync(marker)).toBe(true);
    expect(asked).toHaveLength(2);
    expect(asked[1]).toMatch(/^Allow "wipe" to run\?\nThe model asks to call wipe with \{\}/);
  });

  test("unknown tools, and run_task itself, are refused before the model runs", async () => {
    await using h = await shared.connect({ toolsDir: dir }, { env });
    expect(await h.fails("run_task", { goal: "x", tools: ["nope"] })).toMatch(/No tool is named nope/);
    expect(await h.fails("run_task", { goal: "x", tools: ["run_task"] })).toMatch(/run_task cannot be one of its own tools/);
  });

  test("every built-in tool's input schema converts to a grammar node-llama-cpp accepts; optional fields may be null and are dropped", async () => {
    // The same binding options as the tests' engines (threads 1, CPU): one binding per process.
    const { llama, release } = await acquireLlama({ gpu: false, maxThreads: 1, build: "never", progressLogs: false }, () => undefined);
    const tools = builtInTools(testConfig(), silentLogger);
    for (const tool of tools) {
      const schema = { type: "object", properties: { name: { const: tool.name }, arguments: toGbnfSchema(tool.inputSchema) }, required: ["name", "arguments"] };
      await expect(llama.createGrammarForJsonSchema(schema as never), `${tool.name}: ${JSON.stringify(toGbnfSchema(tool.inputSchema))}`).resolves.toBeDefined();
    }
    expect(toGbnfSchema({ type: "object", properties: { a: { type: "string" }, b: { type: "integer" } }, required: ["a"] })).toEqual({
      type: "object",
      properties: { a: { type: "string", maxLength: 1000 }, b: { oneOf: [{ type: "integer" }, { type: "null" }] } },
      additionalProperties: false,
    });
    expect(withoutNulls({ a: 1, b: null, c: "x" })).toEqual({ a: 1, c: "x" });
    await release();
  });
});

/**
 * A stand-in for an OpenAI-compatible server's tools API (/v1/chat/completions with tools, streamed). The real
 * llama-server of the remote tests cannot be used here: with the tiny model, even tool_choice required never yields
 * a call (its grammar lets free text come first, and the model never writes a call's opening tag). Each request is
 * recorded and answered by the next scripted answer: the streamed chunks such servers send, a call's arguments cut
 * into pieces across chunks.
 */
async function toolsServer(answers: Array<Array<Record<string, unknown>>>) {
  const bodies: Array<Record<string, unknown>> = [];
  const server = await startFixture({
    "/v1/models": (_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ data: [{ id: "planner" }] })),
    "/v1/chat/completions": async (req: IncomingMessage, res: ServerResponse) => {
      let body = "";
      for await (const chunk of req) body += String(chunk);
      bodies.push(JSON.parse(body) as Record<string, unknown>);
      const chunks = answers.shift() ?? [{ choices: [{ index: 0, delta: { content: "out of script" }, finish_reason: "stop" }] }];
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const c of chunks) res.write(`data: ${JSON.stringify(c)}\n\n`);
      res.end("data: [DONE]\n\n");
    },
  });
  return { server, bodies };
}

/** The chunks of one streamed call of name, its arguments' JSON text cut into pieces of `cut` characters. */
function callChunks(name: string, argsJson: string, cut = 7): Array<Record<string, unknown>> {
  const pieces: string[] = [];
  for (let i = 0; i < argsJson.length; i += cut) pieces.push(argsJson.slice(i, i + cut));
  return [
    { choices: [{ index: 0, delta: { role: "assistant", tool_calls: [{ index: 0, id: "srv_1", type: "function", function: { name, arguments: "" } }] } }] },
    ...pieces.map((p) => ({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: p } }] } }] })),
    { choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] },
    { choices: [], usage: { prompt_tokens: 120, completion_tokens: 20 } },
  ];
}

const words = (text: string) => (text.match(/\S+\s*/g) ?? []).map((w) => ({ choices: [{ index: 0, delta: { content: w } }] }));

describe("run_task on an OpenAI-compatible server (the tools API)", () => {
  test("the server's calls run through the wrapper; each result goes back as a tool message after the assistant's tool_calls", async () => {
    const { server, bodies } = await toolsServer([
      callChunks("word_count", JSON.stringify({ text: "one two three" })),
      [...words("Three words."), { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }, { choices: [], usage: { prompt_tokens: 150, completion_tokens: 3 } }],
    ]);
    await using _ = server;
    await using h = await shared.connect({ model: undefined, llmUrl: server.url, llmApi: "openai", toolsDir: dir }, { env });
    const out = await h.ok<Ran>("run_task", { goal: "Count the words of: one two three", tools: ["word_count"], tool_choice: "required", seed: 7 });
    expect(out).toMatchObject({ answer: "Three words.", finish_reason: "answered", backend: server.url, model: "planner", usage: { prompt_tokens: 270, completion_tokens: 23 } });
    expect(out.steps).toEqual([{ tool: "word_count", arguments: { text: "one two three" }, is_error: false, summary: expect.stringMatching(/\b3\b/) as unknown }]);
    expect(bodies).toHaveLength(2);
    const wc = h.services.catalog.get("word_count")!;
    expect(bodies[0]).toMatchObject({
      model: "planner",
      tool_choice: "required",
      seed: 7,
      stream: true,
      tools: [{ type: "function", function: { name: "word_count", description: wc.description, parameters: wc.inputSchema } }],
      messages: [{ role: "system" }, { role: "user", content: "Count the words of: one two three" }],
    });
    // The second request: the call as the assistant made it, then its result, under the same id; the choice is the model's again.
    const messages = bodies[1]!.messages as Array<Record<string, unknown>>;
    expect(bodies[1]!.tool_choice).toBe("auto");
    expect(messages).toHaveLength(4);
    const call = (messages[2]!.tool_calls as Array<{ id: string; type: string; function: { name: string; arguments: string } }>)[0]!;
    expect(call).toMatchObject({ type: "function", function: { name: "word_count" } });
    expect(JSON.parse(call.function.arguments)).toEqual({ text: "one two three" });
    expect(messages[3]).toMatchObject({ role: "tool", tool_call_id: call.id });
    expect(JSON.parse(messages[3]!.content as string)).toMatchObject({ action: "word_count", exit_code: 0, stdout: expect.stringMatching(/^\s*3\s*$/) as unknown });
  });

  test("calls the server got wrong are refused or answered as errors, never run: not offered, destructive without a yes, invalid or non-JSON arguments", async () => {
    rmSync(marker, { force: true });
    const { server } = await toolsServer([
      callChunks("wipe", "{}"),
      callChunks("count_tokens", JSON.stringify({ texts: ["x"] })),
      callChunks("word_count", JSON.stringify({ text: 42, extra: null })),
      callChunks("word_count", '{"text": "unfinished'),
    ]);
    await using _ = server;
    await using h = await shared.connect({ model: undefined, llmUrl: server.url, llmApi: "openai", toolsDir: dir }, { env });
    const out = await h.ok<Ran>("run_task", { goal: "Do things", tools: ["wipe", "word_count"], tool_choice: "required", max_steps: 3 });
    expect(out.finish_reason).toBe("max_steps");
    expect(out.steps[0]).toMatchObject({ tool: "wipe", is_error: true, refused: "wipe needs the user's confirmation, and this client cannot ask" });
    expect(out.steps[1]).toMatchObject({ tool: "count_tokens", is_error: true, refused: "count_tokens is not one of the tools offered (wipe, word_count)" });
    // A null the server sent for an optional field is dropped; the wrong type is the tool's own validation error.
    expect(out.steps[2]).toMatchObject({ tool: "word_count", is_error: true, summary: expect.stringMatching(/text: .*string/i) as unknown });
    expect(out.steps[2]!.arguments).toEqual({ text: 42 });
    expect(existsSync(marker)).toBe(false);
    const broken = await h.fails("run_task", { goal: "Do things", tools: ["word_count"], tool_choice: "required" });
    expect(broken).toMatch(new RegExp(`${server.url.replace(/[.]/g, "\\.")}/v1/chat/completions asked for word_count with arguments that are not JSON`));
  });
});
