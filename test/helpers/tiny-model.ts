/**
 * Writes a tiny llama-architecture GGUF v3 model (~300 KB, byte-identical every run) whose behaviour is designed,
 * so the real llama.cpp can be tested with exact expected outputs.
 *
 * How it works: every attn_output and ffn_down weight is zero, so the residual stream stays equal to the token
 * embedding of the current (last) token, and the output matrix alone picks the next token. Each token of a designed
 * chain owns one embedding "slot" (a dimension); the output row of its successor peaks on that slot. Tokens without
 * a design share slot 0, whose favourite successor is EOS. Dimensions 32..63 carry a small deterministic per-token
 * signature, so that embeddings of different tokens differ without changing which token wins.
 *
 * Designed behaviour (greedy):
 *   "Hello" -> " world" -> "!" -> <|im_end|> (EOS)
 *   " one" -> " two" -> ... -> " twenty" -> "." -> EOS
 *   "\n" -> "Hello"   (so a ChatML assistant turn answers "Hello world!")
 *   " la" -> " la" -> ... (never ends: runs to max_tokens)
 *   " pick" and every colour -> uniform over 8 colours (sampling spreads: seeds matter)
 *   anything else -> EOS; if EOS is not allowed (a grammar), '"' then '}' then digits are preferred.
 *
 * With `vocabulary: "spm"` the same design runs on a SentencePiece vocabulary (tokenizer.ggml.model "llama",
 * "▁" for spaces, <0xNN> byte fallback, scores, add_space_prefix), whose first generated token carries the leading
 * space that detokenizing it alone would drop:
 *   " Once" -> " upon" -> " a" -> " time" -> "," -> " there" -> " lived" -> "." -> </s> (EOS)
 *   "\n" -> " Once"   (so a plain-format chat answer is " Once upon a time, there lived.")
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { prng } from "./prng.js";

/** Bumped whenever the design changes, so cached copies (bench/.bench-tmp) are rebuilt. */
export const DESIGN_VERSION = 2;
export const EMBEDDING_SIZE = 64;
export const CONTEXT_LENGTH = 8192;
const FEED_FORWARD = 64;
const HEADS = 4;
const SIGNATURE_FROM = 32;

export const NUMBER_WORDS = [
  "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen",
  "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
].map((w) => ` ${w}`);
export const COLOURS = [" red", " green", " blue", " yellow", " purple", " orange", " black", " white"];
/** Words merged into one token each (besides the 256 byte tokens and the special tokens). */
export const WORDS = [
  "Hello", " world", ...NUMBER_WORDS, " la", " pick", ...COLOURS,
  "system", "user", "assistant", " the", " The", " of", " and", " to", " token", " model", " JSON", " HTTP",
  " API", " search", " action", "ing", "ed",
];
export const SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] as const;
export const BOS_ID = 0;
export const EOS_ID = 2;
export const IM_START_ID = 1;

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** GPT-2's reversible byte -> printable character map, used by byte-level BPE vocabularies. */
export function byteToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map: string[] = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    map[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return map;
}

export interface TinyVocabulary {
  kind: "bpe" | "spm";
  /** GGUF token texts (byte-level: " world" is stored as "Ġworld"; SentencePiece: "▁world"). */
  tokens: string[];
  /** GGUF token types: 1 normal, 2 unknown, 3 control, 6 byte. */
  types: number[];
  /** BPE merges (byte-level only). */
  merges: string[];
  /** SentencePiece scores: a longer piece scores higher, so merges build whole words. */
  scores: number[];
  /** The exact text of every token, in id order. */
  pieces: Buffer[];
  idOf(text: string): number;
  bos: number;
  eos: number;
}

/** The SentencePiece model's words (and what its designed chains use). */
export const SPM_WORDS = [" Once", " upon", " a", " time", ",", " there", " lived", ".", " Hello", " world", "!"];
export const SPM_SPECIAL = ["<unk>", "<s>", "</s>"] as const;

export function buildVocabulary(kind: "bpe" | "spm" = "bpe"): TinyVocabulary {
  return kind === "spm" ? buildSpmVocabulary() : buildBpeVocabulary();
}

function buildSpmVocabulary(): TinyVocabulary {
  const tokens: string[] = [...SPM_SPECIAL];
  const types: number[] = [2, 3, 3];
  const scores: number[] = [0, 0, 0];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(6);
    scores.push(0);
  }
  const known = new Set(tokens);
  const add = (piece: string) => {
    if (known.has(piece)) return;
    known.add(piece);
    tokens.push(piece);
    types.push(1);
    scores.push([...piece].length);
  };
  for (const word of SPM_WORDS) {
    const chars = [...word.replace(/ /g, "\u2581")];
    for (const c of chars) add(c);
    for (let n = 2; n <= chars.length; n++) add(chars.slice(0, n).join(""));
  }
  const pieces = tokens.map((t, id) =>
    types[id] === 6 ? Buffer.from([parseInt(t.slice(3, 5), 16)]) : Buffer.from(types[id] === 1 ? t.replace(/\u2581/g, " ") : t, "utf8"),
  );
  const index = new Map(tokens.map((t, id) => [t, id]));
  return {
    kind: "spm",
    tokens,
    types,
    merges: [],
    scores,
    pieces,
    bos: 1,
    eos: 2,
    idOf(text: string) {
      const id = index.get(text.replace(/ /g, "\u2581"));
      if (id !== undefined) return id;
      const bytes = Buffer.from(text, "utf8");
      if (bytes.length === 1) return 3 + bytes[0]!;
      throw new Error(`no single token for ${JSON.stringify(text)}`);
    },
  };
}

function buildBpeVocabulary(): TinyVocabulary {
  const b2u = byteToUnicode();
  const encode = (text: string) => [...Buffer.from(text, "utf8")].map((b) => b2u[b]!).join("");
  const tokens: string[] = [...SPECIAL_TOKENS];
  const types: number[] = SPECIAL_TOKENS.map(() => 3);
  const pieces: Buffer[] = SPECIAL_TOKENS.map((s) => Buffer.from(s, "utf8"));
  for (let b = 0; b < 256; b++) {
    tokens.push(b2u[b]!);
    types.push(1);
    pieces.push(Buffer.from([b]));
  }
  const merges: string[] = [];
  const known = new Set(tokens);
  const u2b = new Map(b2u.map((c, b) => [c, b]));
  for (const word of WORDS) {
    const symbols = [...encode(word)];
    let left = symbols[0]!;
    for (const right of symbols.slice(1)) {
      const merged = left + right;
      if (!known.has(merged)) {
        known.add(merged);
        merges.push(`${left} ${right}`);
        tokens.push(merged);
        types.push(1);
        pieces.push(Buffer.from([...merged].map((c) => u2b.get(c)!)));
      }
      left = merged;
    }
  }
  const index = new Map(pieces.map((p, id) => [p.toString("latin1"), id]));
  return {
    kind: "bpe",
    tokens,
    types,
    merges,
    scores: [],
    pieces,
    bos: BOS_ID,
    eos: EOS_ID,
    idOf(text: string) {
      const id = index.get(Buffer.from(text, "utf8").toString("latin1"));
      if (id === undefined) throw new Error(`no single token for ${JSON.stringify(text)}`);
      return id;
    },
  };
}

/** Successor design: token text -> the text of the token that follows it (greedy). "<eos>" is the EOS token. */
export function designedChains(kind: "bpe" | "spm" = "bpe"): Array<[string, string]> {
  const chain = (words: string[]): Array<[string, string]> =>
    words.slice(0, -1).map((w, i) => [w, words[i + 1]!] as [string, string]);
  if (kind === "spm") return [...chain([" Once", " upon", " a", " time", ",", " there", " lived", ".", "<eos>"]), ["\n", " Once"]];
  return [
    ...chain(["Hello", " world", "!", "<eos>"]),
    ...chain([...NUMBER_WORDS, ".", "<eos>"]),
    ["\n", "Hello"],
    [" la", " la"],
  ];
}

type KvValue =
  | { type: "u32"; value: number }
  | { type: "f32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "str"; value: string }
  | { type: "strs"; value: string[] }
  | { type: "i32s"; value: number[] }
  | { type: "f32s"; value: number[] };

export interface TinyModelOptions {
  /** Leave out tokenizer.chat_template (for the plain-format fallback). Default: included. */
  chatTemplate?: boolean;
  /**
   * A reranker instead (qwen3 architecture with a classification head, rank pooling): attention averages every
   * token's embedding into each position, and the head scores the colour slot, so a text with more colours in it
   * ranks higher.
   */
  reranker?: boolean;
  /** Metadata keys to leave out (to build a bad model on purpose). */
  omitKeys?: string[];
  /** Cut the file after this many bytes (a corrupt download). */
  truncateAt?: number;
  /** general.name */
  name?: string;
  /** u32 metadata values to set or replace ("tokenizer.ggml.padding_token_id": 99999 makes llama.cpp warn). */
  u32?: Record<string, number>;
  /** The tokenizer: byte-level BPE (default, GPT-2 style) or SentencePiece (llama style). */
  vocabulary?: "bpe" | "spm";
  /** Width, depth and feed-forward size: the defaults make a ~350 KB model; benchmarks use a bigger one. */
  embeddingSize?: number;
  blocks?: number;
  feedForward?: number;
}

class Writer {
  private chunks: Buffer[] = [];
  length = 0;
  private push(b: Buffer) {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  i32(v: number) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  str(s: string) {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.push(b);
  }
  bytes(b: Buffer) {
    this.push(b);
  }
  padTo(alignment: number) {
    const rest = this.length % alignment;
    if (rest !== 0) this.push(Buffer.alloc(alignment - rest));
  }
  done() {
    return Buffer.concat(this.chunks);
  }
}

const GGUF_TYPE = { u32: 4, i32: 5, f32: 6, bool: 7, str: 8, array: 9 } as const;

function writeKv(w: Writer, key: string, v: KvValue) {
  w.str(key);
  switch (v.type) {
    case "u32":
      w.u32(GGUF_TYPE.u32);
      w.u32(v.value);
      break;
    case "f32":
      w.u32(GGUF_TYPE.f32);
      w.f32(v.value);
      break;
    case "bool":
      w.u32(GGUF_TYPE.bool);
      w.bytes(Buffer.from([v.value ? 1 : 0]));
      break;
    case "str":
      w.u32(GGUF_TYPE.str);
      w.str(v.value);
      break;
    case "strs":
      w.u32(GGUF_TYPE.array);
      w.u32(GGUF_TYPE.str);
      w.u64(v.value.length);
      for (const s of v.value) w.str(s);
      break;
    case "i32s":
      w.u32(GGUF_TYPE.array);
      w.u32(GGUF_TYPE.i32);
      w.u64(v.value.length);
      for (const n of v.value) w.i32(n);
      break;
    case "f32s":
      w.u32(GGUF_TYPE.array);
      w.u32(GGUF_TYPE.f32);
      w.u64(v.value.length);
      for (const n of v.value) w.f32(n);
      break;
  }
}

interface Tensor {
  name: string;
  dims: number[];
  data: Float32Array;
}

/** The embedding slot of each designed token: 0 = default, 1 = colours (and " pick"), then one per chain's source. */
function designedSlots(kind: "bpe" | "spm", vocab: TinyVocabulary) {
  const slotOf = new Map<number, number>();
  const colourIds = kind === "bpe" ? COLOURS.map((c) => vocab.idOf(c)) : [];
  if (kind === "bpe") for (const id of [...colourIds, vocab.idOf(" pick")]) slotOf.set(id, 1);
  let nextSlot = 2;
  const chains = designedChains(kind);
  const idOf = (text: string) => (text === "<eos>" ? vocab.eos : vocab.idOf(text));
  for (const [from] of chains) {
    const id = idOf(from);
    if (!slotOf.has(id)) slotOf.set(id, nextSlot++);
  }
  if (nextSlot > SIGNATURE_FROM) throw new Error("too many designed tokens for the embedding size");
  return { slotOf, colourIds, chains, idOf };
}

/**
 * A LoRA adapter GGUF for the tiny BPE model (llama.cpp's format: general.type adapter, adapter.type lora, a rank-1
 * lora_a / lora_b pair on output.weight): it adds `delta` to the logit of `to` wherever the last token is `from`
 * (at scale 1; llama.cpp multiplies by the scale given and alpha / rank).
 */
export function buildTinyLora(options: { from: string; to: string; delta: number; embeddingSize?: number; arch?: string }): Buffer {
  const vocab = buildVocabulary("bpe");
  const E = options.embeddingSize ?? EMBEDDING_SIZE;
  const { slotOf } = designedSlots("bpe", vocab);
  const slot = slotOf.get(vocab.idOf(options.from));
  if (slot === undefined) throw new Error(`${options.from} has no slot of its own`);
  const a = new Float32Array(E); // ne [E, 1]: reads the slot
  a[slot] = 1;
  const b = new Float32Array(vocab.tokens.length); // ne [1, nVocab]: writes the target's logit
  b[vocab.idOf(options.to)] = options.delta;
  const tensors: Tensor[] = [
    { name: "output.weight.lora_a", dims: [E, 1], data: a },
    { name: "output.weight.lora_b", dims: [1, vocab.tokens.length], data: b },
  ];
  const kv: Array<[string, KvValue]> = [
    ["general.architecture", { type: "str", value: options.arch ?? "llama" }],
    ["general.type", { type: "str", value: "adapter" }],
    ["general.alignment", { type: "u32", value: 32 }],
    ["adapter.type", { type: "str", value: "lora" }],
    ["adapter.lora.alpha", { type: "f32", value: 1 }],
  ];
  return writeGguf(kv, tensors);
}

export function buildTinyModel(options: TinyModelOptions = {}): Buffer {
  const kind = options.vocabulary ?? "bpe";
  const vocab = buildVocabulary(kind);
  const nVocab = vocab.tokens.length;
  const E = options.embeddingSize ?? EMBEDDING_SIZE;
  const FF = options.feedForward ?? FEED_FORWARD;
  const blocks = options.blocks ?? 1;
  const { slotOf, colourIds, chains, idOf } = designedSlots(kind, vocab);

  const tokenEmbd = new Float32Array(nVocab * E);
  const random = prng(20261129);
  for (let t = 0; t < nVocab; t++) {
    tokenEmbd[t * E + (slotOf.get(t) ?? 0)] = 1;
    for (let d = SIGNATURE_FROM; d < E; d++) tokenEmbd[t * E + d] = (random() - 0.5) * 0.1;
  }

  const output = new Float32Array(nVocab * E);
  const set = (tokenId: number, slot: number, value: number) => {
    output[tokenId * E + slot] = value;
  };
  // Default slot: EOS first; when a grammar forbids EOS, close strings and objects, then digits.
  set(vocab.eos, 0, 2.0);
  set(vocab.idOf('"'), 0, 1.2);
  set(vocab.idOf("}"), 0, 0.9);
  set(vocab.idOf("]"), 0, 0.85);
  set(vocab.idOf("1"), 0, 0.8);
  for (const colour of colourIds) set(colour, 1, 2.0);
  for (const [from, to] of chains) set(idOf(to), slotOf.get(idOf(from))!, 2.0);

  const ones = (n: number) => new Float32Array(n).fill(1);
  const zeros = (n: number) => new Float32Array(n);
  const tensors: Tensor[] = [
    { name: "token_embd.weight", dims: [E, nVocab], data: tokenEmbd },
    { name: "output_norm.weight", dims: [E], data: ones(E) },
    { name: "output.weight", dims: [E, nVocab], data: output },
  ];
  const identity = (n: number) => {
    const m = new Float32Array(n * n);
    for (let i = 0; i < n; i++) m[i * n + i] = 1;
    return m;
  };
  const reranker = options.reranker === true;
  if (reranker) {
    // Two outputs ("yes", "no"), softmaxed by llama.cpp for a qwen3 reranker: "yes" reads the colour slot (for) and
    // the default slot, which most tokens use (against); "no" is 0.
    const head = new Float32Array(E * 2);
    head[1] = 0.5;
    head[0] = -0.5;
    tensors.push({ name: "cls.output.weight", dims: [E, 2], data: head });
  }
  for (let b = 0; b < blocks; b++) {
    if (reranker) {
      tensors.push(
        { name: `blk.${b}.attn_q_norm.weight`, dims: [E / HEADS], data: ones(E / HEADS) },
        { name: `blk.${b}.attn_k_norm.weight`, dims: [E / HEADS], data: ones(E / HEADS) },
      );
    }
    tensors.push(
      { name: `blk.${b}.attn_norm.weight`, dims: [E], data: ones(E) },
      { name: `blk.${b}.attn_q.weight`, dims: [E, E], data: zeros(E * E) },
      { name: `blk.${b}.attn_k.weight`, dims: [E, E], data: zeros(E * E) },
      // Zero queries and keys attend uniformly: with identity values and output, each position adds the mean of those before it.
      { name: `blk.${b}.attn_v.weight`, dims: [E, E], data: reranker ? identity(E) : zeros(E * E) },
      { name: `blk.${b}.attn_output.weight`, dims: [E, E], data: reranker ? identity(E) : zeros(E * E) },
      { name: `blk.${b}.ffn_norm.weight`, dims: [E], data: ones(E) },
      { name: `blk.${b}.ffn_gate.weight`, dims: [E, FF], data: zeros(E * FF) },
      { name: `blk.${b}.ffn_up.weight`, dims: [E, FF], data: zeros(E * FF) },
      { name: `blk.${b}.ffn_down.weight`, dims: [FF, E], data: zeros(E * FF) },
    );
  }

  const arch = reranker ? "qwen3" : "llama";
  const kv: Array<[string, KvValue]> = [
    ["general.architecture", { type: "str", value: arch }],
    ["general.name", { type: "str", value: options.name ?? "lam-tiny-test" }],
    ["general.alignment", { type: "u32", value: 32 }],
    ["general.file_type", { type: "u32", value: 0 }],
    [`${arch}.context_length`, { type: "u32", value: CONTEXT_LENGTH }],
    [`${arch}.embedding_length`, { type: "u32", value: E }],
    [`${arch}.block_count`, { type: "u32", value: blocks }],
    [`${arch}.feed_forward_length`, { type: "u32", value: FF }],
    [`${arch}.attention.head_count`, { type: "u32", value: HEADS }],
    [`${arch}.attention.head_count_kv`, { type: "u32", value: HEADS }],
    [`${arch}.rope.dimension_count`, { type: "u32", value: E / HEADS }],
    [`${arch}.attention.layer_norm_rms_epsilon`, { type: "f32", value: 1e-5 }],
    ...(reranker
      ? ([
          [`${arch}.pooling_type`, { type: "u32", value: 4 }],
          [`${arch}.classifier.output_labels`, { type: "strs", value: ["yes", "no"] }],
        ] as Array<[string, KvValue]>)
      : []),
    ...((kind === "bpe"
      ? [
          ["tokenizer.ggml.model", { type: "str", value: "gpt2" }],
          ["tokenizer.ggml.pre", { type: "str", value: "gpt-2" }],
          ["tokenizer.ggml.tokens", { type: "strs", value: vocab.tokens }],
          ["tokenizer.ggml.token_type", { type: "i32s", value: vocab.types }],
          ["tokenizer.ggml.merges", { type: "strs", value: vocab.merges }],
          ["tokenizer.ggml.bos_token_id", { type: "u32", value: BOS_ID }],
          ["tokenizer.ggml.eos_token_id", { type: "u32", value: EOS_ID }],
          ["tokenizer.ggml.padding_token_id", { type: "u32", value: 0 }],
          ["tokenizer.ggml.add_bos_token", { type: "bool", value: false }],
        ]
      : [
          ["tokenizer.ggml.model", { type: "str", value: "llama" }],
          ["tokenizer.ggml.pre", { type: "str", value: "default" }],
          ["tokenizer.ggml.tokens", { type: "strs", value: vocab.tokens }],
          ["tokenizer.ggml.scores", { type: "f32s", value: vocab.scores }],
          ["tokenizer.ggml.token_type", { type: "i32s", value: vocab.types }],
          ["tokenizer.ggml.bos_token_id", { type: "u32", value: vocab.bos }],
          ["tokenizer.ggml.eos_token_id", { type: "u32", value: vocab.eos }],
          ["tokenizer.ggml.unknown_token_id", { type: "u32", value: 0 }],
          ["tokenizer.ggml.add_bos_token", { type: "bool", value: true }],
          ["tokenizer.ggml.add_space_prefix", { type: "bool", value: true }],
        ]) as Array<[string, KvValue]>),
  ];
  if (options.chatTemplate !== false && kind === "bpe") kv.push(["tokenizer.chat_template", { type: "str", value: CHATML_TEMPLATE }]);
  for (const [key, value] of Object.entries(options.u32 ?? {})) {
    const at = kv.findIndex(([k]) => k === key);
    if (at >= 0) kv[at] = [key, { type: "u32", value }];
    else kv.push([key, { type: "u32", value }]);
  }
  const omit = new Set(options.omitKeys ?? []);
  const file = writeGguf(kv.filter(([key]) => !omit.has(key)), tensors);
  return options.truncateAt === undefined ? file : file.subarray(0, options.truncateAt);
}

/** A GGUF v3 file of these key-values and F32 tensors. */
function writeGguf(kept: Array<[string, KvValue]>, tensors: Tensor[]): Buffer {
  const w = new Writer();
  w.bytes(Buffer.from("GGUF", "ascii"));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(kept.length);
  for (const [key, value] of kept) writeKv(w, key, value);
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(0); // F32
    w.u64(offset);
    offsets.push(offset);
    offset += Math.ceil((t.data.length * 4) / 32) * 32;
  }
  w.padTo(32);
  for (const t of tensors) {
    w.bytes(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    w.padTo(32);
  }
  return w.done();
}

export function writeTinyModel(path: string, options: TinyModelOptions = {}): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, buildTinyModel(options));
  return path;
}
