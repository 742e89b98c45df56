/**
 * A walk over a GGUF file's header that bounds every length and count before anything is read with it, the checks
 * of llama.cpp's own gguf.cpp done in JavaScript. node-llama-cpp's header reader trusts the lengths it reads: a
 * string length past 2^31 made Node's fs read abort the whole process (SIGABRT), and a huge count allocated without
 * limit. Only a file that passes this walk is handed to it, and then to llama.cpp.
 *
 * The header: "GGUF", version (u32), tensor count (u64), key-value count (u64), the key-value pairs, the tensor
 * infos, padding to general.alignment, then the tensor data, each tensor at the offset its info gives.
 */
import { open, type FileHandle } from "node:fs/promises";

/** A file that is not a GGUF model llama.cpp can read; the message says where and why. */
export class GgufHeaderError extends Error {}

/** GGUF value types: id -> fixed size in bytes (0 for string and array, which carry a length). */
const VALUE_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 0, 9: 0, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;
const UINT32 = 4;

/**
 * GGML tensor types llama.cpp reads: id -> [elements per block, bytes per block] (ggml.c's type_traits and
 * ggml-common.h's block sizes). Ids of removed types (4, 5, 31-33, 36-38) are absent: llama.cpp refuses them.
 */
export const GGML_BLOCKS: Record<number, readonly [number, number]> = {
  0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], 9: [32, 36],
  10: [256, 84], 11: [256, 110], 12: [256, 144], 13: [256, 176], 14: [256, 210], 15: [256, 292],
  16: [256, 66], 17: [256, 74], 18: [256, 98], 19: [256, 50], 20: [32, 18], 21: [256, 110], 22: [256, 82],
  23: [256, 136], 24: [1, 1], 25: [1, 2], 26: [1, 4], 27: [1, 8], 28: [1, 8], 29: [256, 56], 30: [1, 2],
  34: [256, 54], 35: [256, 66], 39: [32, 17], 40: [64, 36], 41: [128, 18], 42: [64, 18],
};

/** Limits no real model comes near, far below what would make a reader misbehave. */
const MAX_STRING = 64 * 1024 * 1024;
const MAX_KEY = 65_535;
const MAX_TENSOR_NAME = 63; // GGML_MAX_NAME - 1
const MAX_DIMS = 4;
const INT64_MAX = (1n << 63n) - 1n;

export interface GgufHeaderSummary {
  version: number;
  tensors: number;
  keys: number;
  /** Where the tensor data starts and how many bytes it needs (every tensor padded to the alignment). */
  dataOffset: number;
  dataBytes: number;
}

/** Reads a file through a window, refusing any read past its end before making it. */
class Cursor {
  private window = Buffer.alloc(0);
  private windowStart = 0;
  pos = 0;

  constructor(
    private readonly file: FileHandle,
    readonly size: number,
  ) {}

  get remaining(): number {
    return this.size - this.pos;
  }

  private async bytes(n: number, what: string): Promise<Buffer> {
    if (n > this.remaining) throw new GgufHeaderError(`the file ends inside ${what} (byte ${this.pos} of ${this.size})`);
    const end = this.pos + n;
    if (this.pos < this.windowStart || end > this.windowStart + this.window.length) {
      const length = Math.min(Math.max(n, 1 << 20), this.size - this.pos);
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await this.file.read(buffer, 0, length, this.pos);
      if (bytesRead < n) throw new GgufHeaderError(`the file ends inside ${what} (it shrank while being read)`);
      this.window = buffer.subarray(0, bytesRead);
      this.windowStart = this.pos;
    }
    const out = this.window.subarray(this.pos - this.windowStart, end - this.windowStart);
    this.pos = end;
    return out;
  }

  async u32(what: string): Promise<number> {
    return (await this.bytes(4, what)).readUInt32LE(0);
  }

  async u64(what: string): Promise<bigint> {
    return (await this.bytes(8, what)).readBigUInt64LE(0);
  }

  async i64(what: string): Promise<bigint> {
    return (await this.bytes(8, what)).readBigInt64LE(0);
  }

  /** A length-prefixed string's length, checked against the file and a cap; then its bytes or a skip. */
  async stringLength(what: string, max: number): Promise<number> {
    const length = await this.u64(`the length of ${what}`);
    if (length > BigInt(Math.min(max, this.remaining))) {
      throw new GgufHeaderError(`${what} claims ${length} bytes${length > BigInt(max) ? `, over the ${max}-byte limit` : ", more than the file holds"}`);
    }
    return Number(length);
  }

  async string(what: string, max: number): Promise<string> {
    return (await this.bytes(await this.stringLength(what, max), what)).toString("utf8");
  }

  async skip(n: number, what: string): Promise<void> {
    if (n > this.remaining) throw new GgufHeaderError(`the file ends inside ${what} (byte ${this.pos} of ${this.size})`);
    this.pos += n;
  }
}

/**
 * Walks the header of the file at path; throws GgufHeaderError with the first problem found. Reads only the header
 * (a few MB for a large vocabulary), never the tensor data.
 */
export async function walkGgufHeader(path: string): Promise<GgufHeaderSummary> {
  const file = await open(path, "r");
  try {
    const { size } = await file.stat();
    return await walk(new Cursor(file, size));
  } finally {
    await file.close();
  }
}

async function walk(c: Cursor): Promise<GgufHeaderSummary> {
  if (c.size < 24) throw new GgufHeaderError(`the file is ${c.size} bytes, too short for a GGUF header`);
  const magic = await c.u32("the magic");
  if (magic !== 0x46554747) throw new GgufHeaderError('the file does not start with "GGUF"');
  const version = await c.u32("the version");
  if (version !== 2 && version !== 3) {
    throw new GgufHeaderError(`GGUF version ${version} is not one llama.cpp reads (2 or 3)${(version & 0xffff) === 0 ? "; the file may be of the other byte order" : ""}`);
  }
  const tensorCount = await c.u64("the tensor count");
  const keyCount = await c.u64("the key count");
  // Every key-value pair takes at least 13 bytes (key length, a 1-byte key, type, a 1-byte value), every tensor info 24.
  if (keyCount > BigInt(Math.floor(c.remaining / 13))) throw new GgufHeaderError(`the header claims ${keyCount} keys, more than the file can hold`);
  if (tensorCount > BigInt(Math.floor(c.remaining / 24))) throw new GgufHeaderError(`the header claims ${tensorCount} tensors, more than the file can hold`);

  const keys = new Set<string>();
  let alignment = 32;
  for (let i = 0; i < Number(keyCount); i++) {
    const key = await c.string(`key ${i}`, MAX_KEY);
    if (key.length === 0) throw new GgufHeaderError(`key ${i} is empty`);
    const name = printable(key);
    if (keys.has(key)) throw new GgufHeaderError(`key ${name} appears twice`);
    keys.add(key);
    const type = await c.u32(`the type of ${name}`);
    if (key === "general.alignment") {
      if (type !== UINT32) throw new GgufHeaderError("general.alignment is not a u32");
      alignment = await c.u32("general.alignment");
      if (alignment === 0 || (alignment & (alignment - 1)) !== 0) throw new GgufHeaderError(`general.alignment ${alignment} is not a power of 2`);
      continue;
    }
    await value(c, type, name);
  }

  const names = new Set<string>();
  let expectedOffset = 0n;
  for (let i = 0; i < Number(tensorCount); i++) {
    const tensor = await c.string(`the name of tensor ${i}`, MAX_TENSOR_NAME);
    const name = printable(tensor);
    if (names.has(tensor)) throw new GgufHeaderError(`tensor ${name} appears twice`);
    names.add(tensor);
    const dims = await c.u32(`the dimension count of ${name}`);
    if (dims > MAX_DIMS) throw new GgufHeaderError(`tensor ${name} has ${dims} dimensions; llama.cpp allows ${MAX_DIMS}`);
    const shape: bigint[] = [];
    for (let d = 0; d < dims; d++) {
      const n = await c.i64(`a dimension of ${name}`);
      if (n < 0n) throw new GgufHeaderError(`tensor ${name} has a negative dimension`);
      shape.push(n);
    }
    const elements = shape.reduce((a, b) => a * b, 1n);
    if (elements > INT64_MAX) throw new GgufHeaderError(`tensor ${name} has more elements than llama.cpp can count`);
    const type = await c.u32(`the type of ${name}`);
    const block = GGML_BLOCKS[type];
    if (!block) throw new GgufHeaderError(`tensor ${name} has tensor type ${type}, which llama.cpp does not read`);
    const [perBlock, blockBytes] = block;
    if ((shape[0] ?? 1n) % BigInt(perBlock) !== 0n) {
      throw new GgufHeaderError(`tensor ${name} has rows of ${shape[0] ?? 1n} elements, not a multiple of its type's block of ${perBlock}`);
    }
    const offset = await c.u64(`the data offset of ${name}`);
    if (offset !== expectedOffset) throw new GgufHeaderError(`tensor ${name} starts at data offset ${offset}; the tensors before it end at ${expectedOffset}`);
    const bytes = (elements / BigInt(perBlock)) * BigInt(blockBytes);
    expectedOffset += pad(bytes, BigInt(alignment));
  }

  const dataOffset = Number(pad(BigInt(c.pos), BigInt(alignment)));
  if (expectedOffset > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufHeaderError("the tensors claim more bytes than any file holds");
  const dataBytes = Number(expectedOffset);
  return { version, tensors: Number(tensorCount), keys: keys.size, dataOffset, dataBytes };
}

/** Walks (skips) one value of the given type, bounding strings and array lengths by what the file holds. */
async function value(c: Cursor, type: number, name: string): Promise<void> {
  if (type === STRING) return c.skip(await c.stringLength(`the value of ${name}`, MAX_STRING), `the value of ${name}`);
  if (type === ARRAY) {
    const itemType = await c.u32(`the item type of ${name}`);
    const count = await c.u64(`the length of ${name}`);
    if (itemType === ARRAY) throw new GgufHeaderError(`${name} is an array of arrays, which llama.cpp does not read`);
    const itemSize = VALUE_SIZE[itemType];
    if (itemSize === undefined) throw new GgufHeaderError(`${name} holds items of type ${itemType}, which is not a GGUF type`);
    // A string item takes 8 bytes at least (its length).
    if (count > BigInt(Math.floor(c.remaining / (itemSize || 8)))) throw new GgufHeaderError(`${name} claims ${count} items, more than the file holds`);
    if (itemType !== STRING) return c.skip(Number(count) * itemSize, `the items of ${name}`);
    for (let i = 0; i < Number(count); i++) await c.skip(await c.stringLength(`item ${i} of ${name}`, MAX_STRING), `item ${i} of ${name}`);
    return;
  }
  const size = VALUE_SIZE[type];
  if (size === undefined) throw new GgufHeaderError(`${name} has type ${type}, which is not a GGUF type`);
  return c.skip(size, `the value of ${name}`);
}

function pad(n: bigint, alignment: bigint): bigint {
  return ((n + alignment - 1n) / alignment) * alignment;
}

/** A key or tensor name as a message may show it: short, printable ASCII. */
function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, "?");
  return JSON.stringify(clean.length > 64 ? `${clean.slice(0, 64)}…` : clean);
}
