/** generate: a raw completion of a prompt, with every sampling control and constrained output. */
import { z } from "zod";
import { checkInputChars, defineTool } from "../tool.js";
import { generationProgress } from "./progress.js";
import { engineSampling, resolveSampler, samplingFields, type SamplingArgs } from "./sampling.js";
import { constraintOf, GENERATES, tracedGeneration, GenerationOutput, generationOutput, logGeneration, renderGeneration, type GenerationToolDeps } from "./shared.js";

export const generate = (deps: GenerationToolDeps) => {
  const fields = samplingFields(deps.defaults.maxTokensLimit);
  return defineTool({
    name: "generate",
    title: "Generate text (raw completion)",
    description:
      "Continues a prompt with the model (local, or the inference server of --llm-url), exactly as given (no chat template; use chat for conversations). " +
      "Every sampling control is available; temperature 0 is greedy and deterministic, and a seed reproduces a sampled " +
      "text. json_schema or a GBNF grammar constrains the output. The result has the text, why it stopped, token " +
      "usage, timings and a receipt of the model and sampler as applied.",
    input: z
      .strictObject({
        prompt: z.string().min(1).describe("The text to continue, used as is (no chat template)"),
        special: z.boolean().default(false).describe("Parse special-token text in the prompt (<|im_start|> ...) as special tokens"),
        ...fields,
        grammar: z.string().min(1).max(100_000).optional().describe("A GBNF grammar the output must follow (instead of json_schema)"),
      })
      .refine((v) => v.json_schema === undefined || v.grammar === undefined, { message: "give json_schema or grammar, not both" }),
    output: GenerationOutput,
    annotations: GENERATES,
    longRunning: true,
    async run(args, ctx) {
      checkInputChars("prompt", args.prompt.length, deps.maxInputChars);
      const sampler = resolveSampler(args as SamplingArgs, deps.defaults);
      const constraint = await constraintOf(deps.engine, args.json_schema, args.grammar);
      const progress = generationProgress(ctx);
      try {
        const result = await tracedGeneration("text_completion", () =>
          deps.engine.generate(
            { prompt: args.prompt, special: args.special, sampling: engineSampling(sampler), maxTokens: sampler.max_tokens, stop: sampler.stop, constraint: constraint.constraint },
            progress.options,
          ),
        );
        const out = generationOutput(result, sampler, constraint);
        logGeneration(ctx, out, deps.telemetry);
        return renderGeneration(out);
      } finally {
        progress.stop();
      }
    },
  });
};
