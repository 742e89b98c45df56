/**
 * llama.cpp's pre-tokenizers (unicode.cpp), the ones lam-mcp reproduces: each splits a run of code points into
 * words, written as the end index of each word. They follow llama.cpp's hand-written matchers step by step, quirks
 * included (a fragment's end stops every lookahead, as in llama.cpp), since exactness is the point:
 * - gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * - llama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * - qwen2:  the same with \p{N} one digit at a time
 * - qwen35: qwen2 with marks (\p{M}) joining letters
 * - digits: \p{N} alone (starcoder and its kin run it before gpt2), by llama.cpp's general regex path: ASCII digits
 *   and any other code point of category N (never a whitespace one).
 */
import type { IntList } from "./int-list.js";
import { ACCENT_MARK, LETTER, NUMBER, WHITESPACE } from "./unicode.js";

/** Appends to out where each word of cps[start, end) ends. */
export type Splitter = (cps: Int32Array, flags: Uint16Array, start: number, end: number, out: IntList) => void;

const CR = 13;
const LF = 10;
const SPACE = 32;
const QUOTE = 39;

/** ASCII lower case (the contractions compare with ASCII letters only; no other code point lowers to one of them). */
const lower = (c: number) => (c >= 65 && c <= 90 ? c + 32 : c);

/** The length of a contraction at pos ('s 't 'm 'd: 2; 're 've 'll: 3), or 0. */
function contraction(cps: Int32Array, pos: number, end: number, fold: boolean): number {
  if (cps[pos] !== QUOTE || pos + 1 >= end) return 0;
  const a = fold ? lower(cps[pos + 1]!) : cps[pos + 1]!;
  if (a === 115 || a === 116 || a === 109 || a === 100) return 2; // s t m d
  if (pos + 2 < end) {
    const b = fold ? lower(cps[pos + 2]!) : cps[pos + 2]!;
    if ((a === 114 && b === 101) || (a === 118 && b === 101) || (a === 108 && b === 108)) return 3; // re ve ll
  }
  return 0;
}

export const splitGpt2: Splitter = (cps, table, start, end, out) => {
  // Flags of a position; 0 past the fragment (llama.cpp's OUT_OF_RANGE).
  const f = (p: number) => (p < end ? table[cps[p]!]! : 0);
  let pos = start;
  while (pos < end) {
    const c = contraction(cps, pos, end, false);
    if (c) {
      pos += c;
      out.push(pos);
      continue;
    }
    const cpt = cps[pos]!;
    let f2 = cpt === SPACE ? f(pos + 1) : f(pos);
    if (f2 & LETTER) {
      if (cpt === SPACE) pos++;
      while (f2 & LETTER) f2 = f(++pos);
      out.push(pos);
      continue;
    }
    if (f2 & NUMBER) {
      if (cpt === SPACE) pos++;
      while (f2 & NUMBER) f2 = f(++pos);
      out.push(pos);
      continue;
    }
    if (!(f2 & (WHITESPACE | LETTER | NUMBER)) && f2) {
      if (cpt === SPACE) pos++;
      while (!(f2 & (WHITESPACE | LETTER | NUMBER)) && f2) f2 = f(++pos);
      out.push(pos);
      continue;
    }
    let spaces = 0;
    while (f(pos + spaces) & WHITESPACE) spaces++;
    if (spaces > 1 && pos + spaces < end) {
      pos += spaces - 1; // \s+(?!\S): the last space goes with what follows
      out.push(pos);
      continue;
    }
    if (spaces > 0) {
      pos += spaces;
      out.push(pos);
      continue;
    }
    out.push(++pos);
  }
};

/** llama3, qwen2 and qwen35 differ in digits (groups of 3 or 1) and in whether marks join letters. */
function llama3Like(digitGroup: number, marks: boolean): Splitter {
  const WORD = marks ? LETTER | ACCENT_MARK : LETTER;
  return (cps, table, start, end, out) => {
    const f = (p: number) => (p < end ? table[cps[p]!]! : 0);
    let pos = start;
    while (pos < end) {
      const c = contraction(cps, pos, end, true);
      if (c) {
        pos += c;
        out.push(pos);
        continue;
      }
      const cpt = cps[pos]!;
      const flags = f(pos);
      // [^\r\n\p{L}\p{N}]?\p{L}+
      if (!(cpt === CR || cpt === LF || flags & NUMBER)) {
        if (flags & WORD || f(pos + 1) & WORD) {
          pos++;
          while (f(pos) & WORD) pos++;
          out.push(pos);
          continue;
        }
      }
      // \p{N}{1,3} (or \p{N})
      if (flags & NUMBER) {
        if (digitGroup === 1) {
          out.push(++pos);
          continue;
        }
        let first = pos;
        while (f(pos) & NUMBER) {
          if (++pos - first >= digitGroup) {
            out.push(pos);
            first = pos;
          }
        }
        if (out.last() !== pos) out.push(pos);
        continue;
      }
      // <space>?[^\s\p{L}\p{N}]+[\r\n]*
      let f2 = cpt === SPACE ? f(pos + 1) : flags;
      if (!(f2 & (WHITESPACE | WORD | NUMBER)) && flags) {
        if (cpt === SPACE) pos++;
        while (!(f2 & (WHITESPACE | WORD | NUMBER)) && f2) f2 = f(++pos);
        while (pos < end && (cps[pos] === CR || cps[pos] === LF)) pos++;
        out.push(pos);
        continue;
      }
      let spaces = 0;
      let lastNewline = 0;
      while (f(pos + spaces) & WHITESPACE) {
        const c2 = cps[pos + spaces];
        if (c2 === CR || c2 === LF) lastNewline = pos + spaces + 1;
        spaces++;
      }
      if (lastNewline > 0) {
        pos = lastNewline; // \s*[\r\n]+
        out.push(pos);
        continue;
      }
      if (spaces > 1 && pos + spaces < end) {
        pos += spaces - 1;
        out.push(pos);
        continue;
      }
      if (spaces > 0) {
        pos += spaces;
        out.push(pos);
        continue;
      }
      out.push(++pos);
    }
  };
}

export const splitLlama3 = llama3Like(3, false);
export const splitQwen2 = llama3Like(1, false);
export const splitQwen35 = llama3Like(1, true);

/** \p{N} by llama.cpp's general path: each number code point is a word of its own, and so is each run between. */
export const splitDigits: Splitter = (cps, table, start, end, out) => {
  let pos = start;
  let from = start;
  for (; pos < end; pos++) {
    const cp = cps[pos]!;
    const digit = cp < 128 ? cp >= 48 && cp <= 57 : (table[cp]! & (NUMBER | WHITESPACE)) === NUMBER;
    if (!digit) continue;
    if (pos > from) out.push(pos);
    out.push(pos + 1);
    from = pos + 1;
  }
  if (end > from) out.push(end);
};
