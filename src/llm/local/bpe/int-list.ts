/**
 * A list of integers that a tokenizer keeps from call to call (word ends, ids): an Int32Array that grows by doubling
 * and is emptied, not dropped, after each use. A JavaScript array grown by push to the ~200 k words or ~350 k ids of
 * a 1 MB text cost ~20x more here: past ~16 k elements each growth is a new large object outside the young
 * generation.
 */
export class IntList {
  values = new Int32Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Int32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }

  /** The last value appended, or -1. */
  last(): number {
    return this.length > 0 ? this.values[this.length - 1]! : -1;
  }

  /** Emptied for the next use; a buffer grown past 4 MB (a huge text) is let go rather than kept. */
  clear(): void {
    this.length = 0;
    if (this.values.length > 1 << 20) this.values = new Int32Array(1024);
  }

  /** The values as a JavaScript array, allocated once at its size. */
  toArray(): number[] {
    const out = new Array<number>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.values[i]!;
    return out;
  }
}
