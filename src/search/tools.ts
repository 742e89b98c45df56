/**
 * Search tools: web_search (SearXNG), read_url (a page's main content as Markdown, paged by tokens) and
 * search_context (search, read the top pages in parallel, pack the most relevant passages into a token budget).
 */
import { z } from "zod";
import { TtlCache } from "../cache.js";
import { ToolError, messageOf } from "../errors.js";
import type { LoadedModel, ModelEngine } from "../llm/engine.js";
import { loadListener } from "../llm/progress.js";
import { defineTool, type ToolContext, type ToolSpec } from "../tool.js";
import { tokenTableOf } from "../tokens/pieces.js";
import type { Telemetry } from "../telemetry.js";
import { dot, unit } from "../vector.js";
import type { Document } from "./extract.js";
import { characterPager, CHARS_PER_TOKEN, tokenPager, type Pager } from "./paging.js";
import { bm25, sourceBlock, splitPassages, type Passage } from "./passages.js";
import type { SearchRuntime } from "./runtime.js";
import type { SearchParams, SearchResponse } from "./searxng.js";

export interface SearchToolDeps {
  /** The SearXNG client, page fetcher and extractor, created on first use. */
  runtime: () => Promise<SearchRuntime>;
  engine: ModelEngine;
  embeddingEngine: ModelEngine;
  cacheTtlMs: number;
  cacheSize: number;
  telemetry?: Telemetry;
}

const SEARCHES = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true } as const;

const Result = z.object({
  title: z.string(),
  url: z.string(),
  snippet: z.string(),
  engines: z.array(z.string()),
  score: z.number(),
  published: z.string().nullable().describe("ISO-8601, or null when the engine gave no parseable date"),
  category: z.string(),
});
const WebSearchOutput = z.object({
  query: z.string(),
  page: z.number().int(),
  results: z.array(Result),
  answers: z.array(z.object({ answer: z.string(), url: z.string().nullable() })),
  suggestions: z.array(z.string()),
  corrections: z.array(z.string()),
  infoboxes: z.array(
    z.object({
      title: z.string(),
      content: z.string(),
      urls: z.array(z.object({ title: z.string(), url: z.string() })),
      attributes: z.array(z.object({ label: z.string(), value: z.string() })),
      engine: z.string(),
    }),
  ),
  unresponsive_engines: z.array(z.object({ engine: z.string(), reason: z.string() })),
  number_of_results: z.number().nullable(),
  instance: z.string(),
  cached: z.boolean(),
});

const SearchFields = {
  categories: z.array(z.string().min(1)).max(20).optional().describe("SearXNG categories: general, news, science, it, ..."),
  engines: z.array(z.string().min(1)).max(50).optional().describe("Only these engines (names as the instance knows them)"),
  language: z
    .string()
    .regex(/^(all|auto|[a-z]{2,3}(-[A-Za-z]{2,4})?)$/, "a language code like en, fr or pt-BR (or all)")
    .optional()
    .describe("Result language: en, fr-FR, ... (default: the instance's)"),
  time_range: z.enum(["day", "week", "month", "year"]).optional(),
  safesearch: z.union([z.literal(0), z.literal(1), z.literal(2)]).optional().describe("0 off, 1 moderate, 2 strict"),
};

export function searchTools(deps: SearchToolDeps): ToolSpec[] {
  /** A search through the runtime's client, timed for /metrics. */
  async function search(params: SearchParams, signal: AbortSignal): Promise<SearchResponse> {
    const { searx } = await deps.runtime();
    const started = performance.now();
    try {
      const response = await searx.search(params, signal);
      deps.telemetry?.emit({ type: "search", outcome: response.cached ? "cached" : "ok", ms: performance.now() - started });
      return response;
    } catch (error) {
      deps.telemetry?.emit({ type: "search", outcome: "error", ms: performance.now() - started });
      throw error;
    }
  }

  const docs = new TtlCache<{ doc: Document; text: string; final: string; redirects: string[] }>(deps.cacheSize, deps.cacheTtlMs);

  async function readDocument(url: string, signal: AbortSignal) {
    const cached = docs.get(url);
    if (cached) return { ...cached, cached: true };
    const { fetcher, extract, render } = await deps.runtime();
    const page = await fetcher.fetch(url, signal);
    const doc = extract(page);
    const entry = { doc, text: render(doc), final: page.url, redirects: page.redirects };
    docs.set(url, entry);
    return { ...entry, cached: false };
  }

  /** The tokenizer for budgets, or why there is none (then characters count, 4 per token). */
  async function tokenizer(ctx: ToolContext): Promise<{ loaded?: LoadedModel; why?: string }> {
    try {
      return { loaded: await deps.engine.tokenizer(loadListener(ctx), ctx.signal) };
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      return { why: messageOf(error).split("\n")[0] };
    }
  }

  const webSearch = defineTool({
    name: "web_search",
    title: "Web search (SearXNG)",
    description:
      "Searches the web through the configured SearXNG meta-search instance(s). Returns ranked results (title, url, " +
      "snippet, engines, score, published date), instant answers, suggestions, corrections, infoboxes and the engines " +
      "that did not answer. Use read_url on a result to read the page, or search_context for ready-to-cite passages.",
    input: z.strictObject({
      query: z.string().min(1).max(1000).describe("What to search for"),
      ...SearchFields,
      page: z.number().int().min(1).max(50).default(1).describe("Result page, from 1"),
      max_results: z.number().int().min(1).max(100).default(10).describe("Most results to return"),
    }),
    output: WebSearchOutput,
    annotations: SEARCHES,
    async run(args, ctx) {
      const response = await search(
        {
          query: args.query,
          categories: args.categories,
          engines: args.engines,
          language: args.language,
          timeRange: args.time_range,
          safesearch: args.safesearch,
          page: args.page,
        },
        ctx.signal,
      );
      const structured = { query: args.query, page: args.page, ...response, results: response.results.slice(0, args.max_results) };
      return { structured, text: renderSearch(structured) };
    },
  });

  const readUrl = defineTool({
    name: "read_url",
    title: "Read a web page",
    description:
      "Fetches a page and returns its main content as Markdown (title, byline, headings and links kept; navigation " +
      "and ads dropped), paged by the loaded model's tokens: pass next_offset back as offset to read on. Handles HTML, " +
      "plain text, Markdown and JSON. Only public http(s) addresses are read, unless the server allows more.",
    input: z.strictObject({
      url: z.string().min(1).max(4096).describe("An absolute http:// or https:// URL"),
      max_tokens: z.number().int().min(16).max(100_000).default(2000).describe("Most tokens of content to return"),
      offset: z.number().int().min(0).default(0).describe("Where to start, from next_offset of a previous call"),
    }),
    output: z.object({
      url: z.string(),
      final_url: z.string().describe("After redirects"),
      title: z.string(),
      byline: z.string().nullable(),
      site: z.string().nullable(),
      published: z.string().nullable(),
      kind: z.enum(["html", "text", "markdown", "json"]),
      extraction: z.enum(["readability", "body", "none"]),
      unit: z.enum(["tokens", "characters"]).describe("What offset, next_offset and total count"),
      unit_note: z.string().optional(),
      offset: z.number().int(),
      next_offset: z.number().int().nullable().describe("Pass as offset to read the rest; null at the end"),
      total: z.number().int(),
      content: z.string(),
      cached: z.boolean(),
    }),
    annotations: SEARCHES,
    async run(args, ctx) {
      const read = await readDocument(args.url, ctx.signal);
      const { loaded, why } = await tokenizer(ctx);
      let pager: Pager | undefined;
      let note: string | undefined;
      if (loaded) {
        pager = tokenPager(read.text, loaded.model, tokenTableOf(loaded));
        if (!pager) note = `paged by characters (${CHARS_PER_TOKEN} per token): this tokenizer's pieces do not add up to the text`;
      } else note = `paged by characters (${CHARS_PER_TOKEN} per token): no tokenizer (${why})`;
      pager ??= characterPager(read.text);
      if (args.offset > pager.total) {
        throw new ToolError(`offset ${args.offset} is past the end of the page (${pager.total} ${pager.unit}).`, {
          hint: "Use next_offset from the previous call; start at 0.",
        });
      }
      const page = pager.page(args.offset, args.max_tokens);
      const structured = {
        url: args.url,
        final_url: read.final,
        title: read.doc.title,
        byline: read.doc.byline,
        site: read.doc.site,
        published: read.doc.published,
        kind: read.doc.kind,
        extraction: read.doc.extraction,
        unit: pager.unit,
        ...(note ? { unit_note: note } : {}),
        offset: page.offset,
        next_offset: page.nextOffset,
        total: page.total,
        content: page.text,
        cached: read.cached,
      };
      const footer =
        page.nextOffset === null
          ? `[end of page: ${pager.unit} ${page.offset}-${page.total} of ${page.total}]`
          : `[${pager.unit} ${page.offset}-${page.nextOffset} of ${page.total}; more: offset ${page.nextOffset}]`;
      return { structured, text: `${page.text}\n\n${footer}` };
    },
  });

  const searchContext = defineTool({
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
    async run(args, ctx) {
      const found = await search({ query: args.query, language: args.language, timeRange: args.time_range }, ctx.signal);
      if (found.results.length === 0) {
        throw new ToolError(`No results for ${JSON.stringify(args.query)}.`, { hint: "Rephrase the query, or use fewer and more common words.", code: "no_results" });
      }
      const toRead = found.results.slice(0, args.max_pages);
      const reads = await Promise.allSettled(toRead.map((r) => readDocument(r.url, ctx.signal)));
      const passages: Passage[] = [];
      const sources: Source[] = [];
      const failures: Array<{ url: string; reason: string; hint: string | undefined }> = [];
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
      // The engines' snippets stand in for the pages that were not read in full.
      for (const result of found.results) {
        if (!result.snippet.trim() || sources.some((s) => s.url === result.url && s.status === "read")) continue;
        passages.push({ url: result.url, title: result.title, text: result.snippet.trim(), from: "snippet" });
        if (!sources.some((s) => s.url === result.url)) sources.push({ url: result.url, title: result.title, status: "snippet" });
      }
      if (ctx.signal.aborted) throw new ToolError("search_context was cancelled.", { code: "cancelled" });

      const { scores, relevance } = await score(args.query, passages, ctx);
      const { loaded } = await tokenizer(ctx);
      const count = (text: string) => (loaded ? loaded.model.tokenize(text, false).length : Math.ceil(text.length / CHARS_PER_TOKEN));
      // Nothing that shares nothing with the query is packed.
      const ranked = passages
        .map((p, i) => ({ p, s: scores[i]! }))
        .filter(({ s }) => s > 0)
        .sort((a, b) => b.s - a.s);
      const notes = contextNotes(failures, toRead.length, passages.length, ranked.length);
      // The notes come first and count against the budget; a budget too small for all of them keeps the first and
      // the fix, then the first alone.
      const headerOf = (shown: string[]) => `Context for: ${args.query}\n\n${shown.length > 0 ? `${shown.join("\n")}\n\n` : ""}`;
      const fits = (shown: string[]) => count(headerOf(shown)) <= args.max_tokens;
      const shortest = [notes, notes.filter((n) => !n.startsWith("- ")), notes.slice(0, 1), []].find(fits) ?? [];
      const header = headerOf(shortest);
      let chosen = pack(ranked, args.max_tokens - count(header), count);
      // The pieces were counted apart; count the whole and drop the weakest until it fits exactly.
      let text = assemble(header, chosen);
      while (chosen.length > 0 && count(text) > args.max_tokens) {
        chosen = chosen.slice(0, -1);
        text = assemble(header, chosen);
      }
      const numbers = citationNumbers(chosen);
      const structured = {
        query: args.query,
        relevance,
        unit: loaded ? ("tokens" as const) : ("characters/4" as const),
        max_tokens: args.max_tokens,
        used_tokens: count(text),
        passages: chosen.map(({ p, s }) => ({ n: numbers.get(p.url)!, url: p.url, title: p.title, text: p.text, score: Math.round(s * 1e4) / 1e4, from: p.from })),
        sources: sources.map((src) => (numbers.has(src.url) ? { ...src, n: numbers.get(src.url)! } : src)),
        notes,
        instance: found.instance,
        text,
      };
      return { structured, text };
    },
  });

  async function score(query: string, passages: Passage[], ctx: ToolContext): Promise<{ scores: number[]; relevance: string }> {
    if (deps.embeddingEngine.state === "full" && passages.length > 0) {
      try {
        const vectors = await deps.embeddingEngine.withEmbedding(
          async (context, loaded) => {
            // Cut by the model's own tokens to what the context holds (characters would overflow on dense text);
            // the input length counts the BOS/EOS the embedding context adds.
            const contextSize = deps.embeddingEngine.contextSizeFor(loaded);
            const out: number[][] = [];
            for (const text of [query, ...passages.map((p) => `${p.title}\n${p.text}`)]) {
              const over = context.calculateInputLength(text) - (contextSize - 1);
              const input = over > 0 ? loaded.model.tokenize(text).slice(0, -over) : text;
              out.push([...(await context.getEmbeddingFor(input)).vector]);
            }
            return { out, name: loaded.info.name };
          },
          undefined,
          ctx.signal,
        );
        const [q, ...rest] = vectors.out.map(unit);
        return { scores: rest.map((v) => dot(q!, v)), relevance: `embeddings (${vectors.name}), cosine similarity` };
      } catch (error) {
        if (ctx.signal.aborted) throw error;
        ctx.log.warn("embedding relevance failed; using BM25", { error: messageOf(error) });
      }
    }
    // The passage's own words: a page title shared by all its passages would lift the unrelated ones with the rest.
    return { scores: bm25(query, passages.map((p) => p.text)), relevance: "lexical (BM25)" };
  }

  return [webSearch, readUrl, searchContext];
}

interface Source {
  url: string;
  title: string;
  status: "read" | "snippet" | "failed";
  reason?: string;
}

type Scored = { p: Passage; s: number };

/** What the context lacks, said at its top: pages that could not be read (why, and the fix), no matching passage. */
function contextNotes(failures: Array<{ url: string; reason: string; hint: string | undefined }>, tried: number, passages: number, matching: number): string[] {
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
function pack(ranked: Scored[], budget: number, count: (text: string) => number): Scored[] {
  const chosen: Scored[] = [];
  const headed = new Set<string>();
  const seen = new Set<string>();
  let used = 0;
  for (const item of ranked) {
    if (seen.has(item.p.text)) continue;
    const head = headed.has(item.p.url) ? 0 : count(sourceBlock(99, item.p, [""]));
    const cost = head + count(item.p.text) + 2;
    if (used + cost > budget) continue;
    chosen.push(item);
    seen.add(item.p.text);
    headed.add(item.p.url);
    used += cost;
  }
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

function renderSearch(r: SearchResponse & { query: string; page: number }): string {
  const lines = [`Results for ${JSON.stringify(r.query)} (page ${r.page}, ${r.instance}${r.cached ? ", cached" : ""}):`];
  if (r.results.length === 0) lines.push("(no results)");
  r.results.forEach((x, i) => {
    const snippet = x.snippet.length > 300 ? `${x.snippet.slice(0, 300)}…` : x.snippet;
    lines.push(`${i + 1}. ${x.title} — ${x.url}`);
    if (snippet) lines.push(`   ${snippet.replace(/\s+/g, " ")}`);
    lines.push(`   [${x.engines.join(", ")}${x.published ? ` · ${x.published.slice(0, 10)}` : ""}]`);
  });
  if (r.answers.length) lines.push(`Answers: ${r.answers.map((a) => a.answer).join(" | ")}`);
  for (const box of r.infoboxes) lines.push(`Infobox ${box.title}: ${box.content.slice(0, 300)}`);
  if (r.suggestions.length) lines.push(`Suggestions: ${r.suggestions.join(", ")}`);
  if (r.corrections.length) lines.push(`Corrections: ${r.corrections.join(", ")}`);
  if (r.unresponsive_engines.length) lines.push(`Unresponsive engines: ${r.unresponsive_engines.map((u) => `${u.engine} (${u.reason})`).join(", ")}`);
  return lines.join("\n");
}
