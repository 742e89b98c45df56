/**
 * What the search tools share: their dependencies, the search (timed for /metrics), the page reader with its cache,
 * the tokenizer for budgets, and the fields of a search.
 */
import { z } from "zod";
import { span } from "../tracing.js";
import { TtlCache } from "../cache.js";
import { messageOf } from "../errors.js";
import type { Engine, Tokenizer } from "../llm/engine.js";
import { callOptions } from "../progress.js";
import type { Telemetry } from "../telemetry.js";
import type { ToolContext } from "../tool.js";
import type { Document } from "./extract.js";
import type { SearchRuntime } from "./runtime.js";
import type { SearchParams, SearchResponse } from "./searxng.js";

export interface SearchToolDeps {
  /** The SearXNG client, page fetcher and extractor, created on first use. */
  runtime: () => Promise<SearchRuntime>;
  engine: Engine;
  embeddingEngine: Engine;
  cacheTtlMs: number;
  cacheSize: number;
  telemetry?: Telemetry;
}

export const SEARCHES = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true } as const;

export const SearchFields = {
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

export interface ReadDocument {
  doc: Document;
  /** The page as one Markdown text (header and content). */
  text: string;
  final: string;
  redirects: string[];
  cached: boolean;
}

/** The family's shared state: one page cache for read_url and search_context. */
export interface SearchCore {
  deps: SearchToolDeps;
  search(params: SearchParams, signal: AbortSignal): Promise<SearchResponse>;
  readDocument(url: string, signal: AbortSignal): Promise<ReadDocument>;
  /** The tokenizer for budgets, or why there is none (then characters count, 4 per token). */
  tokenizer(ctx: ToolContext): Promise<{ tokenizer?: Tokenizer; why?: string }>;
}

export function searchCore(deps: SearchToolDeps): SearchCore {
  const docs = new TtlCache<Omit<ReadDocument, "cached">>(deps.cacheSize, deps.cacheTtlMs);
  return {
    deps,
    search(params, signal) {
      return span("search", { "lam.search.backend": "searxng" }, async (s) => {
        const { searx } = await deps.runtime();
        const started = performance.now();
        try {
          const response = await searx.search(params, signal);
          deps.telemetry?.emit({ type: "search", outcome: response.cached ? "cached" : "ok", ms: performance.now() - started });
          s.set({ "lam.search.results": response.results.length, "lam.cached": response.cached === true });
          return response;
        } catch (error) {
          deps.telemetry?.emit({ type: "search", outcome: "error", ms: performance.now() - started });
          throw error;
        }
      });
    },
    readDocument(url, signal) {
      // The span says how the fetch went, never which page (an argument's value).
      return span("page.fetch", {}, async (s) => {
        const cached = docs.get(url);
        if (cached) {
          s.set({ "lam.cached": true });
          return { ...cached, cached: true };
        }
        const { fetcher, extract, render } = await deps.runtime();
        const page = await fetcher.fetch(url, signal);
        const doc = extract(page);
        const entry = { doc, text: render(doc), final: page.url, redirects: page.redirects };
        docs.set(url, entry);
        s.set({ "lam.cached": false, "lam.page.redirects": page.redirects.length, "lam.page.chars": entry.text.length });
        return { ...entry, cached: false };
      });
    },
    async tokenizer(ctx) {
      // Reading a page never fails for want of a tokenizer: a model server that is down means counting characters.
      try {
        if (!(await deps.engine.capabilities(callOptions(ctx))).tokenize) return { why: "the model backend has no tokenizer" };
        return { tokenizer: await deps.engine.tokenizer(callOptions(ctx)) };
      } catch (error) {
        if (ctx.signal.aborted) throw error;
        return { why: messageOf(error).split("\n")[0] };
      }
    },
  };
}
