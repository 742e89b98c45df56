/** What the tokenizer tools share: their dependencies, annotations, the piece schema, the tokenizer of a call. */
import { z } from "zod";
import { ToolError } from "../errors.js";
import type { Engine, Tokenizer } from "../llm/engine.js";
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
export async function tokenizerFor(deps: TokenToolDeps, ctx: ToolContext, needs: "tokenize" | "vocabulary" = "tokenize"): Promise<Tokenizer> {
  if (!deps.engine.capabilities[needs]) {
    throw new ToolError(`The model backend has no ${needs === "tokenize" ? "tokenizer" : "vocabulary table"}, which ${ctx.tool} needs.`, {
      hint: "Start lam-mcp with --model set to a local GGUF of the same model: its tokenizer is loaded vocabulary-only.",
      code: "unsupported",
    });
  }
  return deps.engine.tokenizer(callOptions(ctx));
}
