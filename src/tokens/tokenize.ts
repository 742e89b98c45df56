/** tokenize: a text's tokens with their exact pieces, paged so an answer stays readable. */
import { z } from "zod";
import { renderBytes } from "../llm/engine.js";
import { checkInputChars, defineTool } from "../tool.js";
import { Piece, READ_ONLY, tokenizerFor, type TokenToolDeps } from "./deps.js";

/** Token lists are paged: a 4 M-character text is ~1 M tokens, a 60 MB answer no client reads. */
const DEFAULT_TOKENS_LISTED = 10_000;
const MAX_TOKENS_LISTED = 100_000;

export const TokenizeInput = z.strictObject({
  text: z.string().describe("The text to tokenize"),
  special: z
    .boolean()
    .default(false)
    .describe("Parse special-token text such as <|im_start|> into the special token (default false: plain text)"),
  add_bos: z.boolean().default(false).describe("Prepend the model's BOS token, if it has one"),
  offset: z.number().int().min(0).default(0).describe("Index of the first token to list (from next_offset of a previous call)"),
  limit: z
    .number()
    .int()
    .min(1)
    .max(MAX_TOKENS_LISTED)
    .default(DEFAULT_TOKENS_LISTED)
    .describe(`Most tokens to list in one answer (1..${MAX_TOKENS_LISTED}); count is always the whole text's`),
});

export const TokenizeOutput = z.object({
  model: z.string(),
  backend: z.string().describe('Where it ran: "local", or the inference server\'s URL'),
  count: z.number().int().describe("Tokens in the whole text"),
  offset: z.number().int(),
  next_offset: z.number().int().nullable().describe("Pass as offset to list the following tokens; null when listed to the end"),
  tokens: z.array(Piece).describe("The tokens from offset, at most limit of them"),
  bos_added: z.boolean(),
});

export const tokenize = (deps: TokenToolDeps) =>
  defineTool({
    name: "tokenize",
    title: "Tokenize text",
    description:
      "Splits text into the loaded model's tokens and returns each token's id and exact text piece, with the count. " +
      `Lists at most limit tokens (default ${DEFAULT_TOKENS_LISTED}) from offset; pass next_offset back to list more. ` +
      "Use it to see how the model reads a text; use count_tokens when only the number matters.",
    input: TokenizeInput,
    output: TokenizeOutput,
    annotations: READ_ONLY,
    async run(args, ctx) {
      checkInputChars("text", args.text.length, deps.maxInputChars);
      const tokenizer = await tokenizerFor(deps, ctx);
      const { ids, bosAdded } = await tokenizer.tokenize(args.text, { special: args.special, addBos: args.add_bos });
      const end = Math.min(ids.length, args.offset + args.limit);
      const page = ids.slice(args.offset, end);
      const bytes = await tokenizer.tokenBytes(page);
      const tokens = page.map((id, i) => ({ id, ...renderBytes(bytes[i]!) }));
      const nextOffset = end < ids.length ? end : null;
      const name = tokenizer.info.name;
      const shown = tokens.slice(0, 200).map((t) => `${t.id}:${JSON.stringify(t.piece)}`).join(" ");
      const range = args.offset > 0 || nextOffset !== null ? ` [tokens ${args.offset}-${end} of ${ids.length}${nextOffset !== null ? `; more: offset ${nextOffset}` : ""}]` : "";
      return {
        structured: { model: name, backend: tokenizer.backend, count: ids.length, offset: args.offset, next_offset: nextOffset, tokens, bos_added: bosAdded },
        text: `${ids.length} tokens (${name}): ${shown}${tokens.length > 200 ? ` ... (+${tokens.length - 200} more listed)` : ""}${range}`,
      };
    },
  });
