/**
 * A fetched page -> its main content as Markdown. HTML goes through Mozilla's Readability (Firefox Reader View)
 * on a linkedom document, then turndown (with GitHub tables); title, byline, site and date are kept, links are
 * made absolute. Plain text, Markdown and JSON pass through; other types are refused.
 */
import { Readability } from "@mozilla/readability";
import { parseHTML } from "linkedom";
import TurndownService from "turndown";
import { gfm } from "turndown-plugin-gfm";
import { ToolError } from "../errors.js";
import type { Fetched } from "./fetch.js";

export interface Document {
  url: string;
  title: string;
  byline: string | null;
  site: string | null;
  published: string | null;
  kind: "html" | "text" | "markdown" | "json";
  /** How the HTML was reduced: the article Readability found, or the whole body when it found none. */
  extraction: "readability" | "body" | "none";
  markdown: string;
}

let turndown: TurndownService | undefined;
function converter(): TurndownService {
  if (!turndown) {
    turndown = new TurndownService({ headingStyle: "atx", codeBlockStyle: "fenced", bulletListMarker: "-", emDelimiter: "*" });
    turndown.use(gfm);
    // turndown's tag names are typed by the browser's DOM lib, which this project does not load.
    turndown.remove(["script", "style", "noscript", "iframe", "form", "button"] as never);
  }
  return turndown;
}

export function extract(page: Fetched): Document {
  const type = page.contentType.split(";")[0]!.trim().toLowerCase();
  const readable = type === "" || type.startsWith("text/") || type === "application/xhtml+xml" || type === "application/json" || type.endsWith("+json");
  const binary = readable ? binaryKind(page.body) : undefined;
  if (binary) {
    throw new ToolError(`${page.url} is labelled ${type || "with no type"} but holds ${binary}, which read_url cannot read as text.`, {
      code: "unsupported_type",
      hint: "read_url reads HTML, plain text, Markdown and JSON pages; for other files use a dedicated action.",
      data: { content_type: type },
    });
  }
  const text = decode(page.body, page.contentType);
  const base = { url: page.url, byline: null, site: null, published: null };
  if (type === "text/html" || type === "application/xhtml+xml" || (type === "" && /^\s*<(!doctype html|html)/i.test(text))) {
    return fromHtml(text, page.url);
  }
  if (type === "text/markdown" || type === "text/x-markdown") {
    const title = /^#\s+(.+)$/m.exec(text)?.[1]?.trim() ?? lastSegment(page.url);
    return { ...base, title, kind: "markdown", extraction: "none", markdown: text.trim() };
  }
  if (type === "application/json" || type.endsWith("+json")) {
    let pretty = text;
    try {
      pretty = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // shown as sent
    }
    return { ...base, title: lastSegment(page.url), kind: "json", extraction: "none", markdown: "```json\n" + pretty + "\n```" };
  }
  if (type.startsWith("text/")) {
    return { ...base, title: lastSegment(page.url), kind: "text", extraction: "none", markdown: text.trim() };
  }
  throw new ToolError(`${page.url} is ${type || "of no declared type"}, which read_url cannot read.`, {
    code: "unsupported_type",
    hint: "read_url reads HTML, plain text, Markdown and JSON pages; for other files use a dedicated action.",
    data: { content_type: type },
  });
}

/** The part of the DOM used here (linkedom's types lean on the browser's DOM lib, which this project does not load). */
interface El {
  getAttribute(name: string): string | null;
  setAttribute(name: string, value: string): void;
  remove(): void;
  textContent: string | null;
  innerHTML: string;
}
interface Doc {
  querySelectorAll(selector: string): ArrayLike<El> & Iterable<El>;
  querySelector(selector: string): El | null;
  cloneNode(deep: boolean): unknown;
}

function fromHtml(html: string, url: string): Document {
  const { document } = parseHTML(html) as unknown as { document: Doc };
  // Absolute links and images, so the Markdown stays useful out of context.
  for (const [selector, attr] of [["a[href]", "href"], ["img[src]", "src"]] as const) {
    for (const el of document.querySelectorAll(selector)) {
      const value = el.getAttribute(attr);
      if (!value) continue;
      try {
        el.setAttribute(attr, new URL(value, url).href);
      } catch {
        // leave it as written
      }
    }
  }
  const meta = (name: string) =>
    document.querySelector(`meta[property="${name}"], meta[name="${name}"]`)?.getAttribute("content")?.trim() || null;
  const docTitle = document.querySelector("title")?.textContent?.trim() ?? "";
  // Readability is typed against the browser's Document; linkedom's is that document, typed apart (see Doc above).
  const article = new Readability(document.cloneNode(true) as never, { charThreshold: 200 }).parse();
  let body: string;
  let extraction: Document["extraction"];
  if (article?.content && (article.textContent ?? "").trim().length > 0) {
    body = article.content;
    extraction = "readability";
  } else {
    for (const el of document.querySelectorAll("script, style, noscript, nav, header, footer, aside")) el.remove();
    body = document.querySelector("body")?.innerHTML ?? html;
    extraction = "body";
  }
  const title = preferHeading(article?.title?.trim() || meta("og:title") || docTitle || lastSegment(url), document);
  const markdown = converter().turndown(body).replace(/\n{3,}/g, "\n\n").trim();
  return {
    url,
    title,
    byline: article?.byline?.trim() || meta("author"),
    site: article?.siteName?.trim() || meta("og:site_name"),
    published: article?.publishedTime?.trim() || meta("article:published_time"),
    kind: "html",
    extraction,
    markdown,
  };
}

/** "Story | Site" -> "Story" when the page's only h1 is that story. */
function preferHeading(title: string, document: Doc): string {
  const h1s = document.querySelectorAll("h1");
  if (h1s.length !== 1) return title;
  const h1 = (h1s[0]!.textContent ?? "").replace(/\s+/g, " ").trim();
  if (!h1 || h1 === title) return title;
  const parts = title.split(/\s+[|\-–—:·]\s+/);
  return parts.length > 1 && (parts[0] === h1 || parts.at(-1) === h1) ? h1 : title;
}

/** The page as one Markdown text: a header (title, byline, source) then the content. */
export function render(doc: Document): string {
  const about = [doc.byline, doc.site, doc.published].filter(Boolean).join(" · ");
  return [`# ${doc.title}`, about ? `*${about}*` : "", `Source: ${doc.url}`, "", doc.markdown].filter((l, i) => l !== "" || i === 3).join("\n");
}

/** Signatures of binary formats a server might label as text. */
const SIGNATURES: Array<[number[], string]> = [
  [[0x25, 0x50, 0x44, 0x46], "a PDF document"],
  [[0x89, 0x50, 0x4e, 0x47], "a PNG image"],
  [[0x47, 0x49, 0x46, 0x38], "a GIF image"],
  [[0xff, 0xd8, 0xff], "a JPEG image"],
  [[0x50, 0x4b, 0x03, 0x04], "a ZIP archive (or an Office document)"],
  [[0x1f, 0x8b], "gzip-compressed data sent without Content-Encoding"],
  [[0x28, 0xb5, 0x2f, 0xfd], "zstd-compressed data"],
  [[0x7f, 0x45, 0x4c, 0x46], "an executable"],
  [[0x00, 0x61, 0x73, 0x6d], "a WebAssembly module"],
  [[0x52, 0x49, 0x46, 0x46], "a RIFF file (audio, video or image)"],
  [[0x4f, 0x67, 0x67, 0x53], "an Ogg media file"],
];

/**
 * What binary data a body holds, or undefined for text: a known signature, else NUL bytes or many control
 * characters in its first 8 KiB (text in UTF-16 is read as binary too: no page is sent that way in practice).
 */
export function binaryKind(body: Buffer): string | undefined {
  for (const [magic, name] of SIGNATURES) if (magic.every((b, i) => body[i] === b)) return name;
  const head = body.subarray(0, 8192);
  let controls = 0;
  for (const b of head) {
    if (b === 0) return "binary data";
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c && b !== 0x1b) controls++;
  }
  return head.length > 0 && controls / head.length > 0.1 ? "binary data" : undefined;
}

function decode(body: Buffer, contentType: string): string {
  let charset = /charset="?([\w-]+)/i.exec(contentType)?.[1];
  if (!charset && /html/i.test(contentType)) charset = /<meta[^>]+charset=["']?([\w-]+)/i.exec(body.subarray(0, 2048).toString("latin1"))?.[1];
  try {
    return new TextDecoder(charset ?? "utf-8").decode(body);
  } catch {
    return new TextDecoder("utf-8").decode(body);
  }
}

function lastSegment(url: string): string {
  try {
    const u = new URL(url);
    return decodeURIComponent(u.pathname.split("/").filter(Boolean).pop() ?? u.hostname) || u.hostname;
  } catch {
    return url;
  }
}
