/**
 * Workflows: files of steps that call tools (built-ins, actions, other workflows) through the server's own wrapper,
 * with real child processes, the tests' model, and the run store on disk.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ElicitRequestSchema, ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, test } from "vitest";
import { connect } from "../helpers/harness.js";

const NODE = process.execPath;
const env = { PATH: `${dirname(NODE)}:/usr/bin:/bin` };

function toolsDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "lam-workflows-"));
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), typeof body === "string" ? body : JSON.stringify(body, null, 2));
  return dir;
}

const SHOUT = {
  name: "shout",
  description: "Upper-cases a text.",
  input: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
  command: { argv: ["tr", "a-z", "A-Z"], stdin: "{{text}}" },
};
const LOUD_COUNT = `
name: loud_count
description: upper-cases a text, then counts its tokens
input: { type: object, properties: { text: { type: string } }, required: [text] }
steps:
  - id: loud
    tool: shout
    arguments: { text: "{{input.text}}" }
  - id: count
    tool: count_tokens
    arguments: { texts: ["{{steps.loud.stdout}}"] }
output: { loud: "{{steps.loud.stdout}}", tokens: "{{steps.count.total}}", said: "loud: {{steps.loud.stdout}} ({{steps.count.total}} tokens)" }
`;

interface Ran {
  output: Record<string, unknown>;
  steps: Array<{ id: string; index?: number; tool: string; arguments: Record<string, unknown>; is_error: boolean; skipped?: boolean; duration_ms: number; summary: string }>;
  run_id: string;
}

const readJson = async (h: Awaited<ReturnType<typeof connect>>, uri: string) =>
  JSON.parse(((await h.client.readResource({ uri })).contents[0] as { text: string }).text) as Record<string, unknown>;

describe("workflows run their steps", () => {
  test("the issue's example: a command, then count_tokens on its output; typed output, every step, the run recorded", async () => {
    const dir = toolsDir({ "shout.json": SHOUT, "loud_count.yaml": LOUD_COUNT });
    await using h = await connect({ toolsDir: dir }, { env });
    const tools = (await h.client.listTools()).tools.map((t) => t.name);
    expect(tools).toContain("loud_count");
    const ran = await h.ok<Ran>("loud_count", { text: "Hello world" });
    expect(ran.output).toEqual({ loud: "HELLO WORLD", tokens: 11, said: "loud: HELLO WORLD (11 tokens)" });
    const direct = await h.ok<{ total: number }>("count_tokens", { texts: ["HELLO WORLD"] });
    expect(ran.output.tokens).toBe(direct.total);
    expect(ran.steps.map((s) => [s.id, s.tool, s.is_error])).toEqual([
      ["loud", "shout", false],
      ["count", "count_tokens", false],
    ]);
    expect(ran.steps[1]!.arguments).toEqual({ texts: ["HELLO WORLD"] });
    const runs = (await readJson(h, "lam://runs")).runs as Array<{ id: string; workflow: string; trigger: string; status: string; ended_at: string | null }>;
    expect(runs[0]).toMatchObject({ id: ran.run_id, workflow: "loud_count", trigger: "call", status: "completed" });
    expect(runs[0]!.ended_at).not.toBeNull();
    const record = await readJson(h, `lam://runs/${ran.run_id}`);
    expect(record).toMatchObject({ status: "completed", arguments: { text: "Hello world" }, output: ran.output });
    expect((record.steps as unknown[]).length).toBe(2);
  });

  test("for_each runs a step per item (item, index); past max_items it refuses; an absent optional input is left out", async () => {
    const dir = toolsDir({
      "shout.json": SHOUT,
      "each.yaml": `
name: each
description: shouts every word
input: { type: object, properties: { words: { type: array, items: { type: string } }, suffix: { type: string }, special: { type: boolean } }, required: [words] }
steps:
  - id: all
    tool: shout
    for_each: "{{input.words}}"
    max_items: 3
    arguments: { text: "{{index}}:{{item}}{{input.suffix}}" }
  - id: lengths
    tool: count_tokens
    arguments: { texts: ["{{steps.all[0].stdout}}", "{{steps.all[1].stdout}}"], special: "{{input.special}}" }
output: { first: "{{steps.all[0].stdout}}", n: "{{steps.lengths.counts[1]}}", items: "{{steps.all}}" }
`,
    });
    await using h = await connect({ toolsDir: dir }, { env });
    const ran = await h.ok<Ran>("each", { words: ["a", "<|im_start|>"] });
    expect(ran.steps.map((s) => [s.id, s.index])).toEqual([
      ["all", 0],
      ["all", 1],
      ["lengths", undefined],
    ]);
    // Inside a longer string an absent input is empty; a whole-string one drops its member (count_tokens' default applies).
    expect(ran.steps[0]!.arguments).toEqual({ text: "0:a" });
    expect(ran.steps[2]!.arguments).toEqual({ texts: ["0:A", "1:<|IM_START|>"] });
    expect(ran.output.first).toBe("0:A");
    expect((ran.output.items as unknown[]).length).toBe(2);
    expect((ran.output.items as Array<{ stdout: string }>)[1]!.stdout).toBe("1:<|IM_START|>");
    // A whole-string template keeps its type: special: true reaches count_tokens as a boolean.
    const special = await h.ok<Ran>("each", { words: ["a", "<|im_start|>"], suffix: "!", special: true });
    expect(special.steps[2]!.arguments).toEqual({ texts: ["0:A!", "1:<|IM_START|>!"], special: true });
    const tooMany = await h.fails("each", { words: ["a", "b", "c", "d"] });
    expect(tooMany).toMatch(/step all failed: for_each gives 4 items; max_items is 3/);
  });
});
