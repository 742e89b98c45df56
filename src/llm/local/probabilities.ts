/**
 * The model's raw next-token probabilities (softmax of the logits, no sampler applied), from node-llama-cpp's
 * controlledEvaluate with `generateNext.probabilities`: for scoring a text token by token, and for the whole
 * distribution after a prompt. Each position costs O(vocabulary) (node-llama-cpp builds the whole sorted map), which
 * is why scoring is capped in tokens.
 *
 * A text longer than the context is scored in windows: each window starts with BOS and up to half a context of the
 * tokens before it, as context, and scores the tokens after them, so every token is scored once, with at least half
 * a context (or everything before it) behind it.
 */
import type { LlamaContextSequence, Token } from "node-llama-cpp";
import { ToolError } from "../../errors.js";
import type { Distribution, ScoredText } from "../engine.js";
import type { GenerationTarget } from "./generate.js";

/** float32 probabilities underflow to 0: the log of the smallest positive float32 stands in, so logprobs stay finite. */
export const MIN_LOGPROB = Math.log(1.401298464324817e-45);

function logOf(p: number): number {
  return p > 0 ? Math.log(p) : MIN_LOGPROB;
}

/** Evaluates `input` from an empty sequence; the next-token probabilities after each position flagged in `want`. */
async function evaluate(sequence: LlamaContextSequence, input: readonly Token[], want: (index: number) => boolean): Promise<Array<Map<Token, number> | undefined>> {
  await sequence.clearHistory();
  const items = input.map((token, i) => (want(i) ? ([token, { generateNext: { probabilities: true } }] as [Token, { generateNext: { probabilities: true } }]) : token));
  const out = await sequence.controlledEvaluate(items);
  return out.map((o) => o?.next.probabilities);
}

export async function scoreText(target: GenerationTarget, text: string, topN: number, maxTokens: number, signal: AbortSignal | undefined): Promise<ScoredText> {
  const { model, pool } = target;
  const tokens = [...model.tokenize(text, false)];
  if (tokens.length === 0) throw new ToolError("The text has no tokens to score.", { code: "invalid_arguments" });
  if (tokens.length > maxTokens) {
    throw new ToolError(`The text is ${tokens.length} tokens; score takes at most ${maxTokens} (each token costs a pass over the whole vocabulary).`, {
      hint: "Score a shorter text, or split it.",
      code: "too_large",
      data: { tokens: tokens.length, limit: maxTokens },
    });
  }
  const bos = model.tokens.bos;
  const contextSize = pool.context.contextSize;
  const overlap = Math.floor(contextSize / 2);
  const scored: ScoredText["tokens"] = [];
  let windows = 0;
  await pool.use(signal, async (sequence) => {
    for (let start = 0; start < tokens.length; ) {
      if (signal?.aborted) throw new ToolError("cancelled", { code: "cancelled" });
      const before = start === 0 ? [] : tokens.slice(Math.max(0, start - overlap), start);
      const head: Token[] = bos === null ? before : [bos, ...before];
      if (head.length === 0) {
        // No BOS and nothing before: the first token has no context to be scored in.
        scored.push({ id: tokens[0]!, logprob: null, top: [] });
        start = 1;
        continue;
      }
      const room = contextSize - head.length;
      const end = Math.min(tokens.length, start + room);
      const input = [...head, ...tokens.slice(start, end)];
      // The distribution after position i predicts input[i + 1]: wanted from the last head token to the one before the end.
      const maps = await evaluate(sequence, input, (i) => i >= head.length - 1 && i < input.length - 1);
      for (let i = head.length - 1; i < input.length - 1; i++) {
        const map = maps[i]!;
        const id = input[i + 1]!;
        const top: Array<{ id: number; logprob: number }> = [];
        for (const [candidate, p] of map) {
          if (top.length >= topN) break;
          top.push({ id: candidate, logprob: logOf(p) });
        }
        scored.push({ id, logprob: logOf(map.get(id) ?? 0), top });
      }
      windows++;
      start = end;
    }
  });
  return { tokens: scored, windows, contextSize, bosUsed: bos !== null };
}

export async function nextTokenDistribution(target: GenerationTarget, prompt: string, special: boolean, signal: AbortSignal | undefined): Promise<Distribution> {
  const { model, pool } = target;
  const tokens: Token[] = [...model.tokenize(prompt, special)];
  if (model.tokens.shouldPrependBosToken && model.tokens.bos !== null && tokens[0] !== model.tokens.bos) tokens.unshift(model.tokens.bos);
  if (tokens.length === 0) throw new ToolError("The prompt has no tokens.", { code: "invalid_arguments" });
  if (tokens.length >= pool.context.contextSize) {
    throw new ToolError(`The prompt is ${tokens.length} tokens; the context holds ${pool.context.contextSize}.`, { code: "prompt_too_long", hint: "Shorten the prompt, or raise --context-size." });
  }
  return pool.use(signal, async (sequence) => {
    const maps = await evaluate(sequence, tokens, (i) => i === tokens.length - 1);
    const map = maps.at(-1)!;
    return { promptTokens: tokens.length, probabilities: [...map].map(([id, p]) => ({ id, probability: p })) };
  });
}
