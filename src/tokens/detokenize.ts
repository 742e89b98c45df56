/** detokenize: token ids back into text; unknown ids are named. */
import { z } from "zod";
import { ToolError } from "../errors.js";
import { defineTool } from "../tool.js";
import { READ_ONLY, tokenizerFor, type TokenToolDeps } from "./deps.js";

export const DetokenizeInput = z.strictObject({
  ids: z.array(z.number().int()).max(1_000_000).describe("Token ids, as returned by tokenize"),
  special: z.boolean().default(true).describe("Render special tokens as their text (default true); false drops them"),
});
export const DetokenizeOutput = z.object({
  model: z.string(),
  backend: z.string().describe('Where it ran: "local", or the inference server\'s URL'),
  text: z.string(),
  count: z.number().int(),
});

export const detokenize = (deps: TokenToolDeps) =>
  defineTool({
    name: "detokenize",
    title: "Detokenize ids",
    description: "Turns token ids of the loaded model back into text. Unknown ids are an error that names them.",
    input: DetokenizeInput,
    output: DetokenizeOutput,
    annotations: READ_ONLY,
    async run(args, ctx) {
      const tokenizer = await tokenizerFor(deps, ctx);
      const size = tokenizer.size;
      const unknown = size === null ? [] : [...new Set(args.ids.filter((id) => id < 0 || id >= size))];
      if (unknown.length > 0) {
        throw new ToolError(`Unknown token ids: ${unknown.slice(0, 20).join(", ")}${unknown.length > 20 ? ", ..." : ""}.`, {
          hint: `Ids of ${tokenizer.info.name} run from 0 to ${size! - 1}; get them from tokenize.`,
          data: { unknown_ids: unknown, vocabulary_size: size },
        });
      }
      const text = await tokenizer.detokenize(args.ids, args.special);
      return { structured: { model: tokenizer.info.name, backend: tokenizer.backend, text, count: args.ids.length }, text };
    },
  });
