/**
 * Thread count: tokenization and a short greedy generation at 1, 2 and node-llama-cpp's default thread count,
 * each in its own process (a llama.cpp binding keeps its thread setting), on the medium synthetic model.
 */
import { spawnSync } from "node:child_process";
import { cpus } from "node:os";
import { join } from "node:path";
import { fmt, printRows, ROOT, type Row } from "./lib.js";

interface ChildResult {
  threads: number | "default";
  resolvedThreads: number;
  tokenizeTokPerS: number;
  promptTokPerS: number;
  generateTokPerS: number;
}

function runChild(modelPath: string, threads: number | "default"): ChildResult {
  const out = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "bench/threads-child.ts"), modelPath, String(threads)], {
    cwd: ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (out.status !== 0) throw new Error(`threads child failed (${out.status})`);
  return JSON.parse(out.stdout.trim().split("\n").pop()!) as ChildResult;
}

export async function benchThreads(modelPath: string): Promise<void> {
  const results = [1, 2, "default" as const].map((t) => runChild(modelPath, t));
  const one = results[0]!;
  const rows: Row[] = results.flatMap((r) => [
    {
      bench: `generate, threads=${r.threads} (${r.resolvedThreads})`,
      figure: fmt.rate(r.generateTokPerS, "tok"),
      baseline: `${fmt.rate(one.generateTokPerS, "tok")} at 1 thread`,
      ratio: r.generateTokPerS / one.generateTokPerS,
    },
    {
      bench: `prompt eval, threads=${r.threads} (${r.resolvedThreads})`,
      figure: fmt.rate(r.promptTokPerS, "tok"),
      baseline: `${fmt.rate(one.promptTokPerS, "tok")} at 1 thread`,
      ratio: r.promptTokPerS / one.promptTokPerS,
    },
    {
      bench: `tokenize, threads=${r.threads} (${r.resolvedThreads})`,
      figure: fmt.rate(r.tokenizeTokPerS, "tok"),
      baseline: `${fmt.rate(one.tokenizeTokPerS, "tok")} at 1 thread`,
      ratio: r.tokenizeTokPerS / one.tokenizeTokPerS,
    },
  ]);
  printRows("Thread count", rows, [
    `model ${modelPath.split("/").pop()}; machine: ${cpus().length} logical cores; ratio = figure / 1-thread figure (higher is better)`,
  ]);
}
