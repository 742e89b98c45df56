/**
 * The model engine, as the tool families see it: one interface with one method per capability, and nothing of MCP
 * (no SDK, no tool wrapper) or of a backend (no node-llama-cpp types). The local backend (node-llama-cpp, in
 * local/) implements it; a remote one (an inference server over HTTP) can too. What a backend cannot do is declared
 * in `capabilities`, so a family says so up front instead of discovering it from an exception.
 *
 * Expected failures (a bad model file, a prompt too long for the context, an invalid grammar) are ToolErrors: they
 * carry what to do, and render the same wherever they surface.
 */

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
 * A loaded model's tokenizer. The same object for as long as the same model stays loaded, so callers may key
 * per-model memos (a WeakMap) on it.
 */
export interface Tokenizer {
  readonly info: ModelInfo;
  /** Tokenizer kind: bpe (byte-level BPE), spm (SentencePiece), wpm, ugm, ... */
  readonly kind: string;
  readonly size: number;
  readonly bos: number | null;
  readonly eos: number | null;
  readonly eot: number | null;
  tokenize(text: string, special: boolean): number[];
  /** tokenize(...).length, without building the list. */
  count(text: string, special: boolean): number;
  detokenize(ids: readonly number[], special: boolean): string;
  has(id: number): boolean;
  piece(id: number): TokenPiece;
  /** The exact bytes a token stands for (a SentencePiece "▁" is a space; a byte token is its byte). */
  bytes(id: number): Uint8Array;
  tokenKind(id: number): TokenKind;
  /** Anything that is not ordinary text: control, user-defined, unknown or unused tokens. */
  isSpecial(id: number): boolean;
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
}

export interface GenerateOptions extends CallOptions {
  /** Called once the prompt is tokenized, before it is evaluated: its token count and max_tokens as applied. */
  onStart?: (start: { promptTokens: number; maxTokens: number }) => void;
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
  contextSize: number;
  maxTokensApplied: number;
}

export interface ChatResult extends GenerationResult {
  /** The exact prompt the chat template produced (special tokens as text). */
  prompt: string;
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

export interface Engine {
  readonly capabilities: Capabilities;
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
  /** The tokenizer: a vocabulary-only load unless the full model is loaded already. */
  tokenizer(options?: CallOptions): Promise<Tokenizer>;
  /** Continues a raw prompt. */
  generate(request: CompletionRequest, options?: GenerateOptions): Promise<GenerationResult>;
  /** Answers a conversation formatted with the model's chat template. */
  chat(request: ChatRequest, options?: GenerateOptions): Promise<ChatResult>;
  embed(texts: readonly string[], options: EmbedOptions): Promise<Embeddings>;
  close(): Promise<void>;
}
