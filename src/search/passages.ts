/**
 * Passages for search_context: pages split into paragraph-sized passages (headings kept with what follows),
 * scored against the query by BM25 (lexical) or by embedding similarity, then packed into a token budget, grouped
 * by source so that each source has one citation number.
 */

export interface Passage {
  url: string;
  title: string;
  text: string;
  /** Where it came from: a page read in full, or only the search engine's snippet. */
  from: "page" | "snippet";
}

/** A paragraph shorter than this is joined to the next (a lone line is no passage); longer ones stand alone. */
const MIN_PARAGRAPH = 120;
/** Paragraphs longer than twice this are cut at sentence ends into pieces of about this size. */
const TARGET_CHARS = 600;
/** Passages with less text than this (headings aside) are dropped. */
const MIN_CHARS = 40;

const isHeading = (block: string) => /^#{1,6} [^\n]*$/.test(block);
const bodyLength = (text: string) => text.replace(/^#+ .*$/gm, "").trim().length;

/**
 * Splits Markdown into passages: one per paragraph (so the paragraph that answers a question is scored on its own,
 * not diluted by its neighbours), short paragraphs joined to the next, headings attached to what follows, very
 * long paragraphs cut at sentence ends.
 */
export function splitPassages(markdown: string): string[] {
  const blocks = markdown
    .split(/\n\s*\n/)
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  const out: string[] = [];
  let current = "";
  const flush = () => {
    if (bodyLength(current) >= MIN_CHARS) out.push(current.trim());
    current = "";
  };
  const add = (block: string) => {
    current = current ? `${current}\n\n${block}` : block;
    if (!isHeading(block) && bodyLength(current) >= MIN_PARAGRAPH) flush();
  };
  for (const block of blocks) {
    // A new heading starts a new passage: what came before it ends (even if short).
    if (isHeading(block) && bodyLength(current) > 0) flush();
    if (block.length > TARGET_CHARS * 2) {
      for (const piece of block.match(new RegExp(`[^]{1,${TARGET_CHARS}}(?:[.!?](?=\\s)|$)|[^]{1,${TARGET_CHARS}}`, "g")) ?? [block]) {
        current = current ? `${current}\n\n${piece.trim()}` : piece.trim();
        flush();
      }
      continue;
    }
    add(block);
  }
  flush();
  return out;
}

const STOP = new Set(
  "a an and are as at be but by for from has have in is it its of on or that the this to was were will with what which who whom how why when where do does did can could should would i you he she we they me my your our their there here than then so if not no yes".split(
    " ",
  ),
);

/**
 * A light English stemmer (plurals, -ed, -ing, possessives), enough for "weighs" to meet "weigh" and "llamas" to
 * meet "llama"; words of other scripts pass as they are.
 */
export function stem(word: string): string {
  let w = word.replace(/'s$/, "");
  if (w.length > 4 && w.endsWith("ies")) return `${w.slice(0, -3)}y`;
  if (w.length > 4 && /(?:ss|x|ch|sh)es$/.test(w)) return w.slice(0, -2);
  if (w.length > 3 && w.endsWith("s") && !w.endsWith("ss") && !w.endsWith("us") && !w.endsWith("is")) w = w.slice(0, -1);
  if (w.length > 5 && w.endsWith("ing")) return w.slice(0, -3);
  if (w.length > 4 && w.endsWith("ed")) return w.slice(0, -2);
  return w;
}

export function terms(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+(?:'s)?/gu) ?? []).filter((t) => !STOP.has(t)).map(stem);
}

/** BM25 (k1 1.2, b 0.75) of each document against the query. */
export function bm25(query: string, docs: string[]): number[] {
  const q = [...new Set(terms(query))];
  const tokenized = docs.map(terms);
  const avg = tokenized.reduce((a, d) => a + d.length, 0) / Math.max(1, tokenized.length);
  const df = new Map<string, number>();
  for (const d of tokenized) for (const t of new Set(d)) df.set(t, (df.get(t) ?? 0) + 1);
  const n = docs.length;
  return tokenized.map((d) => {
    const tf = new Map<string, number>();
    for (const t of d) tf.set(t, (tf.get(t) ?? 0) + 1);
    let score = 0;
    for (const t of q) {
      const f = tf.get(t) ?? 0;
      if (f === 0) continue;
      const idf = Math.log(1 + (n - (df.get(t) ?? 0) + 0.5) / ((df.get(t) ?? 0) + 0.5));
      score += (idf * f * 2.2) / (f + 1.2 * (0.25 + (0.75 * d.length) / Math.max(1, avg)));
    }
    return score;
  });
}

/** The cited block of one source: its number, title and URL, then its chosen passages. */
export function sourceBlock(n: number, source: { title: string; url: string }, texts: string[]): string {
  return `[${n}] ${source.title} — ${source.url}\n${texts.join("\n\n")}`;
}
