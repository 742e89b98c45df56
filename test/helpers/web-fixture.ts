/**
 * The tests' own little web: what searx's generic engines fetch (/engine/...) and the pages results point at
 * (/pages/...). Everything is served on 127.0.0.1 by startFixture.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { brotliCompressSync, constants as zlibConstants, deflateRawSync, deflateSync, gzipSync } from "node:zlib";
import type { Route } from "./http-fixture.js";

export const ARTICLE_TITLE = "Llamas of the Andes";
export const ARTICLE_AUTHOR = "Ada Lovelace";

function origin(req: IncomingMessage): string {
  return `http://${req.headers.host}`;
}

/** searx's xpath engine URL-encodes the query twice; decoding until stable gives it back. */
function query(url: URL): string {
  let q = url.searchParams.get("q") ?? "";
  for (let i = 0; i < 3 && /%[0-9A-Fa-f]{2}/.test(q); i++) q = decodeURIComponent(q);
  return q;
}

function json(res: ServerResponse, body: unknown, status = 200) {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

function html(res: ServerResponse, body: string, status = 200) {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8" }).end(body);
}

export const ARTICLE_HTML = () => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${ARTICLE_TITLE} | Camelid Weekly</title>
<meta name="author" content="${ARTICLE_AUTHOR}"><meta property="og:site_name" content="Camelid Weekly">
<meta property="article:published_time" content="2026-03-14T09:00:00Z"></head>
<body>
<header><nav><a href="/">Home</a> | <a href="/subscribe">Subscribe</a> | <a href="/login">Log in</a></nav></header>
<div class="ad">BUY CHEAP SUNGLASSES NOW — advertisement</div>
<main><article>
<h1>${ARTICLE_TITLE}</h1>
<p class="byline">By <span class="author">${ARTICLE_AUTHOR}</span></p>
<p>Llamas are domesticated South American camelids, widely used as meat and pack animals by Andean cultures since
the pre-Columbian era. They are social animals and live with others as a herd. Their wool is soft and contains
only a small amount of lanolin.</p>
<h2>Pack animals of the high plateau</h2>
<p>A llama can carry about a quarter of its body weight for several kilometres. Herders on the Altiplano still
lead caravans of llamas between villages, as described in the <a href="/pages/caravans.html">caravan notes</a> and
the <a href="https://example.org/andes">Andes survey</a>.</p>
<h2>Wool and fibre</h2>
<p>Llama fibre is graded by fineness. The undercoat is used for handicrafts and garments, while the coarse outer
guard hair is used for rugs, wall hangings and lead ropes. Alpaca fibre is finer still.</p>
<table><thead><tr><th>Animal</th><th>Weight (kg)</th></tr></thead><tbody><tr><td>Llama</td><td>130–200</td></tr><tr><td>Alpaca</td><td>48–90</td></tr></tbody></table>
<p>Communication between llamas relies on ear positions, body posture and a humming sound; alarm calls warn the
herd of predators such as pumas.</p>
</article></main>
<aside>Related: <a href="/pages/other.html">Ten facts about vicuñas</a></aside>
<footer>© 2026 Camelid Weekly. <a href="/privacy">Privacy</a></footer>
</body></html>`;

/**
 * search_context's ranking fixture: for "how much does an adult llama weigh", FACTS_ANSWER is the passage that
 * answers; the song page repeats "much" and "llama" without saying anything about weight, and FACTS_UNRELATED shares
 * no word with the question at all.
 */
export const FACTS_TITLE = "Llama facts: everything about the llama";
export const FACTS_ANSWER = "An adult llama weighs between 130 and 200 kilograms and stands about 1.8 metres tall at the head; males are usually heavier than females.";
export const FACTS_UNRELATED = "Camelids first appeared in North America some forty million years ago and crossed into South America during the Great American Interchange.";
const FACTS_HTML = `<!doctype html><html><head><title>${FACTS_TITLE}</title></head><body><article><h1>${FACTS_TITLE}</h1>
<p>The llama is a domesticated South American camelid. Llama herds graze the Altiplano, the llama has carried loads for centuries, and llama wool is prized.</p>
<p>${FACTS_UNRELATED}</p>
<p>${FACTS_ANSWER}</p>
<p>Llamas live for about twenty years. A baby llama is called a cria and usually stands within an hour of its birth in the herd.</p>
</article></body></html>`;
const SONG_HTML = `<!doctype html><html><head><title>How much llama is too much llama?</title></head><body><article><h1>The llama song</h1>
<p>How much llama is too much llama? Llama, llama, so much llama: the llama song goes on and on, much to the delight of every llama fan who sings along.</p>
</article></body></html>`;

/** A long page for paging tests: numbered paragraphs with accents, CJK and emoji (multi-byte characters). */
let bomb: Buffer | undefined;
/** 32 MB of zeros, gzipped to ~32 KB: harmless only if the reader stops at its cap (the tests' is 1 MB). */
function GZIP_BOMB(): Buffer {
  bomb ??= gzipSync(Buffer.alloc(32 * 1024 * 1024), { level: 9 });
  return bomb;
}
let brBomb: Buffer | undefined;
function BR_BOMB(): Buffer {
  brBomb ??= brotliCompressSync(Buffer.alloc(32 * 1024 * 1024), { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 4 } });
  return brBomb;
}

export function longText(): string {
  const lines: string[] = [];
  for (let i = 1; i <= 60; i++) {
    lines.push(
      `Paragraph ${i}: the caravan crossed the salar at dawn — café con leche, señora Müller's map, 日本語のメモ ${i}, ` +
        `and a llama emoji 🦙 for luck. The herders counted ${i * 7} animals and wrote the tally in the ledger.`,
    );
  }
  return lines.join("\n\n");
}

const LONG_HTML = () =>
  `<!doctype html><html><head><meta charset="utf-8"><title>The long caravan</title></head><body><article><h1>The long caravan</h1>${longText()
    .split("\n\n")
    .map((p) => `<p>${p}</p>`)
    .join("\n")}</article></body></html>`;

function delay(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

export function fixtureRoutes(): Record<string, Route> {
  return {
    "/engine/json": (req, res, url) => {
      const q = query(url);
      const page = Number(url.searchParams.get("page") ?? "1");
      const base = origin(req);
      if (/nothing/i.test(q)) return json(res, { results: [] });
      if (/dense/i.test(q)) {
        return json(res, { results: [{ url: `${base}/pages/dense.html`, title: "Dense text", content: "Dense llama text." }] });
      }
      if (/weigh/i.test(q)) {
        return json(res, {
          results: [
            { url: `${base}/pages/song.html`, title: "How much llama is too much llama?", content: "The llama song, as much llama as you can take." },
            { url: `${base}/pages/facts.html`, title: FACTS_TITLE, content: "Facts and figures about the llama." },
          ],
        });
      }
      const results =
        page === 1
          ? [
              { url: `${base}/pages/article.html`, title: ARTICLE_TITLE, content: `JSON engine on ${q}: llamas are pack animals of the Andes.` },
              { url: `${base}/pages/json-only.html`, title: "Only in the JSON engine", content: `Guanaco herds and ${q}.` },
              { url: `${base}/pages/plain.txt`, title: "Plain notes", content: "Field notes in plain text." },
            ]
          : [
              { url: `${base}/pages/json-p${page}-a.html`, title: `JSON page ${page} A`, content: `Second page result for ${q}.` },
              { url: `${base}/pages/json-p${page}-b.html`, title: `JSON page ${page} B`, content: `Another result for ${q}.` },
            ];
      json(res, { results });
    },
    "/engine/html": (req, res, url) => {
      const q = query(url);
      const page = Number(url.searchParams.get("page") ?? "1");
      const base = origin(req);
      const params = `lang=${url.searchParams.get("lang") ?? ""} tr=${url.searchParams.get("tr") ?? ""} safe=${url.searchParams.get("safe") ?? ""}`;
      // The ranking and dense-text queries are the JSON engine's alone, so which pages are read does not depend on
      // how searx orders the engines' merged results.
      if (/nothing|weigh|dense/i.test(q)) return html(res, "<html><body></body></html>");
      const items =
        page === 1
          ? [
              [`${base}/pages/article.html`, ARTICLE_TITLE, `HTML engine on ${q} [${params}]: llama wool and fibre.`],
              [`${base}/pages/long.html`, "The long caravan", `A long account of a caravan [${params}].`],
              [`${base}/pages/html-only.html`, "Only in the HTML engine", `Vicuña facts [${params}].`],
            ]
          : [[`${base}/pages/html-p${page}.html`, `HTML page ${page}`, `Page ${page} of the HTML engine [${params}].`]];
      html(
        res,
        `<html><body>${items.map(([u, t, c]) => `<div class="result"><a href="${u}">${t}</a><p>${c}</p></div>`).join("")}</body></html>`,
      );
    },
    "/engine/slow": async (_req, res) => {
      await delay(3000);
      json(res, { results: [] });
    },
    "/engine/fail": (_req, res) => json(res, { error: "engine exploded" }, 500),

    "/pages/article.html": (_req, res) => html(res, ARTICLE_HTML()),
    "/pages/facts.html": (_req, res) => html(res, FACTS_HTML),
    // Few characters, many tokens (3-4 bytes each, one token per byte in the test model): a passage that overflows
    // a small embedding context long before its character count would say so.
    "/pages/dense.html": (_req, res) => html(res, `<html><head><title>Dense text</title></head><body><article><h1>Dense llama text</h1><p>${"羊駝🦙".repeat(150)}</p></article></body></html>`),
    "/pages/song.html": (_req, res) => html(res, SONG_HTML),
    "/pages/long.html": (_req, res) => html(res, LONG_HTML()),
    "/pages/plain.txt": (_req, res) => void res.writeHead(200, { "content-type": "text/plain; charset=utf-8" }).end("Field notes.\nLlamas hum when curious.\n"),
    "/pages/data.json": (_req, res) => json(res, { animal: "llama", weight_kg: [130, 200], tags: ["andes", "wool"] }),
    "/pages/readme.md": (_req, res) => void res.writeHead(200, { "content-type": "text/markdown" }).end("# Llama care\n\nBrush the fibre weekly.\n"),
    "/pages/image.png": (_req, res) => void res.writeHead(200, { "content-type": "image/png" }).end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3])),
    "/pages/big.html": (_req, res) => html(res, `<html><body><p>${"x".repeat(300 * 1024)}</p></body></html>`),
    "/pages/slow.html": async (_req, res) => {
      await delay(3000);
      html(res, "<html><body>late</body></html>");
    },
    "/pages/missing.html": (_req, res) => html(res, "<html><body><h1>Not found</h1></body></html>", 404),
    "/pages/redirect-ok": (_req, res) => void res.writeHead(302, { location: "/pages/article.html" }).end(),
    "/pages/redirect-metadata": (_req, res) => void res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end(),
    "/pages/redirect-private": (_req, res) => void res.writeHead(302, { location: "http://10.1.2.3/admin" }).end(),
    "/pages/redirect-file": (_req, res) => void res.writeHead(302, { location: "file:///etc/passwd" }).end(),
    "/pages/redirect-loop": (_req, res) => void res.writeHead(302, { location: "/pages/redirect-loop" }).end(),
    "/pages/gzip.html": (_req, res) => void res.writeHead(200, { "content-type": "text/html", "content-encoding": "gzip" }).end(gzipSync(ARTICLE_HTML())),
    "/pages/xgzip.html": (_req, res) => void res.writeHead(200, { "content-type": "text/html", "content-encoding": "x-gzip" }).end(gzipSync(ARTICLE_HTML())),
    "/pages/deflate.html": (_req, res) => void res.writeHead(200, { "content-type": "text/html", "content-encoding": "deflate" }).end(deflateSync(ARTICLE_HTML())),
    "/pages/deflate-raw.html": (_req, res) => void res.writeHead(200, { "content-type": "text/html", "content-encoding": "deflate" }).end(deflateRawSync(ARTICLE_HTML())),
    "/pages/br.html": (_req, res) => void res.writeHead(200, { "content-type": "text/html", "content-encoding": "br" }).end(brotliCompressSync(ARTICLE_HTML())),
    "/pages/gzip-bomb.html": (_req, res) => void res.writeHead(200, { "content-type": "text/html", "content-encoding": "gzip" }).end(GZIP_BOMB()),
    "/pages/br-bomb.html": (_req, res) => void res.writeHead(200, { "content-type": "text/html", "content-encoding": "br" }).end(BR_BOMB()),
    "/pages/corrupt-gzip.html": (_req, res) => void res.writeHead(200, { "content-type": "text/html", "content-encoding": "gzip" }).end(Buffer.from("this is not gzip at all")),
    "/pages/zstd.html": (_req, res) => void res.writeHead(200, { "content-type": "text/html", "content-encoding": "zstd" }).end(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2])),
    "/pages/binary.html": (_req, res) => void res.writeHead(200, { "content-type": "text/html" }).end(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256))),
    "/pages/pdf.html": (_req, res) => void res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(Buffer.concat([Buffer.from("%PDF-1.7\n"), Buffer.alloc(100, 1)])),
    "/pages/gzip-unlabelled.txt": (_req, res) => void res.writeHead(200, { "content-type": "text/plain" }).end(gzipSync("hello")),
    "/pages/redirect-invalid": (_req, res) => void res.writeHead(302, { location: "http://[::1" }).end(),
    "/pages/redirect-bad-port": (_req, res) => void res.writeHead(302, { location: "http://127.0.0.1:99999/x" }).end(),
    "/pages/json-only.html": (_req, res) =>
      html(res, "<html><head><title>Guanacos</title></head><body><article><h1>Guanacos</h1><p>Guanacos are wild camelids of the Andes, close relatives of llamas, living in herds on dry grasslands.</p></article></body></html>"),
    "/pages/html-only.html": (_req, res) =>
      html(res, "<html><head><title>Vicuñas</title></head><body><article><h1>Vicuñas</h1><p>Vicuñas give the finest wool of all camelids; their fibre was reserved for Inca royalty.</p></article></body></html>"),
  };
}
