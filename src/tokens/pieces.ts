/**
 * The exact bytes behind every token id, from the vocabulary stored in the GGUF file:
 * - byte-level BPE (gpt2 style): each character stands for one byte through GPT-2's reversible byte map;
 * - SentencePiece / Unigram: "<0xNN>" is one raw byte and "▁" is a space;
 * - control and user-defined tokens: their text as written.
 * A piece whose bytes are not valid UTF-8 on their own (part of a multi-byte character) is rendered as
 * "<0xF0><0x9F>", never as a replacement character, and carries its bytes in hex.
 */
import type { LlamaModel } from "node-llama-cpp";

export interface TokenPiece {
  id: number;
  piece: string;
  /** Hex bytes, present only when the piece is not valid UTF-8 on its own. */
  bytes?: string;
}

export type TokenKind = "normal" | "control" | "user_defined" | "byte" | "unknown" | "unused";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

let gpt2ByteMap: Map<string, number> | undefined;
function unicodeToByte(): Map<string, number> {
  if (gpt2ByteMap) return gpt2ByteMap;
  const printable = new Set<number>();
  for (let b = 33; b <= 126; b++) printable.add(b);
  for (let b = 161; b <= 172; b++) printable.add(b);
  for (let b = 174; b <= 255; b++) printable.add(b);
  const map = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) map.set(String.fromCharCode(printable.has(b) ? b : 256 + extra++), b);
  gpt2ByteMap = map;
  return map;
}

export function renderBytes(bytes: Uint8Array): { piece: string; bytes?: string } {
  try {
    return { piece: strictUtf8.decode(bytes) };
  } catch {
    const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0"));
    return { piece: hex.map((h) => `<0x${h.toUpperCase()}>`).join(""), bytes: hex.join(" ") };
  }
}

export class TokenTable {
  private readonly texts: readonly string[] | undefined;
  private readonly bytesCache = new Map<number, Uint8Array>();
  readonly size: number;
  private readonly style: "bpe" | "spm" | "other";

  constructor(private readonly model: LlamaModel) {
    const tokens = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: unknown } } }).tokenizer?.ggml?.tokens;
    this.texts = Array.isArray(tokens) ? (tokens as string[]) : undefined;
    this.size = this.texts?.length ?? [...model.iterateAllTokens()].length;
    const type = String(model.vocabularyType);
    this.style = type === "bpe" ? "bpe" : type === "spm" || type === "ugm" ? "spm" : "other";
  }

  has(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.size;
  }

  kind(id: number): TokenKind {
    const a = this.model.getTokenAttributes(id as never);
    if (a.control) return "control";
    if (a.userDefined) return "user_defined";
    if (a.byte) return "byte";
    if (a.unknown) return "unknown";
    if (a.unused) return "unused";
    return "normal";
  }

  /** Special = anything that is not ordinary text: control, user-defined, unknown or unused tokens. */
  isSpecial(id: number): boolean {
    const kind = this.kind(id);
    return kind === "control" || kind === "user_defined" || kind === "unknown" || kind === "unused";
  }

  bytes(id: number): Uint8Array {
    let cached = this.bytesCache.get(id);
    if (!cached) {
      cached = this.computeBytes(id);
      this.bytesCache.set(id, cached);
    }
    return cached;
  }

  piece(id: number): TokenPiece {
    return { id, ...renderBytes(this.bytes(id)) };
  }

  private computeBytes(id: number): Uint8Array {
    const text = this.texts?.[id];
    if (text === undefined) return Buffer.from(this.model.detokenize([id as never], true), "utf8");
    const kind = this.kind(id);
    if (kind === "control" || kind === "user_defined" || kind === "unknown" || kind === "unused") return Buffer.from(text, "utf8");
    if (this.style === "bpe") {
      const map = unicodeToByte();
      const out: number[] = [];
      for (const ch of text) {
        const b = map.get(ch);
        if (b === undefined) return Buffer.from(text, "utf8"); // an added token stored as plain text
        out.push(b);
      }
      return Uint8Array.from(out);
    }
    if (this.style === "spm") {
      const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
      if (byte) return Uint8Array.from([parseInt(byte[1]!, 16)]);
      return Buffer.from(text.replace(/\u2581/g, " "), "utf8");
    }
    return Buffer.from(text, "utf8");
  }
}

/** The token table of a loaded model, built once. */
export function tokenTableOf(loaded: { model: LlamaModel; cache: Map<string, unknown> }): TokenTable {
  let table = loaded.cache.get("tokenTable") as TokenTable | undefined;
  if (!table) {
    table = new TokenTable(loaded.model);
    loaded.cache.set("tokenTable", table);
  }
  return table;
}
