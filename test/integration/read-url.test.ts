/**
 * read_url and search_context against the fixture web on 127.0.0.1 (admitted explicitly with --fetch-allow, as
 * loopback is refused by default) and the real searx.
 */
import { afterAll, describe, expect, inject, test } from "vitest";
import { ARTICLE_AUTHOR, ARTICLE_TITLE, FACTS_ANSWER, FACTS_UNRELATED, longText } from "../helpers/web-fixture.js";
import { connect, sharedServices } from "../helpers/harness.js";

interface Read {
  url: string;
  final_url: string;
  title: string;
  byline: string | null;
  site: string | null;
  published: string | null;
  kind: string;
  extraction: string;
  unit: "tokens" | "characters";
  unit_note?: string;
  offset: number;
  next_offset: number | null;
  total: number;
  content: string;
  cached: boolean;
}

const web = () => inject("webUrl");
const allow = { fetchAllow: "127.0.0.1" };
/** Services shared by the tests with the same settings (a model load and a search runtime each, not one per test). */
const shared = sharedServices();
afterAll(() => shared.close());

describe("read_url", () => {
  test("extracts the article as Markdown: title, byline, headings, absolute links and tables; no navigation or ads", async () => {
    await using h = await shared.connect(allow);
    const read = await h.ok<Read>("read_url", { url: `${web()}/pages/article.html` });
    expect(read).toMatchObject({ title: ARTICLE_TITLE, kind: "html", extraction: "readability", unit: "tokens", offset: 0, next_offset: null });
    expect(read.byline).toContain(ARTICLE_AUTHOR);
    expect(read.site).toBe("Camelid Weekly");
    expect(read.content).toMatch(new RegExp(`^# ${ARTICLE_TITLE}\n`));
    expect(read.content).toContain(`Source: ${web()}/pages/article.html`);
    expect(read.content).toContain("## Pack animals of the high plateau");
    expect(read.content).toContain(`[caravan notes](${web()}/pages/caravans.html)`);
    expect(read.content).toContain("[Andes survey](https://example.org/andes)");
    expect(read.content).toMatch(/\| Animal \| Weight \(kg\) \|/);
    expect(read.content).toContain("Llamas are domesticated South American camelids");
    for (const junk of ["SUNGLASSES", "Subscribe", "Log in", "Privacy", "Ten facts about vicuñas"]) expect(read.content).not.toContain(junk);
  });

  test("token paging resumes exactly where it stopped; pages fit the budget and join into the whole", async () => {
    await using h = await shared.connect(allow);
    const whole = await h.ok<Read>("read_url", { url: `${web()}/pages/long.html`, max_tokens: 100_000 });
    expect(whole.next_offset).toBeNull();
    expect(whole.content).toContain(longText().split("\n\n")[59]!);
    const pages: Read[] = [];
    let offset: number | null = 0;
    while (offset !== null && pages.length < 1000) {
      const page: Read = await h.ok<Read>("read_url", { url: `${web()}/pages/long.html`, max_tokens: 64, offset });
      pages.push(page);
      offset = page.next_offset;
    }
    expect(pages.length).toBeGreaterThan(5);
    expect(pages.map((p) => p.content).join("")).toBe(whole.content);
    expect(pages[1]!.offset).toBe(pages[0]!.next_offset);
    expect(pages.every((p) => p.total === whole.total && p.unit === "tokens")).toBe(true);
    const counts = await h.ok<{ counts: number[] }>("count_tokens", { texts: pages.map((p) => p.content) });
    for (const n of counts.counts) expect(n).toBeLessThanOrEqual(64);
    // No page splits a multi-byte character.
    for (const p of pages) expect(p.content).not.toContain("\uFFFD");
    // Later pages come from the page cache: the same document, so offsets stay valid.
    expect(pages.at(-1)!.cached).toBe(true);
  });

  test("plain text, JSON and Markdown are read; other types are refused with what is read", async () => {
    await using h = await shared.connect(allow);
    const text = await h.ok<Read>("read_url", { url: `${web()}/pages/plain.txt` });
    expect(text.kind).toBe("text");
    expect(text.content).toContain("Llamas hum when curious.");
    const json = await h.ok<Read>("read_url", { url: `${web()}/pages/data.json` });
    expect(json.kind).toBe("json");
    expect(json.content).toContain('"animal": "llama"');
    const md = await h.ok<Read>("read_url", { url: `${web()}/pages/readme.md` });
    expect(md).toMatchObject({ kind: "markdown", title: "Llama care" });
    const png = await h.fails("read_url", { url: `${web()}/pages/image.png` });
    expect(png).toMatch(/is image\/png, which read_url cannot read[\s\S]*HTML, plain text, Markdown and JSON/);
  });

  test("loopback, private and metadata addresses are refused unless allowed, and the refusal names the setting", async () => {
    await using h = await connect();
    const loopback = await h.fails("read_url", { url: `${web()}/pages/article.html` });
    expect(loopback).toMatch(/refused http:\/\/127\.0\.0\.1:\d+\/pages\/article\.html: 127\.0\.0\.1 is a loopback address/);
    expect(loopback).toMatch(/--fetch-allow \/ LAM_FETCH_ALLOW/);
    // A host name is checked on the addresses it resolves to.
    const named = await h.fails("read_url", { url: web().replace("127.0.0.1", "localhost") + "/pages/article.html" });
    expect(named).toMatch(/is a loopback address/);
    expect(await h.fails("read_url", { url: "http://169.254.169.254/latest/meta-data/" })).toMatch(/link-local address \(cloud metadata/);
    expect(await h.fails("read_url", { url: "http://10.0.0.7/" })).toMatch(/10\.0\.0\.7 is a private address/);
    expect(await h.fails("read_url", { url: "http://[::1]:9/" })).toMatch(/::1 is a loopback address/);
    // IPv6 spellings that carry a loopback, private or metadata IPv4 address.
    for (const host of ["[::127.0.0.1]", "[::7f00:1]", "[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:a9fe:a9fe::]", "[2001:0:808:808::80ff:fffe]", "[::ffff:0:a00:7]"]) {
      expect([host, await h.fails("read_url", { url: `http://${host}:9/` })]).toEqual([host, expect.stringMatching(/is (a loopback|a link-local|a private) address/)]);
    }
    expect(await h.fails("read_url", { url: "file:///etc/passwd" })).toMatch(/refuses file: URLs: only http and https/);
    expect(await h.fails("read_url", { url: "not a url" })).toMatch(/is not a valid URL/);
  });

  test("redirects are followed and re-checked at every hop", async () => {
    await using h = await shared.connect(allow);
    const ok = await h.ok<Read>("read_url", { url: `${web()}/pages/redirect-ok` });
    expect(ok.final_url).toBe(`${web()}/pages/article.html`);
    expect(ok.title).toBe(ARTICLE_TITLE);
    const metadata = await h.fails("read_url", { url: `${web()}/pages/redirect-metadata` });
    expect(metadata).toMatch(/refused http:\/\/169\.254\.169\.254\/latest\/meta-data\/ \(a redirect from .*redirect-metadata\): 169\.254\.169\.254 is a link-local/);
    expect(await h.fails("read_url", { url: `${web()}/pages/redirect-private` })).toMatch(/10\.1\.2\.3 is a private address/);
    expect(await h.fails("read_url", { url: `${web()}/pages/redirect-file` })).toMatch(/redirected to file: URLs/);
    expect(await h.fails("read_url", { url: `${web()}/pages/redirect-loop` })).toMatch(/redirected more than 5 times/);
  });

  test("size cap, timeout and HTTP errors", async () => {
    await using h = await connect({ ...allow, fetchMaxBytes: 100 * 1024, fetchTimeoutMs: 400 });
    expect(await h.fails("read_url", { url: `${web()}/pages/big.html` })).toMatch(/larger than 102400 bytes[\s\S]*--fetch-max-bytes/);
    expect(await h.fails("read_url", { url: `${web()}/pages/slow.html` })).toMatch(/did not answer within 400 ms/);
    expect(await h.fails("read_url", { url: `${web()}/pages/missing.html` })).toMatch(/answered 404: Not found/);
    expect(await h.fails("read_url", { url: `${web()}/pages/article.html`, offset: 10_000_000 })).toMatch(/past the end/);
  });

  test("compressed pages are decoded (gzip, x-gzip, deflate either way, br), capped at the decoded size", async () => {
    await using h = await connect({ ...allow, fetchMaxBytes: 1024 * 1024 });
    const plain = await h.ok<Read>("read_url", { url: `${web()}/pages/article.html` });
    for (const page of ["gzip", "xgzip", "deflate", "deflate-raw", "br"]) {
      const read = await h.ok<Read>("read_url", { url: `${web()}/pages/${page}.html` });
      expect([page, read.title, read.content.replace(/Source: \S+/, "")]).toEqual([page, ARTICLE_TITLE, plain.content.replace(/Source: \S+/, "")]);
    }
    // 32 MB of zeros in ~32 KB: stopped at the cap (1 MB) of what it decodes to, the server unharmed.
    for (const bomb of ["gzip-bomb", "br-bomb"]) {
      expect(await h.fails("read_url", { url: `${web()}/pages/${bomb}.html` })).toMatch(/larger than 1048576 bytes[\s\S]*--fetch-max-bytes/);
    }
    expect(await h.fails("read_url", { url: `${web()}/pages/corrupt-gzip.html` })).toMatch(/sent a body that does not decode as gzip: Z_DATA_ERROR[\s\S]*corrupt compressed page/);
    expect(await h.fails("read_url", { url: `${web()}/pages/zstd.html` })).toMatch(/encoded as "zstd", which read_url cannot decode[\s\S]*gzip, deflate and br/);
  });

  test("binary content labelled as text is refused clearly, naming what it is", async () => {
    await using h = await shared.connect(allow);
    expect(await h.fails("read_url", { url: `${web()}/pages/binary.html` })).toMatch(/is labelled text\/html but holds binary data, which read_url cannot read as text/);
    expect(await h.fails("read_url", { url: `${web()}/pages/pdf.html` })).toMatch(/labelled text\/html but holds a PDF document/);
    expect(await h.fails("read_url", { url: `${web()}/pages/gzip-unlabelled.txt` })).toMatch(/holds gzip-compressed data sent without Content-Encoding/);
    for (const url of ["binary.html", "pdf.html"]) expect(await h.fails("read_url", { url: `${web()}/pages/${url}` })).not.toMatch(/internal error/);
  });

  test("a redirect to an invalid address is the site's fault, said plainly", async () => {
    await using h = await shared.connect(allow);
    for (const page of ["redirect-invalid", "redirect-bad-port"]) {
      const text = await h.fails("read_url", { url: `${web()}/pages/${page}` });
      expect(text).toMatch(/redirected to an address that is not a valid URL[\s\S]*broken redirect/);
      expect(text).not.toMatch(/internal error/);
    }
  });

  test("without a usable tokenizer, pages are counted in characters and the result says so", async () => {
    await using h = await connect({ ...allow, model: "/nonexistent/model.gguf" });
    const read = await h.ok<Read>("read_url", { url: `${web()}/pages/long.html`, max_tokens: 100 });
    expect(read.unit).toBe("characters");
    expect(read.unit_note).toMatch(/4 per token.*does not exist/);
    expect(read.content.length).toBe(400);
    expect(read.next_offset).toBe(400);
  });
});

describe("search_context", () => {
  interface Context {
    relevance: string;
    unit: string;
    max_tokens: number;
    used_tokens: number;
    passages: Array<{ n: number; url: string; title: string; text: string; score: number; from: string }>;
    sources: Array<{ url: string; title: string; status: string; reason?: string; n?: number }>;
    notes: string[];
    text: string;
  }

  test("packs the most relevant passages within the budget, each cited with its URL", async () => {
    await using h = await shared.connect({ ...allow, searxngUrl: inject("searxUrl") });
    const ctx = await h.ok<Context>("search_context", { query: "llama wool fibre", max_tokens: 1200 });
    expect(ctx.relevance).toBe("lexical (BM25)");
    expect(ctx.unit).toBe("tokens");
    const { total } = await h.ok<{ total: number }>("count_tokens", { texts: [ctx.text] });
    expect(total).toBeLessThanOrEqual(1200);
    expect(ctx.used_tokens).toBe(total);
    expect(ctx.passages.length).toBeGreaterThan(0);
    for (const p of ctx.passages) {
      expect(ctx.text).toContain(`[${p.n}] ${p.title} — ${p.url}\n`);
      expect(ctx.text).toContain(p.text);
      expect(ctx.sources.map((s) => s.url)).toContain(p.url);
    }
    // The best passage is the article's section about wool and fibre.
    expect(ctx.passages[0]!.text).toMatch(/fibre/i);
    expect(ctx.passages.some((p) => p.from === "page")).toBe(true);
    expect(ctx.sources.filter((s) => s.status === "read").length).toBe(3);
    // A bigger budget holds more.
    const more = await h.ok<Context>("search_context", { query: "llama wool fibre", max_tokens: 6000 });
    expect(more.passages.length).toBeGreaterThan(ctx.passages.length);
  });

  test("pages that cannot be read are named in the text, with why and the fix; their snippets still count", async () => {
    await using h = await connect({ searxngUrl: inject("searxUrl") }); // no --fetch-allow: every page is refused
    const ctx = await h.ok<Context>("search_context", { query: "llamas", max_tokens: 1500 });
    const failed = ctx.sources.filter((s) => s.status === "failed");
    expect(failed.length).toBe(3);
    expect(failed[0]!.reason).toMatch(/loopback address/);
    expect(ctx.passages.every((p) => p.from === "snippet")).toBe(true);
    expect(ctx.passages.length).toBeGreaterThan(0);
    // The text a model reads says it, before the passages.
    expect(ctx.text).toMatch(/^Context for: llamas\n\nNote: 3 of 3 pages could not be read, so what follows comes from search snippets only:\n/);
    for (const f of failed) expect(ctx.text).toContain(`- ${f.reason}`);
    expect(ctx.text).toMatch(/\nFix: read_url reaches only public addresses\. .*--fetch-allow \/ LAM_FETCH_ALLOW/);
    expect(ctx.notes.length).toBeGreaterThan(3);
    const { total } = await h.ok<{ total: number }>("count_tokens", { texts: [ctx.text] });
    expect(total).toBeLessThanOrEqual(1500);
    // A budget too small for every note keeps the first one and the fix, still within the budget.
    const small = await h.ok<Context>("search_context", { query: "llamas", max_tokens: 300 });
    expect(small.text).toMatch(/^Context for: llamas\n\nNote: 3 of 3 pages could not be read/);
    expect((await h.ok<{ total: number }>("count_tokens", { texts: [small.text] })).total).toBeLessThanOrEqual(300);
  });

  test("the passage that answers comes first; nothing unrelated is packed; one citation number per source", async () => {
    await using h = await shared.connect({ ...allow, searxngUrl: inject("searxUrl") });
    const ctx = await h.ok<Context>("search_context", { query: "how much does an adult llama weigh", max_tokens: 4000 });
    expect(ctx.passages[0]!.text).toBe(FACTS_ANSWER);
    expect(ctx.passages[0]!.n).toBe(1);
    expect(ctx.passages.map((p) => p.text)).not.toContain(FACTS_UNRELATED);
    expect(ctx.text).not.toContain(FACTS_UNRELATED);
    for (const p of ctx.passages) expect(p.score).toBeGreaterThan(0);
    // Passages of one source share its number; each source's [n] line appears once, numbered in order.
    const byUrl = new Map<string, Set<number>>();
    for (const p of ctx.passages) byUrl.set(p.url, (byUrl.get(p.url) ?? new Set()).add(p.n));
    for (const numbers of byUrl.values()) expect(numbers.size).toBe(1);
    const numbers = [...byUrl.values()].map((n) => [...n][0]!);
    expect(new Set(numbers).size).toBe(byUrl.size);
    expect([...numbers].sort()).toEqual(numbers.map((_, i) => i + 1));
    for (const [url, n] of byUrl) {
      const line = `[${[...n][0]!}] `;
      expect(ctx.text.split("\n").filter((l) => l.startsWith(line) && l.endsWith(` — ${url}`))).toHaveLength(1);
      expect(ctx.sources.find((s) => s.url === url)!.n).toBe([...n][0]);
    }
    expect(ctx.passages.filter((p) => p.url.endsWith("/facts.html")).length).toBeGreaterThan(1);
  });

  test("with the model loaded, relevance uses embeddings and says so", async () => {
    // Its own services: with the full model loaded, the shared ones would rank by embeddings from then on.
    await using h = await connect({ ...allow, searxngUrl: inject("searxUrl") });
    await h.ok("embed", { texts: ["load the model"] });
    const ctx = await h.ok<Context>("search_context", { query: "llama wool", max_tokens: 400 });
    expect(ctx.relevance).toMatch(/^embeddings \(lam-tiny-test\)/);
  });

  test("dense text is cut by tokens for its embedding, so relevance stays on embeddings", async () => {
    await using h = await connect({ ...allow, searxngUrl: inject("searxUrl"), contextSize: 256 });
    await h.ok("embed", { texts: ["load the model"] });
    const ctx = await h.ok<Context>("search_context", { query: "dense llama", max_tokens: 4000 });
    expect(ctx.relevance).toMatch(/^embeddings \(lam-tiny-test\)/);
    expect(ctx.sources.find((s) => s.url.endsWith("/dense.html"))!.status).toBe("read");
  });

  test("no results is a clear error", async () => {
    await using h = await shared.connect({ ...allow, searxngUrl: inject("searxUrl") });
    expect(await h.fails("search_context", { query: "nothing at all", max_tokens: 300 })).toMatch(/No results for "nothing at all"/);
  });
});
