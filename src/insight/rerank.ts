/** rerank: documents ordered by relevance to a query, by a reranker model when there is one, else by embeddings. */
import { z } from "zod";
import { ToolError } from "../errors.js";
import { callOptions } from "../progress.js";
import { checkInputChars, defineTool } from "../tool.js";
import { dot, unit } from "../vector.js";
import { READ_ONLY, type InsightToolDeps } from "./deps.js";

export const rerank = (deps: InsightToolDeps) =>
  defineTool({
    name: "rerank",
    title: "Rerank documents for a query",
    description:
      "Orders documents by relevance to a query. With a reranker model (--embedding-model, or the main model, a GGUF with " +
      "a classification head such as bge-reranker or Qwen3-Reranker) each query-document pair is scored by the model " +
      "(method ranking, scores 0..1); otherwise by the cosine of their embeddings (method embeddings). The answer says which.",
    input: z.strictObject({
      query: z.string().min(1),
      documents: z.array(z.string().min(1)).min(1).max(256),
      top: z.number().int().min(1).max(256).optional().describe("Return only the best n"),
    }),
    output: z.object({
      model: z.string(),
      backend: z.string(),
      method: z.enum(["ranking", "embeddings"]).describe("ranking: a reranker model scored each pair; embeddings: cosine similarity"),
      results: z.array(z.object({ index: z.number().int(), score: z.number(), document: z.string() })),
    }),
    annotations: READ_ONLY,
    async run(args, ctx) {
      checkInputChars("the query and documents together", args.documents.reduce((n, d) => n + d.length, args.query.length), deps.maxInputChars);
      const engine = deps.embeddingEngine;
      const ranked = await engine.rank(args.query, args.documents, callOptions(ctx));
      let scores: number[];
      let model: string;
      let backend: string;
      let method: "ranking" | "embeddings";
      if (ranked) {
        ({ scores, model, backend } = ranked);
        method = "ranking";
      } else {
        if (!(await engine.capabilities(callOptions(ctx))).embed) {
          throw new ToolError("The model backend neither reranks nor embeds.", { hint: "Set --embedding-model to a reranker or embedding GGUF.", code: "unsupported" });
        }
        const embedded = await engine.embed([args.query, ...args.documents], { ...callOptions(ctx), overflow: "truncate" });
        const [query, ...rest] = embedded.vectors.map(unit);
        scores = rest.map((v) => dot(query!, v));
        ({ model, backend } = embedded);
        method = "embeddings";
      }
      const results = scores
        .map((score, index) => ({ index, score: Math.round(score * 1e6) / 1e6, document: preview(args.documents[index]!) }))
        .sort((a, b) => b.score - a.score || a.index - b.index)
        .slice(0, args.top ?? scores.length);
      return {
        structured: { model, backend, method, results },
        text: `By ${method} (${model}):\n${results.map((r, i) => `${i + 1}. [${r.index}] ${r.score.toFixed(4)} ${r.document}`).join("\n")}`,
      };
    },
  });

function preview(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
