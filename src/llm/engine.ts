/**
 * The model engine: node-llama-cpp behind a small interface. Everything loads lazily, once:
 * the llama.cpp binding on first need, the model file resolved (and downloaded) on first need, then either a
 * vocabulary-only load (tokenizer tools: ~20 ms, no weights in memory) or the full model (generation).
 * A failed load is not cached: the next call tries again and gets the same clear error if nothing changed.
 */
import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename } from "node:path";
import type { GgufFileInfo, Llama, LlamaEmbeddingContext, LlamaModel } from "node-llama-cpp";
import { ToolError, messageOf } from "../errors.js";
import type { Logger } from "../log.js";
import { acquireLlama, llamaCpp } from "./binding.js";
import { checkGguf } from "./gguf-check.js";
import { SequencePool } from "./pool.js";
import { parseModelSource, resolveModelPath, type DownloadProgress, type ModelSource } from "./resolve.js";

export interface EngineSettings {
  model: string;
  modelsDir: string;
  hfEndpoint: string;
  threads: number | "auto";
  gpu: "auto" | "false" | "cuda" | "vulkan";
  contextSize: number;
  sequences: number;
  maxQueue: number;
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

export interface LoadedModel {
  model: LlamaModel;
  info: ModelInfo;
  vocabOnly: boolean;
  /** A per-loaded-model cache for derived data (token tables, vocabulary analysis). */
  cache: Map<string, unknown>;
}

export interface LoadListener {
  onDownload?(progress: DownloadProgress): void;
}

export type EngineState = "idle" | "loading" | "vocab" | "full";

/**
 * "auto" threads: one less than the cores, 1 to 8. Measured (README, `npm run bench -- threads`): on 2 cores,
 * generation ran 157 tok/s on 1 thread, 58 on 2 and 1 on 4; llama.cpp's threads spin-wait, so a thread
 * per core starves the event loop and everything else, and more threads than cores collapses throughput.
 */
export function resolveThreads(threads: number | "auto", cores = availableParallelism()): number | undefined {
  if (threads === "auto") return Math.max(1, Math.min(8, cores - 1));
  return threads === 0 ? undefined : threads;
}

export class ModelEngine {
  private llama: Promise<Llama> | undefined;
  private resolved: Promise<{ path: string; gguf: GgufFileInfo; bytes: number }> | undefined;
  private vocab: Promise<LoadedModel> | undefined;
  private full: Promise<LoadedModel> | undefined;
  private pool: Promise<SequencePool> | undefined;
  private embedding: Promise<LlamaEmbeddingContext> | undefined;
  private embeddingLock: Promise<unknown> = Promise.resolve();
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

  /** The loaded model's name, when one is loaded (nothing is loaded to answer). */
  loadedName(): string | null {
    return this.lastLoaded?.info.name ?? null;
  }

  /**
   * The context size as the setting asks and as applied, with why they differ: a model trained on a shorter
   * context caps it. `applied` is null until a model is loaded (nothing is loaded to answer).
   */
  contextSizes(): { setting: number; trained: number | null; applied: number | null; note: string } {
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

  /** A model for tokenization: the full model when loaded (or loading), else a vocabulary-only load. */
  async tokenizer(listener?: LoadListener, signal?: AbortSignal): Promise<LoadedModel> {
    if (this.full) return this.wait(this.full, listener, signal);
    this.vocab ??= this.retryable(() => this.load(true), () => (this.vocab = undefined));
    return this.wait(this.vocab, listener, signal);
  }

  /** The fully loaded model, for generation and embeddings. */
  async model(listener?: LoadListener, signal?: AbortSignal): Promise<LoadedModel> {
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
    return this.wait(this.full, listener, signal);
  }

  /** The full model and the shared pool of generation sequences (created on first need). */
  async generation(listener?: LoadListener, signal?: AbortSignal): Promise<{ loaded: LoadedModel; pool: SequencePool }> {
    const loaded = await this.model(listener, signal);
    this.pool ??= this.retryable(
      async () => {
        const contextSize = this.contextSizeFor(loaded);
        try {
          const context = await loaded.model.createContext({ contextSize, sequences: this.settings.sequences });
          return new SequencePool(context, this.settings.maxQueue);
        } catch (error) {
          throw new ToolError(`llama.cpp could not create a context of ${contextSize} tokens x ${this.settings.sequences} sequences: ${messageOf(error)}`, {
            hint: "Lower --context-size or --sequences.",
            code: "engine_unavailable",
          });
        }
      },
      () => (this.pool = undefined),
    );
    return { loaded, pool: await this.pool };
  }

  /** The pool if it exists, without creating anything (for stats). */
  async poolIfReady(): Promise<SequencePool | undefined> {
    if (!this.pool) return undefined;
    return this.pool.catch(() => undefined);
  }

  /**
   * Runs fn with the embedding context, one call at a time (a context computes one embedding at a time).
   */
  async withEmbedding<T>(fn: (context: LlamaEmbeddingContext, loaded: LoadedModel) => Promise<T>, listener?: LoadListener, signal?: AbortSignal): Promise<T> {
    const loaded = await this.model(listener, signal);
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
    const context = await this.embedding;
    const run = this.embeddingLock.then(() => {
      if (signal?.aborted) throw new ToolError("cancelled", { code: "cancelled" });
      return fn(context, loaded);
    });
    this.embeddingLock = run.catch(() => undefined);
    return run;
  }

  /** The context size used for each sequence: the setting, capped by what the model was trained on. */
  contextSizeFor(loaded: LoadedModel): number {
    const train = loaded.info.trainContextSize;
    return train > 0 ? Math.min(this.settings.contextSize, train) : this.settings.contextSize;
  }

  /** The llama.cpp binding, loaded once. */
  async binding(): Promise<Llama> {
    this.llama ??= this.retryable(() => this.loadBinding(), () => (this.llama = undefined));
    return this.llama;
  }

  async close(): Promise<void> {
    this.closed = true;
    const pool = await this.pool?.catch(() => undefined);
    this.pool = undefined;
    await pool?.close().catch(() => undefined);
    const embedding = await this.embedding?.catch(() => undefined);
    this.embedding = undefined;
    await embedding?.dispose().catch(() => undefined);
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

  private async wait<T>(promise: Promise<T>, listener: LoadListener | undefined, signal: AbortSignal | undefined): Promise<T> {
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

  private async load(vocabOnly: boolean): Promise<LoadedModel> {
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
    this.log.info(`model loaded${vocabOnly ? " (vocabulary only)" : ""}`, { file: path, ms: Math.round(ms) });
    const loaded = { model, info, vocabOnly, cache: new Map<string, unknown>() };
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
