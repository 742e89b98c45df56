/** What the look-inside tools share: their dependencies, annotations, and the engine check they all need. */
import { ToolError } from "../errors.js";
import { renderBytes, type Engine, type Tokenizer } from "../llm/engine.js";
import { callOptions } from "../progress.js";
import type { ToolContext } from "../tool.js";

export interface InsightDefaults {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
}

export interface InsightToolDeps {
  engine: Engine;
  /** The engine of the embedding model (rerank's fallback). */
  embeddingEngine: Engine;
  defaults: InsightDefaults;
  maxInputChars: number;
  /** The most tokens score takes (each costs a pass over the vocabulary). */
  scoreMaxTokens: number;
}

export const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;

/** The engine, when it gives the model's whole next-token distribution; else a refusal that says what would. */
export async function probabilitiesOf(deps: InsightToolDeps, ctx: ToolContext): Promise<Engine> {
  if (!(await deps.engine.capabilities(callOptions(ctx))).probabilities) {
    throw new ToolError(`${ctx.tool} needs the model's whole next-token distribution, which this backend (${deps.engine.describeSource()}) does not give.`, {
      hint: "Run lam-mcp with the local model (--model, without --llm-url): llama.cpp in this process gives every probability.",
      code: "unsupported",
    });
  }
  return deps.engine;
}

/** Pieces of token ids as the tokenize tool shows them (from the token table, so a leading space is kept). */
export async function piecesOf(tokenizer: Tokenizer, ids: readonly number[]): Promise<Map<number, { piece: string; bytes?: string }>> {
  const unique = [...new Set(ids)];
  const bytes = await tokenizer.tokenBytes(unique);
  return new Map(unique.map((id, i) => [id, renderBytes(bytes[i]!)]));
}
