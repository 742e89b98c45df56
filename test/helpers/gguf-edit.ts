/**
 * One string of a GGUF's metadata rewritten (or added), the rest of the file kept byte for byte: used to run one of
 * llama.cpp's test vocabularies under another tokenizer.ggml.pre, so a pre-tokenizer without a test vocabulary of its
 * own is still compared with llama.cpp's. Only files without tensors (vocabulary-only GGUFs) are edited.
 */
const FIXED: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

export function withMetadataString(gguf: Buffer, key: string, value: string): Buffer {
  if (gguf.toString("latin1", 0, 4) !== "GGUF") throw new Error("not a GGUF file");
  if (gguf.readBigUInt64LE(8) !== 0n) throw new Error("only files without tensors are edited");
  const count = Number(gguf.readBigUInt64LE(16));
  let pos = 24;
  const skipValue = (type: number): void => {
    if (type === STRING) pos += 8 + Number(gguf.readBigUInt64LE(pos));
    else if (type === ARRAY) {
      const inner = gguf.readUInt32LE(pos);
      const n = Number(gguf.readBigUInt64LE(pos + 4));
      pos += 12;
      if (inner in FIXED) pos += n * FIXED[inner]!;
      else for (let i = 0; i < n; i++) skipValue(inner);
    } else if (type in FIXED) pos += FIXED[type]!;
    else throw new Error(`unknown GGUF value type ${type}`);
  };
  const encoded = (s: string) => {
    const bytes = Buffer.from(s, "utf8");
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(bytes.length));
    return Buffer.concat([length, bytes]);
  };
  const typeTag = Buffer.alloc(4);
  typeTag.writeUInt32LE(STRING);
  for (let i = 0; i < count; i++) {
    const keyLength = Number(gguf.readBigUInt64LE(pos));
    const name = gguf.toString("utf8", pos + 8, pos + 8 + keyLength);
    pos += 8 + keyLength;
    const type = gguf.readUInt32LE(pos);
    pos += 4;
    const valueAt = pos;
    skipValue(type);
    if (name === key) {
      if (type !== STRING) throw new Error(`${key} is not a string`);
      return Buffer.concat([gguf.subarray(0, valueAt), encoded(value), gguf.subarray(pos)]);
    }
  }
  // Not there: appended as one more pair.
  const header = Buffer.from(gguf.subarray(0, pos));
  header.writeBigUInt64LE(BigInt(count + 1), 16);
  return Buffer.concat([header, encoded(key), typeTag, encoded(value), gguf.subarray(pos)]);
}
