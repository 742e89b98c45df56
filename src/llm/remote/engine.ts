/**
 * The remote backend of the engine: the inference server the user already runs (llama-server, vLLM, Ollama, LM
 * Studio, llamafile: anything OpenAI-compatible). llama-server is recognised by its /props and spoken to in its own
 * API (raw completions with every sampling field, GBNF grammars, its tokenizer); anything else through /v1. Every
 * generation is streamed: tokens drive progress, and cancelling the call aborts the request, so the server stops.
 *
 * Tokenizer: llama-server's own (/tokenize with pieces, /detokenize), so counts match the model that generates;
 * with --model, a local GGUF of the same model (loaded vocabulary-only) instead, which is also the way for a server
 * without a tokenizer (Ollama).
 */
import { ToolError } from "../../errors.js";
import type {
  BackendStatus,
  CallOptions,
  Capabilities,
  ChatRequest,
  ChatResult,
  CompletionRequest,
  ContextSizes,
  EmbedOptions,
  Embeddings,
  Engine,
  EngineState,
  GenerateOptions,
  GenerationResult,
  GenerationStats,
  ModelInfo,
  Sampling,
  Tokenizer,
} from "../engine.js";
import type { PlanRequest, PlanResult } from "../../planning.js";
import { RemoteClient, untilAborted } from "./client.js";
import { ServerTokenizer, VllmTokenizer } from "./tokenizer.js";

export interface RemoteSettings {
  urls: string[];
  api: "auto" | "llama-server" | "openai";
  apiKey: string | undefined;
  /** The model name sent in OpenAI-style requests; default: the first of /v1/models. */
  model: string | undefined;
  timeoutMs: number;
  maxConcurrent: number;
  contextSize: number;
}

/** What the server told about itself on first contact. */
interface ServerFacts {
  api: "llama-server" | "openai";
  model: string;
  info: ModelInfo;
  /** Tokens per slot (llama-server), when known. */
  slotContext: number | null;
  /** The server's own tokenizer: llama-server's, vLLM's /tokenize, or none (Ollama, LM Studio). */
  tokenizer: "llama-server" | "vllm" | null;
  slots: number | null;
}

const UNKNOWN_INFO = (name: string, source: string): ModelInfo => ({
  name,
  file: "",
  source,
  sizeBytes: 0,
  architecture: "unknown",
  quantization: "unknown",
  trainContextSize: 0,
  vocabularySize: 0,
  embeddingSize: 0,
  chatTemplate: true,
});

export class RemoteEngine implements Engine {
  private readonly client: RemoteClient;
  private facts: Promise<ServerFacts> | undefined;
  private known: ServerFacts | undefined;
  private serverTokenizer: ServerTokenizer | VllmTokenizer | undefined;
  /** The server answered that it does not embed (llama-server without --embeddings): not asked again. */
  private embedRefused = false;
  readonly loadMs = undefined;

  constructor(
    private readonly settings: RemoteSettings,
    /** A local engine for the tokenizer (--model given), used in place of the server's. */
    private readonly localTokenizer: Engine | undefined,
  ) {
    this.client = new RemoteClient({ urls: settings.urls, apiKey: settings.apiKey, timeoutMs: settings.timeoutMs, maxConcurrent: settings.maxConcurrent });
  }

  get state(): EngineState {
    return this.known ? "full" : this.facts ? "loading" : "idle";
  }

  describeSource(): string {
    return this.client.primary;
  }

  async sourceProblem(): Promise<string | undefined> {
    return this.localTokenizer?.sourceProblem();
  }

  loadedInfo(): ModelInfo | null {
    return this.known?.info ?? null;
  }

  contextSizes(): ContextSizes {
    const setting = this.settings.contextSize;
    const applied = this.known?.slotContext ?? null;
    return {
      setting,
      trained: this.known?.info.trainContextSize || null,
      applied,
      note: applied === null ? "set by the model server (its -c / -np), not by --context-size" : `${applied} tokens per request: the model server's own setting (-c / -np), not --context-size`,
    };
  }

  stats(): GenerationStats | null {
    const health = this.client.health();
    return { sequences: this.known?.slots ?? this.settings.maxConcurrent * this.settings.urls.length, busy: health.reduce((n, h) => n + h.inFlight, 0), queued: health.reduce((n, h) => n + h.waiting, 0) };
  }

  backend(): BackendStatus {
    return { kind: "remote", ...(this.known ? { api: this.known.api } : {}), servers: this.client.health() };
  }

  async capabilities(options: CallOptions = {}): Promise<Capabilities> {
    const facts = await this.serverFacts(options.signal);
    const llama = facts.api === "llama-server";
    return {
      tokenize: facts.tokenizer !== null || this.localTokenizer !== undefined,
      vocabulary: this.localTokenizer !== undefined,
      generate: true,
      chat: true,
      grammar: llama,
      jsonSchema: true,
      embed: !this.embedRefused,
      probabilities: false,
    };
  }

  async tokenizer(options: CallOptions = {}): Promise<Tokenizer> {
    if (this.localTokenizer) return this.localTokenizer.tokenizer(options);
    const facts = await this.serverFacts(options.signal);
    if (facts.tokenizer === null) {
      throw new ToolError(`The model server at ${this.client.primary} has no tokenizer lam-mcp can use.`, {
        hint: "Start lam-mcp with --model set to a local GGUF of the same model: its tokenizer is loaded vocabulary-only.",
        code: "unsupported",
      });
    }
    if (facts.tokenizer === "vllm") return (this.serverTokenizer ??= new VllmTokenizer(this.client, facts.info, facts.model));
    const tokenizer = (this.serverTokenizer ??= new ServerTokenizer(this.client, facts.info)) as ServerTokenizer;
    await tokenizer.ready(options.signal);
    return tokenizer;
  }

  async generate(request: CompletionRequest, options: GenerateOptions = {}): Promise<GenerationResult> {
    const facts = await this.serverFacts(options.signal);
    return facts.api === "llama-server" ? this.llamaCompletion(facts, request, options) : this.openaiCompletion(facts, request, options);
  }

  async chat(request: ChatRequest, options: GenerateOptions = {}): Promise<ChatResult> {
    const facts = await this.serverFacts(options.signal);
    const llama = facts.api === "llama-server";
    if (request.constraint.kind === "grammar") throw new ToolError("chat takes no grammar.", { code: "unsupported" });
    const { fields, notApplied } = samplingFields(request.sampling, llama);
    const body = {
      model: facts.model,
      messages: request.messages,
      max_tokens: request.maxTokens,
      ...fields,
      ...(request.stop.length > 0 ? { stop: request.stop } : {}),
      ...(request.constraint.kind === "json_schema" ? { response_format: { type: "json_schema", json_schema: { name: "output", strict: true, schema: request.constraint.schema } } } : {}),
      stream_options: { include_usage: true },
    };
    const prompt = request.echoPrompt && llama ? await this.templated(request, options.signal) : null;
    if (request.echoPrompt && prompt === null) notApplied.push("echo_prompt: this server does not show the prompt its chat template makes");
    options.onStart?.({ maxTokens: request.maxTokens });
    const run = await this.streamChoices("/v1/chat/completions", body, options, (choice) => (choice.delta as { content?: unknown } | undefined)?.content);
    return {
      ...this.result(facts, run, request.maxTokens, notApplied),
      prompt,
      format: { wrapper: "server", source: `the model server's own chat template (${facts.api})` },
    };
  }

  async embed(texts: readonly string[], options: EmbedOptions): Promise<Embeddings> {
    const facts = await this.serverFacts(options.signal);
    let input: Array<string | number[]> = [...texts];
    if (options.overflow === "truncate" && facts.api === "llama-server") {
      // llama-server embeds what fits its physical batch (512 tokens by default, not exposed): longer inputs are
      // cut by the server's own tokens to that.
      // Two tokens are left for the BOS/EOS the server may add.
      const limit = Math.min(facts.slotContext ?? 512, 512) - 2;
      const tokenizer = await this.tokenizer(options);
      input = await Promise.all(
        texts.map(async (t) => {
          const { ids } = await tokenizer.tokenize(t, { special: false });
          return ids.length > limit ? ids.slice(0, limit) : t;
        }),
      );
    }
    const { value, url } = await this.client.json("POST", "/v1/embeddings", { model: facts.model, input }, options.signal).catch((error: unknown) => {
      if (error instanceof ToolError && error.code === "unsupported") this.embedRefused = true;
      throw error;
    });
    const data = (value as { data?: Array<{ index?: number; embedding?: unknown }> }).data;
    if (!Array.isArray(data) || data.length !== texts.length || !data.every((d) => Array.isArray(d.embedding))) {
      throw new ToolError(`${url}/v1/embeddings answered without one embedding per text.`, { code: "llm_bad_response" });
    }
    const vectors = [...data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0)).map((d) => d.embedding as number[]);
    return { model: facts.model, vectors, backend: url };
  }

  /**
   * One planning step through the OpenAI tools API (/v1/chat/completions with tools and tool_choice, streamed):
   * llama-server needs --jinja for it. The calls made so far go back as the assistant's tool_calls, each followed by
   * a tool message with its result.
   */
  async plan(request: PlanRequest, options: { signal?: AbortSignal | undefined } = {}): Promise<PlanResult> {
    const facts = await this.serverFacts(options.signal);
    const messages: unknown[] = [];
    for (const turn of request.turns) {
      if (turn.role !== "assistant") messages.push({ role: turn.role, content: turn.content });
      else {
        const calls = turn.calls ?? [];
        messages.push({
          role: "assistant",
          content: turn.content,
          ...(calls.length ? { tool_calls: calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: JSON.stringify(c.arguments) } })) } : {}),
        });
        for (const c of calls) messages.push({ role: "tool", tool_call_id: c.id, content: c.result });
      }
    }
    const body = {
      model: facts.model,
      messages,
      tools: request.functions.map((f) => ({ type: "function", function: { name: f.name, description: f.description, parameters: f.parameters } })),
      tool_choice: request.toolChoice,
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      ...(request.seed === null ? {} : { seed: request.seed }),
      stream_options: { include_usage: true },
    };
    const pending: Array<{ name: string; args: string }> = [];
    const run = await this.streamChoices("/v1/chat/completions", body, options, (choice) => {
      const delta = (choice.delta ?? {}) as { content?: unknown; tool_calls?: Array<{ index?: number; function?: { name?: string; arguments?: string } }> };
      for (const part of delta.tool_calls ?? []) {
        const at = part.index ?? pending.length;
        pending[at] ??= { name: "", args: "" };
        pending[at].name += part.function?.name ?? "";
        pending[at].args += part.function?.arguments ?? "";
      }
      return delta.content;
    });
    const calls = pending.filter(Boolean).map((p) => {
      try {
        const parsed: unknown = p.args.trim() === "" ? {} : JSON.parse(p.args);
        return { name: p.name, arguments: parsed && typeof parsed === "object" && !Array.isArray(parsed) ? Object.fromEntries(Object.entries(parsed).filter(([, v]) => v !== null)) : {} };
      } catch {
        throw new ToolError(`${run.url}/v1/chat/completions asked for ${p.name} with arguments that are not JSON.`, { code: "plan_failed", hint: "Retry, or use tool_choice required (the server then constrains the call)." });
      }
    });
    const usage = run.usage;
    return {
      text: run.text,
      calls,
      finishReason: run.aborted ? "cancelled" : calls.length > 0 ? "calls" : run.finish === "length" ? "length" : "stop",
      promptTokens: usage?.prompt_tokens ?? 0,
      completionTokens: usage?.completion_tokens ?? run.tokens,
      backend: run.url,
      model: facts.model,
    };
  }

  /** Servers do rerank (llama-server's /v1/rerank with --reranking), but not through one API everyone shares: embeddings rank instead. */
  async rank(): Promise<null> {
    return null;
  }

  score(): Promise<never> {
    return Promise.reject(this.noProbabilities("score"));
  }

  nextTokens(): Promise<never> {
    return Promise.reject(this.noProbabilities("next_token"));
  }

  private noProbabilities(tool: string): ToolError {
    return new ToolError(`${tool} needs the model's whole next-token distribution, which the model server at ${this.client.primary} does not give (an OpenAI-style server gives the probabilities of the tokens it generates, at most).`, {
      hint: "Run lam-mcp with the local model (--model, without --llm-url) for score, next_token and judge's expected score.",
      code: "unsupported",
    });
  }

  async close(): Promise<void> {
    await this.localTokenizer?.close();
  }

  /**
   * The server's kind and model, found once (a failure is not kept: the next call asks again). Callers share the
   * one discovery, so it is not tied to any caller's signal (--llm-timeout-ms bounds it); a caller that cancels
   * stops waiting for it.
   */
  private serverFacts(signal?: AbortSignal): Promise<ServerFacts> {
    this.facts ??= this.discover().then(
      (facts) => (this.known = facts),
      (error: unknown) => {
        this.facts = undefined;
        throw error;
      },
    );
    return untilAborted(this.facts, signal);
  }

  private async discover(): Promise<ServerFacts> {
    let api = this.settings.api;
    let props: Record<string, unknown> | undefined;
    if (api !== "openai") {
      try {
        props = (await this.client.json("GET", "/props", undefined)).value as Record<string, unknown>;
        if (api === "auto") api = "total_slots" in props || "default_generation_settings" in props ? "llama-server" : "openai";
      } catch (error) {
        if (api === "llama-server" || (error as ToolError).code !== "llm_not_found") throw error;
        api = "openai";
      }
    }
    const models = ((await this.client.json("GET", "/v1/models", undefined)).value as { data?: Array<{ id?: string; meta?: Record<string, unknown> }> }).data ?? [];
    const wanted = this.settings.model;
    // Ollama lists "name:tag" and takes "name" for "name:latest".
    const chosen = wanted ? models.find((m) => m.id === wanted || m.id === `${wanted}:latest`) : models[0];
    if (wanted && !chosen && models.length > 0) {
      const names = models.map((m) => m.id).filter((id): id is string => typeof id === "string");
      throw new ToolError(`The model server at ${this.client.primary} has no model named ${JSON.stringify(wanted)}; it lists ${names.slice(0, 10).map((n) => JSON.stringify(n)).join(", ")}.`, {
        hint: "Set --llm-model / LAM_LLM_MODEL to one of the names the server lists (its /v1/models), or leave it unset for the first.",
        code: "llm_not_found",
        data: { models: names.slice(0, 100) },
      });
    }
    const model = wanted ?? chosen?.id;
    if (!model) {
      throw new ToolError(`The model server at ${this.client.primary} lists no model in /v1/models.`, { hint: "Name the model with --llm-model / LAM_LLM_MODEL.", code: "llm_not_found" });
    }
    const meta = chosen?.meta ?? {};
    const num = (v: unknown) => (typeof v === "number" ? v : 0);
    const generation = (props?.default_generation_settings ?? {}) as Record<string, unknown>;
    const info: ModelInfo = {
      ...UNKNOWN_INFO(model, this.client.primary),
      file: typeof props?.model_path === "string" ? props.model_path : "",
      sizeBytes: num(meta.size),
      quantization: typeof meta.ftype === "string" ? meta.ftype : typeof props?.model_ftype === "string" ? props.model_ftype : "unknown",
      trainContextSize: num(meta.n_ctx_train),
      vocabularySize: num(meta.n_vocab),
      embeddingSize: num(meta.n_embd),
    };
    const llama = api === "llama-server";
    // Only asked when needed: the local GGUF (--model) is the tokenizer otherwise.
    const vllm = !llama && !this.localTokenizer && (await VllmTokenizer.probe(this.client, model));
    return {
      api: llama ? "llama-server" : "openai",
      tokenizer: llama ? "llama-server" : vllm ? "vllm" : null,
      model,
      info,
      slotContext: num(generation.n_ctx) || num(meta.n_ctx) || null,
      slots: num(props?.total_slots) || null,
    };
  }

  /** llama-server's /completion: the prompt tokenized by the server (special tokens only when asked), streamed. */
  private async llamaCompletion(facts: ServerFacts, request: CompletionRequest, options: GenerateOptions): Promise<GenerationResult> {
    const tokenizer = await this.tokenizer(options);
    const prompt = (await tokenizer.tokenize(request.prompt, { special: request.special, addBos: true })).ids;
    const context = facts.slotContext;
    if (context !== null && prompt.length >= context) {
      throw new ToolError(`The prompt is ${prompt.length} tokens; the model server's context holds ${context}, so nothing is left to generate.`, {
        hint: "Shorten the prompt (count_tokens measures it), or start the server with a larger context (-c).",
        code: "prompt_too_long",
        data: { prompt_tokens: prompt.length, context_size: context },
      });
    }
    const maxTokens = context === null ? request.maxTokens : Math.min(request.maxTokens, context - prompt.length);
    const { fields } = samplingFields(request.sampling, true);
    const body = {
      prompt,
      n_predict: maxTokens,
      ...fields,
      ...(request.stop.length > 0 ? { stop: request.stop } : {}),
      ...(request.constraint.kind === "grammar" ? { grammar: request.constraint.gbnf } : {}),
      ...(request.constraint.kind === "json_schema" ? { json_schema: request.constraint.schema } : {}),
      cache_prompt: true,
    };
    options.onStart?.({ promptTokens: prompt.length, maxTokens });
    const started = performance.now();
    let firstAt: number | undefined;
    let text = "";
    let tokens = 0;
    let final: Record<string, unknown> = {};
    const url = await this.client.stream("/completion", body, options.signal, ({ data }) => {
      const event = data as Record<string, unknown>;
      const content = typeof event.content === "string" ? event.content : "";
      if (content || Array.isArray(event.tokens)) {
        firstAt ??= performance.now();
        text += content;
        tokens += Array.isArray(event.tokens) ? event.tokens.length : content ? 1 : 0;
        options.onToken?.({ tokens, text });
      }
      if (event.stop === true) final = event;
    });
    const ended = performance.now();
    if (final.stop !== true && !options.signal?.aborted) throw cutShort(url, "/completion");
    const timings = (final.timings ?? {}) as Record<string, number>;
    const predicted = typeof final.tokens_predicted === "number" ? final.tokens_predicted : tokens;
    const stopType = final.stop_type;
    // A stream holds back tokens that end inside a UTF-8 character and never sends them when generation ends there;
    // the server's unstreamed answer renders that tail as one U+FFFD. The same here, so both texts are equal. (The
    // EOS token is counted but not sent; a stop string's tokens are held back too, so "word" is left alone.)
    const withheld = predicted - tokens - (stopType === "eos" ? 1 : 0);
    if (withheld > 0 && (stopType === "eos" || stopType === "limit")) text += "\uFFFD";
    return {
      text,
      finishReason: options.signal?.aborted ? "cancelled" : stopType === "limit" ? "length" : stopType === "word" ? "stop_sequence" : "stop",
      promptTokens: typeof final.tokens_evaluated === "number" ? final.tokens_evaluated : prompt.length,
      completionTokens: predicted,
      promptMs: round(timings.prompt_ms ?? (firstAt ?? ended) - started),
      generationMs: round(timings.predicted_ms ?? ended - (firstAt ?? ended)),
      tokensPerSecond: round(timings.predicted_per_second ?? 0),
      model: facts.info,
      backend: url,
      contextSize: context ?? 0,
      maxTokensApplied: maxTokens,
      notApplied: [],
    };
  }

  /** /v1/completions of an OpenAI-compatible server, streamed. */
  private async openaiCompletion(facts: ServerFacts, request: CompletionRequest, options: GenerateOptions): Promise<GenerationResult> {
    if (request.constraint.kind === "grammar") {
      throw new ToolError("This model server takes no GBNF grammar (the OpenAI API has none).", { hint: "Use llama-server (--llm-api llama-server), or json_schema with chat.", code: "unsupported" });
    }
    if (request.constraint.kind === "json_schema") {
      throw new ToolError("json_schema in a raw completion needs llama-server's API; the OpenAI API constrains only chat.", {
        hint: "Use chat, which sends the schema as response_format, or llama-server (--llm-api llama-server).",
        code: "unsupported",
      });
    }
    const { fields, notApplied } = samplingFields(request.sampling, false);
    if (request.special) notApplied.push("special: the OpenAI API has no switch for parsing special tokens (the server decides)");
    const body = {
      model: facts.model,
      prompt: request.prompt,
      max_tokens: request.maxTokens,
      ...fields,
      ...(request.stop.length > 0 ? { stop: request.stop } : {}),
      stream_options: { include_usage: true },
    };
    options.onStart?.({ maxTokens: request.maxTokens });
    const run = await this.streamChoices("/v1/completions", body, options, (choice) => choice.text);
    return this.result(facts, run, request.maxTokens, notApplied);
  }

  /** Streams an OpenAI-style answer: the text of each choice delta, the finish reason, the usage at the end. */
  private async streamChoices(path: string, body: object, options: GenerateOptions, textOf: (choice: Record<string, unknown>) => unknown): Promise<StreamedRun> {
    const started = performance.now();
    let firstAt: number | undefined;
    let text = "";
    let tokens = 0;
    let finish: unknown;
    let usage: { prompt_tokens?: number; completion_tokens?: number } | undefined;
    const url = await this.client.stream(path, body, options.signal, ({ data }) => {
      const event = data as { choices?: Array<Record<string, unknown>>; usage?: typeof usage };
      if (event.usage) usage = event.usage;
      const choice = event.choices?.[0];
      if (!choice) return;
      const piece = textOf(choice);
      if (typeof piece === "string" && piece.length > 0) {
        firstAt ??= performance.now();
        text += piece;
        tokens++;
        options.onToken?.({ tokens, text });
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    });
    const ended = performance.now();
    if (finish === undefined && !options.signal?.aborted) throw cutShort(url, path);
    return { url, text, finish, usage, started, firstAt, ended, tokens, aborted: options.signal?.aborted ?? false };
  }

  private result(facts: ServerFacts, run: StreamedRun, maxTokens: number, notApplied: string[]): GenerationResult {
    const completion = run.usage?.completion_tokens ?? run.tokens;
    const first = run.firstAt ?? run.ended;
    const generationMs = run.ended - first;
    return {
      text: run.text,
      finishReason: run.aborted ? "cancelled" : run.finish === "length" ? "length" : "stop",
      promptTokens: run.usage?.prompt_tokens ?? 0,
      completionTokens: completion,
      promptMs: round(first - run.started),
      generationMs: round(generationMs),
      tokensPerSecond: completion > 1 && generationMs > 0 ? round(((completion - 1) / generationMs) * 1000) : 0,
      model: facts.info,
      backend: run.url,
      contextSize: facts.slotContext ?? 0,
      maxTokensApplied: maxTokens,
      notApplied,
    };
  }

  /** The prompt llama-server's chat template makes of the conversation (/apply-template). */
  private async templated(request: ChatRequest, signal: AbortSignal | undefined): Promise<string | null> {
    try {
      const { value } = await this.client.json("POST", "/apply-template", { messages: request.messages }, signal);
      const prompt = (value as { prompt?: unknown }).prompt;
      return typeof prompt === "string" ? prompt : null;
    } catch (error) {
      if (signal?.aborted) throw error;
      return null;
    }
  }
}

interface StreamedRun {
  url: string;
  text: string;
  finish: unknown;
  usage: { prompt_tokens?: number; completion_tokens?: number } | undefined;
  started: number;
  firstAt: number | undefined;
  ended: number;
  tokens: number;
  aborted: boolean;
}

/**
 * The sampling fields of a request. llama-server takes every one; the OpenAI API only temperature, top_p, the
 * frequency and presence penalties and the seed: the others are listed as not applied, never dropped silently.
 */
function samplingFields(s: Sampling, llama: boolean): { fields: Record<string, unknown>; notApplied: string[] } {
  const fields: Record<string, unknown> = {
    temperature: s.temperature,
    top_p: s.topP,
    frequency_penalty: s.frequencyPenalty,
    presence_penalty: s.presencePenalty,
    ...(s.seed === null ? {} : { seed: s.seed }),
  };
  const notApplied: string[] = [];
  if (llama) Object.assign(fields, { top_k: s.topK, min_p: s.minP, repeat_penalty: s.repeatPenalty, repeat_last_n: 64 });
  else {
    if (s.topK !== 0) notApplied.push(`top_k ${s.topK}: not part of the OpenAI API`);
    if (s.minP !== 0) notApplied.push(`min_p ${s.minP}: not part of the OpenAI API`);
    if (s.repeatPenalty !== 1) notApplied.push(`repeat_penalty ${s.repeatPenalty}: not part of the OpenAI API`);
  }
  return { fields, notApplied };
}

/** A streamed answer that ended without its last event (the connection closed, or the server is not what it seems). */
function cutShort(url: string, path: string): ToolError {
  return new ToolError(`${url}${path} ended its stream without the final event: the answer is incomplete.`, {
    code: "llm_bad_response",
    hint: "The server stopped mid-answer (its log says why), or --llm-url does not point at an inference server.",
  });
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
