/** web_search: a search through the configured SearXNG instance(s). */
import { z } from "zod";
import { defineTool } from "../tool.js";
import type { SearchResponse } from "./searxng.js";
import { SEARCHES, SearchFields, type SearchCore } from "./shared.js";

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

export const webSearch = (core: SearchCore) =>
defineTool({
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
    const response = await core.search(
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
