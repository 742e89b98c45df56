/**
 * The tokenizer tools through a real MCP Client, on the real llama.cpp tokenizer of the generated tiny model.
 * Expected values come from the vocabulary the test helper wrote, never from the code under test.
 */
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, describe, expect, inject, test } from "vitest";
import type { RawSettings } from "../../src/config.js";
import { buildVocabulary, BOS_ID, EOS_ID, IM_START_ID, SPECIAL_TOKENS } from "../helpers/tiny-model.js";
import type { LocalTokenizer } from "../../src/llm/local/tokens.js";
import { connect, sharedServices, textOf } from "../helpers/harness.js";

interface Tokenized {
  count: number;
  tokens: Array<{ id: number; piece: string; bytes?: string }>;
  bos_added: boolean;
}

const vocab = buildVocabulary();
/** One set of services for the tests that need no setting of their own (the lazy-loading ones make theirs). */
const shared = sharedServices();
afterAll(() => shared.close());

const ROUND_TRIPS = {
  ascii: "Hello world! The model counts tokens.",
  accents: "Crème brûlée, naïve café, Ærøskøbing, Ελληνικά, кириллица",
  emoji: "👋🏽 family: 👨‍👩‍👧‍👦, flags 🇯🇵🇫🇷, 😀😀",
  cjk: "日本語のテキスト、中文文本，한국어 텍스트",
  newlines: "line one\nline two\r\n\ttabbed\n\n\n  indented  \n",
  json: JSON.stringify({ name: "lam", list: [1, 2.5, null, true], nested: { "key with space": "välue\n", emoji: "🦙" } }, null, 2),
  specialLookalike: "<|im_start|>user\nhi<|im_end|>",
};

describe("tokenize and detokenize", () => {
  test("known words become their single tokens, with exact pieces", async () => {
    await using h = await shared.connect();
    const out = await h.ok<Tokenized>("tokenize", { text: "Hello world! one two" });
    expect(out.tokens).toEqual([
      { id: vocab.idOf("Hello"), piece: "Hello" },
      { id: vocab.idOf(" world"), piece: " world" },
      { id: vocab.idOf("!"), piece: "!" },
      { id: vocab.idOf(" one"), piece: " one" },
      { id: vocab.idOf(" two"), piece: " two" },
    ]);
    expect(out.count).toBe(5);
  });

  test.each(Object.entries(ROUND_TRIPS))("%s round-trips exactly, byte for byte", async (_name, text) => {
    await using h = await shared.connect();
    const out = await h.ok<Tokenized>("tokenize", { text });
    // The pieces' bytes, concatenated, are the text's bytes.
    const bytes = Buffer.concat(out.tokens.map((t) => (t.bytes ? Buffer.from(t.bytes.replace(/ /g, ""), "hex") : Buffer.from(t.piece, "utf8"))));
    expect(bytes.equals(Buffer.from(text, "utf8"))).toBe(true);
    // Each id's piece is the text the writer stored for it.
    for (const t of out.tokens) expect(Buffer.from(t.bytes ? Buffer.from(t.bytes.replace(/ /g, ""), "hex") : Buffer.from(t.piece)).equals(vocab.pieces[t.id]!)).toBe(true);
    const back = await h.ok<{ text: string }>("detokenize", { ids: out.tokens.map((t) => t.id) });
    expect(back.text).toBe(text);
  });

  test("partial UTF-8 pieces are shown as bytes, never as a replacement character", async () => {
    await using h = await shared.connect();
    const out = await h.ok<Tokenized>("tokenize", { text: "🦙é" });
    expect(out.tokens.map((t) => t.piece)).toEqual(["<0xF0>", "<0x9F>", "<0xA6>", "<0x99>", "<0xC3>", "<0xA9>"]);
    expect(out.tokens.map((t) => t.bytes)).toEqual(["f0", "9f", "a6", "99", "c3", "a9"]);
    const all = await h.ok<Tokenized>("tokenize", { text: Object.values(ROUND_TRIPS).join("") });
    expect(all.tokens.some((t) => t.piece.includes("\uFFFD"))).toBe(false);
  });

  test("special tokens are parsed only when asked", async () => {
    await using h = await shared.connect();
    const text = "<|im_start|>user\nHello<|im_end|>";
    const plain = await h.ok<Tokenized>("tokenize", { text });
    expect(plain.tokens.map((t) => t.id)).not.toContain(IM_START_ID);
    expect(plain.tokens.map((t) => t.id)).not.toContain(EOS_ID);
    const special = await h.ok<Tokenized>("tokenize", { text, special: true });
    expect(special.tokens.map((t) => t.id)).toEqual([IM_START_ID, vocab.idOf("user"), vocab.idOf("\n"), vocab.idOf("Hello"), EOS_ID]);
    expect(special.tokens[0]!.piece).toBe("<|im_start|>");
    // Detokenizing keeps special tokens as text by default, and drops them on request.
    const ids = special.tokens.map((t) => t.id);
    expect((await h.ok<{ text: string }>("detokenize", { ids })).text).toBe(text);
    expect((await h.ok<{ text: string }>("detokenize", { ids, special: false })).text).toBe("user\nHello");
  });

  test("add_bos prepends the model's BOS token", async () => {
    await using h = await shared.connect();
    const out = await h.ok<Tokenized>("tokenize", { text: "Hello", add_bos: true });
    expect(out.tokens.map((t) => t.id)).toEqual([BOS_ID, vocab.idOf("Hello")]);
    expect(out.bos_added).toBe(true);
  });
});

describe("tokenize pages long lists", () => {
  test("at most limit tokens per answer; pages joined are the whole text, and count is always the whole", async () => {
    await using h = await shared.connect();
    const text = "Hello world one two three 🙂 naïve ".repeat(1500);
    const { total } = await h.ok<{ total: number }>("count_tokens", { texts: [text] });
    expect(total).toBeGreaterThan(25_000);
    const first = await h.ok<Tokenized & { offset: number; next_offset: number | null }>("tokenize", { text });
    expect(first.count).toBe(total);
    expect(first.tokens).toHaveLength(10_000);
    expect(first.next_offset).toBe(10_000);
    const all = [...first.tokens];
    for (let offset = first.next_offset; offset !== null; ) {
      const page = await h.ok<Tokenized & { offset: number; next_offset: number | null }>("tokenize", { text, offset, limit: 7000 });
      expect(page.offset).toBe(offset);
      expect(page.count).toBe(total);
      expect(page.tokens.length).toBeLessThanOrEqual(7000);
      all.push(...page.tokens);
      offset = page.next_offset;
    }
    expect(all).toHaveLength(total);
    const bytes = Buffer.concat(all.map((t) => (t.bytes ? Buffer.from(t.bytes.replace(/ /g, ""), "hex") : Buffer.from(t.piece, "utf8"))));
    expect(bytes.toString("utf8")).toBe(text);
    // Boundaries: the last token alone, past the end, the limits of limit.
    const last = await h.ok<Tokenized & { next_offset: number | null }>("tokenize", { text, offset: total - 1, limit: 5 });
    expect([last.tokens.length, last.next_offset]).toEqual([1, null]);
    const past = await h.ok<Tokenized & { next_offset: number | null }>("tokenize", { text, offset: total + 10 });
    expect([past.tokens.length, past.next_offset, past.count]).toEqual([0, null, total]);
    expect(await h.fails("tokenize", { text, limit: 0 })).toMatch(/limit: .*>=1/);
    expect(await h.fails("tokenize", { text, limit: 100_001 })).toMatch(/limit: .*<=100000/);
    expect(await h.fails("tokenize", { text, offset: -1 })).toMatch(/offset: .*>=0/);
  });
});

describe("count_tokens", () => {
  test("counts each text like tokenize does, and the total", async () => {
    await using h = await shared.connect();
    const texts = [...Object.values(ROUND_TRIPS), ""];
    const out = await h.ok<{ counts: number[]; total: number }>("count_tokens", { texts });
    const expected: number[] = [];
    for (const text of texts) expected.push(text === "" ? 0 : (await h.ok<Tokenized>("tokenize", { text })).count);
    expect(out.counts).toEqual(expected);
    expect(out.total).toBe(expected.reduce((a, b) => a + b, 0));
    expect(out.counts.at(-1)).toBe(0);
  });
});

describe("vocabulary", () => {
  // An independent oracle: the figures recomputed here from the pieces the writer stored.
  const pieces = vocab.pieces.map((p) => {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(p);
    } catch {
      return undefined;
    }
  });
  const text = pieces.filter((p, id): p is string => p !== undefined && id >= SPECIAL_TOKENS.length);
  const count = (pred: (p: string) => boolean) => text.filter(pred).length;
  const isLetterOrDigit = (c: string) => /[\p{L}\p{N}]/u.test(c);
  const afterSpace = (p: string) => (p.startsWith(" ") ? p.slice(1) : p);

  test("describes size, kind, special tokens and the analysis figures", async () => {
    await using h = await shared.connect();
    const out = await h.ok<Record<string, unknown> & { stats: Record<string, number> }>("vocabulary", {});
    expect(out.size).toBe(vocab.tokens.length);
    expect(out.kind).toBe("bpe");
    expect(out.bos).toEqual({ id: BOS_ID, piece: "<|endoftext|>" });
    expect(out.eos).toEqual({ id: EOS_ID, piece: "<|im_end|>" });
    expect(out.special_tokens).toEqual(SPECIAL_TOKENS.map((piece, id) => ({ id, piece, kind: "control" })));
    const stats = out.stats;
    expect(stats.text_tokens).toBe(text.length);
    expect(stats.partial_utf8).toBe(pieces.filter((p) => p === undefined).length);
    expect(stats.partial_utf8).toBe(128); // bytes 0x80..0xFF alone
    expect(stats.word_start).toBe(count((p) => p.length > 1 && p[0] === " " && p[1]!.trim() !== ""));
    expect(stats.continuation).toBe(count((p) => isLetterOrDigit([...p][0]!)));
    expect(stats.uppercase_initial).toBe(count((p) => { const c = [...afterSpace(p)][0]; return c !== undefined && c !== c.toLowerCase() && c === c.toUpperCase(); }));
    expect(stats.lowercase_initial).toBe(count((p) => { const c = [...afterSpace(p)][0]; return c !== undefined && c !== c.toUpperCase() && c === c.toLowerCase(); }));
    expect(stats.all_caps).toBe(count((p) => { const w = afterSpace(p); return w.length >= 2 && /^[A-Z]+$/.test(w); }));
    expect(stats.all_caps).toBeGreaterThanOrEqual(3); // " JSON", " HTTP", " API" and their prefixes
    expect(stats.whitespace_only).toBe(count((p) => p.length > 0 && p.trim() === ""));
    expect(stats.digits_only).toBe(count((p) => /^[0-9]+$/.test(afterSpace(p))));
    expect(stats.single_characters).toBe(new Set(text.filter((p) => [...p].length === 1)).size);
    const longest = [...text].sort((a, b) => [...b].length - [...a].length)[0]!;
    expect((out.longest as Array<{ piece: string; length: number }>)[0]!.length).toBe([...longest].length);
  });

  test("says which tokenizer is in use: lam-mcp's own for the BPE and SentencePiece vocabularies, llama.cpp's when asked", async () => {
    const cases: Array<[RawSettings, string, RegExp]> = [
      [{}, "lam-mcp", /"gpt-2" pre-tokenizer reproduced/],
      [{ tokenizer: "llama.cpp" }, "llama.cpp", /--tokenizer llama\.cpp/],
      [{ model: inject("spmModelPath") }, "lam-mcp", /SentencePiece BPE/],
    ];
    for (const [settings, engine, detail] of cases) {
      await using h = await connect(settings);
      const out = await h.ok<{ tokenizer: { engine: string; detail: string } }>("vocabulary", {});
      expect(out.tokenizer).toMatchObject({ engine, detail: expect.stringMatching(detail) as unknown });
      const model = JSON.parse(((await h.client.readResource({ uri: "lam://model" })).contents[0] as { text: string }).text) as { tokenizer: unknown };
      expect(model.tokenizer).toEqual(out.tokenizer);
    }
  });

  test("query lists matching tokens up to limit, with the total", async () => {
    await using h = await shared.connect();
    const out = await h.ok<{ matches: Array<{ id: number; piece: string }>; matches_total: number }>("vocabulary", {
      query: "^ t(w|h)",
      limit: 3,
    });
    const expected = pieces.map((p, id) => ({ id, p })).filter(({ p }) => p !== undefined && /^ t(w|h)/.test(p));
    expect(out.matches_total).toBe(expected.length);
    expect(out.matches).toEqual(expected.slice(0, 3).map(({ id, p }) => ({ id, piece: p })));
  });
});

describe("a backtracking query never freezes the server", () => {
  test("catastrophic expressions are stopped at the deadline while other calls are answered", { timeout: 20_000 }, async () => {
    await using h = await shared.connect();
    await h.ok("vocabulary", {}); // the tokenizer is loaded; what follows is only the query
    // Each would run for minutes over this vocabulary on the main thread.
    const slow = ["^(?:.?){40}.{40}$", "^(?:[^]?){40}[^]{40}$", "^(?:\\S?|\\s?){40}.{40}$"];
    const finished: string[] = [];
    const slowCalls = slow.map((query) => h.call("vocabulary", { query }).then((r) => (finished.push("vocabulary"), r)));
    const others = [
      h.ok("count_tokens", { texts: ["Hello world"] }).then(() => finished.push("count_tokens")),
      h.ok("server_status").then(() => finished.push("server_status")),
      h.client.ping().then(() => finished.push("ping")),
    ];
    const results = await Promise.all(slowCalls);
    await Promise.all(others);
    expect(finished.slice(0, 3).sort()).toEqual(["count_tokens", "ping", "server_status"]);
    for (const r of results) {
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/query took longer than 2000 ms over \d+ tokens and was stopped[\s\S]*Hint: Simplify the regular expression/);
    }
    // And the tool still answers quick queries.
    expect((await h.ok<{ matches_total: number }>("vocabulary", { query: "^Hello$" })).matches_total).toBe(1);
  });
});

describe("bad input gets a clear error and the server keeps serving", () => {
  test("unknown tool, wrong types, missing fields, huge text, bad regex, unknown ids", async () => {
    await using h = await connect({ maxInputChars: 1000 });
    await expect(h.call("tokenise", { text: "x" })).rejects.toSatisfy(
      (e: unknown) => e instanceof McpError && /Unknown tool: tokenise.*tokenize/s.test(e.message),
    );
    expect(await h.fails("tokenize", { text: 42 })).toMatch(/text: .*expected string.*\nHint: Call it as tokenize \{text: string/s);
    expect(await h.fails("tokenize", {})).toMatch(/text: .*expected string, received undefined/);
    expect(await h.fails("tokenize", { text: "x", colour: "red" })).toMatch(/unknown field\(s\) "colour"/);
    expect(await h.fails("count_tokens", { texts: "not a list" })).toMatch(/texts: .*expected array/);
    const huge = await h.fails("tokenize", { text: "a".repeat(1001) });
    expect(huge).toMatch(/1001 characters; the limit is 1000/);
    expect(huge).toMatch(/--max-input-chars \/ LAM_MAX_INPUT_CHARS/);
    expect(await h.fails("count_tokens", { texts: ["a".repeat(600), "b".repeat(600)] })).toMatch(/1200 characters; the limit is 1000/);
    expect(await h.fails("vocabulary", { query: "([a-z" })).toMatch(/query is not a valid regular expression/);
    expect(await h.fails("vocabulary", { limit: 5000 })).toMatch(/limit: .*<=1000/);
    const unknown = await h.fails("detokenize", { ids: [1, 99999, -3, 99999] });
    expect(unknown).toMatch(/Unknown token ids: 99999, -3\./);
    expect(unknown).toMatch(new RegExp(`from 0 to ${vocab.tokens.length - 1}`));
    // ... and after all that, the next call works.
    expect((await h.ok<Tokenized>("tokenize", { text: "Hello" })).count).toBe(1);
  });

  test("a model path that does not exist: a clear error naming the setting, nothing crashes", async () => {
    await using h = await connect({ model: "/nonexistent/model.gguf" });
    const text = await h.fails("count_tokens", { texts: ["hi"] });
    expect(text).toMatch(/The model file \/nonexistent\/model\.gguf does not exist/);
    expect(text).toMatch(/--model \/ LAM_MODEL/);
    // The same error again, not a cached rejection with a stale message.
    expect(await h.fails("tokenize", { text: "hi" })).toMatch(/does not exist/);
  });
});

describe("lazy loading", () => {
  test("initialize and tools/list load nothing; tokenizer calls load vocabulary only; generation needs switch to full", async () => {
    await using h = await connect();
    const { tools } = await h.client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["tokenize", "detokenize", "count_tokens", "vocabulary", "generate"]));
    expect(h.services.engine.state).toBe("idle");
    await h.ok("count_tokens", { texts: ["Hello world"] });
    expect(h.services.engine.state).toBe("vocab");
    const vocab = (await h.services.engine.tokenizer()) as LocalTokenizer;
    await h.ok("generate", { prompt: "Hello", max_tokens: 1 });
    expect(h.services.engine.state).toBe("full");
    const full = (await h.services.engine.tokenizer()) as LocalTokenizer;
    expect(full).not.toBe(vocab);
    expect(await h.services.engine.tokenizer()).toBe(full);
    // The vocabulary-only model is released once the full model is in.
    await expect.poll(() => vocab.model.disposed).toBe(true);
    expect(full.model.disposed).toBe(false);
    expect((await h.ok<Tokenized>("tokenize", { text: "Hello world" })).count).toBe(2);
  });

  test("concurrent first calls share one load", async () => {
    await using h = await connect();
    const results = await Promise.all(Array.from({ length: 8 }, () => h.ok<{ total: number }>("count_tokens", { texts: ["Hello world"] })));
    expect(results.map((r) => r.total)).toEqual(Array(8).fill(2));
    const a = await h.services.engine.tokenizer();
    const b = await h.services.engine.tokenizer();
    expect(a).toBe(b);
  });
});
