/**
 * Paging a long text by the loaded model's tokens, so each page fits a known budget and the next page resumes
 * exactly where the last one stopped. Page boundaries fall on token boundaries that are also UTF-8 character
 * boundaries, so concatenated pages are the text, byte for byte. Without a usable tokenizer, pages are counted
 * in characters (4 per token) and the result says so.
 */
import type { Tokenizer } from "../llm/engine.js";

export interface Page {
  text: string;
  offset: number;
  nextOffset: number | null;
  total: number;
}

export interface Pager {
  unit: "tokens" | "characters";
  total: number;
  page(offset: number, max: number): Page;
}

export const CHARS_PER_TOKEN = 4;

/** A token pager, or undefined when the tokenizer's pieces do not add up to the text (then page by characters). */
export async function tokenPager(text: string, tokenizer: Tokenizer): Promise<Pager | undefined> {
  const bytes = Buffer.from(text, "utf8");
  const { ids: tokens } = await tokenizer.tokenize(text, { special: false });
  const pieces = await tokenizer.tokenBytes(tokens);
  // ends[i] = byte offset in the text where token i ends.
  const ends = new Array<number>(tokens.length);
  let pos = 0;
  pieces.forEach((piece, i) => {
    let n = piece.length;
    // SentencePiece tokenizers add a space in front of the first word.
    if (i === 0 && n > 0 && piece[0] === 0x20 && bytes[0] !== 0x20) n -= 1;
    pos += n;
    ends[i] = pos;
  });
  if (pos !== bytes.length) return undefined;
  const startOf = (i: number) => (i === 0 ? 0 : ends[i - 1]!);
  const isBoundary = (byte: number) => byte >= bytes.length || (bytes[byte]! & 0xc0) !== 0x80;
  return {
    unit: "tokens",
    total: tokens.length,
    page(offset, max) {
      const start = Math.min(offset, tokens.length);
      let end = Math.min(start + max, tokens.length);
      // Never end a page inside a multi-byte character: step back (or, for a tiny budget, forward).
      while (end > start && !isBoundary(startOf(end))) end--;
      if (end === start && start < tokens.length) {
        end = start + 1;
        while (end < tokens.length && !isBoundary(startOf(end))) end++;
      }
      return {
        text: bytes.subarray(startOf(start), startOf(end)).toString("utf8"),
        offset: start,
        nextOffset: end < tokens.length ? end : null,
        total: tokens.length,
      };
    },
  };
}

export function characterPager(text: string): Pager {
  return {
    unit: "characters",
    total: text.length,
    page(offset, max) {
      const start = Math.min(offset, text.length);
      let end = Math.min(start + max * CHARS_PER_TOKEN, text.length);
      // Never split a surrogate pair.
      if (end < text.length && end > start && /[\uD800-\uDBFF]/.test(text[end - 1]!)) end--;
      return { text: text.slice(start, end), offset: start, nextOffset: end < text.length ? end : null, total: text.length };
    },
  };
}
