/** score: how likely the model finds a text, token by token, with its best alternatives at each position. */
import { z } from "zod";
import { callOptions } from "../progress.js";
import { checkInputChars, defineTool } from "../tool.js";
import { piecesOf, probabilitiesOf, READ_ONLY, type InsightToolDeps } from "./deps.js";

const Alternative = z.object({ id: z.number().int(), piece: z.string(), logprob: z.number() });

export const ScoreOutput = z.object({
  model: z.string(),
  backend: z.string(),
  perplexity: z.number().nullable().describe("exp(-mean_logprob); null when no token could be scored"),
  mean_logprob: z.number().nullable(),
  tokens: z.array(
    z.object({
      id: z.number().int(),
      piece: z.string(),
      bytes: z.string().optional(),
      logprob: z.number().nullable().describe("Natural log of the model's probability of this token here; null for a first token with no BOS before it"),
      top: z.array(Alternative).describe("The model's most likely tokens at this position, best first"),
    }),
  ),
  windows: z.number().int().describe("Context windows the text took (a long text is scored window by window)"),
  context_size: z.number().int(),
  conditioned_on_bos: z.boolean(),
});

export const score = (deps: InsightToolDeps) =>
  defineTool({
    name: "score",
    title: "Score a text (log-probabilities)",
    description:
      "How likely the model finds a text: each of the text's tokens with its log-probability (no sampler applied; the " +
      "first token is conditioned on BOS) and the model's top alternatives at that position, plus the mean logprob " +
      "and the perplexity exp(-mean). Low logprobs show where the text surprises the model. A text longer than the " +
      "context is scored in windows, each with half a context of the tokens before it as context.",
    input: z.strictObject({
      text: z.string().min(1).describe("The text to score, as is"),
      top_n: z.number().int().min(0).max(20).default(5).describe("Alternatives shown per position (0..20)"),
    }),
    output: ScoreOutput,
    annotations: READ_ONLY,
    longRunning: true,
    async run(args, ctx) {
      checkInputChars("text", args.text.length, deps.maxInputChars);
      const engine = await probabilitiesOf(deps, ctx);
      const scored = await engine.score(args.text, { topN: args.top_n, maxTokens: deps.scoreMaxTokens, ...callOptions(ctx) });
      const pieces = await piecesOf(await engine.tokenizer(callOptions(ctx)), [...scored.tokens.map((t) => t.id), ...scored.tokens.flatMap((t) => t.top.map((a) => a.id))]);
      const tokens = scored.tokens.map((t) => ({
        id: t.id,
        ...pieces.get(t.id)!,
        logprob: t.logprob === null ? null : round(t.logprob),
        top: t.top.map((a) => ({ id: a.id, piece: pieces.get(a.id)!.piece, logprob: round(a.logprob) })),
      }));
      const known = scored.tokens.flatMap((t) => (t.logprob === null ? [] : [t.logprob]));
      const mean = known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
      const structured = {
        model: scored.model.name,
        backend: scored.backend,
        perplexity: mean === null ? null : round(Math.exp(-mean)),
        mean_logprob: mean === null ? null : round(mean),
        tokens,
        windows: scored.windows,
        context_size: scored.contextSize,
        conditioned_on_bos: scored.bosUsed,
      };
      const worst = [...tokens].filter((t) => t.logprob !== null).sort((a, b) => a.logprob! - b.logprob!).slice(0, 5);
      return {
        structured,
        text:
          `${tokens.length} tokens, mean logprob ${structured.mean_logprob ?? "n/a"}, perplexity ${structured.perplexity ?? "n/a"} (${structured.model})` +
          (worst.length ? `\nLeast expected: ${worst.map((t) => `${JSON.stringify(t.piece)} ${t.logprob}`).join(", ")}` : ""),
      };
    },
  });

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
