/** count_tokens: the tokens of many texts at once, and their total. */
import { z } from "zod";
import { checkInputChars, defineTool } from "../tool.js";
import { READ_ONLY, tokenizerFor, type TokenToolDeps } from "./deps.js";

export const CountTokensInput = z.strictObject({
  texts: z.array(z.string()).min(1).max(10_000).describe("The texts to count, each on its own"),
  special: z.boolean().default(false).describe("Parse special-token text (as tokenize does)"),
});
export const CountTokensOutput = z.object({
  model: z.string(),
  backend: z.string().describe('Where it ran: "local", or the inference server\'s URL'),
  counts: z.array(z.number().int()),
  total: z.number().int(),
});

export const countTokens = (deps: TokenToolDeps) =>
  defineTool({
    name: "count_tokens",
    title: "Count tokens",
    description:
      "Counts the loaded model's tokens in each of several texts at once, and their total. The fast path for " +
      "budgeting prompts and passages before sending them to a model.",
    input: CountTokensInput,
    output: CountTokensOutput,
    annotations: READ_ONLY,
    async run(args, ctx) {
      checkInputChars("the texts together", args.texts.reduce((n, t) => n + t.length, 0), deps.maxInputChars);
      const tokenizer = await tokenizerFor(deps, ctx);
      const counts = await Promise.all(args.texts.map((t) => tokenizer.count(t, args.special)));
      const total = counts.reduce((a, b) => a + b, 0);
      return {
        structured: { model: tokenizer.info.name, backend: tokenizer.backend, counts, total },
        text: `${total} tokens in ${counts.length} text${counts.length === 1 ? "" : "s"}${counts.length > 1 ? ` (${counts.join(", ")})` : ""}`,
      };
    },
  });
