/** embed: texts into embedding vectors. */
import { z } from "zod";
import { callOptions } from "../progress.js";
import { checkInputChars, defineTool } from "../tool.js";
import { unit } from "../vector.js";
import { embeddingEngineOf, READ_ONLY, type GenerationToolDeps } from "./shared.js";

export const embed = (deps: GenerationToolDeps) =>
  defineTool({
    name: "embed",
    title: "Embed texts",
    description:
      "Turns texts into embedding vectors with the embedding model (the main model unless --embedding-model is set). " +
      "Use similarity to rank texts against a query directly.",
    input: z.strictObject({
      texts: z.array(z.string().min(1)).min(1).max(256).describe("Texts to embed, each on its own"),
      normalize: z.boolean().default(true).describe("Scale each vector to unit length (default true)"),
    }),
    output: z.object({
      model: z.string(),
      backend: z.string().describe('Where it ran: "local", or the inference server\'s URL'),
      dimensions: z.number().int(),
      normalized: z.boolean(),
      vectors: z.array(z.array(z.number())),
    }),
    annotations: READ_ONLY,
    async run(args, ctx) {
      checkInputChars("the texts together", args.texts.reduce((n, t) => n + t.length, 0), deps.maxInputChars);
      const { vectors, model, backend } = await (await embeddingEngineOf(deps)).embed(args.texts, { ...callOptions(ctx), overflow: "error" });
      const out = args.normalize ? vectors.map(unit) : vectors;
      const dimensions = out[0]?.length ?? 0;
      return {
        structured: { model, backend, dimensions, normalized: args.normalize, vectors: out },
        text: `${out.length} vector${out.length === 1 ? "" : "s"} of ${dimensions} dimensions${args.normalize ? " (unit length)" : ""} from ${model}`,
      };
    },
  });
