/**
 * The search family: web_search (SearXNG), read_url (a page's main content as Markdown, paged by tokens) and
 * search_context (search, read the top pages in parallel, pack the most relevant passages into a token budget).
 */
import type { ToolSpec } from "../tool.js";
import { readUrl } from "./read-url.js";
import { searchContext } from "./search-context.js";
import { searchCore, type SearchToolDeps } from "./shared.js";
import { webSearch } from "./web-search.js";

export type { SearchToolDeps } from "./shared.js";

export function searchTools(deps: SearchToolDeps): ToolSpec[] {
  const core = searchCore(deps);
  return [webSearch, readUrl, searchContext].map((define) => define(core));
}
