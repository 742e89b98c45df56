/** similarity: texts ranked by the cosine similarity of their embeddings to a query. */
import { z } from "zod";
import { callOptions } from "../progress.js";
import { checkInputChars, defineTool } from "../tool.js";
import { dot, unit } from "../vector.js";
import { embeddingEngineOf, READ_ONLY, type GenerationToolDeps } from "./shared.js";

export const similarity = (deps: GenerationToolDeps) =>
  defineTool({
    name: "similarity",
    title: "Rank texts by similarity",
    description:
      "Ranks texts by cosine similarity of their embeddings to a query, most similar first: quick semantic ranking " +
      "of search results, passages or action names.",
    input: z.strictObject({
      query: z.string().min(1),
      texts: z.array(z.string().min(1)).min(1).max(256),
      top: z.number().int().min(1).max(256).optional().describe("Return only the best n"),
    }),
    output: z.object({
      model: z.string(),
      backend: z.string().describe('Where it ran: "local", or the inference server\'s URL'),
      results: z.array(z.object({ index: z.number().int(), score: z.number(), text: z.string() })),
    }),
    annotations: READ_ONLY,
    async run(args, ctx) {
      checkInputChars("the query and texts together", args.texts.reduce((n, t) => n + t.length, args.query.length), deps.maxInputChars);
      const { vectors, model, backend } = await (await embeddingEngineOf(deps)).embed([args.query, ...args.texts], { ...callOptions(ctx), overflow: "error" });
      const [query, ...rest] = vectors.map(unit);
      const results = rest
        .map((v, index) => ({ index, score: round(dot(query!, v)), text: preview(args.texts[index]!) }))
        .sort((a, b) => b.score - a.score || a.index - b.index)
        .slice(0, args.top ?? rest.length);
      return {
        structured: { model, backend, results },
        text: results.map((r, i) => `${i + 1}. [${r.index}] ${r.score.toFixed(4)} ${r.text}`).join("\n"),
      };
    },
  });

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

function preview(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
