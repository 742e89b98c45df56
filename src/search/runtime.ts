/**
 * What the search tools need at run time, created on first use: undici, Readability, linkedom and turndown are
 * not loaded at start-up (they would slow every start by tens of milliseconds).
 */
import type { Config } from "../config.js";
import { extract, render } from "./extract.js";
import { PageFetcher } from "./fetch.js";
import { SearxClient } from "./searxng.js";

export interface SearchRuntime {
  searx: SearxClient;
  fetcher: PageFetcher;
  extract: typeof extract;
  render: typeof render;
  close(): Promise<void>;
}

export function createSearchRuntime(config: Config): SearchRuntime {
  const searx = new SearxClient({
    urls: config.searxngUrl,
    timeoutMs: config.searchTimeoutMs,
    headers: config.searchHeaders,
    cacheTtlMs: config.searchCacheTtlMs,
    cacheSize: config.searchCacheSize,
  });
  const fetcher = new PageFetcher({ allow: config.fetchAllow, timeoutMs: config.fetchTimeoutMs, maxBytes: config.fetchMaxBytes });
  return {
    searx,
    fetcher,
    extract,
    render,
    async close() {
      await searx.close();
      await fetcher.close();
    },
  };
}
