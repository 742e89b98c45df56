/**
 * The lam-mcp process itself: stdout framing, clean exits, the CLI's help/version/settings errors, and bad model
 * files, which must never take the process down (llama.cpp aborts on some: they are refused before it sees them).
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, inject, test } from "vitest";
import { SETTINGS } from "../../src/config.js";
import { textOf } from "../helpers/harness.js";
import { baseArgs, CLI, cleanEnv, runCli, stdioClient } from "../helpers/spawn.js";
import { buildTinyModel, writeTinyModel } from "../helpers/tiny-model.js";

const TOOLS = fileURLToPath(new URL("../../tools/", import.meta.url));

function spawnStdio(args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(), stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const send = (msg: object) => child.stdin.write(`${JSON.stringify(msg)}\n`);
  const waitFor = async (id: number, timeoutMs = 15_000) => {
    for (const end = Date.now() + timeoutMs; Date.now() < end; ) {
      const line = stdout.split("\n").find((l) => l.startsWith("{") && l.includes(`"id":${id}`) && (JSON.parse(l) as { id?: unknown }).id === id);
      if (line) return JSON.parse(line) as { result?: Record<string, unknown>; error?: unknown };
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no answer to ${id}; stderr:\n${stderr}`);
  };
  return { child, exit, send, waitFor, stdout: () => stdout, stderr: () => stderr };
}

const initialize = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
};

describe("stdio process", () => {
  test("stdout carries only JSON-RPC lines, and the process exits 0 on stdin EOF", async () => {
    const p = spawnStdio([...baseArgs(inject("modelPath")), "--log-level", "debug", "--tools-dir", TOOLS]);
    p.send(initialize);
    await p.waitFor(1);
    p.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    p.send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    p.send({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "tokenize", arguments: { text: "Hello world" } } });
    p.send({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "vocabulary", arguments: {} } });
    const call = await p.waitFor(3);
    expect((call.result!.structuredContent as { count: number }).count).toBe(2);
    await p.waitFor(4);
    // The full model, llama.cpp's grammar parser (which logs natively), chat templates, embeddings and an action.
    const calls: Array<[string, Record<string, unknown>]> = [
      ["generate", { prompt: "Hello", temperature: 0 }],
      ["generate", { prompt: "Hello", grammar: "root ::= (" }],
      ["generate", { prompt: "zzz", temperature: 0, json_schema: { type: "object", properties: { n: { type: "integer" } } } }],
      ["chat", { messages: [{ role: "user", content: "Hi" }], temperature: 0 }],
      ["embed", { texts: ["Hello world"] }],
      ["word_count", { text: "one two" }],
    ];
    calls.forEach(([name, args], i) => p.send({ jsonrpc: "2.0", id: 10 + i, method: "tools/call", params: { name, arguments: args } }));
    for (let i = 0; i < calls.length; i++) await p.waitFor(10 + i);
    p.child.stdin.end();
    const { code } = await p.exit;
    expect(code).toBe(0);
    const lines = p.stdout().split("\n").filter((l) => l !== "");
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ jsonrpc: "2.0" });
    // One answer per request; anything else is a protocol notification (llama.cpp's grammar error, forwarded as a
    // notifications/message log record), never a stray line.
    const messages = lines.map((l) => JSON.parse(l) as { id?: number; method?: string });
    expect(messages.filter((m) => m.id !== undefined)).toHaveLength(4 + calls.length);
    for (const m of messages.filter((m) => m.id === undefined)) expect(m.method).toBe("notifications/message");
    // Debug logging was on (model load, llama.cpp, tool calls): all of it went to stderr.
    expect(p.stderr()).toMatch(/model loaded/);
  });

  test("a request of 3.9 M characters (11.7 MB of UTF-8), inside --max-input-chars, is answered", { timeout: 60_000 }, async () => {
    const p = spawnStdio(baseArgs(inject("modelPath")));
    p.send(initialize);
    await p.waitFor(1);
    const text = "語".repeat(3_900_000);
    p.send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "count_tokens", arguments: { texts: [text] } } });
    const answer = await p.waitFor(2, 40_000);
    expect((answer.result!.structuredContent as { total: number }).total).toBeGreaterThan(3_900_000);
    // tokenize of the same text: a bounded answer (one page of tokens), not a 60 MB line.
    p.send({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "tokenize", arguments: { text } } });
    const tokens = (await p.waitFor(3, 40_000)).result!.structuredContent as { count: number; tokens: unknown[]; next_offset: number };
    expect(tokens.count).toBeGreaterThan(3_900_000);
    expect([tokens.tokens.length, tokens.next_offset]).toEqual([10_000, 10_000]);
    const line = p.stdout().split("\n").find((l) => l.includes('"id":3'))!;
    expect(line.length).toBeLessThan(2_000_000);
    p.child.stdin.end();
    expect((await p.exit).code).toBe(0);
  });

  test("a line past --max-body-bytes gets a JSON-RPC error with its id, and the session goes on", { timeout: 30_000 }, async () => {
    const p = spawnStdio([...baseArgs(inject("modelPath")), "--max-body-bytes", "65536"]);
    p.send(initialize);
    await p.waitFor(1);
    const big = "x".repeat(200_000);
    // Several spellings: a numeric id, a string id, the id after the params (not found in the line's start), a
    // notification, and a line written in many small pieces.
    p.send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "count_tokens", arguments: { texts: [big] } } });
    p.send({ jsonrpc: "2.0", id: "req-3", method: "tools/call", params: { name: "tokenize", arguments: { text: big } } });
    p.child.stdin.write(`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"tokenize","arguments":{"text":"${big}"}},"id":4}\n`);
    p.send({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: big } });
    const pieces = JSON.stringify({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "tokenize", arguments: { text: big } } });
    for (let i = 0; i < pieces.length; i += 1000) p.child.stdin.write(pieces.slice(i, i + 1000));
    p.child.stdin.write("\n");
    p.send({ jsonrpc: "2.0", id: 6, method: "ping" });
    await p.waitFor(6);
    const errors = p
      .stdout()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { id: unknown; error?: { code: number; message: string; data?: { limit: number } } })
      .filter((m) => m.error);
    expect(errors.map((e) => e.id)).toEqual([2, "req-3", null, null, 5]);
    for (const e of errors) {
      expect(e.error!.code).toBe(-32600);
      expect(e.error!.message).toMatch(/^Message too large: \d+ bytes, past the limit of 65536 bytes \(--max-body-bytes\)$/);
      expect(e.error!.data!.limit).toBe(65536);
    }
    // Lines that are not JSON, or not JSON-RPC, get their own errors; the session still serves.
    p.child.stdin.write("{not json\n");
    p.child.stdin.write('{"hello": "world", "id": 7}\n');
    p.child.stdin.write("\n\r\n");
    // A line ended by CRLF, and a line that arrives in two pieces, are messages like any other.
    p.child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id: 9, method: "ping" })}\r\n`);
    const split = JSON.stringify({ jsonrpc: "2.0", id: 10, method: "tools/call", params: { name: "count_tokens", arguments: { texts: ["Hello world"] } } });
    p.child.stdin.write(split.slice(0, 40));
    await new Promise((r) => setTimeout(r, 50));
    p.child.stdin.write(`${split.slice(40)}\n`);
    expect((await p.waitFor(9)).result).toEqual({});
    expect(((await p.waitFor(10)).result!.structuredContent as { total: number }).total).toBe(2);
    p.send({ jsonrpc: "2.0", id: 8, method: "tools/call", params: { name: "count_tokens", arguments: { texts: ["Hello world"] } } });
    const last = await p.waitFor(8);
    expect((last.result!.structuredContent as { total: number }).total).toBe(2);
    const tail = p.stdout().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { id: unknown; error?: { code: number } });
    expect(tail.filter((m) => m.error?.code === -32700).map((m) => m.id)).toEqual([null]);
    expect(tail.filter((m) => m.error?.code === -32600 && m.id === 7)).toHaveLength(1);
    p.child.stdin.end();
    expect((await p.exit).code).toBe(0);
    expect(p.stderr()).toMatch(/refused a message past --max-body-bytes/);
  });

  test("with a separate embedding model, llama.cpp's logs of both models stay off stdout", { timeout: 30_000 }, async () => {
    // A model whose load makes llama.cpp warn ("bad special token"): a second llama.cpp binding in the process would
    // print those lines on stdout, into the protocol.
    const warns = writeTinyModel(join(inject("fixturesDir"), "warns-embedding.gguf"), { u32: { "tokenizer.ggml.padding_token_id": 99999 } });
    const p = spawnStdio([...baseArgs(warns), "--embedding-model", warns, "--log-level", "debug"]);
    p.send(initialize);
    await p.waitFor(1);
    p.send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "tokenize", arguments: { text: "Hello" } } });
    p.send({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "embed", arguments: { texts: ["Hello world"] } } });
    p.send({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "generate", arguments: { prompt: "Hello", max_tokens: 2 } } });
    for (const id of [2, 3, 4]) await p.waitFor(id);
    await new Promise((r) => setTimeout(r, 300));
    p.child.stdin.end();
    expect((await p.exit).code).toBe(0);
    for (const line of p.stdout().split("\n").filter(Boolean)) expect(JSON.parse(line)).toMatchObject({ jsonrpc: "2.0" });
    expect(p.stdout()).not.toMatch(/^load:/m);
    expect(p.stderr()).toMatch(/DEBUG llama\.cpp: .*bad special token|"msg":"llama\.cpp: [^"]*bad special token/);
  });

  test("SIGTERM ends the process cleanly with status 0", async () => {
    const p = spawnStdio(baseArgs(inject("modelPath")));
    p.send(initialize);
    await p.waitFor(1);
    p.child.kill("SIGTERM");
    expect(await p.exit).toEqual({ code: 0, signal: null });
  });
});

describe("command line", () => {
  test("--help lists every setting with its environment twin; --version prints the version; both on stdout, as command-line tools do", async () => {
    const help = await runCli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe("");
    for (const s of SETTINGS) {
      expect(help.stdout).toContain(`--${s.flag}`);
      expect(help.stdout).toContain(`env: ${s.env}`);
    }
    const version = await runCli(["--version"]);
    expect(version.code).toBe(0);
    expect(version.stderr).toBe("");
    expect(version.stdout).toBe(`${(JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version}\n`);
  });

  test("bad settings stop start-up with every problem listed and status 2", async () => {
    const bad = await runCli(["--threads", "lots", "--gpu", "metal", "--port", "70000"], { LAM_CONTEXT_SIZE: "-5" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--threads: .*"lots"/);
    expect(bad.stderr).toMatch(/--gpu: .*"metal"/);
    expect(bad.stderr).toMatch(/--port: .*70000/);
    expect(bad.stderr).toMatch(/LAM_CONTEXT_SIZE: .*"-5"/);
    const unknown = await runCli(["--modle", "x"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option --modle; did you mean --model\?/);
    const far = await runCli(["--qqqqqqqqq"]);
    expect(far.code).toBe(2);
    expect(far.stderr).toMatch(/unknown option --qqqqqqqqq\n/);
  });

  test("a short --auth-token is refused without being printed, from the flag or the environment", async () => {
    const token = "s3cr3t-Tok";
    for (const run of [() => runCli(["--transport", "http", "--auth-token", token]), () => runCli(["--transport", "http"], { LAM_AUTH_TOKEN: token })]) {
      const { code, stdout, stderr } = await run();
      expect(code).toBe(2);
      expect(stderr).toMatch(/at least 16 characters/);
      expect(stdout + stderr).not.toContain(token);
    }
  });

  test("a missing model file and a mistyped LAM_ variable are reported at start-up, before any call", async () => {
    const p = spawnStdio(["--model", "/nonexistent/dir/model.gguf", "--gpu", "false", "--log-level", "warn"]);
    const child = p.child;
    child.stdin.write(""); // not a TTY, no banner
    for (let i = 0; i < 100 && !/does not exist/.test(p.stderr()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(p.stderr()).toMatch(/the model file \/nonexistent\/dir\/model\.gguf does not exist/);
    child.stdin.end();
    expect((await p.exit).code).toBe(0);
    const typo = spawn(process.execPath, [CLI, ...baseArgs(inject("modelPath"))], { env: cleanEnv({ LAM_MODLE: "x" }), stdio: "pipe" });
    let stderr = "";
    typo.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    typo.stdin.end();
    await new Promise((r) => typo.once("exit", r));
    expect(stderr).toMatch(/LAM_MODLE is not a lam-mcp setting; did you mean LAM_MODEL\?/);
  });
});

describe("bad model files never crash the process", () => {
  const dir = () => inject("fixturesDir");
  const cases: Array<[string, () => string, RegExp]> = [
    ["missing llama.feed_forward_length (llama.cpp would abort)", () => writeTinyModel(join(dir(), "no-ff.gguf"), { omitKeys: ["llama.feed_forward_length"] }), /llama\.feed_forward_length is missing/],
    ["missing attention.head_count", () => writeTinyModel(join(dir(), "no-heads.gguf"), { omitKeys: ["llama.attention.head_count"] }), /llama\.attention\.head_count is missing/],
    ["truncated download", () => writeTinyModel(join(dir(), "cut.gguf"), { truncateAt: Math.floor(buildTinyModel().length * 0.7) }), /truncated/],
    ["not a GGUF at all", () => { const p = join(dir(), "text.gguf"); writeFileSync(p, "this is not a model\n".repeat(100)); return p; }, /not a valid GGUF file/],
    ["a directory", () => dir(), /cannot be read|not a valid GGUF/],
  ];
  test.each(cases)("%s", async (_name, make, expected) => {
    await using s = await stdioClient(baseArgs(make()));
    for (const name of ["tokenize", "tokenize"]) {
      const result = (await s.client.callTool({ name, arguments: { text: "Hello" } })) as CallToolResult;
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(expected);
      expect(textOf(result)).toMatch(/--model \/ LAM_MODEL/);
    }
    // Still alive and serving.
    expect((await s.client.listTools()).tools.length).toBeGreaterThan(0);
    await s.client.ping();
  });

  test("control: llama.cpp itself does abort the process on the model without feed_forward_length", async () => {
    const path = writeTinyModel(join(dir(), "no-ff-control.gguf"), { omitKeys: ["llama.feed_forward_length"] });
    const script = `import("node-llama-cpp").then(async ({ getLlama }) => { const l = await getLlama({ gpu: false, build: "never" }); await l.loadModel({ modelPath: ${JSON.stringify(path)} }); console.log("loaded"); })`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "pipe", cwd: process.cwd() });
    const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once("exit", (c, s) => resolve({ code: c, signal: s })),
    );
    expect(signal === "SIGABRT" || (code !== 0 && code !== null)).toBe(true);
  });
});
