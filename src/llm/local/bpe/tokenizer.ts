/**
 * Byte-level BPE exactly as llama.cpp tokenizes (llama-vocab.cpp), in TypeScript: special tokens split out first
 * (tokenizer_st_partition), the pre-tokenizer of the vocabulary's family (pre-tokenizers.ts: llama.cpp's expressions,
 * run by its hand-written matchers in split.ts or its general path in regex.ts), each word's UTF-8 bytes mapped
 * to GPT-2's byte characters and merged by rank, lowest rank first and leftmost on ties (llama.cpp's bigram queue),
 * a merged piece that is not a token falling back to its single bytes. Words repeat, so each word's ids are kept.
 *
 * `FastBpe.create` says why it cannot serve a vocabulary (another tokenizer type, a pre-tokenizer not reproduced,
 * an engine with other Unicode data); the caller then keeps llama.cpp's tokenizer.
 */
import { Heap } from "./heap.js";
import { GPT2, LLAMA3, ONE_NUMBER, PRE_TOKENIZERS, type PreTokenizer, QWEN2, QWEN35 } from "./pre-tokenizers.js";
import { regexSplitter } from "./regex.js";
import { IntList } from "./int-list.js";
import { splitDigits, splitGpt2, splitLlama3, splitQwen2, splitQwen35, type Splitter } from "./split.js";
import { unicodeTable } from "./unicode.js";
import { WordMemo } from "./word-memo.js";

/** What a vocabulary is made of: the GGUF's tokenizer.ggml.* and llama.cpp's final token attributes. */
export interface BpeVocabularyData {
  /** tokenizer.ggml.model */
  model: string;
  /** tokenizer.ggml.pre (empty: llama.cpp's "default") */
  pre: string;
  tokens: readonly string[];
  merges: readonly string[];
  /** Per id: control, user-defined or unknown (the tokens llama.cpp splits out before BPE), with lstrip/rstrip. */
  specials: ReadonlyArray<{ id: number; control: boolean; userDefined: boolean; unknown: boolean; lstrip: boolean; rstrip: boolean }>;
}

interface Family {
  splitters: Splitter[];
  ignoreMerges: boolean;
}

/**
 * llama.cpp's hand-written matchers (unicode_regex_split_custom), by the exact expression they stand for; any other
 * expression runs by the general path (regex.ts). \p{N} alone is general in llama.cpp: splitDigits is that path
 * written out, since starcoder and its kin run it on every text.
 */
const HAND_WRITTEN: ReadonlyMap<string, Splitter> = new Map([
  [GPT2, splitGpt2],
  [LLAMA3, splitLlama3],
  [QWEN2, splitQwen2],
  [QWEN35, splitQwen35],
  [ONE_NUMBER, splitDigits],
]);

const families = new Map<PreTokenizer, Family>();

/** The splitters of a pre-tokenizer, made once. */
function familyOf(pre: PreTokenizer): Family {
  let family = families.get(pre);
  if (!family) {
    family = { splitters: pre.exprs.map((e) => HAND_WRITTEN.get(e) ?? regexSplitter(e)), ignoreMerges: pre.ignoreMerges };
    families.set(pre, family);
  }
  return family;
}

/** GPT-2's reversible map from a byte to a printable character (the alphabet of byte-level BPE vocabularies). */
function byteChars(): string[] {
  const chars: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    chars.push(String.fromCharCode(printable ? b : 256 + extra++));
  }
  return chars;
}
const BYTE_CHARS = byteChars();

/** UTF-8 of one code point, as GPT-2 byte characters. */
function encodeCodePoint(cp: number): string {
  if (cp < 0x80) return BYTE_CHARS[cp]!;
  if (cp < 0x800) return BYTE_CHARS[0xc0 | (cp >> 6)]! + BYTE_CHARS[0x80 | (cp & 63)]!;
  if (cp < 0x10000) return BYTE_CHARS[0xe0 | (cp >> 12)]! + BYTE_CHARS[0x80 | ((cp >> 6) & 63)]! + BYTE_CHARS[0x80 | (cp & 63)]!;
  return BYTE_CHARS[0xf0 | (cp >> 18)]! + BYTE_CHARS[0x80 | ((cp >> 12) & 63)]! + BYTE_CHARS[0x80 | ((cp >> 6) & 63)]! + BYTE_CHARS[0x80 | (cp & 63)]!;
}

/** llama.cpp's isspace on a byte: the ASCII blanks (what lstrip/rstrip remove around a special token). */
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);

export interface Special {
  id: number;
  text: string;
  lstrip: boolean;
  rstrip: boolean;
}

/** The special tokens llama.cpp splits out: longest first (by bytes), then by id; [always, with special: true]. */
export function specialTokens(tokens: readonly string[], specials: BpeVocabularyData["specials"]): [Special[], Special[]] {
  const all = specials
    .filter((s) => s.control || s.userDefined || s.unknown)
    .map((s) => ({ id: s.id, text: tokens[s.id] ?? "", lstrip: s.lstrip, rstrip: s.rstrip, parsedOnly: s.control || s.unknown }))
    .filter((s) => s.text.length > 0)
    .sort((a, b) => Buffer.byteLength(b.text) - Buffer.byteLength(a.text) || a.id - b.id);
  return [all.filter((s) => !s.parsedOnly), all];
}

/**
 * tokenizer_st_partition: each special token, longest first, split out of the text fragments left (with lstrip and
 * rstrip removing ASCII blanks beside it); what remains are text fragments, in order, as strings.
 */
export function partition(text: string, specials: readonly Special[]): Array<string | number> {
  if (text.length === 0) return [];
  let fragments: Array<string | number> = [text];
  for (const s of specials) {
    let next: Array<string | number> | undefined;
    for (let i = 0; i < fragments.length; i++) {
      const f = fragments[i]!;
      if (typeof f !== "string" || f.indexOf(s.text) === -1) {
        next?.push(f);
        continue;
      }
      next ??= fragments.slice(0, i);
      let rest = f;
      for (;;) {
        const at = rest.indexOf(s.text);
        if (at === -1) {
          if (rest.length > 0) next.push(rest);
          break;
        }
        let left = rest.slice(0, at);
        if (s.lstrip) {
          let end = left.length;
          while (end > 0 && isSpace(left.charCodeAt(end - 1))) end--;
          left = left.slice(0, end);
        }
        if (left.length > 0) next.push(left);
        next.push(s.id);
        rest = rest.slice(at + s.text.length);
        if (s.rstrip) {
          let start = 0;
          while (start < rest.length && isSpace(rest.charCodeAt(start))) start++;
          rest = rest.slice(start);
        }
      }
    }
    if (next) fragments = next;
  }
  return fragments;
}

/** The longest text (in UTF-16 units) whose code points are kept in an array between calls (4 MB at most). */
const SPACE_KEPT = 1 << 20;

/** What lam-mcp's tokenizers share: a text's ids gathered in a list kept between calls, or only counted. */
export abstract class OwnTokenizer {
  private readonly ids = new IntList();

  tokenize(text: string, special: boolean): number[] {
    this.ids.clear();
    this.run(text, special, this.ids);
    return this.ids.toArray();
  }

  /** How many ids the text has, without keeping them. */
  count(text: string, special: boolean): number {
    return this.run(text, special, null);
  }

  /** The text's ids appended to out (when given); their number. */
  protected abstract run(text: string, special: boolean, out: IntList | null): number;
}

/** Words remembered (their ids) at most; past it the memo starts again. */
const WORD_MEMO = 1 << 16;

export class FastBpe extends OwnTokenizer {
  private readonly vocab = new Map<string, number>();
  private readonly ranks = new Map<string, number>();
  /** Longest first, as llama.cpp orders its special-token cache. */
  private readonly specialsAlways: Special[];
  private readonly specialsParsed: Special[];
  private readonly memo = new WordMemo(WORD_MEMO);
  private codePoints = new Int32Array(0);
  private readonly endsA = new IntList();
  private readonly endsB = new IntList();

  private constructor(
    data: BpeVocabularyData,
    private readonly family: Family,
    private readonly table: Uint16Array,
  ) {
    super();
    // text_to_token: the last id wins for a text that appears twice, as in llama.cpp's map filled in order.
    data.tokens.forEach((text, id) => this.vocab.set(text, id));
    // A merge is "LEFT RIGHT" (split at the first space after the first character); the first rank of a pair wins.
    // Byte-level symbols never hold a space (it is "Ġ"), so the line itself is the pair's key.
    data.merges.forEach((merge, rank) => {
      if (merge.indexOf(" ", 1) !== -1 && !this.ranks.has(merge)) this.ranks.set(merge, rank);
    });
    [this.specialsAlways, this.specialsParsed] = specialTokens(data.tokens, data.specials);
  }

  /** A tokenizer for this vocabulary, or why there is none (llama.cpp's own is used then). */
  static create(data: BpeVocabularyData): FastBpe | { unsupported: string } {
    if (data.model !== "gpt2") return { unsupported: `tokenizer type "${data.model}" (only byte-level BPE and SentencePiece BPE are reproduced)` };
    const pre = Object.hasOwn(PRE_TOKENIZERS, data.pre) ? PRE_TOKENIZERS[data.pre] : undefined;
    if (!pre) return { unsupported: `pre-tokenizer "${data.pre || "default"}" is not reproduced` };
    const table = unicodeTable();
    if (!table) return { unsupported: `this Node's Unicode data (${process.versions.unicode}) is not the version the tables were checked against` };
    if (data.merges.length === 0) return { unsupported: "the vocabulary has no merges" };
    return new FastBpe(data, familyOf(pre), table);
  }

  /** The text's ids appended to out (when given); their number. */
  protected run(text: string, special: boolean, out: IntList | null): number {
    let n = 0;
    for (const f of partition(text, special ? this.specialsParsed : this.specialsAlways)) {
      if (typeof f !== "number") n += this.encodeText(f, out);
      else {
        out?.push(f);
        n++;
      }
    }
    return n;
  }

  /** One fragment of plain text: pre-tokenized into words, each word's ids (remembered) appended; their number. */
  private encodeText(text: string, out: IntList | null): number {
    // Code points and where each starts in the string.
    const cpsSpace = this.space(text.length);
    let n = 0;
    for (let i = 0; i < text.length; ) {
      const cp = text.codePointAt(i)!;
      // A lone surrogate reaches llama.cpp as U+FFFD (the string's UTF-8 encoding replaces it).
      const lone = cp >= 0xd800 && cp <= 0xdfff;
      cpsSpace[n++] = lone ? 0xfffd : cp;
      i += cp > 0xffff ? 2 : 1;
    }
    // A view of its own each call (the general path keys its per-text work on this array), of the code points only.
    const cps = cpsSpace.subarray(0, n);
    // Each splitter refines the words of the one before: two buffers of word ends, used in turn.
    let ends = this.endsA;
    let next = this.endsB;
    ends.clear();
    ends.push(n);
    for (const split of this.family.splitters) {
      next.clear();
      let start = 0;
      for (let w = 0; w < ends.length; w++) {
        const end = ends.values[w]!;
        split(cps, this.table, start, end, next);
        start = end;
      }
      [ends, next] = [next, ends];
    }
    let start = 0;
    let count = 0;
    const memo = this.memo;
    for (let w = 0; w < ends.length; w++) {
      const end = ends.values[w]!;
      let entry = memo.find(cps, start, end);
      if (entry === -1) {
        const ids = this.encodeWord(cps, start, end);
        entry = memo.add(cps, start, end, ids);
        if (entry === -1) {
          // A word too long to remember.
          if (out) for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
          count += ids.length;
          start = end;
          continue;
        }
      }
      const from = memo.idsStart(entry);
      const to = memo.idsEnd(entry);
      if (out) {
        const pool = memo.ids.values;
        for (let i = from; i < to; i++) out.push(pool[i]!);
      }
      count += to - from;
      start = end;
    }
    return count;
  }

  /**
   * Room for a text's code points, kept from call to call up to SPACE_KEPT characters: a call
   * then allocates no large typed arrays, whose external memory would bring the collector's full collections on
   * every few calls of a 1 MB text. Beyond it, fresh arrays.
   */
  private space(chars: number): Int32Array {
    if (chars > SPACE_KEPT) return new Int32Array(chars);
    if (this.codePoints.length < chars) this.codePoints = new Int32Array(Math.min(SPACE_KEPT, Math.max(chars, this.codePoints.length * 2, 1024)));
    return this.codePoints;
  }

  /** One word: its bytes as GPT-2 characters, merged by rank. */
  private encodeWord(cps: Int32Array, start: number, end: number): number[] {
    let encoded = "";
    for (let i = start; i < end; i++) encoded += encodeCodePoint(cps[i]!);
    if (this.family.ignoreMerges) {
      const whole = this.vocab.get(encoded);
      if (whole !== undefined) return [whole];
    }
    const symbols = mergeByRank([...encoded], this.ranks);
    const ids: number[] = [];
    for (const symbol of symbols) {
      const id = this.vocab.get(symbol);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      for (const ch of symbol) {
        const byte = this.vocab.get(ch);
        if (byte !== undefined) ids.push(byte);
      }
    }
    return ids;
  }
}

/**
 * BPE merges as llama.cpp's bigram queue applies them: the adjacent pair of lowest rank first, the leftmost on a tie,
 * until no adjacent pair has a rank. Short words scan for the best pair; long ones (a run of one character, a long
 * identifier) use a heap, so a 100 000-character word costs n log n, not n².
 */
export function mergeByRank(symbols: string[], ranks: ReadonlyMap<string, number>): string[] {
  if (symbols.length < 2) return symbols;
  return symbols.length <= 48 ? mergeShort(symbols, ranks) : mergeLong(symbols, ranks);
}

function mergeShort(symbols: string[], ranks: ReadonlyMap<string, number>): string[] {
  const rankOf = (i: number) => ranks.get(`${symbols[i]} ${symbols[i + 1]}`) ?? Infinity;
  const pairRanks = symbols.slice(0, -1).map((_, i) => rankOf(i));
  for (;;) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i < pairRanks.length; i++) {
      if (pairRanks[i]! < best) {
        best = pairRanks[i]!;
        at = i;
      }
    }
    if (at === -1) return symbols;
    symbols.splice(at, 2, symbols[at]! + symbols[at + 1]!);
    pairRanks.splice(at, 1);
    if (at < pairRanks.length) pairRanks[at] = rankOf(at);
    if (at > 0) pairRanks[at - 1] = rankOf(at - 1);
  }
}

function mergeLong(symbols: string[], ranks: ReadonlyMap<string, number>): string[] {
  const n = symbols.length;
  const text = symbols.slice();
  const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
  const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  // A min-heap of [rank, left, the pair's text] (stale entries are skipped when popped, as llama.cpp does).
  const less = (a: [number, number, string], b: [number, number, string]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  const heap = new Heap<[number, number, string]>(less);
  const consider = (left: number) => {
    const right = left === -1 ? -1 : next[left]!;
    if (left === -1 || right === -1) return;
    const rank = ranks.get(`${text[left]} ${text[right]}`);
    if (rank !== undefined) heap.push([rank, left, text[left]! + text[right]!]);
  };
  for (let i = 0; i + 1 < n; i++) consider(i);
  while (heap.size > 0) {
    const [, left, pair] = heap.pop();
    const right = next[left]!;
    if (right === -1 || text[left] === "" || text[left]! + text[right]! !== pair) continue;
    text[left] = pair;
    text[right] = "";
    next[left] = next[right]!;
    if (next[right]! !== -1) prev[next[right]!] = left;
    consider(prev[left]!);
    consider(left);
  }
  return text.filter((t) => t !== "");
}
