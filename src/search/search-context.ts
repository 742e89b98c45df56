/** search_context: search, read the top pages, and pack the passages most relevant to the query into a token budget. */
import { z } from "zod";
import { ToolError, messageOf } from "../errors.js";
import { defineTool, type ToolContext } from "../tool.js";
import { dot, unit } from "../vector.js";
import { CHARS_PER_TOKEN } from "./paging.js";
import { bm25, sourceBlock, splitPassages, type Passage } from "./passages.js";
import type { SearchResult } from "./searxng.js";
import { SEARCHES, SearchFields, type SearchCore } from "./shared.js";

export const searchContext = (core: SearchCore) =>
defineTool({
  name: "search_context",
  title: "Search and pack context",
  description:
    "Searches, reads the top result pages in parallel, and returns the passages most relevant to the query packed " +
    "within max_tokens, grouped by source: each source is numbered [n] with its title and URL, ready to cite. " +
    "Relevance uses embeddings when the embedding model is loaded, BM25 otherwise (the result says which); passages " +
    "that share nothing with the query are left out. Pages that could not be read are named, with why and the fix.",
  input: z.strictObject({
    query: z.string().min(1).max(1000),
    max_tokens: z.number().int().min(64).max(32_000).describe("Token budget of the whole packed context"),
    max_pages: z.number().int().min(1).max(10).default(3).describe("How many top results to read in full"),
    language: SearchFields.language,
    time_range: SearchFields.time_range,
  }),
  output: z.object({
    query: z.string(),
    relevance: z.string().describe("How passages were scored"),
    unit: z.enum(["tokens", "characters/4"]),
    max_tokens: z.number().int(),
    used_tokens: z.number().int(),
    passages: z.array(
      z.object({
        n: z.number().int().describe("The citation number of its source (passages of one source share it)"),
        url: z.string(),
        title: z.string(),
        text: z.string(),
        score: z.number(),
        from: z.enum(["page", "snippet"]),
      }),
    ),
    sources: z.array(
      z.object({
        url: z.string(),
        title: z.string(),
        status: z.enum(["read", "snippet", "failed"]),
        reason: z.string().optional(),
        n: z.number().int().optional().describe("Its citation number, when a passage of it was packed"),
      }),
    ),
    notes: z.array(z.string()).describe("What the context lacks and why: pages not read (with the fix), no matching passage"),
    instance: z.string(),
    text: z.string().describe("The packed context: notes, then each source [n] with its passages"),
  }),
  annotations: SEARCHES,
  longRunning: true,
  async run(args, ctx) {
    const found = await core.search({ query: args.query, language: args.language, timeRange: args.time_range }, ctx.signal);
    if (found.results.length === 0) {
      throw new ToolError(`No results for ${JSON.stringify(args.query)}.`, { hint: "Rephrase the query, or use fewer and more common words.", code: "no_results" });
    }
    const toRead = found.results.slice(0, args.max_pages);
    const { passages, sources, failures } = await gather(core, found.results, toRead, ctx.signal);
    if (ctx.signal.aborted) throw new ToolError("search_context was cancelled.", { code: "cancelled" });

    const { scores, relevance } = await score(core, args.query, passages, ctx);
    const { tokenizer } = await core.tokenizer(ctx);
    const count = async (text: string) => (tokenizer ? tokenizer.count(text, false) : Math.ceil(text.length / CHARS_PER_TOKEN));
    // Nothing that shares nothing with the query is packed.
    const ranked = passages
      .map((p, i) => ({ p, s: scores[i]! }))
      .filter(({ s }) => s > 0)
      .sort((a, b) => b.s - a.s);
    const notes = contextNotes(failures, toRead.length, passages.length, ranked.length);
    const { text, chosen } = await packContext(args.query, notes, ranked, args.max_tokens, count);
    const numbers = citationNumbers(chosen);
    const structured = {
      query: args.query,
      relevance,
      unit: tokenizer ? ("tokens" as const) : ("characters/4" as const),
      max_tokens: args.max_tokens,
      used_tokens: await count(text),
      passages: chosen.map(({ p, s }) => ({ n: numbers.get(p.url)!, url: p.url, title: p.title, text: p.text, score: Math.round(s * 1e4) / 1e4, from: p.from })),
      sources: sources.map((src) => (numbers.has(src.url) ? { ...src, n: numbers.get(src.url)! } : src)),
      notes,
      instance: found.instance,
      text,
    };
    return { structured, text };
  },
});

async function score(core: SearchCore, query: string, passages: Passage[], ctx: ToolContext): Promise<{ scores: number[]; relevance: string }> {
  const engine = core.deps.embeddingEngine;
  // Embeddings only when the embedding model is loaded already: a search does not wait for a model load.
  if (engine.state === "full" && passages.length > 0 && (await engine.capabilities()).embed) {
    try {
      // Cut by the model's own tokens to what its context holds (characters would overflow on dense text).
      const { vectors, model } = await engine.embed([query, ...passages.map((p) => `${p.title}\n${p.text}`)], { overflow: "truncate", signal: ctx.signal });
      const [q, ...rest] = vectors.map(unit);
      return { scores: rest.map((v) => dot(q!, v)), relevance: `embeddings (${model}), cosine similarity` };
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      ctx.log.warn("embedding relevance failed; using BM25", { error: messageOf(error) });
    }
  }
  // The passage's own words: a page title shared by all its passages would lift the unrelated ones with the rest.
  return { scores: bm25(query, passages.map((p) => p.text)), relevance: "lexical (BM25)" };
}

type Failure = { url: string; reason: string; hint: string | undefined };

/** The passages of the pages read in full, and the engines' snippets standing in for the pages that were not. */
async function gather(core: SearchCore, results: SearchResult[], toRead: SearchResult[], signal: AbortSignal) {
  const reads = await Promise.allSettled(toRead.map((r) => core.readDocument(r.url, signal)));
  const passages: Passage[] = [];
  const sources: Source[] = [];
  const failures: Failure[] = [];
  reads.forEach((r, i) => {
    const result = toRead[i]!;
    if (r.status === "fulfilled") {
      const title = r.value.doc.title || result.title;
      for (const text of splitPassages(r.value.doc.markdown)) passages.push({ url: result.url, title, text, from: "page" });
      sources.push({ url: result.url, title, status: "read" });
    } else {
      const reason = messageOf(r.reason).split("\n")[0]!;
      failures.push({ url: result.url, reason, hint: r.reason instanceof ToolError ? r.reason.hint : undefined });
      sources.push({ url: result.url, title: result.title, status: "failed", reason });
    }
  });
  for (const result of results) {
    if (!result.snippet.trim() || sources.some((s) => s.url === result.url && s.status === "read")) continue;
    passages.push({ url: result.url, title: result.title, text: result.snippet.trim(), from: "snippet" });
    if (!sources.some((s) => s.url === result.url)) sources.push({ url: result.url, title: result.title, status: "snippet" });
  }
  return { passages, sources, failures };
}

/**
 * The packed text within the budget: the notes first (a budget too small for all of them keeps the first and the
 * fix, then the first alone), then the best passages grouped by source. The pieces are counted apart; the whole is
 * counted again and the weakest passages dropped until it fits exactly.
 */
async function packContext(query: string, notes: string[], ranked: Scored[], maxTokens: number, count: (text: string) => Promise<number>) {
  const headerOf = (shown: string[]) => `Context for: ${query}\n\n${shown.length > 0 ? `${shown.join("\n")}\n\n` : ""}`;
  let header = headerOf([]);
  for (const shown of [notes, notes.filter((n) => !n.startsWith("- ")), notes.slice(0, 1)]) {
    if ((await count(headerOf(shown))) <= maxTokens) {
      header = headerOf(shown);
      break;
    }
  }
  // Every passage's cost, and every source's [n] line, counted once (in parallel: a server's tokenizer is remote).
  const costs = await Promise.all(ranked.map((r) => count(r.p.text)));
  const heads = new Map(await Promise.all([...new Map(ranked.map((r) => [r.p.url, r.p])).values()].map(async (p) => [p.url, await count(sourceBlock(99, p, [""]))] as const)));
  let chosen = pack(ranked, maxTokens - (await count(header)), (i) => costs[i]!, (url) => heads.get(url)!);
  let text = assemble(header, chosen);
  while (chosen.length > 0 && (await count(text)) > maxTokens) {
    chosen = chosen.slice(0, -1);
    text = assemble(header, chosen);
  }
  return { text, chosen };
}

interface Source {
  url: string;
  title: string;
  status: "read" | "snippet" | "failed";
  reason?: string;
}

type Scored = { p: Passage; s: number };

/** What the context lacks, said at its top: pages that could not be read (why, and the fix), no matching passage. */
function contextNotes(failures: Failure[], tried: number, passages: number, matching: number): string[] {
  const notes: string[] = [];
  if (failures.length > 0) {
    notes.push(`Note: ${failures.length} of ${tried} pages could not be read${failures.length === tried ? ", so what follows comes from search snippets only" : ""}:`);
    for (const f of failures) notes.push(`- ${f.reason}`);
    for (const hint of new Set(failures.map((f) => f.hint).filter((h): h is string => h !== undefined))) notes.push(`Fix: ${hint}`);
  }
  if (matching === 0) notes.push(`Note: none of the ${passages} passages found shares a word with the query; try other words.`);
  return notes;
}

/** The best passages that fit the budget; a passage of a source not yet packed also pays for its [n] line. */
/** The best passages that fit the budget; a passage of a source not yet packed also pays for its [n] line. */
function pack(ranked: Scored[], budget: number, cost: (index: number) => number, headCost: (url: string) => number): Scored[] {
  const chosen: Scored[] = [];
  const headed = new Set<string>();
  const seen = new Set<string>();
  let used = 0;
  ranked.forEach((item, i) => {
    if (seen.has(item.p.text)) return;
    const total = (headed.has(item.p.url) ? 0 : headCost(item.p.url)) + cost(i) + 2;
    if (used + total > budget) return;
    chosen.push(item);
    seen.add(item.p.text);
    headed.add(item.p.url);
    used += total;
  });
  return chosen;
}

/** Citation numbers by source, in the order of each source's best passage. */
function citationNumbers(chosen: Scored[]): Map<string, number> {
  const numbers = new Map<string, number>();
  for (const { p } of chosen) if (!numbers.has(p.url)) numbers.set(p.url, numbers.size + 1);
  return numbers;
}

function assemble(header: string, chosen: Scored[]): string {
  const numbers = citationNumbers(chosen);
  const blocks = [...numbers].map(([url, n]) => {
    const mine = chosen.filter(({ p }) => p.url === url).map(({ p }) => p);
    return sourceBlock(n, mine[0]!, mine.map((p) => p.text));
  });
  return (header + blocks.join("\n\n")).trimEnd();
}
