/**
 * The tokenizer's word memo (words' ids found by their code points), against a plain Map of strings doing the same
 * job: seeded sequences of words, short and long, many alike (a small alphabet, so hashes share slots and probes
 * wrap), through memos small enough to fill and start again.
 */
import { describe, expect, test } from "vitest";
import { LONGEST_KEPT, wordHash, WordMemo } from "../../src/llm/local/bpe/word-memo.js";
import { prng } from "../helpers/prng.js";

/** A text's code points in one array, and where each of its words ends. */
function wordsOf(words: string[]): { cps: Int32Array; ends: number[] } {
  const cps: number[] = [];
  const ends: number[] = [];
  for (const w of words) {
    for (const ch of w) cps.push(ch.codePointAt(0)!);
    ends.push(cps.length);
  }
  return { cps: Int32Array.from(cps), ends };
}

const idsOf = (memo: WordMemo, entry: number) => [...memo.ids.values.subarray(memo.idsStart(entry), memo.idsEnd(entry))];

describe("WordMemo", () => {
  test("seeded: every word found has the ids it was given, every word never given (or forgotten) is not found", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const random = prng(seed);
      const alphabet = ["a", "b", "é", "😀", " ", "\u0301"];
      const words = Array.from({ length: 3000 }, () => {
        const length = random() < 0.02 ? LONGEST_KEPT - 8 + Math.floor(random() * 16) : 1 + Math.floor(random() * 4);
        return Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]!).join("");
      });
      const { cps, ends } = wordsOf(words);
      const capacity = 64;
      const memo = new WordMemo(capacity);
      const reference = new Map<string, number[]>();
      let start = 0;
      let cleared = 0;
      for (let w = 0; w < words.length; w++) {
        const end = ends[w]!;
        const word = words[w]!;
        const entry = memo.find(cps, start, end);
        const known = reference.get(word);
        expect(entry === -1, `seed ${seed}, word ${w} ${JSON.stringify(word)}`).toBe(known === undefined);
        if (entry !== -1) expect(idsOf(memo, entry)).toEqual(known);
        else {
          // Ids of any length, none, one or several, as words have.
          const ids = Array.from({ length: Math.floor(random() * 4) }, () => Math.floor(random() * 150_000));
          if (reference.size === capacity && [...word].length <= LONGEST_KEPT) {
            reference.clear();
            cleared++;
          }
          const added = memo.add(cps, start, end, ids);
          if ([...word].length > LONGEST_KEPT) expect(added).toBe(-1);
          else {
            expect(added).not.toBe(-1);
            expect(idsOf(memo, added)).toEqual(ids);
            reference.set(word, ids);
          }
        }
        start = end;
      }
      // The memo filled and started again several times; the comparison held throughout.
      expect(cleared).toBeGreaterThan(2);
    }
  });

  test("a word is told apart from its prefixes and from words of the same length", () => {
    const { cps, ends } = wordsOf(["ab", "a", "abc", "ba", "ab"]);
    const memo = new WordMemo(8);
    expect(memo.find(cps, 0, ends[0]!)).toBe(-1);
    const ab = memo.add(cps, 0, ends[0]!, [7, 8]);
    expect(memo.find(cps, ends[0]!, ends[1]!)).toBe(-1);
    memo.add(cps, ends[0]!, ends[1]!, [1]);
    expect(memo.find(cps, ends[1]!, ends[2]!)).toBe(-1);
    memo.add(cps, ends[1]!, ends[2]!, []);
    expect(memo.find(cps, ends[2]!, ends[3]!)).toBe(-1);
    memo.add(cps, ends[2]!, ends[3]!, [9]);
    expect(memo.find(cps, ends[3]!, ends[4]!)).toBe(ab);
    expect(idsOf(memo, ab)).toEqual([7, 8]);
  });

  test("two words of the same hash (found by search) are told apart", () => {
    const random = prng(99);
    const seen = new Map<number, Int32Array>();
    let pair: [Int32Array, Int32Array] | undefined;
    while (!pair) {
      const word = Int32Array.from({ length: 3 }, () => Math.floor(random() * 0x110000));
      const hash = wordHash(word, 0, 3);
      const other = seen.get(hash);
      if (other && other.some((cp, i) => cp !== word[i])) pair = [other, word];
      seen.set(hash, word);
    }
    const [a, b] = pair;
    const both = Int32Array.from([...a, ...b]);
    expect(wordHash(both, 0, 3)).toBe(wordHash(both, 3, 6));
    const memo = new WordMemo(4);
    expect(memo.find(both, 0, 3)).toBe(-1);
    memo.add(both, 0, 3, [1, 2]);
    expect(memo.find(both, 3, 6)).toBe(-1);
    const second = memo.add(both, 3, 6, [3]);
    expect(idsOf(memo, memo.find(both, 0, 3))).toEqual([1, 2]);
    expect(memo.find(both, 3, 6)).toBe(second);
    expect(idsOf(memo, second)).toEqual([3]);
  });
});
