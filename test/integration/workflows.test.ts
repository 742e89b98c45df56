/**
 * Workflows: files of steps that call tools (built-ins, actions, other workflows) through the server's own wrapper,
 * with real child processes, the tests' model, and the run store on disk.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ElicitRequestSchema, ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, inject, test } from "vitest";
import { connect } from "../helpers/harness.js";
import { baseArgs, httpServer, runCli } from "../helpers/spawn.js";

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

describe("conditions, failures and nesting", () => {
  const FLOW = {
    "shout.json": SHOUT,
    "fail.json": { name: "fail", description: "Exits 3.", command: { argv: [NODE, "-e", "process.stderr.write('broken'); process.exit(3)"] } },
    "flow.yaml": `
name: flow
description: branches on a count
input: { type: object, properties: { text: { type: string }, tolerate: { type: boolean, default: false } }, required: [text] }
steps:
  - id: count
    tool: count_tokens
    arguments: { texts: ["{{input.text}}"] }
  - id: big
    tool: shout
    when: { value: "{{steps.count.total}}", gt: 3 }
    arguments: { text: "big: {{input.text}}" }
  - id: small
    tool: shout
    when: { value: "{{steps.count.total}}", lte: 3 }
    arguments: { text: "small: {{input.text}}" }
output: { big: "{{steps.big.stdout}}", small: "{{steps.small.stdout}}", n: "{{steps.count.total}}" }
`,
    "broken.yaml": `
name: broken
description: a step that fails, tolerated or not
input: { type: object, properties: { tolerate: { type: boolean, default: false } } }
steps:
  - id: first
    tool: shout
    arguments: { text: one }
  - id: bad
    tool: fail
    continue_on_error: false
  - id: after
    tool: shout
    arguments: { text: after }
`,
    "tolerant.yaml": `
name: tolerant
description: tolerates a failing step
steps:
  - id: bad
    tool: fail
    continue_on_error: true
  - id: after
    tool: shout
    when: { value: "{{steps.bad.is_error}}", equals: true }
    arguments: { text: "recovered" }
output: { error: "{{steps.bad.error}}", after: "{{steps.after.stdout}}" }
`,
    "outer.yaml": `
name: outer
description: runs flow as a step
input: { type: object, properties: { text: { type: string } }, required: [text] }
steps:
  - id: inner
    tool: flow
    arguments: { text: "{{input.text}}" }
  - id: again
    tool: shout
    arguments: { text: "{{steps.inner.output.n}} tokens" }
output: "{{steps.again.stdout}}"
`,
  };

  test("when skips a step (its result absent: the output leaves it out); both branches", async () => {
    await using h = await connect({ toolsDir: toolsDir(FLOW) }, { env });
    const short = await h.ok<Ran>("flow", { text: "Hello" });
    expect(short.output).toEqual({ small: "SMALL: HELLO", n: 1 });
    expect(short.steps.find((s) => s.id === "big")).toMatchObject({ skipped: true, is_error: false });
    const long = await h.ok<Ran>("flow", { text: " one two three four five" });
    expect(long.output).toEqual({ big: "BIG:  ONE TWO THREE FOUR FIVE", n: 5 });
  });

  test("a failing step stops the run: later steps never run, the error names the step and the run, the record says failed", async () => {
    await using h = await connect({ toolsDir: toolsDir(FLOW) }, { env });
    const result = await h.call("broken", {});
    expect(result.isError).toBe(true);
    const text = (result.content[0] as { text: string }).text;
    expect(text).toMatch(/Workflow broken failed: step bad failed: .*exit/i);
    const runId = /run (\d{8}T\d{9}Z-[0-9a-f]{6})/.exec(text)![1]!;
    const record = await readJson(h, `lam://runs/${runId}`);
    expect(record.status).toBe("failed");
    expect((record.steps as Array<{ id: string }>).map((s) => s.id)).toEqual(["first", "bad"]);
    const tolerant = await h.ok<Ran>("tolerant", {});
    expect(tolerant.output.after).toBe("RECOVERED");
    expect(String(tolerant.output.error)).toMatch(/exit/i);
    expect(tolerant.steps.map((s) => [s.id, s.is_error])).toEqual([
      ["bad", true],
      ["after", false],
    ]);
  });

  test("a workflow runs another as a step, and reads its output", async () => {
    await using h = await connect({ toolsDir: toolsDir(FLOW) }, { env });
    const ran = await h.ok<Ran>("outer", { text: "Hello" });
    expect(ran.output).toBe("1 TOKENS");
    // Each run is recorded: the inner one too.
    const runs = (await readJson(h, "lam://runs")).runs as Array<{ workflow: string; status: string }>;
    // Newest first: the inner run started after the outer one.
    expect(runs.slice(0, 2).map((r) => [r.workflow, r.status])).toEqual([
      ["flow", "completed"],
      ["outer", "completed"],
    ]);
  });

  test("a template that reads what is not there fails the step with the path and what the result has", async () => {
    const dir = toolsDir({
      "shout.json": SHOUT,
      "typo.yaml": `
name: typo
description: reads a field shout does not return
steps:
  - id: a
    tool: shout
    arguments: { text: x }
  - id: b
    tool: shout
    arguments: { text: "{{steps.a.stdotu}}" }
`,
    });
    await using h = await connect({ toolsDir: dir }, { env });
    expect(await h.fails("typo", {})).toMatch(/step b failed: \{\{steps\.a\.stdotu\}\} cannot be read: steps\.a has no field stdotu \(it has action, kind, exit_code, stdout, stderr, duration_ms, truncated\) \(run \d{8}T/);
  });
});

describe("confirmation, preview, cancellation, time limit", () => {
  const NOTE = {
    name: "append_note",
    title: "Append a note",
    description: "Appends a line to notes.txt.",
    input: { type: "object", properties: { note: { type: "string" } }, required: ["note"] },
    confirm: true,
    command: { argv: ["tee", "-a", "notes.txt"], cwd: ".", stdin: "{{note}}\n" },
  };
  const WIPE = {
    name: "wipe",
    description: "Pretends to wipe (prints).",
    annotations: { destructiveHint: true },
    command: { argv: ["echo", "wiped"] },
  };
  const NOTE_TWICE = `
name: note_twice
description: writes two notes and wipes
input: { type: object, properties: { text: { type: string } }, required: [text] }
steps:
  - id: first
    tool: append_note
    arguments: { note: "{{input.text}} 1" }
  - id: count
    tool: count_tokens
    arguments: { texts: ["{{input.text}}"] }
  - id: second
    tool: append_note
    arguments: { note: "{{input.text}} 2" }
  - id: wipe
    tool: wipe
`;

  test("one question lists every step that needs confirmation; the steps then run without asking again", async () => {
    const dir = toolsDir({ "note.json": NOTE, "wipe.json": WIPE, "note_twice.yaml": NOTE_TWICE });
    const asked: string[] = [];
    let answer: { action: "accept" | "decline"; content?: Record<string, unknown> } = { action: "accept", content: { confirm: true } };
    await using h = await connect({ toolsDir: dir }, { env, clientCapabilities: { elicitation: {} } });
    h.client.setRequestHandler(ElicitRequestSchema, (request) => {
      asked.push(request.params.message);
      return answer;
    });
    const ran = await h.ok<Ran>("note_twice", { text: "hi" });
    expect(asked).toHaveLength(1);
    expect(asked[0]).toBe('Allow "note_twice" to run?\nIt runs:\n- step first: append_note (asks before each run)\n- step second: append_note (asks before each run)\n- step wipe: wipe (destructive)');
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("hi 1\nhi 2\n");
    expect(ran.steps.map((s) => s.id)).toEqual(["first", "count", "second", "wipe"]);
    answer = { action: "decline" };
    expect(await h.fails("note_twice", { text: "no" })).toMatch(/The user did not confirm note_twice \(decline\); nothing ran/);
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("hi 1\nhi 2\n");
    expect(asked).toHaveLength(2);
  });

  test("without elicitation (and without --allow-unconfirmed) the run is refused before any step; with it, it runs", async () => {
    const dir = toolsDir({ "note.json": NOTE, "wipe.json": WIPE, "note_twice.yaml": NOTE_TWICE });
    await using h = await connect({ toolsDir: dir }, { env });
    expect(await h.fails("note_twice", { text: "x" })).toMatch(/note_twice must be confirmed by the user before it runs[\s\S]*--allow-unconfirmed/);
    expect(() => readFileSync(join(dir, "notes.txt"))).toThrow();
    expect((await readJson(h, "lam://runs")).runs).toEqual([]);
    await using allowed = await connect({ toolsDir: dir, allowUnconfirmed: true }, { env });
    await allowed.ok("note_twice", { text: "x" });
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("x 1\nx 2\n");
  });

  test("preview_action shows the steps a workflow would run, the input filled in, and which need confirmation", async () => {
    const dir = toolsDir({ "note.json": NOTE, "wipe.json": WIPE, "note_twice.yaml": NOTE_TWICE });
    await using h = await connect({ toolsDir: dir }, { env });
    const preview = await h.ok<{ needs_confirmation: boolean; plan: { kind: string; steps: Array<Record<string, unknown>> } }>("preview_action", { name: "note_twice", arguments: { text: "hi" } });
    expect(preview.needs_confirmation).toBe(true);
    expect(preview.plan.kind).toBe("workflow");
    expect(preview.plan.steps).toEqual([
      { id: "first", tool: "append_note", arguments: { note: "hi 1" }, needs_confirmation: "asks before each run" },
      { id: "count", tool: "count_tokens", arguments: { texts: ["hi"] } },
      { id: "second", tool: "append_note", arguments: { note: "hi 2" }, needs_confirmation: "asks before each run" },
      { id: "wipe", tool: "wipe", arguments: {}, needs_confirmation: "destructive" },
    ]);
    expect(await h.fails("preview_action", { name: "note_twice", arguments: {} })).toMatch(/would be refused by note_twice[\s\S]*text/);
  });

  test("cancelling the call cancels the step that runs and records the run as cancelled; timeout_ms bounds the whole run", async () => {
    const dir = toolsDir({
      "long.yaml": `
name: long
description: a long generation
steps:
  - id: gen
    tool: generate
    arguments: { prompt: " la", temperature: 0, max_tokens: 8000 }
`,
      "slow.json": { name: "slow", description: "Sleeps.", command: { argv: [NODE, "-e", "setTimeout(() => {}, 60000)"] } },
      "limited.yaml": `
name: limited
description: a slow step past the time limit
timeout_ms: 300
steps:
  - id: nap
    tool: slow
`,
    });
    await using h = await connect({ toolsDir: dir, maxTokensLimit: 8000 }, { env });
    const controller = new AbortController();
    const call = h.client.callTool({ name: "long", arguments: {} }, undefined, { signal: controller.signal });
    await expect.poll(() => h.services.engine.stats()?.busy ?? 0).toBe(1);
    controller.abort();
    await expect(call).rejects.toThrow();
    await expect.poll(async () => ((await readJson(h, "lam://runs")).runs as Array<{ status: string }>)[0]?.status).toBe("cancelled");
    await expect.poll(() => h.services.engine.stats()!.busy).toBe(0);
    const started = performance.now();
    expect(await h.fails("limited", {})).toMatch(/Workflow limited failed: took longer than its 300 ms \(timeout_ms\)[\s\S]*Raise timeout_ms/);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(((await readJson(h, "lam://runs")).runs as Array<{ status: string }>)[0]!.status).toBe("failed");
  });
});

describe("workflow files are checked when they load", () => {
  const good = (extra: Record<string, unknown>) => ({ name: "wf", description: "A workflow.", input: { type: "object", properties: { text: { type: "string" } } }, ...extra });
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["an unknown tool", good({ steps: [{ id: "a", tool: "no_such_tool" }] }), /steps\.0\.tool: no tool is named no_such_tool \(the tools: .*count_tokens/],
    ["an undeclared input", good({ steps: [{ id: "a", tool: "count_tokens", arguments: { texts: ["{{input.nope}}"] } }] }), /steps\.0\.arguments: \{\{input\.nope\}\}: nope is not a property of input/],
    ["a later step", good({ steps: [{ id: "a", tool: "count_tokens", arguments: { texts: ["{{steps.b.total}}"] } }, { id: "b", tool: "count_tokens", arguments: { texts: ["x"] } }] }), /step b comes later; a step reads only earlier steps/],
    ["its own result", good({ steps: [{ id: "a", tool: "count_tokens", arguments: { texts: ["{{steps.a.total}}"] } }] }), /a step cannot read its own result/],
    ["an unknown step", good({ steps: [{ id: "a", tool: "count_tokens", arguments: { texts: ["x"] } }], output: "{{steps.zz}}" }), /output: \{\{steps\.zz\.\.\.\}\}: no step has the id zz/],
    ["item outside for_each", good({ steps: [{ id: "a", tool: "count_tokens", arguments: { texts: ["{{item}}"] } }] }), /\{\{item\}\} is only for the arguments of a step with for_each/],
    ["a for_each that is not one template", good({ steps: [{ id: "a", tool: "count_tokens", for_each: "x {{input.text}}", arguments: { texts: ["{{item}}"] } }] }), /for_each: must be one template that gives a list/],
    ["an expression", good({ steps: [{ id: "a", tool: "count_tokens", arguments: { texts: ["{{input.text + 1}}"] } }] }), /a path is \.name or \[number\] steps, nothing else/],
    ["code", good({ steps: [{ id: "a", tool: "count_tokens", arguments: { texts: ["{{process.exit()}}"] } }] }), /must start with input\., steps\., item or index/],
    ["an action-style template", good({ steps: [{ id: "a", tool: "count_tokens", arguments: { texts: ["{{text}}"] } }] }), /\{\{text\}\} must start with input\./],
    ["a secret", good({ steps: [{ id: "a", tool: "count_tokens", arguments: { texts: ["${env:HOME}"] } }] }), /workflows take no \$\{env:\.\.\.\}/],
    ["two runners", good({ steps: [{ id: "a", tool: "count_tokens" }], command: { argv: ["true"] } }), /give exactly one runner: http, command or steps \(this file has command and steps\)/],
    ["a duplicate id", good({ steps: [{ id: "a", tool: "count_tokens", arguments: { texts: ["x"] } }, { id: "a", tool: "count_tokens", arguments: { texts: ["y"] } }] }), /steps\.1\.id: a is the id of an earlier step too/],
    ["a bad cron", good({ steps: [{ id: "a", tool: "count_tokens", arguments: { texts: ["x"] } }], schedule: "every day" }), /schedule: not a cron pattern/],
    ["a bad time zone", good({ steps: [{ id: "a", tool: "count_tokens", arguments: { texts: ["x"] } }], schedule: { cron: "0 7 * * *", timezone: "Mars/Olympus" } }), /schedule\.timezone: not a time zone/],
    ["a schedule with a required input", { ...good({ steps: [{ id: "a", tool: "count_tokens", arguments: { texts: ["{{input.text}}"] } }], schedule: "0 7 * * *" }), input: { type: "object", properties: { text: { type: "string" } }, required: ["text"] } }, /schedule: a scheduled run gets no arguments/],
    ["output without steps", { name: "wf", description: "x", command: { argv: ["true"] }, output: "x" }, /output: output is for workflows/],
    ["too many items", good({ steps: [{ id: "a", tool: "count_tokens", for_each: "{{input.text}}", max_items: 1000, arguments: { texts: ["{{item}}"] } }] }), /steps\.0\.max_items: .*100/],
    ["a condition with no test", good({ steps: [{ id: "a", tool: "count_tokens", when: { value: 1 }, arguments: { texts: ["x"] } }] }), /steps\.0\.when: give at least one test/],
  ];

  test.each(cases)("%s is refused, naming the field", async (_what, file, expected) => {
    const dir = toolsDir({ "wf.json": file });
    await using h = await connect({ toolsDir: dir }, { env });
    const described = (await readJson(h, "lam://actions")).actions as Array<{ status: string; problems: Array<{ field: string; message: string }> }>;
    expect(described[0]!.status).toBe("disabled");
    expect(described[0]!.problems.map((p) => `${p.field}: ${p.message}`).join("\n")).toMatch(expected);
    expect((await h.client.listTools()).tools.map((t) => t.name)).not.toContain("wf");
  });

  test("workflows that call each other in a cycle are all disabled; one that calls a disabled one is too", async () => {
    const step = (tool: string) => [{ id: "s", tool }];
    const dir = toolsDir({
      "a.json": { name: "a", description: "a", steps: step("b") },
      "b.json": { name: "b", description: "b", steps: step("a") },
      "c.json": { name: "c", description: "c", steps: step("a") },
      "d.json": { name: "d", description: "d", steps: step("count_tokens") },
    });
    await using h = await connect({ toolsDir: dir }, { env });
    const described = (await readJson(h, "lam://actions")).actions as Array<{ name: string; status: string; problems: Array<{ message: string }> }>;
    const byName = Object.fromEntries(described.map((d) => [d.name, d]));
    expect(byName.a!.problems[0]!.message).toBe("calls itself through a -> b -> a: workflows may not form a cycle");
    expect(byName.b!.problems[0]!.message).toBe("calls itself through b -> a -> b: workflows may not form a cycle");
    expect(byName.c!.problems[0]!.message).toMatch(/^no tool is named a /);
    expect(byName.d!.status).toBe("loaded");
  });

  test("lam-mcp actions check reports workflows; lam-mcp actions run runs one and prints its result", async () => {
    const dir = toolsDir({ "shout.json": SHOUT, "loud_count.yaml": LOUD_COUNT, "bad.json": { name: "bad", description: "x", steps: [{ id: "a", tool: "nope" }] } });
    const check = await runCli(["actions", "check", dir]);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^ok {4}loud_count /m);
    expect(check.stdout).toMatch(/^FAIL {2}\S*bad\.json: steps\.0\.tool: no tool is named nope/m);
    const state = mkdtempSync(join(tmpdir(), "lam-state-"));
    const run = await runCli(["--model", inject("modelPath"), "--tools-dir", dir, "--state-dir", state, "--threads", "1", "--gpu", "false", "actions", "run", "loud_count", '{"text":"Hello world"}'], env);
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ output: { loud: "HELLO WORLD", tokens: 11 } });
    const failing = await runCli(["--model", inject("modelPath"), "--tools-dir", dir, "--state-dir", state, "actions", "run", "loud_count", "{}"], env);
    expect(failing.code).toBe(1);
    expect(failing.stderr).toMatch(/Invalid arguments for loud_count:\n- text/);
  });
});

describe("schedules", () => {
  const every = (name: string, tool: string, extra = "") => `
name: ${name}
description: scheduled
schedule: "* * * * * *"
${extra}
steps:
  - id: s
    tool: ${tool}
    arguments: {}
`;
  type Runs = Array<{ id: string; workflow: string; trigger: string; status: string; started_at: string; ended_at: string | null }>;
  const runsOf = async (h: Awaited<ReturnType<typeof connect>>, workflow: string) => ((await readJson(h, "lam://runs")).runs as Runs).filter((r) => r.workflow === workflow);

  test("a schedule firing every second runs the workflow by itself, once per occurrence", async () => {
    const dir = toolsDir({ "hello.json": { name: "hello", description: "Says hello.", command: { argv: ["echo", "hello"] } }, "tick.yaml": every("tick", "hello") });
    await using h = await connect({ toolsDir: dir }, { env });
    const schedules = (await readJson(h, "lam://actions")).schedules as Array<{ workflow: string; armed: boolean; next_run: string }>;
    expect(schedules).toEqual([expect.objectContaining({ workflow: "tick", armed: true, enabled: true, cron: "* * * * * *" })]);
    expect(Date.parse(schedules[0]!.next_run) - Date.now()).toBeLessThanOrEqual(1000);
    await expect.poll(async () => (await runsOf(h, "tick")).filter((r) => r.status === "completed").length, { timeout: 6000 }).toBeGreaterThanOrEqual(2);
    const runs = await runsOf(h, "tick");
    expect(runs.every((r) => r.trigger === "schedule")).toBe(true);
    // One per occurrence: no two runs start in the same second.
    const seconds = runs.map((r) => r.started_at.slice(0, 19));
    expect(new Set(seconds).size).toBe(seconds.length);
  });

  test("an occurrence that finds the previous run still going is recorded as skipped; two never run at once", async () => {
    const dir = toolsDir({
      "nap.json": { name: "nap", description: "Sleeps 1.5 s.", command: { argv: [NODE, "-e", "setTimeout(() => {}, 1500)"] } },
      "sleepy.yaml": every("sleepy", "nap"),
    });
    await using h = await connect({ toolsDir: dir }, { env });
    await expect.poll(async () => (await runsOf(h, "sleepy")).some((r) => r.status === "skipped"), { timeout: 8000 }).toBe(true);
    await expect.poll(async () => (await runsOf(h, "sleepy")).filter((r) => r.status === "completed").length, { timeout: 8000 }).toBeGreaterThanOrEqual(1);
    const runs = await runsOf(h, "sleepy");
    const skipped = runs.find((r) => r.status === "skipped")!;
    expect(((await readJson(h, `lam://runs/${skipped.id}`)) as { error: string }).error).toBe("the previous run was still going at this occurrence");
    const ran = runs.filter((r) => r.status !== "skipped" && r.ended_at !== null).sort((a, b) => a.started_at.localeCompare(b.started_at));
    for (let i = 1; i < ran.length; i++) expect(ran[i]!.started_at >= ran[i - 1]!.ended_at!).toBe(true);
  });

  test("a step that needs confirmation: armed only with unattended: true and --allow-unattended; enabled: false never fires", async () => {
    const files = (unattended: boolean) => ({
      "note.json": { name: "note", description: "Writes a note.", confirm: true, command: { argv: ["tee", "-a", "notes.txt"], cwd: ".", stdin: "scheduled\n" } },
      "nightly.yaml": every("nightly", "note", unattended ? "unattended: true" : ""),
      "off.yaml": `
name: off
description: declared, not enabled
schedule: { cron: "* * * * * *", enabled: false }
steps:
  - { id: s, tool: count_tokens, arguments: { texts: [x] } }
`,
    });
    const status = async (h: Awaited<ReturnType<typeof connect>>) =>
      Object.fromEntries(((await readJson(h, "lam://actions")).schedules as Array<{ workflow: string; armed: boolean; why?: string }>).map((s) => [s.workflow, s]));
    const plain = toolsDir(files(false));
    await using a = await connect({ toolsDir: plain, allowUnattended: true }, { env });
    expect((await status(a)).nightly).toMatchObject({ armed: false, why: "it has steps that need confirmation (s (note: asks before each run)) and its file does not say unattended: true" });
    expect((await status(a)).off).toMatchObject({ armed: false, enabled: false, why: "the file's schedule says enabled: false" });
    const marked = toolsDir(files(true));
    await using b = await connect({ toolsDir: marked }, { env });
    expect((await status(b)).nightly).toMatchObject({ armed: false, why: expect.stringMatching(/the server runs without --allow-unattended$/) as unknown });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await runsOf(b, "nightly")).toEqual([]);
    expect(await runsOf(b, "off")).toEqual([]);
    await using c = await connect({ toolsDir: marked, allowUnattended: true }, { env });
    expect((await status(c)).nightly).toMatchObject({ armed: true });
    await expect.poll(async () => (await runsOf(c, "nightly")).some((r) => r.status === "completed"), { timeout: 5000 }).toBe(true);
    expect(readFileSync(join(marked, "notes.txt"), "utf8")).toMatch(/^scheduled\n/);
  });
});

describe("runs outlast the server", () => {
  const LONG = `
name: long
description: a long generation
steps:
  - id: gen
    tool: generate
    arguments: { prompt: " la", temperature: 0, max_tokens: 8000 }
`;

  test("a killed server's running run is marked interrupted on the next start; finished runs are still listed", async () => {
    const dir = toolsDir({ "shout.json": SHOUT, "loud_count.yaml": LOUD_COUNT, "long.yaml": LONG });
    const state = mkdtempSync(join(tmpdir(), "lam-state-"));
    const server = await httpServer([...baseArgs(inject("modelPath")), "--tools-dir", dir, "--state-dir", state, "--max-tokens-limit", "8000"], env);
    const client = await server.client();
    const done = (await client.callTool({ name: "loud_count", arguments: { text: "hi" } })).structuredContent as unknown as Ran;
    void client.callTool({ name: "long", arguments: {} }).catch(() => undefined);
    await expect.poll(() => readdirSync(join(state, "runs")).filter((f) => f.endsWith(".json")).length).toBe(2);
    const runningFile = readdirSync(join(state, "runs")).find((f) => !f.startsWith(done.run_id))!;
    expect(JSON.parse(readFileSync(join(state, "runs", runningFile), "utf8"))).toMatchObject({ status: "running", workflow: "long" });
    server.child.kill("SIGKILL");
    await new Promise((resolve) => server.child.once("exit", resolve));

    await using h = await connect({ toolsDir: dir, stateDir: state }, { env });
    await expect.poll(async () => ((await readJson(h, "lam://runs")).runs as Array<{ workflow: string; status: string }>).map((r) => [r.workflow, r.status])).toEqual([
      ["long", "interrupted"],
      ["loud_count", "completed"],
    ]);
    const interrupted = await readJson(h, `lam://runs/${runningFile.slice(0, -5)}`);
    expect(interrupted.error).toBe("the server that ran it stopped before it ended");
    expect(interrupted.ended_at).not.toBeNull();
    expect(await readJson(h, `lam://runs/${done.run_id}`)).toMatchObject({ status: "completed", output: done.output });
  });

  test("a run still going when the server stops is marked interrupted at shutdown", async () => {
    const dir = toolsDir({ "long.yaml": LONG });
    const state = mkdtempSync(join(tmpdir(), "lam-state-"));
    const h = await connect({ toolsDir: dir, stateDir: state, maxTokensLimit: 8000 }, { env });
    const call = h.client.callTool({ name: "long", arguments: {} }).catch(() => "ended");
    await expect.poll(() => h.services.engine.stats()?.busy ?? 0).toBe(1);
    await h.close();
    await call;
    const [file] = readdirSync(join(state, "runs"));
    expect(JSON.parse(readFileSync(join(state, "runs", file!), "utf8"))).toMatchObject({ status: "interrupted", error: "the server stopped before the run ended" });
  });

  test("a subscriber to lam://runs (or to one run) is told when a run ends; others are not", async () => {
    const dir = toolsDir({ "shout.json": SHOUT, "loud_count.yaml": LOUD_COUNT });
    await using h = await connect({ toolsDir: dir }, { env });
    await using other = await connect({ toolsDir: dir }, { env, services: h.services });
    const updates: string[] = [];
    const otherUpdates: string[] = [];
    h.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
    other.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void otherUpdates.push(n.params.uri));
    await h.client.subscribeResource({ uri: "lam://runs" });
    const ran = await h.ok<Ran>("loud_count", { text: "a" });
    await expect.poll(() => updates).toEqual(["lam://runs"]);
    await h.client.unsubscribeResource({ uri: "lam://runs" });
    await other.client.subscribeResource({ uri: `lam://runs/${ran.run_id}` });
    await h.ok("loud_count", { text: "b" });
    await new Promise((r) => setTimeout(r, 100));
    expect(updates).toEqual(["lam://runs"]);
    expect(otherUpdates).toEqual([]);
  });
});
