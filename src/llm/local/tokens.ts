/**
 * The local model's tokenizer: llama.cpp's own tokenize/detokenize, and the exact bytes behind every token id, from
 * the vocabulary stored in the GGUF file:
 * - byte-level BPE (gpt2 style): each character stands for one byte through GPT-2's reversible byte map;
 * - SentencePiece / Unigram: "<0xNN>" is one raw byte and "▁" is a space;
 * - control and user-defined tokens: their text as written.
 * A piece whose bytes are not valid UTF-8 on their own (part of a multi-byte character) is rendered as
 * "<0xF0><0x9F>", never as a replacement character, and carries its bytes in hex.
 */
import type { LlamaModel, Token } from "node-llama-cpp";
import { renderBytes, type ModelInfo, type TokenizerImplementation, type TokenKind, type Tokenizer, type TokenPiece, type Vocabulary } from "../engine.js";
import { FastSpm } from "./bpe/spm.js";
import { FastBpe } from "./bpe/tokenizer.js";

type Ggml = { tokens?: unknown; merges?: unknown; scores?: unknown; model?: unknown; pre?: unknown; add_space_prefix?: unknown };

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

/** The local model's tokenizer, which is also its vocabulary table. */
export class LocalTokenizer implements Tokenizer, Vocabulary {
  private readonly texts: readonly string[] | undefined;
  private readonly bytesCache = new Map<number, Uint8Array>();
  readonly size: number;
  readonly kind: string;
  readonly backend = "local";
  private readonly style: "bpe" | "spm" | "other";
  /** lam-mcp's own tokenizer for this vocabulary, when it reproduces llama.cpp's exactly (and may be used). */
  private readonly own: FastBpe | FastSpm | null;
  readonly implementation: TokenizerImplementation;

  constructor(
    /** The node-llama-cpp model: for the local backend's own use, never a family's. */
    readonly model: LlamaModel,
    readonly info: ModelInfo,
    /** "auto": lam-mcp's own tokenizer where it is exact; "llama.cpp": always llama.cpp's (--tokenizer). */
    choice: "auto" | "llama.cpp" = "auto",
  ) {
    const ggml = (model.fileInfo.metadata as { tokenizer?: { ggml?: Ggml } }).tokenizer?.ggml;
    this.texts = Array.isArray(ggml?.tokens) ? (ggml.tokens as string[]) : undefined;
    this.size = this.texts?.length ?? [...model.iterateAllTokens()].length;
    this.kind = String(model.vocabularyType);
    this.style = this.kind === "bpe" ? "bpe" : this.kind === "spm" || this.kind === "ugm" ? "spm" : "other";
    const own = choice === "llama.cpp" ? { unsupported: "--tokenizer llama.cpp" } : this.ownTokenizer(ggml);
    this.own = own instanceof FastBpe || own instanceof FastSpm ? own : null;
    this.implementation =
      own instanceof FastBpe
        ? { engine: "lam-mcp", detail: `lam-mcp's byte-level BPE (TypeScript), llama.cpp's "${String(ggml?.pre)}" pre-tokenizer reproduced exactly` }
        : own instanceof FastSpm
          ? { engine: "lam-mcp", detail: "lam-mcp's SentencePiece BPE (TypeScript), llama.cpp's reproduced exactly" }
          : { engine: "llama.cpp", detail: `llama.cpp's tokenizer (lam-mcp's own does not serve this vocabulary: ${own.unsupported})` };
  }

  /** lam-mcp's tokenizer for this vocabulary, from the GGUF's tokens and merges and llama.cpp's token attributes. */
  private ownTokenizer(ggml: Ggml | undefined): FastBpe | FastSpm | { unsupported: string } {
    if (!this.texts || !ggml) return { unsupported: "the GGUF holds no token list" };
    if (ggml.model !== "gpt2" && ggml.model !== "llama") return { unsupported: `tokenizer type "${String(ggml.model)}" (only byte-level BPE and SentencePiece BPE are reproduced)` };
    const specials = [];
    for (let id = 0; id < this.texts.length; id++) {
      const a = this.model.getTokenAttributes(id as Token);
      if (a.control || a.userDefined || a.unknown) specials.push({ id, control: a.control, userDefined: a.userDefined, unknown: a.unknown, lstrip: a.lstrip, rstrip: a.rstrip });
    }
    if (ggml.model === "llama") {
      if (!Array.isArray(ggml.scores) && !ArrayBuffer.isView(ggml.scores)) return { unsupported: "the vocabulary has no scores" };
      return FastSpm.create({ tokens: this.texts, scores: ggml.scores as ArrayLike<number>, specials, addSpacePrefix: ggml.add_space_prefix !== false });
    }
    return FastBpe.create({
      model: "gpt2",
      pre: typeof ggml.pre === "string" ? ggml.pre : "",
      tokens: this.texts,
      merges: Array.isArray(ggml.merges) ? (ggml.merges as string[]) : [],
      specials,
    });
  }

  /** A text's ids, by lam-mcp's tokenizer when it serves this vocabulary, else llama.cpp's. */
  private ids(text: string, special: boolean): number[] {
    if (text.length === 0) return [];
    return this.own ? this.own.tokenize(text, special) : [...this.model.tokenize(text, special)];
  }

  get bos(): number | null {
    return this.model.tokens.bos;
  }

  get eos(): number | null {
    return this.model.tokens.eos;
  }

  get eot(): number | null {
    return this.model.tokens.eot;
  }

  get vocabulary(): Vocabulary {
    return this;
  }

  async tokenize(text: string, { special, addBos = false }: { special: boolean; addBos?: boolean }): Promise<{ ids: number[]; bosAdded: boolean }> {
    const ids = this.ids(text, special);
    const bosAdded = addBos && this.bos !== null;
    if (bosAdded) ids.unshift(this.bos!);
    return { ids, bosAdded };
  }

  async tokenBytes(ids: readonly number[]): Promise<Uint8Array[]> {
    return ids.map((id) => this.bytes(id));
  }

  async count(text: string, special: boolean): Promise<number> {
    if (this.own && text.length > 0) return this.own.count(text, special);
    return this.ids(text, special).length;
  }

  async detokenize(ids: readonly number[], special: boolean): Promise<string> {
    return this.model.detokenize(ids as Token[], special);
  }

  has(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.size;
  }

  tokenKind(id: number): TokenKind {
    const a = this.model.getTokenAttributes(id as Token);
    if (a.control) return "control";
    if (a.userDefined) return "user_defined";
    if (a.byte) return "byte";
    if (a.unknown) return "unknown";
    if (a.unused) return "unused";
    return "normal";
  }

  isSpecial(id: number): boolean {
    const kind = this.tokenKind(id);
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
    if (text === undefined) return Buffer.from(this.model.detokenize([id as Token], true), "utf8");
    if (this.isSpecial(id)) return Buffer.from(text, "utf8");
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
