/**
 * SentencePiece BPE (tokenizer.ggml.model "llama": llama, mistral, phi-3...) exactly as llama.cpp's
 * llm_tokenizer_spm: special tokens split out first; each text fragment gets a leading space when it starts the text
 * or follows a special token (add_space_prefix), spaces become "▁", and the fragment's characters are merged pairwise
 * into vocabulary tokens, the merge whose token has the highest score first (leftmost on a tie); a character that is
 * no token is written as its UTF-8 bytes (<0xNN> tokens). No pre-tokenizer: a fragment is merged as a whole.
 */
import { Heap } from "./heap.js";
import type { IntList } from "./int-list.js";
import { OwnTokenizer, partition, specialTokens, type BpeVocabularyData, type Special } from "./tokenizer.js";

export interface SpmVocabularyData {
  tokens: readonly string[];
  scores: ArrayLike<number>;
  specials: BpeVocabularyData["specials"];
  /** tokenizer.ggml.add_space_prefix (llama.cpp's default for SentencePiece: true) */
  addSpacePrefix: boolean;
}

const HEX = "0123456789ABCDEF";
const SEGMENT = /\u2581*[^\u2581]*/gu;

export class FastSpm extends OwnTokenizer {
  private readonly vocab = new Map<string, number>();
  private readonly byteIds: number[] = [];
  private readonly specialsAlways: Special[];
  private readonly specialsParsed: Special[];
  /**
   * Whether no token has "▁" after another character: then no merge crosses the start of a "▁" run, each such
   * segment is merged on its own with the same result, and a segment's ids can be remembered like a BPE word.
   */
  private readonly segmentable: boolean;
  private readonly memo = new Map<string, readonly number[]>();

  private constructor(
    private readonly data: SpmVocabularyData,
    byteIds: number[],
  ) {
    super();
    data.tokens.forEach((text, id) => this.vocab.set(text, id));
    this.byteIds = byteIds;
    [this.specialsAlways, this.specialsParsed] = specialTokens(data.tokens, data.specials);
    this.segmentable = !data.tokens.some((t) => /[^\u2581]\u2581/u.test(t));
  }

  static create(data: SpmVocabularyData): FastSpm | { unsupported: string } {
    if (data.scores.length !== data.tokens.length) return { unsupported: "the vocabulary has no score per token" };
    const index = new Map<string, number>();
    data.tokens.forEach((text, id) => index.set(text, id));
    // byte_to_token: "<0xNN>", else the byte itself as a one-character token; a vocabulary with neither for some
    // byte makes llama.cpp throw, so it stays with llama.cpp.
    const byteIds: number[] = [];
    for (let b = 0; b < 256; b++) {
      const id = index.get(`<0x${HEX[b >> 4]}${HEX[b & 15]}>`) ?? (b < 128 ? index.get(String.fromCharCode(b)) : undefined);
      if (id === undefined) return { unsupported: `the vocabulary has no token for byte 0x${b.toString(16)}` };
      byteIds.push(id);
    }
    return new FastSpm(data, byteIds);
  }

  /** The text's ids appended to out (when given); their number. */
  protected run(text: string, special: boolean, out: IntList | null): number {
    let n = 0;
    let afterSpecial = true;
    for (const f of partition(text, special ? this.specialsParsed : this.specialsAlways)) {
      if (typeof f === "number") {
        out?.push(f);
        n++;
        afterSpecial = true;
        continue;
      }
      const prefixed = (this.data.addSpacePrefix && afterSpecial ? ` ${f}` : f).replaceAll(" ", "\u2581");
      afterSpecial = false;
      if (!this.segmentable) {
        const ids: number[] = [];
        this.encode(prefixed, ids);
        if (out) for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
        n += ids.length;
        continue;
      }
      // Segments: a run of "▁" and what follows it up to the next run.
      for (const segment of prefixed.match(SEGMENT)!) {
        let ids = this.memo.get(segment);
        if (!ids) {
          const fresh: number[] = [];
          this.encode(segment, fresh);
          ids = fresh;
          if (this.memo.size >= 1 << 16) this.memo.clear();
          this.memo.set(segment, ids);
        }
        if (out) for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
        n += ids.length;
      }
    }
    return n;
  }

  private encode(text: string, out: number[]): void {
    const symbols: string[] = [];
    for (const ch of text) symbols.push(ch.length === 1 && ch >= "\ud800" && ch <= "\udfff" ? "\ufffd" : ch);
    const n = symbols.length;
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    // A max-heap on (score, then the smaller left index) of [score, left, the merged text].
    const before = (a: [number, number, string], b: [number, number, string]) => a[0] > b[0] || (a[0] === b[0] && a[1] < b[1]);
    const heap = new Heap<[number, number, string]>(before);
    // Scores are float32 in the GGUF, compared as such by llama.cpp.
    const consider = (left: number) => {
      if (left === -1 || next[left] === -1) return;
      const merged = symbols[left]! + symbols[next[left]!]!;
      const id = this.vocab.get(merged);
      if (id !== undefined) heap.push([Math.fround(this.data.scores[id]!), left, merged]);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heap.size > 0) {
      const [, left, merged] = heap.pop();
      const right = next[left]!;
      if (right === -1 || symbols[left] === "" || symbols[left]! + symbols[right]! !== merged) continue;
      symbols[left] = merged;
      symbols[right] = "";
      next[left] = next[right]!;
      if (next[right]! !== -1) prev[next[right]!] = left;
      consider(prev[left]!);
      consider(left);
    }
    for (let i = 0; i !== -1 && n > 0; i = next[i]!) {
      const symbol = symbols[i]!;
      const id = this.vocab.get(symbol);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      for (const byte of Buffer.from(symbol, "utf8")) out.push(this.byteIds[byte]!);
    }
  }
}
