/**
 * web_search against a real searx on 127.0.0.1 (its engines answer from the fixture web), and every failure mode
 * against fake instances of the test's own.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { describe, expect, inject, test } from "vitest";
import { ARTICLE_TITLE } from "../helpers/web-fixture.js";
import { closedPort, startFixture } from "../helpers/http-fixture.js";
import { connect } from "../helpers/harness.js";

interface Found {
  results: Array<{ title: string; url: string; snippet: string; engines: string[]; score: number; published: string | null; category: string }>;
  answers: Array<{ answer: string; url: string | null }>;
  suggestions: string[];
  corrections: string[];
  infoboxes: unknown[];
  unresponsive_engines: Array<{ engine: string; reason: string }>;
  number_of_results: number | null;
  instance: string;
  cached: boolean;
}

const searx = () => inject("searxUrl");
const web = () => inject("webUrl");

describe("web_search on a real searx", () => {
  test("merges results from the JSON and HTML engines, ranked, with a compact text rendering", async () => {
    await using h = await connect({ searxngUrl: searx() });
    const result = await h.call("web_search", { query: "llamas" });
    expect(result.isError).toBeFalsy();
    const found = result.structuredContent as unknown as Found;
    expect(found.instance).toBe(`${searx()}/`);
    const article = found.results.find((r) => r.url === `${web()}/pages/article.html`)!;
    expect(article.title).toBe(ARTICLE_TITLE);
    expect(new Set(article.engines)).toEqual(new Set(["fixturejson", "fixturehtml"]));
    // Found by both engines, it ranks first.
    expect(found.results[0]!.url).toBe(article.url);
    const urls = found.results.map((r) => r.url);
    expect(urls).toContain(`${web()}/pages/json-only.html`);
    expect(urls).toContain(`${web()}/pages/html-only.html`);
    for (const r of found.results) {
      expect(r.category).toBe("general");
      expect(r.published).toBeNull();
    }
    expect(found.unresponsive_engines).toEqual([]);
    const text = (result.content[0] as { text: string }).text;
    expect(text).toMatch(/^Results for "llamas" \(page 1, /);
    expect(text).toContain(`1. ${ARTICLE_TITLE} — ${web()}/pages/article.html`);
  });

  test("paging returns the next page's results", async () => {
    await using h = await connect({ searxngUrl: searx() });
    const one = await h.ok<Found>("web_search", { query: "paging llamas" });
    const two = await h.ok<Found>("web_search", { query: "paging llamas", page: 2 });
    expect(two.results.map((r) => r.url).sort()).toEqual(
      [`${web()}/pages/json-p2-a.html`, `${web()}/pages/json-p2-b.html`, `${web()}/pages/html-p2.html`].sort(),
    );
    expect(one.results.some((r) => two.results.some((t) => t.url === r.url))).toBe(false);
  });

  test("language, time range and safesearch reach the engines", async () => {
    await using h = await connect({ searxngUrl: searx() });
    const found = await h.ok<Found>("web_search", { query: "llamas params", language: "fr", time_range: "week", safesearch: 2 });
    const article = found.results.find((r) => r.url.endsWith("/pages/article.html"))!;
    expect(article.snippet).toContain("[lang=fr tr=week safe=2]");
    // The JSON engine supports neither a language nor a time range, so searx leaves it out.
    expect(article.engines).toEqual(["fixturehtml"]);
  });

  test("engines that time out or fail are reported as unresponsive", async () => {
    await using h = await connect({ searxngUrl: searx() });
    const slow = await h.ok<Found>("web_search", { query: "llamas", categories: ["slow"] });
    expect(slow.results).toEqual([]);
    expect(slow.unresponsive_engines).toEqual([{ engine: "fixtureslow", reason: "timeout" }]);
    const broken = await h.ok<Found>("web_search", { query: "llamas", categories: ["broken"] });
    expect(broken.unresponsive_engines).toEqual([{ engine: "fixturefail", reason: "HTTP error" }]);
    const text = await h.call("web_search", { query: "llamas", categories: ["broken", "general"] });
    expect((text.content[0] as { text: string }).text).toMatch(/Unresponsive engines: fixturefail \(HTTP error\)/);
  });

  test("max_results trims the list; a repeated search comes from the cache", async () => {
    await using h = await connect({ searxngUrl: searx() });
    const first = await h.ok<Found>("web_search", { query: "cache llamas", max_results: 2 });
    expect(first.results).toHaveLength(2);
    expect(first.cached).toBe(false);
    const second = await h.ok<Found>("web_search", { query: "cache llamas", max_results: 2 });
    expect(second.cached).toBe(true);
    expect(second.results).toEqual(first.results);
  });

  test("bad arguments are refused before any request, naming the field", async () => {
    await using h = await connect({ searxngUrl: searx() });
    expect(await h.fails("web_search", { query: "x", language: "french!" })).toMatch(/language: a language code like en/);
    expect(await h.fails("web_search", { query: "x", time_range: "decade" })).toMatch(/time_range/);
    expect(await h.fails("web_search", { query: "x", safesearch: 5 })).toMatch(/safesearch/);
    expect(await h.fails("web_search", { query: "x", page: 0 })).toMatch(/page: .*>=1/);
    expect(await h.fails("web_search", { query: "" })).toMatch(/query/);
  });
});

/** A fake SearXNG instance: the handler answers /search; every request is recorded. */
async function fakeInstance(handler: (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>) {
  return startFixture({ "/search": handler });
}

const emptyAnswer = { query: "q", results: [], answers: [], corrections: [], infoboxes: [], suggestions: [], unresponsive_engines: [] };

describe("web_search failures say what to do, and never show secrets", () => {
  test("a stopped instance: connection refused, with the URL and 'is SearXNG running?'", async () => {
    const port = await closedPort();
    await using h = await connect({ searxngUrl: `http://admin:hunter2@127.0.0.1:${port}` });
    const text = await h.fails("web_search", { query: "llamas" });
    expect(text).toContain(`SearXNG at http://127.0.0.1:${port}/ refused the connection: is SearXNG running?`);
    expect(text).toMatch(/--searxng-url \/ SEARXNG_URL/);
    expect(text).not.toMatch(/hunter2|admin/);
  });

  test.each([
    [403, "text/html", "<h1>Forbidden</h1>", /refused format=json \(403 Forbidden\)[\s\S]*add json to search\.formats/i],
    [429, "text/plain", "Too Many Requests", /rate-limited the request \(429[\s\S]*limiter/],
    [200, "text/html", "<html><body>Login to the proxy</body></html>", /answered text\/html instead of JSON: Login to the proxy/],
    [200, "application/json", "{\"results\": [", /answered malformed JSON/],
    [200, "application/json", "{\"hello\": \"world\"}", /JSON that is not a SearXNG search result \(results: /],
    [500, "text/plain", "Internal Server Error", /failed with 500: Internal Server Error/],
    [400, "text/plain", "Invalid language: xx", /rejected the search with 400: Invalid language: xx[\s\S]*Check the arguments/],
  ])("HTTP %i %s", async (status, type, body, expected) => {
    await using fake = await fakeInstance((_req, res) => void res.writeHead(status, { "content-type": type }).end(body));
    await using h = await connect({ searxngUrl: fake.url, searchHeaders: JSON.stringify({ "X-Api-Key": "topsecret-key" }) });
    const text = await h.fails("web_search", { query: "llamas" });
    expect(text).toMatch(expected);
    expect(text).not.toContain("topsecret-key");
    // The server still serves the next call.
    expect((await h.client.listTools()).tools.length).toBeGreaterThan(0);
  });

  test("a timeout names the limit and the setting", async () => {
    await using fake = await fakeInstance(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 2000));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(emptyAnswer));
    });
    await using h = await connect({ searxngUrl: fake.url, searchTimeoutMs: 300 });
    expect(await h.fails("web_search", { query: "llamas" })).toMatch(/did not answer within 300 ms[\s\S]*--search-timeout-ms/);
  });

  test("instances are tried in order: a dead first one falls over to the next", async () => {
    const port = await closedPort();
    await using h = await connect({ searxngUrl: `http://127.0.0.1:${port},${searx()}` });
    const found = await h.ok<Found>("web_search", { query: "failover llamas" });
    expect(found.instance).toBe(`${searx()}/`);
    expect(found.results.length).toBeGreaterThan(0);
  });

  test("a 400 is the request's fault: the next instance is not asked; all failures are listed when all fail", async () => {
    let second = 0;
    await using bad = await fakeInstance((_req, res) => void res.writeHead(400, { "content-type": "text/plain" }).end("bad query"));
    await using other = await fakeInstance((_req, res) => {
      second++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(emptyAnswer));
    });
    await using h = await connect({ searxngUrl: `${bad.url},${other.url}` });
    expect(await h.fails("web_search", { query: "x" })).toMatch(/rejected the search with 400/);
    expect(second).toBe(0);
    const port = await closedPort();
    await using forbidden = await fakeInstance((_req, res) => void res.writeHead(403).end());
    await using h2 = await connect({ searxngUrl: `http://127.0.0.1:${port},${forbidden.url}` });
    const text = await h2.fails("web_search", { query: "x" });
    expect(text).toMatch(/^All 2 SearXNG instances failed:\n- .*refused the connection.*\n- .*refused format=json/);
  });

  test("basic auth comes from the URL's userinfo; requests carry Accept-Language and an honest User-Agent", async () => {
    const seen: IncomingMessage["headers"][] = [];
    await using fake = await fakeInstance((req, res) => {
      seen.push(req.headers);
      if (req.headers.authorization !== `Basic ${Buffer.from("lam:s3cret pass").toString("base64")}`) {
        res.writeHead(401).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(emptyAnswer));
    });
    const withAuth = fake.url.replace("http://", "http://lam:s3cret%20pass@");
    await using h = await connect({ searxngUrl: withAuth });
    const found = await h.ok<Found>("web_search", { query: "llamas", language: "fr-FR" });
    expect(found.instance).toBe(`${fake.url}/`);
    expect(seen[0]!["user-agent"]).toMatch(/^lam-mcp\/\d+\.\d+\.\d+ /);
    expect(seen[0]!["accept-language"]).toBe("fr-FR,fr;q=0.9,en;q=0.5");
    await using wrong = await connect({ searxngUrl: fake.url.replace("http://", "http://lam:wrong@") });
    const text = await wrong.fails("web_search", { query: "llamas" });
    expect(text).toMatch(/requires authentication \(401\)/);
    expect(text).not.toMatch(/wrong|lam:/);
  });

  test("the cache answers a repeated identical search without a request, and a different one with a request", async () => {
    let hits = 0;
    await using fake = await fakeInstance((_req, res) => {
      hits++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(emptyAnswer));
    });
    await using h = await connect({ searxngUrl: fake.url });
    await h.ok("web_search", { query: "one" });
    await h.ok("web_search", { query: "one" });
    expect(hits).toBe(1);
    await h.ok("web_search", { query: "one", page: 2 });
    expect(hits).toBe(2);
    await using noCache = await connect({ searxngUrl: fake.url, searchCacheTtlMs: 0 });
    await noCache.ok("web_search", { query: "one" });
    await noCache.ok("web_search", { query: "one" });
    expect(hits).toBe(4);
  });

  test("current SearXNG JSON: answers as objects, ISO dates, no number_of_results", async () => {
    await using fake = await fakeInstance((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          query: "llama",
          results: [
            { url: "https://a.example/1", title: "A", content: "first", engine: "duckduckgo", engines: ["duckduckgo", "brave"], score: 2.5, category: "news", publishedDate: "2026-05-01T10:30:00", template: "default.html", thumbnail: "" },
            { url: "https://a.example/2", title: "B", content: null, engine: "brave", engines: ["brave"], score: 1, category: "general", publishedDate: null },
          ],
          answers: [{ answer: "A llama is a camelid.", url: "https://a.example/ans", engine: "wikipedia" }],
          corrections: [],
          infoboxes: [{ infobox: "Llama", id: "x", content: "Domesticated camelid", urls: [{ title: "Wikipedia", url: "https://en.wikipedia.org/wiki/Llama" }], attributes: [{ label: "Class", value: "Mammalia" }], engine: "wikipedia" }],
          suggestions: ["llama wool"],
          unresponsive_engines: [["google", "Suspended: access denied"]],
        }),
      );
    });
    await using h = await connect({ searxngUrl: fake.url });
    const found = await h.ok<Found>("web_search", { query: "llama" });
    expect(found.results[0]).toEqual({
      title: "A",
      url: "https://a.example/1",
      snippet: "first",
      engines: ["duckduckgo", "brave"],
      score: 2.5,
      published: "2026-05-01T10:30:00.000Z",
      category: "news",
    });
    expect(found.results[1]!.snippet).toBe("");
    expect(found.answers).toEqual([{ answer: "A llama is a camelid.", url: "https://a.example/ans" }]);
    expect(found.number_of_results).toBeNull();
    expect(found.infoboxes).toEqual([
      { title: "Llama", content: "Domesticated camelid", urls: [{ title: "Wikipedia", url: "https://en.wikipedia.org/wiki/Llama" }], attributes: [{ label: "Class", value: "Mammalia" }], engine: "wikipedia" },
    ]);
    expect(found.unresponsive_engines).toEqual([{ engine: "google", reason: "Suspended: access denied" }]);
  });

  test("searx 1.x JSON: answers as strings, a localized publishedDate with a pubdate", async () => {
    await using fake = await fakeInstance((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          ...emptyAnswer,
          number_of_results: 1234,
          answers: ["42"],
          results: [{ url: "https://b.example/", title: "Old", content: "news", engine: "bing news", engines: ["bing news"], score: 1, category: "news", publishedDate: "29 nov. 2026", pubdate: "2026-11-29 08:15:00+0100", pretty_url: "b.example" }],
        }),
      );
    });
    await using h = await connect({ searxngUrl: fake.url });
    const found = await h.ok<Found>("web_search", { query: "llama" });
    expect(found.results[0]!.published).toBe("2026-11-29T07:15:00.000Z");
    expect(found.answers).toEqual([{ answer: "42", url: null }]);
    expect(found.number_of_results).toBe(1234);
  });

  test("without a configured instance the error says how to configure one", async () => {
    await using h = await connect();
    expect(await h.fails("web_search", { query: "llamas" })).toMatch(/No SearXNG instance is configured[\s\S]*--searxng-url \/ SEARXNG_URL/);
  });
});
