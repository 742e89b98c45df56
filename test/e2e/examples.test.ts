/** The example client programs of examples/, run as a user would, against the test fixtures. */
import { spawn } from "node:child_process";
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
  expect(out.stdout).toMatch(/Actions:\n(- \w+ \(loaded\)\n){4}/);
  expect(out.stdout).toMatch(/Preview:\nword_count would run "wc" "-l" "-w" "-c" in /);
  expect(out.stdout).toMatch(/Result:\n\s*0\s+3\s+13/);
}, 60_000);
