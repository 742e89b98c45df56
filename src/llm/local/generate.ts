/**
 * Generation on the local model: a raw completion (LlamaCompletion) or a chat (LlamaChat with the model's chat
 * wrapper), on a sequence leased from the pool, with constraints, stop strings, cancellation and timings.
 *
 * The text is made here from the generated tokens, never taken from node-llama-cpp's response: detokenized alone,
 * a SentencePiece model's first token loses its leading space ("Once upon a" + "time"). The rule, for the result,
 * the text reported as tokens arrive and stop-sequence trimming alike: prompt + text == detokenize(prompt tokens +
 * generated tokens). Stop strings are watched in that text (node-llama-cpp's own triggers drop the text a token holds
 * before the trigger); generation is stopped at the next token and the text cut before the stop.
 */
import type { ChatHistoryItem, ChatWrapper, Llama, LlamaGrammar, LlamaModel, Token } from "node-llama-cpp";
import { ToolError, messageOf } from "../../errors.js";
import type {
  ChatMessage,
  ChatRequest,
  ChatResult,
  CompletionRequest,
  Constraint,
  FinishReason,
  GenerateOptions,
  GenerationResult,
  ModelInfo,
  Sampling,
} from "../engine.js";
import { llamaCpp } from "./binding.js";
import type { SequencePool } from "./pool.js";

/** What a generation runs on: the loaded model, the binding (for grammars), the pool of sequences. */
export interface GenerationTarget {
  llama: Llama;
  model: LlamaModel;
  info: ModelInfo;
  pool: SequencePool;
}

/** Prompt tokens used as context when detokenizing what follows them. */
const CONTEXT_TOKENS = 8;

/**
 * The text that generated tokens add after the prompt: detokenize(context + generated) less detokenize(context),
 * context being the prompt's last tokens. Special tokens are not rendered (as in node-llama-cpp's responses).
 */
export function continuation(model: LlamaModel, prompt: readonly Token[], generated: readonly Token[]): string {
  if (generated.length === 0) return "";
  const context = prompt.slice(-CONTEXT_TOKENS);
  const head = model.detokenize(context, false);
  const whole = model.detokenize([...context, ...generated], false);
  return whole.startsWith(head) ? whole.slice(head.length) : model.detokenize(generated, false, context);
}

/** Cuts the text before the first stop string it holds (a stop may end inside a token). */
export function cutAtStop(text: string, stops: readonly string[]): string {
  let end = text.length;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at !== -1 && at < end) end = at;
  }
  return text.slice(0, end);
}

export function finishReasonOf(stopReason: string): FinishReason {
  switch (stopReason) {
    case "maxTokens":
      return "length";
    case "customStopTrigger":
      return "stop_sequence";
    case "abort":
      return "cancelled";
    default:
      return "stop"; // eogToken, stopGenerationTrigger (the grammar or the chat template ended it)
  }
}

/** max_tokens capped to the room the context has left; an over-long prompt is refused before any work. */
function roomFor(promptTokens: number, maxTokens: number, contextSize: number): number {
  if (promptTokens >= contextSize) {
    throw new ToolError(`The prompt is ${promptTokens} tokens; the context holds ${contextSize}, so nothing is left to generate.`, {
      hint: "Shorten the prompt (count_tokens measures it), or raise --context-size on the server.",
      code: "prompt_too_long",
      data: { prompt_tokens: promptTokens, context_size: contextSize },
    });
  }
  return Math.min(maxTokens, contextSize - promptTokens);
}

async function grammarFor(llama: Llama, constraint: Constraint): Promise<LlamaGrammar | undefined> {
  if (constraint.kind === "none") return undefined;
  if (constraint.kind === "json_schema") {
    try {
      // A schema known only at run time: node-llama-cpp's signature infers its type from a literal schema, so the
      // call is untyped here. The caller checks the output against the full schema with ajv.
      return await llama.createGrammarForJsonSchema(constraint.schema as never);
    } catch (error) {
      throw new ToolError(`json_schema cannot be turned into a grammar: ${messageOf(error)}`, {
        hint: "Use the JSON Schema subset node-llama-cpp supports: type, properties, required, items, enum, const, oneOf/anyOf, $defs/$ref, minItems/maxItems, minLength/maxLength, format.",
      });
    }
  }
  try {
    return await llama.createGrammar({ grammar: constraint.gbnf });
  } catch (error) {
    throw new ToolError(`grammar is not valid GBNF: ${messageOf(error)}`, { hint: 'Write llama.cpp GBNF, starting with a root rule: root ::= "yes" | "no"' });
  }
}

/** node-llama-cpp generation options for a sampler (stop strings are watched by streamTokens, not here). */
function samplingOptions(s: Sampling) {
  const penalties = s.repeatPenalty !== 1 || s.frequencyPenalty !== 0 || s.presencePenalty !== 0;
  return {
    temperature: s.temperature,
    topK: s.topK,
    topP: s.topP,
    minP: s.minP,
    ...(s.seed === null ? {} : { seed: s.seed }),
    repeatPenalty: penalties ? { penalty: s.repeatPenalty, frequencyPenalty: s.frequencyPenalty, presencePenalty: s.presencePenalty, lastTokens: 64 } : (false as const),
  };
}

interface StreamHooks {
  signal: AbortSignal | undefined;
  stopOnAbortSignal: true;
  onToken(tokens: Token[]): void;
}

interface Streamed {
  text: string;
  finishReason: FinishReason;
  completionTokens: number;
  promptMs: number;
  generationMs: number;
  tokensPerSecond: number;
}

/** Runs one generation: collects the tokens, makes the text, watches stop strings, times it. */
async function streamTokens(
  model: LlamaModel,
  prompt: readonly Token[],
  stops: readonly string[],
  options: GenerateOptions,
  run: (hooks: StreamHooks) => Promise<{ stopReason: string }>,
): Promise<Streamed> {
  const started = performance.now();
  let firstTokenAt: number | undefined;
  const generated: Token[] = [];
  const onToken = options.onToken;
  /** The text so far, grown chunk by chunk with the tokens before each chunk as context. */
  let text = "";
  const longestStop = Math.max(0, ...stops.map((x) => x.length));
  const stopper = new AbortController();
  let stopped = false;
  const signal = stops.length > 0 ? (options.signal ? AbortSignal.any([options.signal, stopper.signal]) : stopper.signal) : options.signal;
  const result = await run({
    signal,
    stopOnAbortSignal: true,
    onToken(chunk) {
      if (stopped) return;
      firstTokenAt ??= performance.now();
      if (onToken || stops.length > 0) {
        const from = Math.max(0, text.length - longestStop);
        text += continuation(model, [...prompt.slice(-CONTEXT_TOKENS), ...generated.slice(-CONTEXT_TOKENS)], chunk);
        if (stops.some((stop) => text.indexOf(stop, from) !== -1)) {
          stopped = true;
          stopper.abort();
        }
      }
      generated.push(...chunk);
      if (onToken && !stopped) onToken({ tokens: generated.length, text });
    },
  });
  const ended = performance.now();
  const first = firstTokenAt ?? ended;
  const generationMs = ended - first;
  const tokens = generated.length;
  const whole = continuation(model, prompt, generated);
  return {
    text: stopped ? cutAtStop(whole, stops) : whole,
    finishReason: options.signal?.aborted ? "cancelled" : stopped ? "stop_sequence" : finishReasonOf(result.stopReason),
    completionTokens: tokens,
    promptMs: round(first - started),
    generationMs: round(generationMs),
    // The first token is timed with the prompt; the rate is over the tokens after it.
    tokensPerSecond: tokens > 1 && generationMs > 0 ? round(((tokens - 1) / generationMs) * 1000) : 0,
  };
}

function result(target: GenerationTarget, streamed: Streamed, promptTokens: number, maxTokens: number): GenerationResult {
  return {
    text: streamed.text,
    finishReason: streamed.finishReason,
    promptTokens,
    completionTokens: streamed.completionTokens,
    promptMs: streamed.promptMs,
    generationMs: streamed.generationMs,
    tokensPerSecond: streamed.tokensPerSecond,
    model: target.info,
    backend: "local",
    contextSize: target.pool.context.contextSize,
    maxTokensApplied: maxTokens,
    notApplied: [],
  };
}

export async function complete(target: GenerationTarget, request: CompletionRequest, options: GenerateOptions): Promise<GenerationResult> {
  const { model, pool } = target;
  const tokens: Token[] = [...model.tokenize(request.prompt, request.special)];
  if (model.tokens.shouldPrependBosToken && model.tokens.bos !== null && tokens[0] !== model.tokens.bos) tokens.unshift(model.tokens.bos);
  const maxTokens = roomFor(tokens.length, request.maxTokens, pool.context.contextSize);
  const grammar = await grammarFor(target.llama, request.constraint);
  const { LlamaCompletion } = await llamaCpp();
  options.onStart?.({ promptTokens: tokens.length, maxTokens });
  const streamed = await pool.use(options.signal, async (sequence) => {
    const completion = new LlamaCompletion({ contextSequence: sequence, autoDisposeSequence: false });
    try {
      return await streamTokens(model, tokens, request.stop, options, async (hooks) => {
        const r = await completion.generateCompletionWithMeta(tokens, {
          ...hooks,
          ...samplingOptions(request.sampling),
          maxTokens,
          disableContextShift: true,
          ...(grammar ? { grammar } : {}),
        });
        return { stopReason: r.metadata.stopReason };
      });
    } finally {
      completion.dispose({ disposeSequence: false });
    }
  });
  return result(target, streamed, tokens.length, maxTokens);
}

/** The chat wrapper of a model: resolving it analyses the Jinja template (~0.2 s), so once per loaded model. */
const wrappers = new WeakMap<LlamaModel, { wrapper: ChatWrapper; source: string }>();

export async function wrapperOf(target: GenerationTarget): Promise<{ wrapper: ChatWrapper; source: string }> {
  let found = wrappers.get(target.model);
  if (!found) {
    const { GeneralChatWrapper, resolveChatWrapper } = await llamaCpp();
    const fromModel = target.info.chatTemplate ? resolveChatWrapper(target.model) : null;
    const wrapper = fromModel ?? new GeneralChatWrapper();
    const source =
      fromModel && !(wrapper instanceof GeneralChatWrapper)
        ? "the model's chat template"
        : "fallback: the model has no chat template, so the plain '### System / ### Human / ### Assistant' format is used";
    found = { wrapper, source };
    wrappers.set(target.model, found);
  }
  return found;
}

function toHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m) =>
    m.role === "system" ? { type: "system", text: m.content } : m.role === "user" ? { type: "user", text: m.content } : { type: "model", response: [m.content] },
  );
  if (messages.at(-1)?.role !== "assistant") history.push({ type: "model", response: [] });
  return history;
}

export async function chat(target: GenerationTarget, request: ChatRequest, options: GenerateOptions): Promise<ChatResult> {
  const { model, pool } = target;
  const { wrapper, source } = await wrapperOf(target);
  const history = toHistory(request.messages);
  const prompt = wrapper.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer);
  const maxTokens = roomFor(prompt.length, request.maxTokens, pool.context.contextSize);
  const grammar = await grammarFor(target.llama, request.constraint);
  const { LlamaChat } = await llamaCpp();
  options.onStart?.({ promptTokens: prompt.length, maxTokens });
  const streamed = await pool.use(options.signal, async (sequence) => {
    const llamaChat = new LlamaChat({ contextSequence: sequence, chatWrapper: wrapper, autoDisposeSequence: false });
    try {
      return await streamTokens(model, prompt, request.stop, options, async (hooks) => {
        const r = await llamaChat.generateResponse(history, {
          ...hooks,
          ...samplingOptions(request.sampling),
          maxTokens,
          ...(grammar ? { grammar } : {}),
        });
        return { stopReason: r.metadata.stopReason };
      });
    } finally {
      llamaChat.dispose({ disposeSequence: false });
    }
  });
  return {
    ...result(target, streamed, prompt.length, maxTokens),
    prompt: model.detokenize(prompt, true),
    format: { wrapper: wrapper.wrapperName, source },
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
