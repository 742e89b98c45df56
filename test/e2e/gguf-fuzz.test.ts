/**
 * Corrupted model files, by the hundred: seeded byte flips, random bytes and 0xFF runs in the header (every length,
 * count, type and metadata value lives there) and truncations anywhere. The pre-check must answer each with a clear
 * error or let it through, never take the process down (node-llama-cpp's header reader aborted Node on some); and
 * what it lets through must load, tokenize and generate in the real llama.cpp without an abort, which a child
 * process proves for every such file.
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, inject, test } from "vitest";
import { ToolError } from "../../src/errors.js";
import { checkGguf } from "../../src/llm/local/gguf-check.js";
import { walkGgufHeader } from "../../src/llm/local/gguf-header.js";
import { prng } from "../helpers/prng.js";
import { buildTinyModel } from "../helpers/tiny-model.js";

const SEEDS = 400;

/** One corrupted copy of the model: 1-4 damages in the header, and a cut in one case of five. */
function mutant(base: Buffer, headerEnd: number, seed: number): Buffer {
  const random = prng(seed);
  const buf = Buffer.from(base);
  const damages = 1 + Math.floor(random() * 4);
  for (let i = 0; i < damages; i++) {
    const at = Math.floor(random() * headerEnd);
    const mode = random();
    if (mode < 0.5) buf[at] = buf[at]! ^ (1 << Math.floor(random() * 8));
    else if (mode < 0.8) buf[at] = Math.floor(random() * 256);
    else buf.fill(0xff, at, Math.min(at + 8, buf.length));
  }
  const cut = random() < 0.2 ? Math.floor(random() * buf.length) : buf.length;
  return buf.subarray(0, cut);
}

describe("the GGUF pre-check under fuzzing", () => {
  test(`${SEEDS} corrupted headers: each is refused with a clear error or loads in llama.cpp without an abort`, { timeout: 120_000 }, async () => {
    const dir = join(inject("fixturesDir"), "gguf-fuzz");
    mkdirSync(dir, { recursive: true });
    const basePath = join(dir, "base.gguf");
    const base = buildTinyModel();
    writeFileSync(basePath, base);
    const { dataOffset } = await walkGgufHeader(basePath);
    expect(dataOffset).toBeGreaterThan(1000);

    const passed: string[] = [];
    const refusals = new Map<string, number>();
    for (let seed = 1; seed <= SEEDS; seed++) {
      const path = join(dir, `m${seed}.gguf`);
      writeFileSync(path, mutant(base, dataOffset, seed));
      try {
        await checkGguf(path);
        passed.push(path);
      } catch (error) {
        // Only the pre-check's own errors, never an exception from a reader that trusted a bad length.
        expect(error, `seed ${seed}`).toBeInstanceOf(ToolError);
        const e = error as ToolError;
        expect(e.code, `seed ${seed}: ${e.message}`).toBe("model_invalid");
        expect(e.render()).toMatch(/--model \/ LAM_MODEL/);
        const kind = e.message.replace(/^The model file \S+ /, "").replace(/\d+/g, "N").slice(0, 40);
        refusals.set(kind, (refusals.get(kind) ?? 0) + 1);
      }
    }
    // The corpus exercises both sides: many refusals of several kinds, and some harmless damage let through.
    expect(passed.length).toBeGreaterThan(20);
    expect(SEEDS - passed.length).toBeGreaterThan(SEEDS / 2);
    expect(refusals.size).toBeGreaterThan(5);

    // Everything let through, loaded by the real llama.cpp in one child: vocabulary only, then fully, then 4
    // generated tokens. An abort kills the child before it prints every line.
    const child = spawn(process.execPath, [fileURLToPath(new URL("../fixtures/load-models.mjs", import.meta.url)), JSON.stringify(passed)], { stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (c, s) => resolve({ code: c, signal: s })),
    );
    const done = stdout.split("\n").filter(Boolean);
    const next = passed[done.length];
    expect({ code, signal, abortedOn: next ?? null }, stderr.slice(-500)).toEqual({ code: 0, signal: null, abortedOn: null });
    expect(done).toHaveLength(passed.length);
  });
});
