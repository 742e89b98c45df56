/** What the tokenizer tools share: their dependencies, annotations, the piece schema, the tokenizer of a call. */
import { z } from "zod";
import { ToolError } from "../errors.js";
import type { Engine, Tokenizer, Vocabulary } from "../llm/engine.js";
import { callOptions } from "../progress.js";
import type { ToolContext } from "../tool.js";

export interface TokenToolDeps {
  engine: Engine;
  /** Largest text (characters, summed over one call) the tools accept. */
  maxInputChars: number;
}

export const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;

export const Piece = z.object({
  id: z.number().int(),
  piece: z.string().describe("The token's exact text; <0xNN> bytes when not valid UTF-8 alone"),
  bytes: z.string().optional().describe("Hex bytes, only for pieces that are not valid UTF-8 alone"),
});

/** The engine's tokenizer for this call (loading it if needed), or a clear refusal when the backend has none. */
export async function tokenizerFor(deps: TokenToolDeps, ctx: ToolContext): Promise<Tokenizer> {
  if (!(await deps.engine.capabilities(callOptions(ctx))).tokenize) {
    throw new ToolError(`The model server has no tokenizer lam-mcp can use, which ${ctx.tool} needs.`, {
      hint: "Start lam-mcp with --model set to a local GGUF of the same model: its tokenizer is then loaded vocabulary-only.",
      code: "unsupported",
    });
  }
  return deps.engine.tokenizer(callOptions(ctx));
}

/** The whole vocabulary (a local model's), or a clear refusal: an inference server does not expose it. */
export async function vocabularyFor(deps: TokenToolDeps, ctx: ToolContext): Promise<{ tokenizer: Tokenizer; vocabulary: Vocabulary }> {
  const tokenizer = await tokenizerFor(deps, ctx);
  if (!tokenizer.vocabulary) {
    throw new ToolError(`${ctx.tool} needs the whole vocabulary, which the model server does not expose.`, {
      hint: "Start lam-mcp with --model set to a local GGUF of the same model: its vocabulary is then read from the file.",
      code: "unsupported",
    });
  }
  return { tokenizer, vocabulary: tokenizer.vocabulary };
}
