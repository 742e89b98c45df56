/**
 * run_task on the tests' model: the model is offered tools as functions and plans calls, which run through the
 * server's own wrapper. The tiny model does not plan well; the grammar of tool_choice required makes its first
 * response a call, which is what these tests rely on.
 */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, describe, expect, test } from "vitest";
import { acquireLlama } from "../../src/llm/local/binding.js";
import { toGbnfSchema, withoutNulls } from "../../src/llm/local/plan.js";
import { silentLogger } from "../../src/log.js";
import { builtInTools } from "../../src/services.js";
import { connect, sharedServices, testConfig } from "../helpers/harness.js";

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
