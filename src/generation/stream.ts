/**
 * Runs one generation with what every generation call needs: a leased sequence, progress notifications as
 * tokens arrive (every 16 tokens or 500 ms), cancellation that stops at the next token, timings, and the
 * finish reason in the tool's words.
 */
import type { Token } from "node-llama-cpp";
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

export async function streamGeneration(
  ctx: ToolContext,
  maxTokens: number,
  promptTokens: number,
  run: (hooks: GenerationHooks) => Promise<{ text: string; stopReason: string }>,
): Promise<Streamed> {
  const started = performance.now();
  let firstTokenAt: number | undefined;
  let tokens = 0;
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

  try {
    const result = await run({
      signal: ctx.signal,
      stopOnAbortSignal: true,
      onToken(chunk) {
        firstTokenAt ??= performance.now();
        tokens += chunk.length;
      },
      onTextChunk(chunk) {
        text += chunk;
        if (ctx.wantsProgress && tokens - sentTokens >= EVERY_TOKENS) report();
      },
    });
    const ended = performance.now();
    const first = firstTokenAt ?? ended;
    const generationMs = ended - first;
    return {
      text: result.text,
      finishReason: ctx.signal.aborted ? "cancelled" : finishReasonOf(result.stopReason),
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
