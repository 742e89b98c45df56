/** The example client programs of examples/, run as a user would, against the test fixtures. */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, inject, test } from "vitest";
import { cleanEnv } from "../helpers/spawn.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function runExample(file: string, args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", `examples/${file}`, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

test("examples/research.ts: search, read, chat, and an answer with cited sources", async () => {
  const web = inject("webUrl");
  const out = await runExample("research.ts", ["How do llamas carry loads?"], {
    LAM_MODEL: inject("modelPath"),
    LAM_THREADS: "1",
    LAM_GPU: "false",
    LAM_LOG_LEVEL: "warn",
    SEARXNG_URL: inject("searxUrl"),
    LAM_FETCH_ALLOW: "127.0.0.1",
  });
  expect(out.code, out.stderr).toBe(0);
  expect(out.stdout).toContain("Question: How do llamas carry loads?");
  expect(out.stdout).toMatch(/Answer: \S/);
  expect(out.stdout).toContain(`[1] Llamas of the Andes — ${web}/pages/article.html`);
  expect(out.stdout).toMatch(/\[2\] .+ — http:\/\/127\.0\.0\.1:\d+\/pages\//);
}, 60_000);

test("examples/actions.ts: list the actions, preview a step, run it", async () => {
  const out = await runExample("actions.ts", ["word_count", '{"text": "one two three"}'], {
    LAM_MODEL: inject("modelPath"),
    LAM_LOG_LEVEL: "warn",
    LAM_TOOLS_DIR: fileURLToPath(new URL("../../tools/", import.meta.url)),
  });
  expect(out.code, out.stderr).toBe(0);
  expect(out.stdout).toMatch(/Actions:\n(- \w+ \(loaded\)\n){6}/);
  expect(out.stdout).toMatch(/Preview:\nword_count would run "wc" "-l" "-w" "-c" in /);
  expect(out.stdout).toMatch(/Result:\n\s*0\s+3\s+13/);
}, 60_000);

test("examples/tasks.ts: a workflow started as a task, its status watched, its result and the run record", async () => {
  const state = mkdtempSync(join(tmpdir(), "lam-state-"));
  const out = await runExample("tasks.ts", ["word_counts", '{"text": "one two"}'], {
    LAM_MODEL: inject("modelPath"),
    LAM_LOG_LEVEL: "warn",
    LAM_TOOLS_DIR: toolsWith({ "word_counts.yaml": "name: word_counts\ndescription: counts\ninput: { type: object, properties: { text: { type: string } }, required: [text] }\nsteps:\n  - { id: tokens, tool: count_tokens, arguments: { texts: [\"{{input.text}}\"] } }\n" }),
    LAM_STATE_DIR: state,
  });
  expect(out.code, out.stderr).toBe(0);
  expect(out.stdout).toMatch(/^word_counts: task support optional\ntask [0-9a-f-]{36} created \(polled every 500 ms\)\n/);
  expect(out.stdout).toMatch(/Result:\n\{\n {2}"tokens": \{/);
  expect(out.stdout).toMatch(/Recent runs:\n- \d{8}T\d{9}Z-[0-9a-f]{6} word_counts \(call\): completed/);
}, 60_000);

function toolsWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "lam-example-tools-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

test("examples/sampling.ts: next_token at several temperatures and a top_p, as a table", async () => {
  const out = await runExample("sampling.ts", [" pick"], { LAM_MODEL: inject("modelPath"), LAM_LOG_LEVEL: "warn", LAM_THREADS: "1", LAM_GPU: "false" });
  expect(out.code, out.stderr).toBe(0);
  expect(out.stdout).toContain('Prompt: " pick"');
  expect(out.stdout).toMatch(/temperature 0, top_p 1: 1 token\(s\) can be sampled\n {2}"\s\w+" +p 0\.1250 +after T 1\.0000 +kept +sampled 1\.0000/);
  // The eight colours are equally likely: top_p 0.5 keeps four of them (the first four reach half the mass).
  expect(out.stdout).toMatch(/temperature 1, top_p 0\.5: [45] token\(s\) can be sampled/);
}, 60_000);
