/**
 * The look-inside tools on the real llama.cpp with the tests' model. Expectations come from the model itself: its
 * greedy continuation, and node-llama-cpp's own sampler on the same model (loaded here beside the server's).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LlamaModel, Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { acquireLlama } from "../../src/llm/local/binding.js";
import { iobTags, placeEntities, tokenRanges } from "../../src/insight/entities.js";
import { judgePrompt } from "../../src/insight/judge.js";
import { samplerStages } from "../../src/insight/sampler.js";
import { sharedServices } from "../helpers/harness.js";
import { prng } from "../helpers/prng.js";
import { writeTinyModel } from "../helpers/tiny-model.js";

interface Scored {
  perplexity: number | null;
  mean_logprob: number | null;
  tokens: Array<{ id: number; piece: string; logprob: number | null; top: Array<{ id: number; piece: string; logprob: number }> }>;
  windows: number;
  conditioned_on_bos: boolean;
}
interface Next {
  kept: number;
  candidates: Array<{ id: number; piece: string; probability: number; after_temperature: number; kept: boolean; p_sample: number }>;
}

const shared = sharedServices();
let model: LlamaModel;
let release: () => Promise<void>;
beforeAll(async () => {
  const binding = await acquireLlama({ gpu: false, maxThreads: 1, build: "never", progressLogs: false }, () => undefined);
  release = binding.release;
  model = await binding.llama.loadModel({ modelPath: inject("modelPath") });
});
afterAll(async () => {
  await shared.close();
  await model?.dispose();
  await release?.();
});

/** node-llama-cpp's own next-token probabilities after a prompt, with or without sampling options. */
async function direct(prompt: string | readonly Token[], options?: { temperature: number; topK: number; topP: number; minP: number }): Promise<Map<Token, number>> {
  const context = await model.createContext({ contextSize: 512 });
  try {
    const tokens = typeof prompt === "string" ? model.tokenize(prompt) : prompt;
    const items = tokens.map((t, i) => (i === tokens.length - 1 ? ([t, { generateNext: { probabilities: true, ...(options ? { options } : {}) } }] as const) : t));
    const out = await context.getSequence().controlledEvaluate(items as never);
    return out.at(-1)!.next.probabilities!;
  } finally {
    await context.dispose();
  }
}

describe("score", () => {
  test("a greedy continuation is the top candidate at each of its positions; the logprobs are the model's own", async () => {
    await using h = await shared.connect();
    for (const prompt of ["Hello", " one", " la", " one two three"]) {
      const generated = await h.ok<{ text: string }>("generate", { prompt, temperature: 0, max_tokens: 12 });
      const promptTokens = (await h.ok<{ count: number }>("count_tokens", { texts: [prompt] })) as unknown as { total: number };
      const scored = await h.ok<Scored>("score", { text: prompt + generated.text });
      expect(scored.conditioned_on_bos).toBe(true);
      const continuation = scored.tokens.slice(promptTokens.total);
      expect(continuation.length).toBeGreaterThan(0);
      for (const t of continuation) {
        expect(t.top[0]!.id, `${JSON.stringify(prompt)}: ${t.piece}`).toBe(t.id);
        expect(t.logprob).toBe(t.top[0]!.logprob);
      }
      const known = scored.tokens.map((t) => t.logprob!);
      const mean = known.reduce((a, b) => a + b, 0) / known.length;
      expect(scored.mean_logprob).toBeCloseTo(mean, 5);
      expect(Math.abs(scored.perplexity! - Math.exp(-mean)) / Math.exp(-mean)).toBeLessThan(1e-5);
    }
  });

  test("each logprob is log of node-llama-cpp's own probability of that token after BOS and the text before it", async () => {
    await using h = await shared.connect();
    const text = "Hello world! one two red";
    const scored = await h.ok<Scored>("score", { text, top_n: 3 });
    const ids = model.tokenize(text);
    expect(scored.tokens.map((t) => t.id)).toEqual([...ids]);
    for (let i = 0; i < ids.length; i++) {
      const probs = await direct([model.tokens.bos!, ...ids.slice(0, i)]);
      expect(scored.tokens[i]!.logprob, `token ${i}`).toBeCloseTo(Math.log(probs.get(ids[i]!)!), 4);
      expect(scored.tokens[i]!.top.map((a) => a.id)).toEqual([...probs.keys()].slice(0, 3));
    }
  });

  test("a text longer than the context is scored in windows, every token once; past --score-max-tokens it is refused", async () => {
    await using h = await shared.connect({ contextSize: 64, scoreMaxTokens: 1000 });
    const scored = await h.ok<Scored & { context_size: number }>("score", { text: " la".repeat(900), top_n: 1 });
    expect(scored.tokens).toHaveLength(900);
    // The first window holds BOS and context - 1 tokens; each later one scores at most half a context more.
    expect(scored.windows).toBe(1 + Math.ceil((900 - (scored.context_size - 1)) / (scored.context_size - Math.floor(scored.context_size / 2) - 1)));
    expect(scored.windows).toBeGreaterThan(2);
    // Every " la" after the first follows " la" with the same history: the same logprob in every window.
    const later = scored.tokens.slice(1).map((t) => t.logprob!);
    for (const lp of later) expect(lp).toBeCloseTo(later[0]!, 4);
    expect(await h.fails("score", { text: " la".repeat(1001) })).toMatch(/1001 tokens; score takes at most 1000/);
  });
});

describe("next_token", () => {
  test("the kept candidates' p_sample equal node-llama-cpp's own sampler (top-k, top-p, min-p, temperature), seeded settings", async () => {
    await using h = await shared.connect();
    const random = prng(7);
    for (let i = 0; i < 12; i++) {
      const settings = {
        temperature: [0.3, 0.7, 1, 1.5][i % 4]!,
        topK: [0, 3, 5, 40][Math.floor(random() * 4)]!,
        // Not 0.5, 0.25...: with the eight colours equally likely, a cut exactly on a boundary falls either side by float rounding.
        topP: [1, 0.45, 0.9][Math.floor(random() * 3)]!,
        minP: [0, 0.05, 0.5][Math.floor(random() * 3)]!,
      };
      const prompt = [" pick", " red", "Hello", " one"][i % 4]!;
      const ours = await h.ok<Next>("next_token", { prompt, temperature: settings.temperature, top_k: settings.topK, top_p: settings.topP, min_p: settings.minP, n: 20 });
      const theirs = await direct(prompt, settings);
      const kept = ours.candidates.filter((c) => c.kept);
      const what = JSON.stringify({ prompt, settings });
      expect(kept.length, what).toBe(Math.min(theirs.size, 20));
      // Equal probabilities (the colours are designed uniform) may be kept in either order: the values must agree,
      // and the ids wherever a probability is not tied with another.
      const oursSorted = kept.map((c) => c.p_sample).sort((a, b) => b - a);
      const theirsSorted = [...theirs.values()].slice(0, 20).sort((a, b) => b - a);
      oursSorted.forEach((v, j) => expect(v, what).toBeCloseTo(theirsSorted[j]!, 4));
      for (const c of kept) {
        const tied = ours.candidates.some((o) => o.id !== c.id && Math.abs(o.probability - c.probability) < 1e-6);
        if (!tied) expect(theirs.get(c.id as Token), `${what} ${c.piece}`).toBeCloseTo(c.p_sample, 4);
      }
      if (ours.kept <= 20) expect(kept.reduce((a, c) => a + c.p_sample, 0)).toBeCloseTo(1, 5);
      expect(ours.kept).toBe(theirs.size);
    }
  });

  test("probabilities are the raw distribution; temperature 0 samples the top one; temperature flattens or sharpens", async () => {
    await using h = await shared.connect();
    const raw = await direct(" pick");
    const greedy = await h.ok<Next>("next_token", { prompt: " pick", temperature: 0, n: 8 });
    expect(greedy.candidates.map((c) => c.id)).toEqual([...raw.keys()].slice(0, 8));
    for (const c of greedy.candidates) expect(c.probability).toBeCloseTo(raw.get(c.id as Token)!, 6);
    expect(greedy.candidates.map((c) => c.p_sample)).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(greedy.kept).toBe(1);
    const hot = await h.ok<Next>("next_token", { prompt: "Hello", temperature: 2, top_k: 0, top_p: 1, min_p: 0, n: 3 });
    const cold = await h.ok<Next>("next_token", { prompt: "Hello", temperature: 0.5, top_k: 0, top_p: 1, min_p: 0, n: 3 });
    expect(hot.candidates[0]!.after_temperature).toBeLessThan(hot.candidates[0]!.probability);
    expect(cold.candidates[0]!.after_temperature).toBeGreaterThan(cold.candidates[0]!.probability);
  });

  test("the stage arithmetic on hand-made distributions: ties, a top_p reached exactly, min_p against the best", () => {
    const p = [0.4, 0.3, 0.2, 0.1];
    expect(samplerStages(p, { temperature: 1, topK: 0, topP: 0.7, minP: 0 }).kept).toBe(2);
    expect(samplerStages(p, { temperature: 1, topK: 3, topP: 1, minP: 0 }).kept).toBe(3);
    expect(samplerStages(p, { temperature: 1, topK: 0, topP: 1, minP: 0.5 }).kept).toBe(3);
    const all = samplerStages(p, { temperature: 1, topK: 0, topP: 1, minP: 0 });
    expect(all.stages.map((s) => s.pSample)).toEqual(p.map((x) => expect.closeTo(x, 12) as unknown as number));
    const zeros = samplerStages([1, 0, 0], { temperature: 0.5, topK: 0, topP: 1, minP: 0 });
    expect(zeros.stages.map((s) => s.afterTemperature)).toEqual([1, 0, 0]);
  });
});

describe("extract_entities", () => {
  test("entities are placed at their text, labels only from the list, and the model's tokens tagged B-/I-/O consistently", async () => {
    await using h = await shared.connect();
    const text = "Hello world! Ada Lovelace met Charles Babbage in London.";
    const out = await h.ok<{
      entities: Array<{ text: string; label: string; start: number; end: number }>;
      tokens: Array<{ id: number; piece: string; tag: string }>;
      dropped: Array<{ text: string; label: string; why: string }>;
    }>("extract_entities", { text, labels: ["PERSON", "PLACE"] });
    const tokenized = await h.ok<{ tokens: Array<{ id: number; piece: string }> }>("tokenize", { text });
    expect(out.tokens.map((t) => [t.id, t.piece])).toEqual(tokenized.tokens.map((t) => [t.id, t.piece]));
    for (const e of [...out.entities, ...out.dropped]) expect(["PERSON", "PLACE"]).toContain(e.label);
    for (const e of out.entities) expect(text.slice(e.start, e.end)).toBe(e.text);
    for (const d of out.dropped) expect(d.why === "empty" || !text.includes(d.text) || d.why.startsWith("every occurrence")).toBe(true);
    checkTags(text, out.tokens, out.entities);
  });

  test("seeded texts and entities: spans slice back to their text, tokens cover the text, tags follow the spans", () => {
    const alphabet = ["Ada", " ", "Lovelace", "é", "日本", "🦙", ",", "London", "\n", "a", "ß"];
    for (let seed = 1; seed <= 300; seed++) {
      const random = prng(seed);
      const text = Array.from({ length: 2 + Math.floor(random() * 20) }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
      const named = Array.from({ length: Math.floor(random() * 5) }, () => {
        const a = Math.floor(random() * text.length);
        const b = Math.min(text.length, a + 1 + Math.floor(random() * 8));
        return { text: random() < 0.8 ? text.slice(a, b) : "Babbage", label: random() < 0.5 ? "PERSON" : "PLACE" };
      });
      const { spans, dropped } = placeEntities(text, named);
      for (const s of spans) expect(text.slice(s.start, s.end), `seed ${seed}`).toBe(s.text);
      for (let i = 1; i < spans.length; i++) expect(spans[i]!.start).toBeGreaterThanOrEqual(spans[i - 1]!.end);
      expect(spans.length + dropped.length).toBe(named.length);
      // Tokens: the text's bytes cut at random places, inside characters too.
      const bytes = Buffer.from(text, "utf8");
      const cuts = [...new Set(Array.from({ length: Math.floor(random() * 10) }, () => Math.floor(random() * bytes.length)))].sort((x, y) => x - y).filter((c) => c > 0);
      const pieces = [0, ...cuts].map((from, i) => bytes.subarray(from, [...cuts, bytes.length][i]));
      const ranges = tokenRanges(text, pieces)!;
      expect(ranges, `seed ${seed}`).toBeDefined();
      expect(ranges[0]!.start).toBe(0);
      expect(ranges.at(-1)!.end).toBe(text.length);
      for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.start).toBeLessThanOrEqual(ranges[i - 1]!.end);
      checkTags(text, ranges.map((r, i) => ({ ...r, tag: iobTags(ranges, spans)[i]! })), spans, ranges);
    }
  });
});

/**
 * Every token overlapping an entity is tagged with its label, B- on the entity's first token and I- after; others O.
 * A token that overlaps two entities (one token holding the end of one and the start of the next) is the first's.
 */
function checkTags(text: string, tokens: Array<{ tag: string; piece?: string }>, spans: Array<{ label: string; start: number; end: number }>, given?: Array<{ start: number; end: number }>) {
  const ranges =
    given ??
    (() => {
      // The tokens' character ranges, from their pieces in order (the tests' BPE text has no SentencePiece space).
      let at = 0;
      return tokens.map((t) => {
        const start = at;
        at = Math.min(text.length, at + (t.piece ?? "").length);
        return { start, end: at };
      });
    })();
  const overlaps = (r: { start: number; end: number }, s: { start: number; end: number }) => r.start < s.end && r.end > s.start;
  spans.forEach((span, k) => {
    const covering = ranges.map((r, i) => [r, i] as const).filter(([r]) => overlaps(r, span) && !spans.slice(0, k).some((earlier) => overlaps(r, earlier))).map(([, i]) => i);
    if (covering.length === 0) return;
    expect(tokens[covering[0]!]!.tag).toBe(`B-${span.label}`);
    for (const i of covering.slice(1)) expect(tokens[i]!.tag).toBe(`I-${span.label}`);
  });
  ranges.forEach((r, i) => {
    if (!spans.some((s) => r.start < s.end && r.end > s.start)) expect(tokens[i]!.tag).toBe("O");
  });
}

describe("judge", () => {
  const rubric = { criteria: "Is the answer correct?", score1: "Wrong.", score2: "Mostly wrong.", score3: "Half right.", score4: "Mostly right.", score5: "Right." };

  test("absolute: a score forced by the grammar, which is the most probable of the five at its position; the expected score weighs them", async () => {
    await using h = await shared.connect();
    const out = await h.ok<{ score: number; feedback: string; expected_score: number; probabilities: Record<string, number> }>("judge", {
      instruction: "What is one plus one?",
      response: "Two.",
      reference_answer: "Two.",
      rubric,
    });
    expect(out.score).toBeGreaterThanOrEqual(1);
    expect(out.score).toBeLessThanOrEqual(5);
    expect(out.feedback.length).toBeGreaterThan(0);
    const p = [1, 2, 3, 4, 5].map((i) => out.probabilities[String(i)]!);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(out.expected_score).toBeCloseTo(p.reduce((a, x, i) => a + (i + 1) * x, 0), 4); // from probabilities rounded to 1e-6
    // Greedy under the grammar: the score chosen is the most probable of the five.
    expect(out.score).toBe(p.indexOf(Math.max(...p)) + 1);
  });

  test("relative: with response_b the judge names the better one; a prompt past the context is refused with its size", async () => {
    await using h = await shared.connect();
    const out = await h.ok<{ winner: string; feedback: string }>("judge", { instruction: "Say hello.", response: "Hello!", response_b: "Goodbye.", rubric });
    expect(["A", "B"]).toContain(out.winner);
    await using small = await shared.connect({ contextSize: 256 });
    expect(await small.fails("judge", { instruction: "x ".repeat(2000), response: "y", rubric })).toMatch(/The prompt is \d+ tokens; the context holds 256/);
  });

  test("the prompt has Prometheus 2's sections, in order", () => {
    const absolute = judgePrompt({ instruction: "I", response: "R", reference: "F", rubric });
    const order = ["###Task Description:", "###The instruction to evaluate:\nI", "###Response to evaluate:\nR", "###Reference Answer (Score 5):\nF", "###Score Rubrics:\n[Is the answer correct?]\nScore 1: Wrong.", "Score 5: Right.", "###Feedback: "];
    let at = -1;
    for (const part of order) {
      const next = absolute.indexOf(part);
      expect(next, part).toBeGreaterThan(at);
      at = next;
    }
    expect(absolute).toMatch(/\[RESULT\] \(a number from 1 to 5\)/);
    const relative = judgePrompt({ instruction: "I", response: "R", responseB: "S", rubric });
    expect(relative).toContain("###Response A:\nR\n\n###Response B:\nS");
    expect(relative).toMatch(/\[RESULT\] \(A or B\)/);
  });
});

describe("rerank", () => {
  const documents = ["one two three", " red green blue", "Hello world", " red one two", " white"];

  test("with a reranker model (a classification head): each pair scored by the model, as node-llama-cpp's own ranking context does", async () => {
    const path = writeTinyModel(join(mkdtempSync(join(tmpdir(), "lam-reranker-")), "reranker.gguf"), { reranker: true, name: "lam-tiny-reranker" });
    await using h = await shared.connect({ embeddingModel: path });
    const out = await h.ok<{ method: string; model: string; results: Array<{ index: number; score: number }> }>("rerank", { query: "Which colours?", documents });
    expect(out).toMatchObject({ method: "ranking", model: "lam-tiny-reranker" });
    const reranker = await model.llama.loadModel({ modelPath: path });
    try {
      const context = await reranker.createRankingContext({ contextSize: 512 });
      const theirs = await context.rankAll("Which colours?", documents);
      await context.dispose();
      for (const r of out.results) expect(r.score).toBeCloseTo(theirs[r.index]!, 5);
    } finally {
      await reranker.dispose();
    }
    // The designed head favours colours: the text of three colours first, one without any last.
    expect(out.results[0]!.index).toBe(1);
    expect([0, 2]).toContain(out.results.at(-1)!.index);
    const top2 = await h.ok<{ results: unknown[] }>("rerank", { query: "Which colours?", documents, top: 2 });
    expect(top2.results).toHaveLength(2);
  });

  test("without one: by the cosine of embeddings, as similarity ranks them, and it says so", async () => {
    await using h = await shared.connect();
    const out = await h.ok<{ method: string; results: Array<{ index: number; score: number }> }>("rerank", { query: " red", documents });
    expect(out.method).toBe("embeddings");
    const similar = await h.ok<{ results: Array<{ index: number; score: number }> }>("similarity", { query: " red", texts: documents });
    expect(out.results.map((r) => r.index)).toEqual(similar.results.map((r) => r.index));
    out.results.forEach((r, i) => expect(r.score).toBeCloseTo(similar.results[i]!.score, 5));
  });
});
