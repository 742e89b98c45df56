/**
 * Passages for search_context: pages split into paragraph-sized passages (headings kept with what follows),
 * scored against the query by BM25 (lexical) or by embedding similarity, then packed into a token budget.
 */

export interface Passage {
  url: string;
  title: string;
  text: string;
  /** Where it came from: a page read in full, or only the search engine's snippet. */
  from: "page" | "snippet";
}

const TARGET_CHARS = 600;
const MIN_CHARS = 40;

/** Splits Markdown into passages of about TARGET_CHARS, on paragraph boundaries, headings attached forward. */
export function splitPassages(markdown: string): string[] {
  const blocks = markdown
    .split(/\n\s*\n/)
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  const out: string[] = [];
  let current = "";
  const flush = () => {
    if (current.replace(/^#+ .*$/gm, "").trim().length >= MIN_CHARS) out.push(current.trim());
    current = "";
  };
  for (const block of blocks) {
    const heading = /^#{1,6} /.test(block);
    if (heading && current && !/^#{1,6} [^\n]*$/.test(current)) flush();
    if (!heading && current.length + block.length > TARGET_CHARS && current.replace(/^#+ .*$/gm, "").trim()) flush();
    if (block.length > TARGET_CHARS * 2) {
      // A very long paragraph: cut at sentence ends.
      for (const piece of block.match(new RegExp(`[^]{1,${TARGET_CHARS}}(?:[.!?](?=\\s)|$)|[^]{1,${TARGET_CHARS}}`, "g")) ?? [block]) {
        current = current ? `${current}\n\n${piece.trim()}` : piece.trim();
        flush();
      }
      continue;
    }
    current = current ? `${current}\n\n${block}` : block;
  }
  flush();
  return out;
}

const STOP = new Set(
  "a an and are as at be but by for from has have in is it its of on or that the this to was were will with what which who how why when where do does".split(" "),
);

export function terms(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((t) => !STOP.has(t));
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

export function block(index: number, p: Passage): string {
  return `[${index}] ${p.title} — ${p.url}\n${p.text}`;
}
