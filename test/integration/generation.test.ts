/**
 * generate, chat, embed and similarity on the real llama.cpp, with the tiny model's designed chains, so that every
 * expected output is exact. Expectations come from the design in test/helpers/tiny-model.ts.
 */
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { createLogger, silentLogger, type LogRecord } from "../../src/log.js";
import { createServices, type Services } from "../../src/services.js";
import { COLOURS, NUMBER_WORDS } from "../helpers/tiny-model.js";
import { connect, testConfig } from "../helpers/harness.js";

interface Generated {
  text: string;
  finish_reason: string;
  json?: unknown;
  json_errors?: string[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  timings: { prompt_ms: number; generation_ms: number; tokens_per_second: number };
  receipt: {
    sampler: { seed: number | null; greedy: boolean; temperature: number; top_k: number; stop: string[] };
    constraint: string;
    context_size: number;
    max_tokens_applied: number;
    model: { name: string; quantization: string; size_bytes: number };
    chat_format?: { wrapper: string; source: string };
  };
  prompt?: string;
}

const NUMBERS_AFTER_ONE = `${NUMBER_WORDS.slice(1).join("")}.`;

let services: Services;
beforeAll(() => {
  services = createServices(testConfig(), silentLogger);
});
afterAll(async () => services.close());

describe("generate: exact outputs from the designed model", () => {
  test("temperature 0 follows the designed chains and stops at EOS", async () => {
    await using h = await connect({}, { services });
    const hello = await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0 });
    expect(hello.text).toBe(" world!");
    expect(hello.finish_reason).toBe("stop");
    expect(hello.usage).toEqual({ prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 }); // " world", "!" (EOS is not output)
    expect(hello.receipt.sampler.greedy).toBe(true);
    expect(hello.receipt.sampler.seed).toBeNull();
    expect(hello.receipt.model).toMatchObject({ name: "lam-tiny-test", quantization: "F32" });
    const numbers = await h.ok<Generated>("generate", { prompt: " one", temperature: 0 });
    expect(numbers.text).toBe(NUMBERS_AFTER_ONE);
    expect(numbers.finish_reason).toBe("stop");
  });

  test("top_k 1 at temperature 2 gives the greedy text too", async () => {
    await using h = await connect({}, { services });
    const out = await h.ok<Generated>("generate", { prompt: " one", temperature: 2, top_k: 1, seed: 99 });
    expect(out.text).toBe(NUMBERS_AFTER_ONE);
    expect(out.receipt.sampler).toMatchObject({ greedy: false, temperature: 2, top_k: 1, seed: 99 });
  });

  test("the same seed gives the same sampled text; different seeds give different texts", async () => {
    await using h = await connect({}, { services });
    const args = { prompt: " pick", temperature: 1, top_k: 0, top_p: 1, min_p: 0, max_tokens: 16 };
    const a = await h.ok<Generated>("generate", { ...args, seed: 1 });
    const b = await h.ok<Generated>("generate", { ...args, seed: 1 });
    const c = await h.ok<Generated>("generate", { ...args, seed: 2 });
    expect(a.text).toBe(b.text);
    expect(a.text).not.toBe(c.text);
    // The design spreads probability over the colours only.
    for (const out of [a, c]) {
      const words = out.text.match(/ [a-z]+/g)!;
      expect(words).toHaveLength(16);
      for (const w of words) expect(COLOURS).toContain(w);
    }
    // Without a seed, one is chosen and reported, and it reproduces the text.
    const free = await h.ok<Generated>("generate", args);
    expect(typeof free.receipt.sampler.seed).toBe("number");
    const again = await h.ok<Generated>("generate", { ...args, seed: free.receipt.sampler.seed });
    expect(again.text).toBe(free.text);
  });

  test("max_tokens stops with length", async () => {
    await using h = await connect({}, { services });
    const out = await h.ok<Generated>("generate", { prompt: " la", temperature: 0, max_tokens: 7 });
    expect(out.text).toBe(" la".repeat(7));
    expect(out.finish_reason).toBe("length");
    expect(out.usage.completion_tokens).toBe(7);
  });

  test("a stop string stops with stop_sequence and is not in the text", async () => {
    await using h = await connect({}, { services });
    const out = await h.ok<Generated>("generate", { prompt: " one", temperature: 0, stop: [" five", "xyz"] });
    expect(out.text).toBe(" two three four");
    expect(out.finish_reason).toBe("stop_sequence");
    expect(out.receipt.sampler.stop).toEqual([" five", "xyz"]);
  });

  test("json_schema constrains the output to JSON that validates", async () => {
    await using h = await connect({}, { services });
    const schema = {
      type: "object",
      properties: {
        answer: { type: "string" },
        count: { type: "integer" },
        ok: { type: "boolean" },
        tags: { type: "array", items: { enum: ["red", "green"] }, minItems: 1, maxItems: 3 },
      },
      required: ["answer", "count", "ok", "tags"],
    };
    const out = await h.ok<Generated>("generate", { prompt: "zzz", temperature: 0, json_schema: schema, max_tokens: 200 });
    expect(out.receipt.constraint).toBe("json_schema");
    expect(out.finish_reason).toBe("stop");
    const value = JSON.parse(out.text) as Record<string, unknown>;
    expect(out.json).toEqual(value);
    expect(out.json_errors).toBeUndefined();
    expect(Object.keys(value).sort()).toEqual(["answer", "count", "ok", "tags"]);
    expect(typeof value.answer).toBe("string");
    expect(Number.isInteger(value.count)).toBe(true);
    expect(typeof value.ok).toBe("boolean");
    expect(Array.isArray(value.tags)).toBe(true);
    for (const t of value.tags as unknown[]) expect(["red", "green"]).toContain(t);
    // Cut short, the JSON is incomplete and the result says so instead of pretending.
    const cut = await h.ok<Generated>("generate", { prompt: "zzz", temperature: 0, json_schema: schema, max_tokens: 3 });
    expect(cut.finish_reason).toBe("length");
    expect(cut.json).toBeUndefined();
    expect(cut.json_errors![0]).toMatch(/incomplete JSON/);
  });

  test("a GBNF grammar constrains the output; an invalid one is a clear error", async () => {
    await using h = await connect({}, { services });
    const out = await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0, grammar: 'root ::= "yes" | "no"' });
    expect(["yes", "no"]).toContain(out.text);
    expect(out.receipt.constraint).toBe("grammar");
    expect(await h.fails("generate", { prompt: "Hello", grammar: "root ::= (" })).toMatch(/grammar is not valid GBNF/);
    expect(await h.fails("generate", { prompt: "Hello", grammar: "root ::= x", json_schema: { type: "string" } })).toMatch(/json_schema or grammar, not both/);
    expect(await h.fails("generate", { prompt: "Hello", json_schema: { type: "object", properties: 5 } })).toMatch(/json_schema is not a valid JSON Schema/);
  });

  test("a json_schema nested thousands of levels deep is refused with the depth limit, not an internal error", async () => {
    await using h = await connect({}, { services });
    for (const levels of [40, 1000, 100_000]) {
      let schema: unknown = { type: "string" };
      for (let i = 0; i < levels; i++) schema = levels % 2 ? { type: "array", items: schema } : { type: "object", properties: { a: schema } };
      const text = await h.fails("generate", { prompt: "zzz", json_schema: schema });
      expect(text).toMatch(/The arguments of generate are nested more than 64 levels deep; the limit is 64\.[\s\S]*Hint: Flatten/);
      expect(await h.fails("chat", { messages: [{ role: "user", content: "x" }], json_schema: schema })).toMatch(/nested more than 64 levels deep/);
    }
    // Within the limit the same shape works.
    let shallow: unknown = { type: "integer" };
    for (let i = 0; i < 8; i++) shallow = { type: "array", items: shallow, maxItems: 1 };
    const out = await h.ok<Generated>("generate", { prompt: "zzz", temperature: 0, json_schema: shallow, max_tokens: 50 });
    expect(out.receipt.constraint).toBe("json_schema");
  });

  test("every sampling field is bounded; outside the range the error names the field and the range", async () => {
    await using h = await connect({ maxTokensLimit: 100 }, {});
    expect(await h.fails("generate", { prompt: "x", temperature: 2.5 })).toMatch(/temperature: .*<=2/);
    expect(await h.fails("generate", { prompt: "x", temperature: -1 })).toMatch(/temperature: .*>=0/);
    expect(await h.fails("generate", { prompt: "x", top_p: 1.5 })).toMatch(/top_p: .*<=1/);
    expect(await h.fails("generate", { prompt: "x", min_p: -0.1 })).toMatch(/min_p: .*>=0/);
    expect(await h.fails("generate", { prompt: "x", top_k: -1 })).toMatch(/top_k: .*>=0/);
    expect(await h.fails("generate", { prompt: "x", repeat_penalty: 3 })).toMatch(/repeat_penalty: .*<=2/);
    expect(await h.fails("generate", { prompt: "x", seed: -5 })).toMatch(/seed: .*>=0/);
    expect(await h.fails("generate", { prompt: "x", max_tokens: 101 })).toMatch(/max_tokens: .*<=100/);
    expect(await h.fails("generate", { prompt: "" })).toMatch(/prompt: .*>=1 character/);
    expect(await h.fails("chat", { messages: [{ role: "robot", content: "hi" }] })).toMatch(/messages\.0\.role/);
    // The engine was never asked to load for any of these.
    expect(h.services.engine.state).toBe("idle");
  });

  test("a prompt longer than the context is refused with its token count and the limit, before any work", async () => {
    await using h = await connect({ contextSize: 64 }, {});
    // A prompt that fits gets max_tokens capped to the room left, and says so.
    // (llama.cpp rounds context sizes up to a multiple of 256; the receipt gives the real one.)
    const fits = await h.ok<Generated>("generate", { prompt: " la".repeat(20), temperature: 0, max_tokens: 500 });
    const size = fits.receipt.context_size;
    expect(fits.receipt.max_tokens_applied).toBe(size - 20);
    expect(fits.finish_reason).toBe("length");
    const text = await h.fails("generate", { prompt: " la".repeat(size + 5) });
    expect(text).toMatch(new RegExp(`The prompt is ${size + 5} tokens; the context holds ${size}`));
    expect(text).toMatch(/--context-size/);
    const chatText = await h.fails("chat", { messages: [{ role: "user", content: " la".repeat(size) }] });
    expect(chatText).toMatch(/The prompt is \d+ tokens; the context holds/);
    expect(h.services.engine.stats()!.busy).toBe(0);
  });
});

describe("the first generated token keeps its leading space (prompt + text == the detokenized whole)", () => {
  const SPM_STORY = " time, there lived.";

  test("SentencePiece: generate, max_tokens and stop sequences", async () => {
    await using h = await connect({ model: inject("spmModelPath") });
    const out = await h.ok<Generated>("generate", { prompt: "Once upon a", temperature: 0 });
    expect(out.text).toBe(SPM_STORY);
    expect(`Once upon a${out.text}`).toBe("Once upon a time, there lived.");
    expect(out.finish_reason).toBe("stop");
    const one = await h.ok<Generated>("generate", { prompt: "Once upon a", temperature: 0, max_tokens: 1 });
    expect([one.text, one.finish_reason]).toEqual([" time", "length"]);
    // Stop strings at a token boundary, inside a token, and right at the start of the text.
    const cases: Array<[string, string]> = [
      [",", " time"],
      ["there", " time, "],
      ["lived", " time, there "],
      [" time", ""],
      ["ime", " t"],
    ];
    for (const [stop, text] of cases) {
      const cut = await h.ok<Generated>("generate", { prompt: "Once upon a", temperature: 0, stop: [stop] });
      expect([stop, cut.text, cut.finish_reason]).toEqual([stop, text, "stop_sequence"]);
    }
    // The same text whatever the prompt's last word: the rule holds at every position of the chain.
    const later = await h.ok<Generated>("generate", { prompt: "Once upon a time, there", temperature: 0 });
    expect(later.text).toBe(" lived.");
  });

  test("SentencePiece: the progress text carries the space too", async () => {
    await using h = await connect({ model: inject("spmModelPath") });
    const messages: string[] = [];
    const result = await h.client.callTool(
      { name: "generate", arguments: { prompt: "Once upon a", temperature: 0 } },
      undefined,
      { onprogress: (p) => void (p.message && messages.push(p.message)) },
    );
    expect((result.structuredContent as unknown as Generated).text).toBe(SPM_STORY);
    const texts = messages.filter((m) => /^\d+ tokens: /.test(m)).map((m) => m.replace(/^\d+ tokens: /, ""));
    for (const t of texts) expect(SPM_STORY.startsWith(t)).toBe(true);
  });

  test("SentencePiece: chat in the plain format answers with the space its first token carries", async () => {
    await using h = await connect({ model: inject("spmModelPath") });
    const out = await h.ok<Generated>("chat", { messages: [{ role: "user", content: "Tell a story" }], temperature: 0, echo_prompt: true });
    expect(out.text).toBe(" Once upon a time, there lived.");
    expect(out.prompt!.endsWith("### Assistant\n")).toBe(true);
    const cut = await h.ok<Generated>("chat", { messages: [{ role: "user", content: "Tell a story" }], temperature: 0, stop: [" a"] });
    expect([cut.text, cut.finish_reason]).toEqual([" Once upon", "stop_sequence"]);
  });

  test("byte-level BPE: unchanged, the space is a byte of the token", async () => {
    await using h = await connect({}, { services });
    expect((await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0 })).text).toBe(" world!");
    expect((await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0, stop: ["orl"] })).text).toBe(" w");
    expect((await h.ok<Generated>("generate", { prompt: " one", temperature: 0, max_tokens: 2 })).text).toBe(" two three");
  });
});

describe("chat", () => {
  test("applies the model's ChatML template; the prompt's tokens match the tokenizer tools", async () => {
    await using h = await connect({}, { services });
    const messages = [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hi" },
    ];
    const out = await h.ok<Generated>("chat", { messages, temperature: 0, echo_prompt: true });
    expect(out.text).toBe("Hello world!"); // the designed answer after "assistant\n"
    expect(out.finish_reason).toBe("stop");
    expect(out.receipt.chat_format).toEqual({ wrapper: "ChatML", source: "the model's chat template" });
    expect(out.prompt).toBe(
      "<|endoftext|><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    );
    const counted = await h.ok<{ total: number }>("count_tokens", { texts: [out.prompt], special: true });
    expect(out.usage.prompt_tokens).toBe(counted.total);
  });

  test("an assistant message at the end is continued (prefill)", async () => {
    await using h = await connect({}, { services });
    const out = await h.ok<Generated>("chat", {
      messages: [
        { role: "user", content: "Count" },
        { role: "assistant", content: " one" },
      ],
      temperature: 0,
    });
    expect(out.text).toBe(NUMBERS_AFTER_ONE);
  });

  test("json_schema works in chat too", async () => {
    await using h = await connect({}, { services });
    const out = await h.ok<Generated>("chat", {
      messages: [{ role: "user", content: "Give JSON" }],
      temperature: 0,
      json_schema: { type: "object", properties: { n: { type: "integer" } }, required: ["n"] },
    });
    expect(Number.isInteger((out.json as { n: number }).n)).toBe(true);
  });

  test("a model without a chat template falls back to the plain format and says so", async () => {
    await using h = await connect({ model: inject("plainModelPath") });
    const out = await h.ok<Generated>("chat", {
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
      ],
      temperature: 0,
      echo_prompt: true,
      max_tokens: 8,
    });
    expect(out.receipt.chat_format!.wrapper).toBe("General");
    expect(out.receipt.chat_format!.source).toMatch(/fallback: the model has no chat template/);
    expect(out.prompt).toContain("### Human\nHi\n\n### Assistant\n");
  });
});

describe("embed and similarity", () => {
  test("texts around the context size: embedded, or refused with the count and the limit, never an internal error", async () => {
    await using h = await connect({ contextSize: 64 });
    const outcomes: string[] = [];
    for (let n = 58; n <= 68; n++) {
      const result = await h.call("embed", { texts: ["Hello".repeat(n)] });
      const text = result.content.map((c) => (c.type === "text" ? c.text : "")).join("");
      expect(text).not.toMatch(/internal error/);
      if (result.isError) expect(text).toMatch(/^Text 0 is \d+ tokens; the embedding context holds 63\./);
      outcomes.push(result.isError ? "refused" : "ok");
    }
    // Both sides of the boundary were exercised.
    expect(outcomes).toContain("ok");
    expect(outcomes).toContain("refused");
    expect(outcomes.lastIndexOf("ok")).toBeLessThan(outcomes.indexOf("refused"));
  });

  test("normalized vectors have unit length; identical texts score 1.0, different ones less", async () => {
    await using h = await connect({}, { services });
    const out = await h.ok<{ dimensions: number; vectors: number[][]; normalized: boolean }>("embed", {
      texts: ["Hello world", "Hello world", " one two"],
    });
    expect(out.dimensions).toBe(64);
    expect(out.vectors).toHaveLength(3);
    for (const v of out.vectors) expect(Math.hypot(...v)).toBeCloseTo(1, 6);
    expect(out.vectors[0]).toEqual(out.vectors[1]);
    const raw = await h.ok<{ vectors: number[][]; normalized: boolean }>("embed", { texts: ["Hello world"], normalize: false });
    expect(raw.normalized).toBe(false);
    expect(Math.hypot(...raw.vectors[0]!)).not.toBeCloseTo(1, 3);
    const ranked = await h.ok<{ results: Array<{ index: number; score: number; text: string }> }>("similarity", {
      query: "Hello world",
      texts: [" one two", "Hello world", " red"],
    });
    expect(ranked.results[0]).toEqual({ index: 1, score: 1, text: "Hello world" });
    expect(ranked.results.map((r) => r.index).sort()).toEqual([0, 1, 2]);
    for (const r of ranked.results.slice(1)) expect(r.score).toBeLessThan(0.99);
    const top = await h.ok<{ results: unknown[] }>("similarity", { query: "Hello world", texts: ["a", "b", "c"], top: 2 });
    expect(top.results).toHaveLength(2);
  });
});

describe("long work behaves", () => {
  test("progress notifications arrive in order with growing counts and the text so far", async () => {
    await using h = await connect({}, { services });
    const progress: Array<{ progress: number; total?: number; message?: string }> = [];
    const result = await h.client.callTool(
      { name: "generate", arguments: { prompt: " la", temperature: 0, max_tokens: 100 } },
      undefined,
      { onprogress: (p) => progress.push(p) },
    );
    expect(result.isError).toBeFalsy();
    const counted = progress.filter((p) => p.progress >= 1);
    expect(counted.length).toBeGreaterThanOrEqual(100 / 16 - 1);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.progress).toBeGreaterThan(progress[i - 1]!.progress);
    for (const p of counted) {
      expect(p.total).toBe(100);
      expect(p.message).toMatch(new RegExp(`^${p.progress} tokens: ( la)+$`));
    }
  });

  test("a cancelled call ends early and frees its sequence; the next call works", async () => {
    const records: LogRecord[] = [];
    const log = createLogger({ level: "silent", format: "json" });
    log.subscribe((r) => records.push(r));
    await using own = createServices(testConfig({ sequences: 1, maxTokensLimit: 8000 }), log);
    await using h = await connect({}, { services: own });
    const controller = new AbortController();
    const call = h.client.callTool({ name: "generate", arguments: { prompt: " la", temperature: 0, max_tokens: 8000 } }, undefined, {
      signal: controller.signal,
      onprogress: () => controller.abort("enough"),
    });
    await expect(call).rejects.toThrow();
    await expect.poll(() => records.find((r) => r.msg === "generation finished")).toBeDefined();
    const finished = records.find((r) => r.msg === "generation finished")!;
    expect(finished.finish_reason).toBe("cancelled");
    expect(finished.completion_tokens as number).toBeLessThan(8000);
    await expect.poll(async () => own.engine.stats()!.busy).toBe(0);
    const next = await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0 });
    expect(next.text).toBe(" world!");
  });

  test("past the queue, calls are refused at once with busy, retry later", async () => {
    await using own = createServices(testConfig({ sequences: 1, maxQueue: 1, maxTokensLimit: 8000 }), silentLogger);
    await using h = await connect({}, { services: own });
    await h.ok("generate", { prompt: "Hello", temperature: 0 }); // load first
    const controllers = [new AbortController(), new AbortController()];
    const long = controllers.map((c) =>
      h.client.callTool({ name: "generate", arguments: { prompt: " la", temperature: 0, max_tokens: 8000 } }, undefined, { signal: c.signal }).catch(() => "aborted"),
    );
    await expect.poll(() => Promise.resolve(own.engine.stats())).toMatchObject({ busy: 1, queued: 1 });
    const busy = await h.fails("generate", { prompt: "Hello", temperature: 0 });
    expect(busy).toMatch(/busy, retry later: all 1 generation sequences are in use and 1 calls are waiting/);
    expect(busy).toMatch(/--sequences/);
    for (const c of controllers) c.abort();
    expect(await Promise.all(long)).toEqual(["aborted", "aborted"]);
    await expect.poll(() => Promise.resolve(own.engine.stats())).toMatchObject({ busy: 0, queued: 0 });
  });

  test("50 concurrent calls: each succeeds exactly or is refused as busy; no sequence leaks", async () => {
    await using own = createServices(testConfig({ sequences: 2, maxQueue: 16 }), silentLogger);
    await using h = await connect({}, { services: own });
    await h.ok("generate", { prompt: "Hello", temperature: 0 });
    await h.ok("chat", { messages: [{ role: "user", content: "Hi" }], temperature: 0 });
    const rssBefore = process.memoryUsage().rss;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => h.call(i % 2 ? "generate" : "chat", i % 2 ? { prompt: " one", temperature: 0 } : { messages: [{ role: "user", content: "Hi" }], temperature: 0 })),
    );
    let ok = 0;
    for (const [i, r] of results.entries()) {
      if (r.isError) {
        expect((r.content[0] as { text: string }).text).toMatch(/^busy, retry later/);
      } else {
        ok++;
        expect((r.structuredContent as { text: string }).text).toBe(i % 2 ? NUMBERS_AFTER_ONE : "Hello world!");
      }
    }
    expect(ok).toBeGreaterThanOrEqual(18); // 2 running + 16 queued at least
    expect(own.engine.stats()!).toMatchObject({ busy: 0, queued: 0 });
    // Memory is back near where it started (the sequences' KV cells are reused, not reallocated).
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
    expect((await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0 })).text).toBe(" world!");
  });
});
