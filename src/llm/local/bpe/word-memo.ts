/**
 * The ids of words already tokenized, found by the words' code points: no string is made of a word to look it up. A
 * 1 MB text has ~230 k words; slicing a string out of the text for each, and hashing it into a Map, took about a
 * third of the tokenizer's time, and the slices were most of its garbage. Here a word is hashed (FNV-1a) straight
 * from the code point array, and found in an open-addressing table whose keys and ids live in two kept pools.
 */
import { IntList } from "./int-list.js";

/**
 * Words longer than this (in code points) are not remembered: rare, and they would fill the pools. With the
 * tokenizer's 65,536 words, the pools hold at most 16 MB of code points (and as many ids, at most one per byte).
 */
export const LONGEST_KEPT = 64;

/** FNV-1a over a word's code points. */
export function wordHash(cps: Int32Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ cps[i]!, 0x01000193);
  return hash;
}

export class WordMemo {
  private readonly mask: number;
  /** Entry + 1 per slot; 0 = empty. */
  private readonly slots: Int32Array;
  private readonly hashes: Int32Array;
  private readonly keyAt: Int32Array;
  private readonly keyLength: Int32Array;
  /** Where each entry's ids start in the id pool; they end where the next entry's start (or at the pool's end). */
  private readonly idAt: Int32Array;
  private readonly keys = new IntList();
  /** The ids of every entry, one after another. */
  readonly ids = new IntList();
  private size = 0;
  /** The hash and free slot of the last word not found, for add(). */
  private lastHash = 0;
  private lastSlot = 0;

  constructor(private readonly capacity: number) {
    let slots = 2;
    while (slots < capacity * 2) slots *= 2;
    this.mask = slots - 1;
    this.slots = new Int32Array(slots);
    this.hashes = new Int32Array(capacity);
    this.keyAt = new Int32Array(capacity);
    this.keyLength = new Int32Array(capacity);
    this.idAt = new Int32Array(capacity + 1);
  }

  /** The entry of the word cps[start, end), or -1 (then add() may follow for the same word). */
  find(cps: Int32Array, start: number, end: number): number {
    const hash = wordHash(cps, start, end);
    const length = end - start;
    const keys = this.keys.values;
    let slot = hash & this.mask;
    for (let entry = this.slots[slot]! - 1; entry !== -1; entry = this.slots[slot]! - 1) {
      if (this.hashes[entry] === hash && this.keyLength[entry] === length) {
        const at = this.keyAt[entry]! - start;
        let i = start;
        while (i < end && keys[at + i] === cps[i]) i++;
        if (i === end) return entry;
      }
      slot = (slot + 1) & this.mask;
    }
    this.lastHash = hash;
    this.lastSlot = slot;
    return -1;
  }

  /**
   * Remembers the ids of the word find() just missed; its entry, or -1 when the word is too long to keep. A full memo
   * starts again, empty.
   */
  add(cps: Int32Array, start: number, end: number, ids: readonly number[]): number {
    if (end - start > LONGEST_KEPT) return -1;
    if (this.size === this.capacity) {
      this.clear();
      // The slot found free belonged to the table just emptied: find the word's slot again.
      this.find(cps, start, end);
    }
    const entry = this.size++;
    this.hashes[entry] = this.lastHash;
    this.keyAt[entry] = this.keys.length;
    this.keyLength[entry] = end - start;
    for (let i = start; i < end; i++) this.keys.push(cps[i]!);
    this.idAt[entry] = this.ids.length;
    for (let i = 0; i < ids.length; i++) this.ids.push(ids[i]!);
    this.idAt[entry + 1] = this.ids.length;
    this.slots[this.lastSlot] = entry + 1;
    return entry;
  }

  /** Where the entry's ids start in `ids.values`. */
  idsStart(entry: number): number {
    return this.idAt[entry]!;
  }

  /** Where they end. */
  idsEnd(entry: number): number {
    return this.idAt[entry + 1]!;
  }

  clear(): void {
    this.slots.fill(0);
    this.size = 0;
    this.keys.clear();
    this.ids.clear();
  }
}
