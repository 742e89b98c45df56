/**
 * The llama.cpp source node-llama-cpp ships (a git bundle inside the package), cloned once outside the repository
 * (~/.cache/lam-mcp/llama-src/<release>, or $LAM_LLAMA_SRC_CACHE/<release>): the tokenizer tests read llama.cpp's
 * own test vocabularies (models/ggml-vocab-*.gguf with their .inp/.out cases) and Unicode table from it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { llamaRelease } from "./llama-server.js";

const BUNDLE = fileURLToPath(new URL("../../node_modules/node-llama-cpp/llama/gitRelease.bundle", import.meta.url));

export function llamaSource(): string {
  const base = process.env.LAM_LLAMA_SRC_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "lam-mcp", "llama-src");
  const dir = join(base, llamaRelease());
  if (existsSync(join(dir, "src", "unicode-data.cpp"))) return dir;
  const staged = `${dir}.partial-${process.pid}`;
  rmSync(staged, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  const r = spawnSync("git", ["clone", "--quiet", BUNDLE, staged], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git clone of node-llama-cpp's llama.cpp bundle failed: ${r.stderr}`);
  try {
    renameSync(staged, dir);
  } catch (error) {
    // Another test file cloned it first.
    rmSync(staged, { recursive: true, force: true });
    if (!existsSync(join(dir, "src", "unicode-data.cpp"))) throw error;
  }
  return dir;
}

export interface VocabCase {
  text: string;
  ids: number[];
}

/** llama.cpp's cases for one test vocabulary: the .inp texts (split on its marker line) and the .out ids. */
export function vocabCases(inp: string, out: string): VocabCase[] {
  const texts = inp.split("\n__ggml_vocab_test__\n");
  const last = texts.length - 1;
  if (texts[last]!.endsWith("\n")) texts[last] = texts[last]!.slice(0, -1);
  const lines = out.split("\n");
  return texts.map((text, i) => ({ text, ids: (lines[i] ?? "").trim().split(/\s+/).filter(Boolean).map(Number) }));
}
