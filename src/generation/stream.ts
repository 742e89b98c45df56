/**
 * Runs one generation with what every generation call needs: a leased sequence, progress notifications as
 * tokens arrive (every 16 tokens or 500 ms), cancellation that stops at the next token, timings, and the
 * finish reason in the tool's words.
 *
 * The text is made here from the generated tokens, never taken from node-llama-cpp's response: detokenized alone,
 * a SentencePiece model's first token loses its leading space ("Once upon a" + "time"). The rule, for the result,
 * the progress text and stop-sequence trimming alike: prompt + text == detokenize(prompt tokens + generated tokens).
 */
import type { LlamaModel, Token } from "node-llama-cpp";
import type { ToolContext } from "../tool.js";

export type FinishReason = "stop" | "length" | "stop_sequence" | "cancelled";

export interface GenerationHooks {
  signal: AbortSignal;
  stopOnAbortSignal: true;
  onToken(tokens: Token[]): void;
  onTextChunk(text: string): void;
}

export interface Streamed {
  text: string;
  finishReason: FinishReason;
  completionTokens: number;
  promptMs: number;
  generationMs: number;
  tokensPerSecond: number;
}

const EVERY_TOKENS = 16;
const EVERY_MS = 500;
const MESSAGE_TAIL = 2000;

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

export interface GenerationInput {
  model: LlamaModel;
  /** The tokens the model was given, exactly. */
  prompt: readonly Token[];
  maxTokens: number;
  stop: readonly string[];
}

export async function streamGeneration(ctx: ToolContext, input: GenerationInput, run: (hooks: GenerationHooks) => Promise<{ stopReason: string }>): Promise<Streamed> {
  const { model, prompt, maxTokens } = input;
  const promptTokens = prompt.length;
  const started = performance.now();
  let firstTokenAt: number | undefined;
  let tokens = 0;
  const generated: Token[] = [];
  /** The text so far for progress messages, grown chunk by chunk with the tokens before each chunk as context. */
  let text = "";
  let sentTokens = 0;
  let heartbeats = 0;
  let lastSentAt = started;

  const send = (progress: number, message: string) => {
    lastSentAt = performance.now();
    void ctx.progress({ progress, total: maxTokens, message }).catch(() => undefined);
  };
  const report = () => {
    sentTokens = tokens;
    const shown = text.length > MESSAGE_TAIL ? `…${text.slice(-MESSAGE_TAIL)}` : text;
    send(tokens, `${tokens} tokens: ${shown}`);
  };
  // Before the first token (prompt evaluation) the progress value climbs towards 1 without reaching it,
  // so it always increases, as the protocol requires, and long prompts keep the call alive.
  const timer = ctx.wantsProgress
    ? setInterval(() => {
        if (performance.now() - lastSentAt < EVERY_MS) return;
        if (tokens === 0) send(1 - 1 / (2 + heartbeats++), `evaluating the prompt (${promptTokens} tokens)`);
        else if (tokens > sentTokens) report();
      }, EVERY_MS / 2)
    : undefined;

  // Stop strings are found here, in the text as the rule makes it (node-llama-cpp's own triggers drop the text
  // that a token holds before the trigger): generation is stopped at the next token, and the text cut before it.
  const stops = input.stop;
  const longestStop = Math.max(0, ...stops.map((x) => x.length));
  const stopper = new AbortController();
  let stopped = false;
  try {
    const result = await run({
      signal: stops.length > 0 ? AbortSignal.any([ctx.signal, stopper.signal]) : ctx.signal,
      stopOnAbortSignal: true,
      onToken(chunk) {
        if (stopped) return;
        firstTokenAt ??= performance.now();
        tokens += chunk.length;
        if (ctx.wantsProgress || stops.length > 0) {
          const from = Math.max(0, text.length - longestStop);
          text += continuation(model, [...prompt.slice(-CONTEXT_TOKENS), ...generated.slice(-CONTEXT_TOKENS)], chunk);
          if (stops.some((stop) => text.indexOf(stop, from) !== -1)) {
            stopped = true;
            stopper.abort();
          }
        }
        generated.push(...chunk);
        if (ctx.wantsProgress && !stopped && tokens - sentTokens >= EVERY_TOKENS) report();
      },
      onTextChunk() {
        // The text is made from the tokens (see continuation), not from these chunks.
      },
    });
    const ended = performance.now();
    const first = firstTokenAt ?? ended;
    const generationMs = ended - first;
    const finishReason = ctx.signal.aborted ? "cancelled" : stopped ? "stop_sequence" : finishReasonOf(result.stopReason);
    const whole = continuation(model, prompt, generated);
    return {
      text: stopped ? cutAtStop(whole, stops) : whole,
      finishReason,
      completionTokens: tokens,
      promptMs: round(first - started),
      generationMs: round(generationMs),
      // The first token is timed with the prompt; the rate is over the tokens after it.
      tokensPerSecond: tokens > 1 && generationMs > 0 ? round(((tokens - 1) / generationMs) * 1000) : 0,
    };
  } finally {
    if (timer) clearInterval(timer);
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
