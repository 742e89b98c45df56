/** next_token: the model's next-token distribution after a prompt, and what each stage of the sampler does to it. */
import { z } from "zod";
import { callOptions } from "../progress.js";
import { checkInputChars, defineTool } from "../tool.js";
import { piecesOf, probabilitiesOf, READ_ONLY, type InsightToolDeps } from "./deps.js";
import { samplerStages } from "./sampler.js";

export const nextToken = (deps: InsightToolDeps) =>
  defineTool({
    name: "next_token",
    title: "The next token, through the sampler's stages",
    description:
      "Shows what the model would generate next after a prompt, and why: the n most likely next tokens with the " +
      "model's probability, the probability after temperature alone, whether top-k, top-p and min-p keep each (llama.cpp " +
      "applies top-k, then top-p, then min-p, then temperature), and the final probability of being sampled (the kept " +
      "ones sum to 1; temperature 0 samples the top one). Defaults are generate's. Use it to see how a setting changes " +
      "the choice.",
    input: z.strictObject({
      prompt: z.string().min(1).describe("The text to continue, used as is"),
      special: z.boolean().default(false).describe("Parse special-token text in the prompt as special tokens"),
      temperature: z.number().min(0).max(2).optional().describe("0..2; 0 = greedy"),
      top_k: z.number().int().min(0).max(1_000_000).optional().describe("Keep the k most likely (0 = off)"),
      top_p: z.number().min(0).max(1).optional().describe("Keep the most likely up to this cumulative probability (1 = off)"),
      min_p: z.number().min(0).max(1).optional().describe("Drop tokens below this fraction of the best one's probability (0 = off)"),
      n: z.number().int().min(1).max(100).default(10).describe("Candidates shown (1..100)"),
    }),
    output: z.object({
      model: z.string(),
      backend: z.string(),
      prompt_tokens: z.number().int(),
      sampler: z.object({ temperature: z.number(), top_k: z.number(), top_p: z.number(), min_p: z.number() }),
      kept: z.number().int().describe("How many tokens of the whole vocabulary survive top-k, top-p and min-p"),
      candidates: z.array(
        z.object({
          id: z.number().int(),
          piece: z.string(),
          bytes: z.string().optional(),
          probability: z.number().describe("The model's probability (no sampler)"),
          after_temperature: z.number().describe("The probability once temperature alone is applied"),
          kept: z.boolean().describe("top-k, top-p and min-p keep it"),
          p_sample: z.number().describe("The probability of being sampled, after every stage"),
        }),
      ),
    }),
    annotations: READ_ONLY,
    async run(args, ctx) {
      checkInputChars("prompt", args.prompt.length, deps.maxInputChars);
      const engine = await probabilitiesOf(deps, ctx);
      const sampler = {
        temperature: args.temperature ?? deps.defaults.temperature,
        topK: args.top_k ?? deps.defaults.topK,
        topP: args.top_p ?? deps.defaults.topP,
        minP: args.min_p ?? deps.defaults.minP,
      };
      const dist = await engine.nextTokens(args.prompt, { special: args.special, ...callOptions(ctx) });
      const { stages, kept } = samplerStages(dist.probabilities.map((p) => p.probability), sampler);
      const shown = dist.probabilities.slice(0, args.n);
      const pieces = await piecesOf(await engine.tokenizer(callOptions(ctx)), shown.map((p) => p.id));
      const candidates = shown.map((p, i) => ({
        id: p.id,
        ...pieces.get(p.id)!,
        probability: round(stages[i]!.probability),
        after_temperature: round(stages[i]!.afterTemperature),
        kept: stages[i]!.kept,
        p_sample: round(stages[i]!.pSample),
      }));
      const structured = {
        model: dist.model.name,
        backend: dist.backend,
        prompt_tokens: dist.promptTokens,
        sampler: { temperature: sampler.temperature, top_k: sampler.topK, top_p: sampler.topP, min_p: sampler.minP },
        kept,
        candidates,
      };
      const rows = candidates.map((c) => `${JSON.stringify(c.piece).padEnd(16)} p=${c.probability.toFixed(4)} T=${c.after_temperature.toFixed(4)} ${c.kept ? "kept" : "cut "} sample=${c.p_sample.toFixed(4)}`);
      return {
        structured,
        text: `After ${dist.promptTokens} prompt tokens (${structured.model}; temperature ${sampler.temperature}, top_k ${sampler.topK}, top_p ${sampler.topP}, min_p ${sampler.minP}; ${kept} kept):\n${rows.join("\n")}`,
      };
    },
  });

function round(n: number): number {
  return Math.round(n * 1e8) / 1e8;
}
