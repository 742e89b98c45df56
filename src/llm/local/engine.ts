/**
 * The local backend of the engine: node-llama-cpp in this process. Everything loads lazily, once: the llama.cpp
 * binding on first need, the model file resolved (and downloaded) on first need, then either a vocabulary-only load
 * (the tokenizer: no weights in memory) or the full model (generation, embeddings). A failed load is not cached: the
 * next call tries again and gets the same clear error if nothing changed.
 */
import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename } from "node:path";
import type { GgufFileInfo, Llama, LlamaEmbeddingContext, LlamaModel, LlamaRankingContext } from "node-llama-cpp";
import { ToolError, messageOf } from "../../errors.js";
import type { Logger } from "../../log.js";
import { span } from "../../tracing.js";
import type {
  BackendStatus,
  CallOptions,
  Capabilities,
  ChatRequest,
  ChatResult,
  CompletionRequest,
  ContextSizes,
  DownloadProgress,
  EmbedOptions,
  Embeddings,
  Engine,
  EngineState,
  GenerateOptions,
  GenerationResult,
  GenerationStats,
  LoadListener,
  Distribution,
  ModelInfo,
  ScoredText,
  Tokenizer,
} from "../engine.js";
import { acquireLlama, llamaCpp } from "./binding.js";
import { chat, complete, type GenerationTarget } from "./generate.js";
import { plan } from "./plan.js";
import { nextTokenDistribution, scoreText } from "./probabilities.js";
import type { PlanRequest, PlanResult } from "../../planning.js";
import { checkGguf, checkLoraAdapter } from "./gguf-check.js";
import { SequencePool } from "./pool.js";
import { parseModelSource, resolveModelPath, type ModelSource } from "./resolve.js";
import { LocalTokenizer } from "./tokens.js";

export interface EngineSettings {
  model: string;
  modelsDir: string;
  hfEndpoint: string;
  threads: number | "auto";
  gpu: "auto" | "false" | "cuda" | "vulkan";
  /** lam-mcp's own tokenizer where it is exact ("auto"), or llama.cpp's always. */
  tokenizer?: "auto" | "llama.cpp";
  contextSize: number;
  sequences: number;
  maxQueue: number;
  /** LoRA adapters for the generation context. */
  adapters?: ReadonlyArray<{ path: string; scale: number }>;
}

interface LoadedModel {
  model: LlamaModel;
  info: ModelInfo;
  vocabOnly: boolean;
  tokenizer: LocalTokenizer;
}

const CAPABILITIES: Capabilities = { tokenize: true, vocabulary: true, generate: true, chat: true, grammar: true, jsonSchema: true, embed: true, probabilities: true };

/**
 * "auto" threads: one less than the cores, 1 to 8. Measured (README, `npm run bench -- threads`): on 2 cores,
 * generation ran 157 tok/s on 1 thread, 58 on 2 and 1 on 4; llama.cpp's threads spin-wait, so a thread
 * per core starves the event loop and everything else, and more threads than cores collapses throughput.
 */
export function resolveThreads(threads: number | "auto", cores = availableParallelism()): number | undefined {
  if (threads === "auto") return Math.max(1, Math.min(8, cores - 1));
  return threads === 0 ? undefined : threads;
}

/** What backend() says of every local engine (one object: server_status asks on every call). */
const LOCAL: BackendStatus = Object.freeze({ kind: "local" });

export class LocalEngine implements Engine {
  private llama: Promise<Llama> | undefined;
  private resolved: Promise<{ path: string; gguf: GgufFileInfo; bytes: number }> | undefined;
  private vocab: Promise<LoadedModel> | undefined;
  private full: Promise<LoadedModel> | undefined;
  private pool: Promise<SequencePool> | undefined;
  /** The pool once it exists, for stats (nothing is created to answer). */
  private readyPool: SequencePool | undefined;
  private embedding: Promise<LlamaEmbeddingContext> | undefined;
  private embeddingLock: Promise<unknown> = Promise.resolve();
  private ranking: Promise<LlamaRankingContext> | undefined;
  private readonly listeners = new Set<LoadListener>();
  private readonly source: ModelSource;
  private closed = false;
  private lastDownloadLog = 0;
  loadMs: number | undefined;
  private lastLoaded: LoadedModel | undefined;
  private releaseBinding: (() => Promise<void>) | undefined;

  constructor(
    readonly settings: EngineSettings,
    private readonly log: Logger,
    private readonly onLoad?: (ms: number, vocabOnly: boolean) => void,
  ) {
    this.source = parseModelSource(settings.model);
  }

  /** What the engine would load, without loading anything. */
  describeSource(): string {
    return this.source.kind === "path" ? this.source.path : this.source.kind === "uri" ? this.source.uri : this.source.url;
  }

  /**
   * Why the configured model cannot be loaded as things stand, found without loading anything (a local file that
   * does not exist or is not a file); undefined when it looks loadable or will be downloaded.
   */
  async sourceProblem(): Promise<string | undefined> {
    if (this.source.kind !== "path") return undefined;
    try {
      const s = await stat(this.source.path);
      return s.isFile() ? undefined : `the model ${this.source.path} is not a file: tools that need the model will fail; set --model / LAM_MODEL`;
    } catch {
      return `the model file ${this.source.path} does not exist: tools that need the model will fail until it does; set --model / LAM_MODEL`;
    }
  }

  loadedInfo(): ModelInfo | null {
    return this.lastLoaded?.info ?? null;
  }

  /**
   * The context size as the setting asks and as applied, with why they differ: a model trained on a shorter
   * context caps it. `applied` is null until a model is loaded (nothing is loaded to answer).
   */
  contextSizes(): ContextSizes {
    const setting = this.settings.contextSize;
    const loaded = this.lastLoaded;
    if (!loaded) return { setting, trained: null, applied: null, note: `--context-size ${setting}, capped by the model's training context once it is loaded` };
    const trained = loaded.info.trainContextSize || null;
    const applied = this.contextSizeFor(loaded);
    const note =
      applied < setting
        ? `${applied} tokens per sequence: --context-size ${setting} is capped by the ${trained}-token context ${loaded.info.name} was trained on`
        : `${applied} tokens per sequence, as --context-size asks`;
    return { setting, trained, applied, note };
  }

  get state(): EngineState {
    if (this.full) return "full";
    if (this.vocab) return "vocab";
    return this.resolved ? "loading" : "idle";
  }

  async capabilities(): Promise<Capabilities> {
    return CAPABILITIES;
  }

  backend(): BackendStatus {
    return LOCAL;
  }

  stats(): GenerationStats | null {
    const stats = this.readyPool?.stats();
    return stats ? { sequences: stats.size, busy: stats.busy, queued: stats.queued } : null;
  }

  /** The tokenizer: the full model's when loaded (or loading), else a vocabulary-only load. */
  async tokenizer(options: CallOptions = {}): Promise<Tokenizer> {
    if (this.full) return (await this.wait(this.full, options)).tokenizer;
    this.vocab ??= this.retryable(() => this.load(true), () => (this.vocab = undefined));
    return (await this.wait(this.vocab, options)).tokenizer;
  }

  async generate(request: CompletionRequest, options: GenerateOptions = {}): Promise<GenerationResult> {
    return complete(await this.generationTarget(options), request, options);
  }

  async chat(request: ChatRequest, options: GenerateOptions = {}): Promise<ChatResult> {
    return chat(await this.generationTarget(options), request, options);
  }

  async rank(query: string, documents: readonly string[], options: CallOptions = {}): Promise<{ model: string; backend: string; scores: number[] } | null> {
    const loaded = await this.model(options);
    if (!loaded.model.fileInsights.supportsRanking) return null;
    this.ranking ??= this.retryable(
      async () => {
        try {
          return await loaded.model.createRankingContext({ contextSize: this.contextSizeFor(loaded) });
        } catch (error) {
          throw new ToolError(`llama.cpp could not create a ranking context: ${messageOf(error)}`, { hint: "Lower --context-size.", code: "engine_unavailable" });
        }
      },
      () => (this.ranking = undefined),
    );
    const context = await this.ranking;
    // One ranking at a time on the context (as embeddings are).
    const run = this.embeddingLock.then(async () => {
      if (options.signal?.aborted) throw new ToolError("cancelled", { code: "cancelled" });
      return { model: loaded.info.name, backend: "local", scores: await context.rankAll(query, [...documents]) };
    });
    this.embeddingLock = run.catch(() => undefined);
    return run;
  }

  async score(text: string, options: { topN: number; maxTokens: number; signal?: AbortSignal | undefined }): Promise<ScoredText & { model: ModelInfo; backend: string }> {
    const target = await this.generationTarget(options);
    return { ...(await scoreText(target, text, options.topN, options.maxTokens, options.signal)), model: target.info, backend: "local" };
  }

  async nextTokens(prompt: string, options: { special: boolean; signal?: AbortSignal | undefined }): Promise<Distribution & { model: ModelInfo; backend: string }> {
    const target = await this.generationTarget(options);
    return { ...(await nextTokenDistribution(target, prompt, options.special, options.signal)), model: target.info, backend: "local" };
  }

  async plan(request: PlanRequest, options: { signal?: AbortSignal | undefined } = {}): Promise<PlanResult> {
    return plan(await this.generationTarget(options), request, options);
  }

  /**
   * Embeds each text with the embedding context, one call at a time (a context computes one embedding at a time).
   * The input length counts the BOS/EOS the context adds; a text past the context is refused or cut by tokens.
   */
  async embed(texts: readonly string[], options: EmbedOptions): Promise<Embeddings> {
    const loaded = await this.model(options);
    const context = await this.embeddingContext(loaded);
    const limit = this.contextSizeFor(loaded) - 1;
    const run = this.embeddingLock.then(async () => {
      const inputs = texts.map((text, index) => {
        const over = context.calculateInputLength(text) - limit;
        if (over <= 0) return text;
        if (options.overflow === "truncate") return loaded.model.tokenize(text).slice(0, -over);
        throw new ToolError(`Text ${index} is ${over + limit} tokens; the embedding context holds ${limit}.`, {
          hint: "Split long texts into passages before embedding them.",
          code: "too_large",
        });
      });
      const vectors: number[][] = [];
      for (const input of inputs) {
        if (options.signal?.aborted) throw new ToolError("cancelled", { code: "cancelled" });
        vectors.push([...(await context.getEmbeddingFor(input)).vector]);
      }
      return { model: loaded.info.name, vectors, backend: "local" };
    });
    this.embeddingLock = run.catch(() => undefined);
    return run;
  }

  /** The fully loaded model, for generation and embeddings. */
  private async model(options: CallOptions): Promise<LoadedModel> {
    this.full ??= this.retryable(
      async () => {
        const loaded = await this.load(false);
        const vocab = this.vocab;
        this.vocab = undefined;
        if (vocab) void vocab.then((v) => v.model.dispose()).catch(() => undefined);
        return loaded;
      },
      () => (this.full = undefined),
    );
    return this.wait(this.full, options);
  }

  /** The full model and the shared pool of generation sequences (created on first need). */
  private async generationTarget(options: CallOptions): Promise<GenerationTarget> {
    const loaded = await this.model(options);
    this.pool ??= this.retryable(
      async () => {
        const contextSize = this.contextSizeFor(loaded);
        const adapters = this.settings.adapters ?? [];
        // An adapter llama.cpp would refuse (another architecture, not a LoRA file) is refused here, with why.
        for (const adapter of adapters) await checkLoraAdapter(adapter.path, loaded.info.architecture);
        try {
          const context = await loaded.model.createContext({
            contextSize,
            sequences: this.settings.sequences,
            ...(adapters.length > 0 ? { lora: { adapters: adapters.map((a) => ({ filePath: a.path, scale: a.scale })) } } : {}),
          });
          this.readyPool = new SequencePool(context, this.settings.maxQueue);
          return this.readyPool;
        } catch (error) {
          throw new ToolError(`llama.cpp could not create a context of ${contextSize} tokens x ${this.settings.sequences} sequences: ${messageOf(error)}`, {
            hint: "Lower --context-size or --sequences.",
            code: "engine_unavailable",
          });
        }
      },
      () => (this.pool = undefined),
    );
    return { llama: await this.binding(), model: loaded.model, info: loaded.info, pool: await this.pool };
  }

  private async embeddingContext(loaded: LoadedModel): Promise<LlamaEmbeddingContext> {
    this.embedding ??= this.retryable(
      async () => {
        const contextSize = this.contextSizeFor(loaded);
        try {
          return await loaded.model.createEmbeddingContext({ contextSize });
        } catch (error) {
          throw new ToolError(`llama.cpp could not create an embedding context: ${messageOf(error)}`, {
            hint: "Set --embedding-model to an embedding GGUF, or lower --context-size.",
            code: "engine_unavailable",
          });
        }
      },
      () => (this.embedding = undefined),
    );
    return this.embedding;
  }

  /** The context size used for each sequence: the setting, capped by what the model was trained on. */
  private contextSizeFor(loaded: LoadedModel): number {
    const train = loaded.info.trainContextSize;
    return train > 0 ? Math.min(this.settings.contextSize, train) : this.settings.contextSize;
  }

  /** The llama.cpp binding, loaded once. */
  private async binding(): Promise<Llama> {
    this.llama ??= this.retryable(() => this.loadBinding(), () => (this.llama = undefined));
    return this.llama;
  }

  async close(): Promise<void> {
    this.closed = true;
    const pool = await this.pool?.catch(() => undefined);
    this.pool = undefined;
    this.readyPool = undefined;
    await pool?.close().catch(() => undefined);
    const embedding = await this.embedding?.catch(() => undefined);
    this.embedding = undefined;
    await embedding?.dispose().catch(() => undefined);
    const ranking = await this.ranking?.catch(() => undefined);
    this.ranking = undefined;
    await ranking?.dispose().catch(() => undefined);
    const models = [this.vocab, this.full].filter((p): p is Promise<LoadedModel> => p !== undefined);
    this.vocab = this.full = undefined;
    for (const p of models) {
      const loaded = await p.catch(() => undefined);
      await loaded?.model.dispose().catch(() => undefined);
    }
    await this.llama?.catch(() => undefined);
    this.llama = undefined;
    await this.releaseBinding?.();
    this.releaseBinding = undefined;
  }

  private retryable<T>(make: () => Promise<T>, reset: () => void): Promise<T> {
    const promise = make();
    promise.catch(() => reset());
    return promise;
  }

  private async wait<T>(promise: Promise<T>, { listener, signal }: CallOptions): Promise<T> {
    if (listener) this.listeners.add(listener);
    try {
      if (!signal) return await promise;
      return await new Promise<T>((resolvePromise, reject) => {
        const onAbort = () => reject(new ToolError("cancelled while the model was loading", { code: "cancelled" }));
        if (signal.aborted) return onAbort();
        signal.addEventListener("abort", onAbort, { once: true });
        promise.then(resolvePromise, reject).finally(() => signal.removeEventListener("abort", onAbort));
      });
    } finally {
      if (listener) this.listeners.delete(listener);
    }
  }

  private async resolve(): Promise<{ path: string; gguf: GgufFileInfo; bytes: number }> {
    this.resolved ??= this.retryable(
      async () => {
        const path = await resolveModelPath(this.source, {
          modelsDir: this.settings.modelsDir,
          hfEndpoint: this.settings.hfEndpoint,
          onProgress: (p) => this.onDownload(p),
        });
        return { path, ...(await checkGguf(path)) };
      },
      () => (this.resolved = undefined),
    );
    return this.resolved;
  }

  private onDownload(progress: DownloadProgress) {
    for (const l of this.listeners) l.onDownload?.(progress);
    const now = Date.now();
    if (now - this.lastDownloadLog > 2000 || progress.downloadedBytes === progress.totalBytes) {
      this.lastDownloadLog = now;
      const pct = progress.totalBytes > 0 ? ((100 * progress.downloadedBytes) / progress.totalBytes).toFixed(1) : "?";
      this.log.info(`downloading model ${this.describeSource()}: ${pct}%`, { ...progress });
    }
  }

  private async loadBinding(): Promise<Llama> {
    const { gpu } = this.settings;
    const threads = resolveThreads(this.settings.threads);
    const { NoBinaryFoundError } = await llamaCpp();
    try {
      const shared = await acquireLlama(
        { gpu: gpu === "false" ? false : gpu, ...(threads === undefined ? {} : { maxThreads: threads }), build: "never", progressLogs: false },
        // llama.cpp's warnings are about the model file ("bad special token ...", several per load): noise for a
        // client, which hears warnings by default. They are debug records; its errors stay errors.
        (level, text) => (level === "error" ? this.log.error(`llama.cpp: ${text}`) : this.log.debug(`llama.cpp: ${text}`)),
      );
      this.releaseBinding = shared.release;
      return shared.llama;
    } catch (error) {
      if (error instanceof NoBinaryFoundError) {
        throw new ToolError("No prebuilt llama.cpp binary fits this machine, and lam-mcp does not compile one at run time.", {
          hint: "Run `npx --no node-llama-cpp source download` once to build llama.cpp for this machine, or try --gpu false.",
          code: "engine_unavailable",
        });
      }
      throw new ToolError(`llama.cpp could not start with --gpu ${gpu}: ${messageOf(error)}`, {
        hint: "Try --gpu false (CPU only) or --gpu auto.",
        code: "engine_unavailable",
      });
    }
  }

  private load(vocabOnly: boolean): Promise<LoadedModel> {
    return span("model.load", { "lam.model.vocab_only": vocabOnly }, async (s) => {
      const loaded = await this.loadModel(vocabOnly);
      s.set({ "lam.model.bytes": loaded.info.sizeBytes, "lam.model.architecture": loaded.info.architecture });
      return loaded;
    });
  }

  private async loadModel(vocabOnly: boolean): Promise<LoadedModel> {
    if (this.closed) throw new ToolError("the server is shutting down", { code: "closed" });
    const started = performance.now();
    const { path, gguf, bytes } = await this.resolve();
    const llama = await this.binding();
    let model: LlamaModel;
    try {
      model = await llama.loadModel({
        modelPath: path,
        vocabOnly,
        ...(this.settings.gpu === "false" ? { gpuLayers: 0 } : {}),
      });
    } catch (error) {
      throw new ToolError(`llama.cpp could not load ${path}: ${messageOf(error)}`, {
        hint: "Check that the file is a complete GGUF model supported by llama.cpp, or set --model / LAM_MODEL to another.",
        code: "model_invalid",
      });
    }
    const ms = performance.now() - started;
    if (!vocabOnly) this.loadMs = ms;
    this.onLoad?.(ms, vocabOnly);
    const { GgufFileType } = await llamaCpp();
    const info = describeModel(gguf, path, bytes, this.describeSource(), GgufFileType);
    const adapters = this.settings.adapters ?? [];
    if (adapters.length > 0) info.adapters = adapters.map((a) => ({ file: a.path, scale: a.scale }));
    this.log.info(`model loaded${vocabOnly ? " (vocabulary only)" : ""}`, { file: path, ms: Math.round(ms) });
    const loaded = { model, info, vocabOnly, tokenizer: new LocalTokenizer(model, info, this.settings.tokenizer) };
    this.lastLoaded = loaded;
    return loaded;
  }
}

function describeModel(
  gguf: GgufFileInfo,
  path: string,
  bytes: number,
  source: string,
  GgufFileType: Record<number, string>,
): ModelInfo {
  const general = (gguf.metadata as { general?: { name?: string; file_type?: number; architecture?: string } }).general ?? {};
  const fileType = general.file_type;
  const quantization =
    fileType === undefined ? "unknown" : (GgufFileType[fileType] ?? `type ${fileType}`).replace(/^(MOSTLY_|ALL_)/, "");
  const tokens = gguf.metadata.tokenizer?.ggml;
  return {
    name: general.name ?? basename(path).replace(/\.gguf$/i, ""),
    file: path,
    source,
    sizeBytes: bytes,
    architecture: general.architecture ?? "unknown",
    quantization,
    trainContextSize: Number(gguf.architectureMetadata.context_length ?? 0),
    vocabularySize: tokens?.tokens?.length ?? 0,
    embeddingSize: Number(gguf.architectureMetadata.embedding_length ?? 0),
    chatTemplate: typeof (gguf.metadata as { tokenizer?: { chat_template?: unknown } }).tokenizer?.chat_template === "string",
  };
}
