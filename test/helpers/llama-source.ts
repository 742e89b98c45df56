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

export interface LlamaPreTokenizer {
  /** The pre-type it maps to (LLAMA_VOCAB_PRE_TYPE_X), the expressions it runs, and its flags. */
  type: string;
  exprs: string[];
  ignoreMerges: boolean;
  byteEncode: boolean;
}

/** The value of a C++ string literal's body (the escapes llama-vocab.cpp's expressions use). */
function cppString(body: string): string {
  const escapes: Record<string, string> = { "\\": "\\", '"': '"', r: "\r", n: "\n", t: "\t" };
  return body.replace(/\\(.)/g, (all, e: string) => {
    if (!(e in escapes)) throw new Error(`an escape this reader does not know: ${all}`);
    return escapes[e]!;
  });
}

/**
 * llama.cpp's byte-level BPE pre-tokenizers as llama-vocab.cpp declares them, read from its source: each
 * tokenizer.ggml.pre name ("" for an absent one) with its pre-type's regex_exprs, ignore_merges and byte_encode.
 */
export function llamaPreTokenizers(vocabCpp: string): Map<string, LlamaPreTokenizer> {
  // The constructor of llm_tokenizer_bpe: cases (falling through) -> regex_exprs, and byte_encode = false.
  const ctor = vocabCpp.slice(vocabCpp.indexOf("struct llm_tokenizer_bpe : llm_tokenizer {"), vocabCpp.indexOf("std::vector<std::string> regex_exprs;"));
  const types = new Map<string, { exprs: string[]; byteEncode: boolean }>();
  let pending: string[] = [];
  for (const m of ctor.matchAll(/case LLAMA_VOCAB_PRE_TYPE_(\w+):|default:|regex_exprs = \{([\s\S]*?)\};|byte_encode = false|break;/g)) {
    if (m[0].startsWith("case")) pending.push(m[1]!);
    else if (m[0] === "default:") pending.push("DEFAULT");
    else if (m[0].startsWith("regex_exprs")) {
      const body = m[2]!.replace(/\/\/[^\n]*/g, "");
      const exprs = [...body.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((l) => cppString(l[1]!));
      for (const t of pending) types.set(t, { exprs, byteEncode: true });
    } else if (m[0].startsWith("byte_encode")) for (const t of pending) types.get(t)!.byteEncode = false;
    else pending = [];
  }
  // The loader: tokenizer_pre == "name" || ... -> pre_type (and ignore_merges = true).
  const loader = vocabCpp.slice(vocabCpp.indexOf("if (tokenizer_pre.empty())"), vocabCpp.indexOf("unknown pre-tokenizer type"));
  const out = new Map<string, LlamaPreTokenizer>();
  for (const branch of loader.split(/\} else if \(/)) {
    const type = /pre_type = LLAMA_VOCAB_PRE_TYPE_(\w+)/.exec(branch)?.[1];
    if (!type) continue;
    const names = [...branch.matchAll(/tokenizer_pre == "([^"]+)"/g)].map((n) => n[1]!);
    const declared = types.get(type);
    if (!declared) throw new Error(`pre-type ${type} has no regex_exprs`);
    for (const name of names.length > 0 ? names : [""]) out.set(name, { type, ...declared, ignoreMerges: branch.includes("ignore_merges = true") });
  }
  return out;
}
