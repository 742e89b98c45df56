/**
 * What the search tools need at run time, created on first use: undici, Readability, linkedom and turndown are
 * not loaded at start-up (they would slow every start by tens of milliseconds).
 */
import { extract, render } from "./extract.js";
import { PageFetcher, type FetchOptions } from "./fetch.js";
import { SearxClient, type SearxOptions } from "./searxng.js";

export interface SearchRuntime {
  searx: SearxClient;
  fetcher: PageFetcher;
  extract: typeof extract;
  render: typeof render;
  close(): Promise<void>;
}

export function createSearchRuntime(options: { searx: SearxOptions; fetch: FetchOptions }): SearchRuntime {
  const searx = new SearxClient(options.searx);
  const fetcher = new PageFetcher(options.fetch);
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
