/** Resources, prompts, argument completion and the logging capability, through a real Client. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LoggingMessageNotificationSchema, McpError, ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, inject, test } from "vitest";
import { buildVocabulary, writeTinyModel } from "../helpers/tiny-model.js";
import { silentLogger } from "../../src/log.js";
import { createServices, type Services } from "../../src/services.js";
import { connect, testConfig } from "../helpers/harness.js";

const vocab = buildVocabulary();

function actionsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "lam-surface-"));
  writeFileSync(join(dir, "list_files.json"), JSON.stringify({ name: "list_files", description: "Lists files.", annotations: { readOnlyHint: true }, command: { argv: ["ls"] } }));
  writeFileSync(join(dir, "list_dirs.json"), JSON.stringify({ name: "list_dirs", description: "Lists directories.", command: { argv: ["ls", "-d", "*/"] } }));
  writeFileSync(join(dir, "remove_tmp.json"), JSON.stringify({ name: "remove_tmp", description: "Removes temp files.", annotations: { destructiveHint: true }, command: { argv: ["true"] } }));
  return dir;
}

const text = (r: { contents: Array<Record<string, unknown>> }) => JSON.parse(String(r.contents[0]!.text)) as Record<string, unknown>;

describe("resources", () => {
  test("lam://model, lam://vocabulary, lam://actions, lam://actions/{name} and lam://config", async () => {
    await using h = await connect({ toolsDir: actionsDir(), searxngUrl: "http://user:hunter2@127.0.0.1:9/", authToken: "a-secret-token-123456" });
    const { resources } = await h.client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(
      expect.arrayContaining(["lam://model", "lam://vocabulary", "lam://actions", "lam://config", "lam://actions/list_files"]),
    );
    const model = text(await h.client.readResource({ uri: "lam://model" }));
    expect(model).toMatchObject({ name: "lam-tiny-test", architecture: "llama", quantization: "F32", vocabularySize: vocab.tokens.length, chatTemplate: true });
    const vocabulary = text(await h.client.readResource({ uri: "lam://vocabulary" }));
    expect(vocabulary).toMatchObject({ size: vocab.tokens.length, kind: "bpe" });
    const one = text(await h.client.readResource({ uri: "lam://actions/list_files" }));
    expect((one.action as { name: string }).name).toBe("list_files");
    await expect(h.client.readResource({ uri: "lam://actions/nope" })).rejects.toBeInstanceOf(McpError);
    const config = text(await h.client.readResource({ uri: "lam://config" }));
    expect(config.searxngUrl).toEqual(["http://***@127.0.0.1:9/"]);
    expect(config.authToken).toBe("***");
    expect(JSON.stringify(config)).not.toMatch(/hunter2|a-secret-token/);
    expect(config.contextSize).toBe(4096);
    expect(config.applied).toMatchObject({ contextSize: { setting: 4096, trained: 8192, applied: 4096 } });
  });

  test("where the model caps the context size, lam://config and lam://model say so, as the receipt does", async () => {
    await using h = await connect({ contextSize: 16384 });
    const before = text(await h.client.readResource({ uri: "lam://config" }));
    const pending = (before.applied as { contextSize: { setting: number; applied: number | null; note: string } }).contextSize;
    expect([pending.setting, pending.applied]).toEqual([16384, null]);
    expect(pending.note).toMatch(/capped by the model's training context once it is loaded/);
    const out = await h.ok<{ receipt: { context_size: number } }>("generate", { prompt: "Hello", temperature: 0 });
    expect(out.receipt.context_size).toBe(8192);
    const config = text(await h.client.readResource({ uri: "lam://config" }));
    expect(config.contextSize).toBe(16384);
    expect(config.applied).toEqual({
      contextSize: { setting: 16384, trained: 8192, applied: 8192, note: "8192 tokens per sequence: --context-size 16384 is capped by the 8192-token context lam-tiny-test was trained on" },
    });
    const model = text(await h.client.readResource({ uri: "lam://model" }));
    expect(model.contextSize).toEqual(config.applied && (config.applied as { contextSize: unknown }).contextSize);
  });

  test("a resource that cannot be produced is a protocol error with the reason", async () => {
    await using h = await connect({ model: "/nonexistent/model.gguf" });
    await expect(h.client.readResource({ uri: "lam://model" })).rejects.toSatisfy(
      (e: unknown) => e instanceof McpError && /does not exist[\s\S]*--model/.test(e.message),
    );
  });
});

describe("prompts and completion", () => {
  test("research, plan_actions, explain_tokens and explain_sampling", async () => {
    await using h = await connect({ toolsDir: actionsDir() });
    const { prompts } = await h.client.listPrompts();
    expect(prompts.map((p) => p.name).sort()).toEqual(["explain_sampling", "explain_tokens", "plan_actions", "research"]);
    const research = await h.client.getPrompt({ name: "research", arguments: { question: "Why do llamas hum?" } });
    const researchText = (research.messages[0]!.content as { text: string }).text;
    expect(researchText).toContain("Why do llamas hum?");
    expect(researchText).toMatch(/search_context[\s\S]*read_url[\s\S]*\[n\]/);
    const plan = await h.client.getPrompt({ name: "plan_actions", arguments: { goal: "tidy the folder", action: "list_files" } });
    const planText = (plan.messages[0]!.content as { text: string }).text;
    expect(planText).toContain("- list_files: Lists files. (read-only)");
    expect(planText).toContain("- remove_tmp: Removes temp files. (destructive)");
    expect(planText).toContain("Center the plan on the action list_files.");
    expect(planText).toMatch(/preview_action/);
    const explain = await h.client.getPrompt({ name: "explain_tokens", arguments: { text: "Hello world" } });
    const explainText = (explain.messages[0]!.content as { text: string }).text;
    expect(explainText).toContain(`lam-tiny-test splits it into 2 tokens:\n${vocab.idOf("Hello")}:"Hello" ${vocab.idOf(" world")}:" world"`);
    const sampling = await h.client.getPrompt({ name: "explain_sampling", arguments: { prompt: "Once upon a" } });
    const samplingText = (sampling.messages[0]!.content as { text: string }).text;
    expect(samplingText).toMatch(/^Prompt: "Once upon a"\n\nCall next_token on this prompt four times: with temperature 0, 0\.5, 1 and 1\.5/);
  });

  test("action names complete in plan_actions and in the lam://actions/{name} template", async () => {
    await using h = await connect({ toolsDir: actionsDir() });
    const prompt = await h.client.complete({ ref: { type: "ref/prompt", name: "plan_actions" }, argument: { name: "action", value: "list_" } });
    expect(prompt.completion.values.sort()).toEqual(["list_dirs", "list_files"]);
    const template = await h.client.complete({ ref: { type: "ref/resource", uri: "lam://actions/{name}" }, argument: { name: "name", value: "rem" } });
    expect(template.completion.values).toEqual(["remove_tmp"]);
  });
});

describe("logging capability", () => {
  test("warnings reach the client by default; logging/setLevel lowers or raises the threshold", async () => {
    await using h = await connect();
    const received: Array<{ level: string; data: unknown }> = [];
    h.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void received.push(n.params));
    h.services.log.info("an info line");
    h.services.log.warn("a warning", { detail: 42 });
    await expect.poll(() => received.length).toBe(1);
    expect(received[0]).toMatchObject({ level: "warning", data: { message: "a warning", detail: 42 } });
    await h.client.setLoggingLevel("debug");
    await h.ok("count_tokens", { texts: ["Hello"] }); // logs "tool call" at debug
    await expect.poll(() => received.some((r) => (r.data as { message?: string }).message === "tool call")).toBe(true);
    await h.client.setLoggingLevel("error");
    const count = received.length;
    h.services.log.warn("ignored now");
    h.services.log.error("an error");
    await expect.poll(() => received.length).toBe(count + 1);
    expect(received.at(-1)).toMatchObject({ level: "error", data: { message: "an error" } });
  });
});

test("llama.cpp's load warnings are debug records: a client at the default level gets none of them", async () => {
  const model = writeTinyModel(join(inject("fixturesDir"), "warns.gguf"), { u32: { "tokenizer.ggml.padding_token_id": 99999, "tokenizer.ggml.eos_token_id": 99998 } });
  await using services = createServices(testConfig({ model }), silentLogger);
  await using quiet = await connect({}, { services });
  await using verbose = await connect({}, { services });
  const got = { quiet: [] as Array<{ level: string; message: string }>, verbose: [] as Array<{ level: string; message: string }> };
  for (const [name, h] of [["quiet", quiet], ["verbose", verbose]] as const) {
    h.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void got[name].push({ level: n.params.level, message: String((n.params.data as { message: string }).message) }));
  }
  await verbose.client.setLoggingLevel("debug");
  await verbose.ok("tokenize", { text: "Hello" });
  // llama.cpp did warn (the records exist, at debug) ...
  await expect.poll(() => got.verbose.filter((r) => /llama\.cpp: .*bad special token/.test(r.message)).length).toBe(2);
  expect(new Set(got.verbose.filter((r) => r.message.startsWith("llama.cpp")).map((r) => r.level))).toEqual(new Set(["debug"]));
  // ... and the client at the default level (warning) heard none of it.
  await quiet.ok("tokenize", { text: "Hello" });
  expect(got.quiet.filter((r) => r.message.startsWith("llama.cpp"))).toEqual([]);
});

/** Two sessions on the same services, each at log level debug, and the messages of the log records each got. */
async function twoListeningSessions(services: Services) {
  const a = await connect({}, { services });
  const b = await connect({}, { services });
  const got = { a: [] as string[], b: [] as string[] };
  for (const [name, h] of [["a", a], ["b", b]] as const) {
    h.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void got[name].push(String((n.params.data as { message: string }).message)));
    await h.client.setLoggingLevel("debug");
  }
  return { a, b, got, [Symbol.asyncDispose]: async () => (await a.close(), await b.close()) };
}

test("a session gets its own calls' log records and the server-wide ones, never another session's", async () => {
  await using services = createServices(testConfig(), silentLogger);
  await using sessions = await twoListeningSessions(services);
  const { a, got } = sessions;
  await a.ok("count_tokens", { texts: ["Hello"] });
  await expect.poll(() => got.a.includes("tool call")).toBe(true);
  services.log.warn("server-wide notice");
  await expect.poll(() => got.a.includes("server-wide notice") && got.b.includes("server-wide notice")).toBe(true);
  expect(got.b).not.toContain("tool call");
});

test("an action's run and failure records go to the session that ran it, never to another", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lam-scoped-"));
  writeFileSync(join(dir, "missing.json"), JSON.stringify({ name: "run_missing", description: "Runs a program that does not exist.", command: { argv: ["/nonexistent/lam-probe"] } }));
  writeFileSync(join(dir, "works.json"), JSON.stringify({ name: "say_hi", description: "Says hi.", command: { argv: ["echo", "hi"] } }));
  await using services = createServices(testConfig({ toolsDir: dir }), silentLogger);
  await using sessions = await twoListeningSessions(services);
  const { a, b, got } = sessions;
  await a.ok("say_hi");
  await a.fails("run_missing");
  await expect.poll(() => ["action run", "action failed"].every((m) => got.a.includes(m))).toBe(true);
  // b saw a's calls happen and logs of its own arrive, yet none of a's records.
  await b.ok("say_hi");
  await expect.poll(() => got.b.includes("action run")).toBe(true);
  expect(got.b.filter((m) => m === "action run")).toHaveLength(1);
  expect(got.b).not.toContain("action failed");
  expect(got.a.filter((m) => m === "action run")).toHaveLength(2);
});

test("server_status's text follows every change at once, though an unchanged answer's text is kept", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lam-status-"));
  writeFileSync(join(dir, "one.json"), JSON.stringify({ name: "say_one", description: "Says one.", command: { argv: ["echo", "1"] } }));
  await using h = await connect({ toolsDir: dir });
  const status = async () => {
    const r = await h.call("server_status");
    const s = r.structuredContent as { uptime_s: number; model: { state: string }; actions: { loaded: number; disabled: number } };
    const text = (r.content as Array<{ text: string }>)[0]!.text;
    // The text always tells what the structured answer does.
    expect(text).toContain(`up ${s.uptime_s} s.`);
    expect(text).toContain(`(${s.model.state})`);
    expect(text).toContain(`Actions: ${s.actions.loaded} loaded, ${s.actions.disabled} disabled.`);
    return { s, text };
  };
  const first = await status();
  expect(first.s.model.state).toBe("idle");
  expect(first.s.actions.loaded).toBe(1);
  await h.ok("count_tokens", { texts: ["Hello"] }); // loads the vocabulary
  expect((await status()).s.model.state).toBe("vocab");
  writeFileSync(join(dir, "two.json"), JSON.stringify({ name: "say_two", description: "Says two.", command: { argv: ["echo", "2"] } }));
  writeFileSync(join(dir, "bad.json"), "{ not json");
  await expect.poll(async () => (await status()).s.actions, { timeout: 5000 }).toEqual({ loaded: 2, disabled: 1 });
});

describe("resource subscriptions", () => {
  test("lam://actions when the tools directory changes, lam://model and lam://vocabulary when the model loads; others never", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lam-subscribe-"));
    await using h = await connect({ toolsDir: dir });
    const updates: string[] = [];
    h.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
    for (const uri of ["lam://actions", "lam://model", "lam://vocabulary", "lam://config", "test://never-changes"]) await h.client.subscribeResource({ uri });
    writeFileSync(join(dir, "echo.json"), JSON.stringify({ name: "echo_it", description: "Echoes.", command: { argv: ["echo", "x"] } }));
    await expect.poll(() => updates.includes("lam://actions"), { timeout: 5000 }).toBe(true);
    await h.ok("count_tokens", { texts: ["Hello"] }); // loads the vocabulary
    await expect.poll(() => updates.filter((u) => u === "lam://model" || u === "lam://vocabulary").sort()).toEqual(["lam://model", "lam://vocabulary"]);
    await h.client.unsubscribeResource({ uri: "lam://model" });
    await h.ok("generate", { prompt: "Hello", max_tokens: 1 }); // loads the full model
    await expect.poll(() => updates.filter((u) => u === "lam://vocabulary").length).toBe(2);
    expect(updates.filter((u) => u === "lam://model")).toHaveLength(1);
    expect(updates).not.toContain("lam://config");
    expect(updates).not.toContain("test://never-changes");
    expect(h.client.getServerCapabilities()?.resources?.subscribe).toBe(true);
  });
});
