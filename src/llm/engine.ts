/**
 * The model engine, as the tool families see it: one interface with one method per capability, and nothing of MCP
 * (no SDK, no tool wrapper) or of a backend (no node-llama-cpp types). The local backend (node-llama-cpp, in
 * local/) implements it; a remote one (an inference server over HTTP) can too. What a backend cannot do is declared
 * in `capabilities`, so a family says so up front instead of discovering it from an exception.
 *
 * Expected failures (a bad model file, a prompt too long for the context, an invalid grammar) are ToolErrors: they
 * carry what to do, and render the same wherever they surface.
 */

import type { Planner, PlanRequest, PlanResult } from "../planning.js";

export type EngineState = "idle" | "loading" | "vocab" | "full";

export interface DownloadProgress {
  downloadedBytes: number;
  totalBytes: number;
}

/** Who wants to hear about a model load (a download's progress). */
export interface LoadListener {
  onDownload?(progress: DownloadProgress): void;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
  listener?: LoadListener | undefined;
}

export interface ModelInfo {
  name: string;
  file: string;
  source: string;
  sizeBytes: number;
  architecture: string;
  quantization: string;
  trainContextSize: number;
  vocabularySize: number;
  embeddingSize: number;
  chatTemplate: boolean;
  /** LoRA adapters applied to generation (--lora), when there are any. */
  adapters?: Array<{ file: string; scale: number }>;
}

/** What a backend can do. */
export interface Capabilities {
  /** Token ids and counts from the model's own tokenizer. */
  tokenize: boolean;
  /** The whole vocabulary: every token's exact bytes and type (pieces, the vocabulary analysis, token paging). */
  vocabulary: boolean;
  generate: boolean;
  chat: boolean;
  /** A GBNF grammar constrains generation. */
  grammar: boolean;
  /** A JSON Schema constrains generation. */
  jsonSchema: boolean;
  embed: boolean;
  /** The model's raw next-token probabilities over the whole vocabulary (score, next_token, judge's expected score). */
  probabilities: boolean;
}

export type TokenKind = "normal" | "control" | "user_defined" | "byte" | "unknown" | "unused";

export interface TokenPiece {
  id: number;
  /** The token's exact text; "<0xNN>" bytes when not valid UTF-8 alone. */
  piece: string;
  /** Hex bytes, present only when the piece is not valid UTF-8 on its own. */
  bytes?: string;
}

/**
 * The whole vocabulary of a model, when the backend holds it (a local GGUF): every token's bytes and type, read
 * synchronously. An inference server does not expose it.
 */
export interface Vocabulary {
  /** Tokenizer kind: bpe (byte-level BPE), spm (SentencePiece), wpm, ugm, ... */
  readonly kind: string;
  readonly size: number;
  readonly bos: number | null;
  readonly eos: number | null;
  readonly eot: number | null;
  has(id: number): boolean;
  piece(id: number): TokenPiece;
  bytes(id: number): Uint8Array;
  tokenKind(id: number): TokenKind;
  /** Anything that is not ordinary text: control, user-defined, unknown or unused tokens. */
  isSpecial(id: number): boolean;
}

/** Which code turns text into token ids: lam-mcp's own (exact and faster, where it reproduces the vocabulary), llama.cpp's, or the inference server's. */
export interface TokenizerImplementation {
  engine: "lam-mcp" | "llama.cpp" | "server";
  /** What it is, or why lam-mcp's own is not used for this vocabulary. */
  detail: string;
}

/**
 * A model's tokenizer: the local model's (vocabulary-only load) or an inference server's own (over HTTP, hence
 * asynchronous). The same object for as long as the same model stays loaded, so callers may key per-model memos
 * (a WeakMap) on it.
 */
export interface Tokenizer {
  readonly info: ModelInfo;
  /** Where it runs: "local", or the inference server's URL (without credentials). */
  readonly backend: string;
  readonly implementation: TokenizerImplementation;
  /** How many tokens the vocabulary has (ids run from 0 to size - 1), when known. */
  readonly size: number | null;
  /** The whole vocabulary, when the backend holds it; null for a server's tokenizer. */
  readonly vocabulary: Vocabulary | null;
  /** A text's token ids; addBos prepends the model's BOS token when it has one (bosAdded says). */
  tokenize(text: string, options: { special: boolean; addBos?: boolean }): Promise<{ ids: number[]; bosAdded: boolean }>;
  /** The exact bytes of each of these tokens (a SentencePiece "▁" is a space; a byte token is its byte). */
  tokenBytes(ids: readonly number[]): Promise<Uint8Array[]>;
  /** How many tokens a text is, without building the list when the backend can. */
  count(text: string, special: boolean): Promise<number>;
  detokenize(ids: readonly number[], special: boolean): Promise<string>;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** A token's bytes as a piece: the text when valid UTF-8 alone, else "<0xF0><0x9F>" with the hex bytes (never U+FFFD). */
export function renderBytes(bytes: Uint8Array): { piece: string; bytes?: string } {
  try {
    return { piece: strictUtf8.decode(bytes) };
  } catch {
    const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0"));
    return { piece: hex.map((h) => `<0x${h.toUpperCase()}>`).join(""), bytes: hex.join(" ") };
  }
}

/** The sampler as the engine applies it (defaults resolved by the caller). */
export interface Sampling {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repeatPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
  /** null when greedy (temperature 0). */
  seed: number | null;
}

export type Constraint = { kind: "none" } | { kind: "json_schema"; schema: Record<string, unknown> } | { kind: "grammar"; gbnf: string };

interface GenerationRequest {
  sampling: Sampling;
  /** Most tokens to generate; capped to the room the context leaves (the result says what was applied). */
  maxTokens: number;
  /** Stop strings: generation ends at the first, which is not in the text. */
  stop: readonly string[];
  constraint: Constraint;
}

export interface CompletionRequest extends GenerationRequest {
  /** The text to continue, as is. */
  prompt: string;
  /** Parse special-token text in the prompt as special tokens. */
  special: boolean;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ChatRequest extends GenerationRequest {
  /** The conversation; ending with an assistant message continues it. */
  messages: readonly ChatMessage[];
  /** The caller wants the templated prompt (a remote backend asks the server for it only then). */
  echoPrompt?: boolean;
}

export interface GenerateOptions extends CallOptions {
  /** Called before the prompt is evaluated: its token count and max_tokens as applied, when known. */
  onStart?: (start: { promptTokens?: number; maxTokens?: number }) => void;
  /** Called as tokens arrive, with the count and the text so far. */
  onToken?: (progress: { tokens: number; text: string }) => void;
}

export type FinishReason = "stop" | "length" | "stop_sequence" | "cancelled";

export interface GenerationResult {
  /** What follows the prompt: prompt + text == the detokenization of the prompt's tokens and the generated ones. */
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** From the call's start to the first generated token (prompt evaluation). */
  promptMs: number;
  /** From the first token to the last. */
  generationMs: number;
  /** Generation rate after the first token. */
  tokensPerSecond: number;
  model: ModelInfo;
  /** Where it ran: "local", or the inference server's URL (without credentials). */
  backend: string;
  contextSize: number;
  maxTokensApplied: number;
  /** Settings of the call the backend could not apply, each with why ("top_k: not part of the OpenAI API"). */
  notApplied: string[];
}

export interface ChatResult extends GenerationResult {
  /** The exact prompt the chat template produced (special tokens as text), when the backend can say. */
  prompt: string | null;
  /** Which template formatted it, and where it came from. */
  format: { wrapper: string; source: string };
}

export interface EmbedOptions extends CallOptions {
  /** A text longer than the embedding context: refused (error) or cut to fit by tokens (truncate). */
  overflow: "error" | "truncate";
}

export interface Embeddings {
  model: string;
  vectors: number[][];
  /** Where it ran: "local", or the inference server's URL. */
  backend: string;
}

/** A text's tokens with their log-probabilities under the model (no sampler), and the best alternatives at each. */
export interface ScoredText {
  /** logprob null: the first token of a model without BOS has no context to be scored in. */
  tokens: Array<{ id: number; logprob: number | null; top: Array<{ id: number; logprob: number }> }>;
  /** How many context windows the text took. */
  windows: number;
  contextSize: number;
  /** Whether the first token was conditioned on BOS. */
  bosUsed: boolean;
}

/** The whole next-token distribution after a prompt (softmax of the logits, no sampler), highest first. */
export interface Distribution {
  promptTokens: number;
  probabilities: Array<{ id: number; probability: number }>;
}

export interface GenerationStats {
  sequences: number;
  busy: number;
  queued: number;
}

export interface ContextSizes {
  setting: number;
  trained: number | null;
  /** null until a model is loaded. */
  applied: number | null;
  note: string;
}

/** Where an engine runs, for server_status, /healthz and /metrics. */
export interface BackendStatus {
  kind: "local" | "remote";
  /** The API spoken to a remote server (llama-server or openai), once known. */
  api?: string;
  servers?: Array<{ url: string; healthy: boolean | null; lastError: string | null; inFlight: number; waiting: number }>;
}

export interface Engine extends Planner {
  /** What this backend can do (an inference server's kind is found on first use). */
  capabilities(options?: CallOptions): Promise<Capabilities>;
  readonly state: EngineState;
  /** Milliseconds the last full load took. */
  readonly loadMs: number | undefined;
  /** What the engine would load (a path, URI or URL), without loading anything. */
  describeSource(): string;
  /** Why the configured model cannot be loaded as things stand (found without loading); undefined if it looks fine. */
  sourceProblem(): Promise<string | undefined>;
  /** The loaded model, if any (nothing is loaded to answer). */
  loadedInfo(): ModelInfo | null;
  contextSizes(): ContextSizes;
  /** Generation sequences in use and waiting, once generation has started (nothing is created to answer). */
  stats(): GenerationStats | null;
  backend(): BackendStatus;
  /** The tokenizer: a vocabulary-only load unless the full model is loaded already. */
  tokenizer(options?: CallOptions): Promise<Tokenizer>;
  /** Continues a raw prompt. */
  generate(request: CompletionRequest, options?: GenerateOptions): Promise<GenerationResult>;
  /** Answers a conversation formatted with the model's chat template. */
  chat(request: ChatRequest, options?: GenerateOptions): Promise<ChatResult>;
  embed(texts: readonly string[], options: EmbedOptions): Promise<Embeddings>;
  /** A text's log-probabilities, token by token, in windows of the context (at most maxTokens tokens). */
  score(text: string, options: { topN: number; maxTokens: number; signal?: AbortSignal | undefined }): Promise<ScoredText & { model: ModelInfo; backend: string }>;
  /** The next-token distribution after a prompt. */
  nextTokens(prompt: string, options: { special: boolean; signal?: AbortSignal | undefined }): Promise<Distribution & { model: ModelInfo; backend: string }>;
  /**
   * Relevance of each document to a query from a reranker model (a classification head scores the pair), or null
   * when the model is not a reranker (the caller then ranks by embeddings).
   */
  rank(query: string, documents: readonly string[], options?: CallOptions): Promise<{ model: string; backend: string; scores: number[] } | null>;
  /** One planning step: the model answers, or asks for calls of the functions offered (see planning.ts). */
  plan(request: PlanRequest, options?: { signal?: AbortSignal | undefined }): Promise<PlanResult>;
  close(): Promise<void>;
}
