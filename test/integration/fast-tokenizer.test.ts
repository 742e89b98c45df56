/**
 * lam-mcp's own tokenizer against llama.cpp's: the Unicode table, llama.cpp's own test vocabularies and cases
 * (models/ggml-vocab-*.gguf with .inp/.out, from node-llama-cpp's bundled llama.cpp source), and a seeded
 * differential fuzz against node-llama-cpp's tokenizer on every vocabulary lam-mcp serves.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama, type Llama, type LlamaModel } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import type { ModelInfo } from "../../src/llm/engine.js";
import { PRE_TOKENIZERS } from "../../src/llm/local/bpe/pre-tokenizers.js";
import { regexSplitter } from "../../src/llm/local/bpe/regex.js";
import { UNDEFINED, unicodeTable, WHITESPACE } from "../../src/llm/local/bpe/unicode.js";
import { LocalTokenizer } from "../../src/llm/local/tokens.js";
import { withMetadataString } from "../helpers/gguf-edit.js";
import { llamaPreTokenizers, vocabCases } from "../helpers/llama-source.js";
import { prng } from "../helpers/prng.js";

/** The test vocabularies lam-mcp's tokenizer serves (byte-level BPE and SentencePiece); baichuan has no cases, only the fuzz. */
const SERVED = ["aquila", "baichuan", "command-r", "deepseek-coder", "deepseek-llm", "falcon", "gpt-2", "gpt-neox", "llama-bpe", "llama-spm", "mpt", "phi-3", "qwen2", "qwen35", "refact", "starcoder"];

const models = () => join(inject("llamaSrc"), "models");
const info = (name: string) => ({ name }) as ModelInfo;

/** Seeded texts of the kinds that break tokenizers. */
function fuzzTexts(seed: number, count: number, specials: string[]): string[] {
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const WS = [" ", "  ", "\t", "\n", "\r\n", "\r", "\n\n\n", "\u000b", "\u000c", "\u0085", "\u00a0", "\u1680", "\u2000", "\u2007", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff", "\u200b"];
  const PIECES = [
    "Hello", "world", "don't", "DON'T", "I'LL", "we'Re", "it's", "'s", "'", "''", "x'd", "naïve", "café", "e\u0301", "a\u0308\u0304", "Ελληνικά", "русский", "עברית",
    "العربية", "हिन्दी", "ไทย", "日本語", "中文字", "한국어", "😀", "👩‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "1", "12", "123", "1234567", "٣٤٥", "Ⅻ", "½", "3.14", "-42", "0x1F",
    "<", "<|", "|>", "<|endoftext", "endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<s>", "</s>", "<unk>", "[INST]", "<<SYS>>", "{\"a\": [1, 2]}",
    "fn main() {}", "    return x;", "#include <stdio.h>", "$$", "...", "—", "«»", "\u0000", "\u0001", "\u007f", "\ud800", "\udfff", "\ue000", "\u{10ffff}", "\u{e0041}",
    "\u0897", "\u1acf", "\u{1fae9}", "\u0378", "\ufffd", "ﬁ", "Ǆ", "ß", "İ", "K",
    // the deepseek families' own classes: fullwidth forms, curly quotes, CJK punctuation, letters listed one by one
    "ＡＢｃ！", "（１２）", "‘quoted’", "“x”", "。、", "µ", "\u1fd3", "\u{10400}\u{10428}", "ꭰ", "\u{1e900}", "ǅ", "ǈ", "$+<=>^~|`", "a_b", "\\n",
  ];
  const texts: string[] = [];
  for (let i = 0; i < count; i++) {
    const parts: string[] = [];
    const n = 1 + Math.floor(random() * 12);
    for (let j = 0; j < n; j++) {
      const r = random();
      if (r < 0.45) parts.push(pick(PIECES));
      else if (r < 0.75) parts.push(pick(WS));
      else if (r < 0.85 && specials.length > 0) parts.push(pick(specials));
      else if (r < 0.92) parts.push(String.fromCodePoint(Math.floor(random() * 0x30000)));
      else parts.push(pick(["a", " ", "1", "é", "\n", "!", "😀", "ab"]).repeat(1 + Math.floor(random() * 300)));
    }
    texts.push(parts.join(""));
  }
  // Long runs: one word of thousands of characters (merged with the heap), and long blank or digit runs.
  texts.push("a".repeat(5000), "ab".repeat(3000), " ".repeat(4000) + "x", "1".repeat(3001), "\n".repeat(2000), "é".repeat(2500), "😀".repeat(1500));
  return texts;
}


/** Compares lam-mcp's tokenizer with node-llama-cpp's on the fuzz texts; the number of texts compared. */
async function compareOnFuzz(name: string, model: LlamaModel, tokenizer: LocalTokenizer, seed: number, count: number): Promise<number> {
  const specials = [model.tokens.bosString, model.tokens.eosString, model.tokens.eotString].filter((s): s is string => typeof s === "string" && s.length > 0);
  let compared = 0;
  for (const text of fuzzTexts(seed, count, specials)) {
    for (const special of [false, true]) {
      const want = [...model.tokenize(text, special)];
      const got = (await tokenizer.tokenize(text, { special })).ids;
      if (JSON.stringify(got) !== JSON.stringify(want)) expect({ name, special, text, ids: got }).toEqual({ name, special, text, ids: want });
      expect(await tokenizer.count(text, special)).toBe(want.length);
      compared++;
    }
  }
  return compared;
}

describe("the Unicode table", () => {
  test("equals llama.cpp's, code point for code point (categories and whitespace)", () => {
    const src = readFileSync(join(inject("llamaSrc"), "src", "unicode-data.cpp"), "utf8");
    const block = (name: string) => src.slice(src.indexOf(name), src.indexOf("};", src.indexOf(name)));
    const ranges = [...block("unicode_ranges_flags").matchAll(/\{0x([0-9A-F]+), 0x([0-9A-F]+)\}/g)].map((m) => [parseInt(m[1]!, 16), parseInt(m[2]!, 16)] as const);
    const whitespace = new Set([...block("unicode_set_whitespace").matchAll(/0x([0-9A-F]+)/g)].map((m) => parseInt(m[1]!, 16)));
    expect(ranges.length).toBeGreaterThan(1000);
    expect(whitespace.size).toBe(25);
    const table = unicodeTable()!;
    const wrong: string[] = [];
    for (let i = 0; i + 1 < ranges.length; i++) {
      for (let cp = ranges[i]![0]; cp < ranges[i + 1]![0]; cp++) {
        const want = (ranges[i]![1] & 0xff) | (whitespace.has(cp) ? WHITESPACE : 0);
        if (table[cp] !== want && wrong.length < 20) wrong.push(`U+${cp.toString(16)}: llama.cpp ${want}, here ${table[cp]}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(table.length).toBe(0x110000);
  });

  test("under another Unicode version there is no table, so llama.cpp's tokenizer stays", () => {
    for (const version of ["15.1", "16.0", "18.0", ""]) expect(unicodeTable(version)).toBeNull();
    expect(unicodeTable()![0x20]! & WHITESPACE).toBe(WHITESPACE);
    expect(unicodeTable()![0x1acf]).toBe(UNDEFINED); // assigned in Unicode 17, unknown to llama.cpp's table
  });
});

describe("llama.cpp's test vocabularies", () => {
  let llama: Llama;
  const loaded = new Map<string, { model: LlamaModel; tokenizer: LocalTokenizer }>();
  const vocabs = () =>
    readdirSync(models())
      .filter((f) => /^ggml-vocab-.*\.gguf$/.test(f))
      .map((f) => f.slice("ggml-vocab-".length, -".gguf".length))
      .sort();

  beforeAll(async () => {
    llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never, logger: () => undefined });
    for (const name of vocabs()) {
      try {
        const model = await llama.loadModel({ modelPath: join(models(), `ggml-vocab-${name}.gguf`), vocabOnly: true });
        loaded.set(name, { model, tokenizer: new LocalTokenizer(model, info(name)) });
      } catch {
        // a vocabulary this llama.cpp build cannot load (none today): it is simply not served
      }
    }
  }, 120_000);
  afterAll(async () => {
    for (const { model } of loaded.values()) await model.dispose();
    await llama?.dispose();
  });

  test("lam-mcp serves exactly the vocabularies it reproduces (byte-level BPE, SentencePiece); the others say why not", () => {
    const served = [...loaded].filter(([, v]) => v.tokenizer.implementation.engine === "lam-mcp").map(([n]) => n);
    expect(served).toEqual(SERVED);
    for (const [name, { tokenizer }] of loaded) {
      if (SERVED.includes(name)) continue;
      expect({ name, ...tokenizer.implementation }).toMatchObject({ name, engine: "llama.cpp", detail: expect.stringMatching(/not reproduced|only byte-level BPE and SentencePiece/) as unknown });
    }
  });

  test("every case of every served vocabulary gives llama.cpp's expected ids", async () => {
    let checked = 0;
    for (const name of SERVED.filter((n) => existsSync(join(models(), `ggml-vocab-${n}.gguf.inp`)))) {
      const { tokenizer } = loaded.get(name)!;
      const cases = vocabCases(readFileSync(join(models(), `ggml-vocab-${name}.gguf.inp`), "utf8"), readFileSync(join(models(), `ggml-vocab-${name}.gguf.out`), "utf8"));
      expect(cases.length).toBeGreaterThan(40);
      for (const c of cases) {
        expect({ name, text: c.text, ids: (await tokenizer.tokenize(c.text, { special: false })).ids }).toEqual({ name, text: c.text, ids: c.ids });
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(450);
  });

  test("--tokenizer llama.cpp keeps llama.cpp's tokenizer, and says so", () => {
    const { model } = loaded.get("gpt-2")!;
    const t = new LocalTokenizer(model, info("gpt-2"), "llama.cpp");
    expect(t.implementation).toEqual({ engine: "llama.cpp", detail: expect.stringContaining("--tokenizer llama.cpp") as unknown });
  });

  test("each family, on llama.cpp's GPT-2 vocabulary retagged with its name, gives llama.cpp's ids (seeded fuzz)", async () => {
    // One name per distinct family (the same expressions and flags): the GGUF's tokenizer.ggml.pre is rewritten.
    const families = new Map<string, string>();
    for (const [name, pre] of Object.entries(PRE_TOKENIZERS)) {
      const key = JSON.stringify(pre);
      if (!families.has(key)) families.set(key, name);
    }
    expect(families.size).toBeGreaterThan(20);
    const dir = mkdtempSync(join(tmpdir(), "lam-pre-"));
    const base = readFileSync(join(models(), "ggml-vocab-gpt-2.gguf"));
    let compared = 0;
    try {
      for (const [k, name] of [...families.values()].entries()) {
        const path = join(dir, `pre-${k}.gguf`);
        writeFileSync(path, withMetadataString(base, "tokenizer.ggml.pre", name));
        const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
        try {
          const tokenizer = new LocalTokenizer(model, info(name));
          expect({ name, ...tokenizer.implementation }).toMatchObject({ name, engine: "lam-mcp" });
          compared += await compareOnFuzz(name || "(none)", model, tokenizer, 9100 + k, 120);
        } finally {
          await model.dispose();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(compared).toBe(families.size * 127 * 2);
  }, 180_000);

  test("a seeded fuzz gives node-llama-cpp's ids on every served vocabulary, with and without special tokens", async () => {
    let compared = 0;
    for (const [k, name] of SERVED.entries()) {
      const { model, tokenizer } = loaded.get(name)!;
      compared += await compareOnFuzz(name, model, tokenizer, 1500 + k, 250);
    }
    expect(compared).toBe(SERVED.length * 257 * 2);
  }, 120_000);
});

describe("llama.cpp's pre-tokenizers", () => {
  const declared = () => llamaPreTokenizers(readFileSync(join(inject("llamaSrc"), "src", "llama-vocab.cpp"), "utf8"));

  test("every one lam-mcp serves runs llama.cpp's expressions, character for character, with its ignore_merges", () => {
    const theirs = declared();
    expect(theirs.size).toBeGreaterThan(80);
    for (const [name, ours] of Object.entries(PRE_TOKENIZERS)) {
      const t = theirs.get(name);
      expect({ name, exprs: ours.exprs, ignoreMerges: ours.ignoreMerges, byteEncode: true }).toEqual({ name, exprs: t?.exprs, ignoreMerges: t?.ignoreMerges, byteEncode: t?.byteEncode });
    }
    // The ones left to llama.cpp, as pre-tokenizers.ts lists them (a new llama.cpp brings new names here).
    const left = [...theirs.keys()].filter((n) => !Object.hasOwn(PRE_TOKENIZERS, n)).sort();
    expect(left).toEqual(["afmoe", "cohere2moe", "gemma4", "granite-embed-multi-311m", "kimi-k2", "sarvam-moe", "superbpe", "tiny_aya", "whitespace"]);
  });

  test("an expression with a construct the translation does not know is refused, never run differently", () => {
    for (const expr of ["\\d+", "\\w+", "\\bx", "a.b", "(?i:'s)", "(?<=a)b", "\\D", "[\\S]", "\\p{L}é"]) {
      expect({ expr, error: (() => { try { regexSplitter(expr); return ""; } catch (e) { return String(e); } })() }).toMatchObject({ expr, error: expect.stringMatching(/not translated|refuses/) as unknown });
    }
  });

});
