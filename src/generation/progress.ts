/**
 * Progress notifications of a generation call, from the engine's events: every 16 tokens or 500 ms with the count
 * and the text so far, and before the first token a heartbeat whose value climbs towards 1 without reaching it (so
 * it always increases, as the protocol requires, and a long prompt keeps the call alive in hosts that time out
 * silent calls).
 */
import type { GenerateOptions } from "../llm/engine.js";
import { callOptions } from "../progress.js";
import type { ToolContext } from "../tool.js";

const EVERY_TOKENS = 16;
const EVERY_MS = 500;
const MESSAGE_TAIL = 2000;

/** The engine options of a generation call (signal, download progress, token events), and how to stop the timer. */
export function generationProgress(ctx: ToolContext): { options: GenerateOptions; stop(): void } {
  const options: GenerateOptions = callOptions(ctx);
  if (!ctx.wantsProgress) return { options, stop: () => undefined };
  let start: { promptTokens?: number; maxTokens?: number } | undefined;
  let tokens = 0;
  let text = "";
  let sentTokens = 0;
  let heartbeats = 0;
  let lastSentAt = performance.now();
  const send = (progress: number, message: string) => {
    lastSentAt = performance.now();
    void ctx.progress({ progress, ...(start?.maxTokens !== undefined ? { total: start.maxTokens } : {}), message }).catch(() => undefined);
  };
  const report = () => {
    sentTokens = tokens;
    const shown = text.length > MESSAGE_TAIL ? `…${text.slice(-MESSAGE_TAIL)}` : text;
    send(tokens, `${tokens} tokens: ${shown}`);
  };
  const timer = setInterval(() => {
    if (performance.now() - lastSentAt < EVERY_MS) return;
    if (tokens === 0) {
      if (start) send(1 - 1 / (2 + heartbeats++), `evaluating the prompt${start.promptTokens !== undefined ? ` (${start.promptTokens} tokens)` : ""}`);
    } else if (tokens > sentTokens) report();
  }, EVERY_MS / 2);
  options.onStart = (s) => (start = s);
  options.onToken = (p) => {
    tokens = p.tokens;
    text = p.text;
    if (tokens - sentTokens >= EVERY_TOKENS) report();
  };
  return { options, stop: () => clearInterval(timer) };
}
