/**
 * The tokenizer tools: tokenize, detokenize, count_tokens, vocabulary. All read-only. They run on a
 * vocabulary-only load of the model unless the full model is already loaded.
 */
import { z } from "zod";
import { ToolError } from "../errors.js";
import type { LoadedModel, ModelEngine } from "../llm/engine.js";
import { loadListener } from "../llm/progress.js";
import { checkInputChars, defineTool, type ToolContext, type ToolSpec } from "../tool.js";
import { tokenTableOf } from "./pieces.js";
import { matchPieces, REGEX_DEADLINE_MS } from "./regex.js";
import { analyseVocabulary, VOCABULARY_DEFINITIONS, type VocabularyAnalysis } from "./vocabulary.js";

export interface TokenToolDeps {
  engine: ModelEngine;
  /** Largest text (characters, summed over one call) the tools accept. */
  maxInputChars: number;
}

/** Token lists are paged: a 4 M-character text is ~1 M tokens, a 60 MB answer no client reads. */
const DEFAULT_TOKENS_LISTED = 10_000;
const MAX_TOKENS_LISTED = 100_000;

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;

const Piece = z.object({
  id: z.number().int(),
  piece: z.string().describe("The token's exact text; <0xNN> bytes when not valid UTF-8 alone"),
  bytes: z.string().optional().describe("Hex bytes, only for pieces that are not valid UTF-8 alone"),
});
const TokenRef = z.object({ id: z.number().int(), piece: z.string() }).nullable();

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
  count: z.number().int().describe("Tokens in the whole text"),
  offset: z.number().int(),
  next_offset: z.number().int().nullable().describe("Pass as offset to list the following tokens; null when listed to the end"),
  tokens: z.array(Piece).describe("The tokens from offset, at most limit of them"),
  bos_added: z.boolean(),
});

export const DetokenizeInput = z.strictObject({
  ids: z.array(z.number().int()).max(1_000_000).describe("Token ids, as returned by tokenize"),
  special: z.boolean().default(true).describe("Render special tokens as their text (default true); false drops them"),
});
export const DetokenizeOutput = z.object({ model: z.string(), text: z.string(), count: z.number().int() });

export const CountTokensInput = z.strictObject({
  texts: z.array(z.string()).min(1).max(10_000).describe("The texts to count, each on its own"),
  special: z.boolean().default(false).describe("Parse special-token text (as tokenize does)"),
});
export const CountTokensOutput = z.object({
  model: z.string(),
  counts: z.array(z.number().int()),
  total: z.number().int(),
});

export const VocabularyInput = z.strictObject({
  query: z.string().max(200).optional().describe("A JavaScript regular expression (u flag) matched against every token's piece"),
  limit: z.number().int().min(0).max(1000).default(50).describe("Most matches to list"),
});
const Stats = z.object(
  Object.fromEntries([...Object.keys(VOCABULARY_DEFINITIONS), "text_tokens", "average_length"].map((k) => [k, z.number()])),
);
export const VocabularyOutput = z.object({
  model: z.string(),
  size: z.number().int(),
  kind: z.string().describe("Tokenizer kind: bpe (byte-level BPE), spm (SentencePiece), wpm, ugm, ..."),
  bos: TokenRef,
  eos: TokenRef,
  eot: TokenRef,
  special_tokens: z.array(Piece.extend({ kind: z.string() })),
  stats: Stats,
  longest: z.array(Piece.extend({ length: z.number().int() })),
  query: z.string().optional(),
  matches: z.array(Piece),
  matches_total: z.number().int(),
});

export function tokenTools(deps: TokenToolDeps): ToolSpec[] {
  const { engine } = deps;
  const load = (ctx: ToolContext) => engine.tokenizer(loadListener(ctx), ctx.signal);

  const tokenize = defineTool({
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
      const loaded = await load(ctx);
      const table = tokenTableOf(loaded);
      const ids: number[] = [...loaded.model.tokenize(args.text, args.special)];
      const bos = loaded.model.tokens.bos;
      const bosAdded = args.add_bos && bos !== null;
      if (bosAdded) ids.unshift(bos);
      const end = Math.min(ids.length, args.offset + args.limit);
      const tokens = ids.slice(args.offset, end).map((id) => table.piece(id));
      const nextOffset = end < ids.length ? end : null;
      const shown = tokens.slice(0, 200).map((t) => `${t.id}:${JSON.stringify(t.piece)}`).join(" ");
      const range = args.offset > 0 || nextOffset !== null ? ` [tokens ${args.offset}-${end} of ${ids.length}${nextOffset !== null ? `; more: offset ${nextOffset}` : ""}]` : "";
      return {
        structured: { model: loaded.info.name, count: ids.length, offset: args.offset, next_offset: nextOffset, tokens, bos_added: bosAdded },
        text: `${ids.length} tokens (${loaded.info.name}): ${shown}${tokens.length > 200 ? ` ... (+${tokens.length - 200} more listed)` : ""}${range}`,
      };
    },
  });

  const detokenize = defineTool({
    name: "detokenize",
    title: "Detokenize ids",
    description: "Turns token ids of the loaded model back into text. Unknown ids are an error that names them.",
    input: DetokenizeInput,
    output: DetokenizeOutput,
    annotations: READ_ONLY,
    async run(args, ctx) {
      const loaded = await load(ctx);
      const table = tokenTableOf(loaded);
      const unknown = [...new Set(args.ids.filter((id) => !table.has(id)))];
      if (unknown.length > 0) {
        throw new ToolError(`Unknown token ids: ${unknown.slice(0, 20).join(", ")}${unknown.length > 20 ? ", ..." : ""}.`, {
          hint: `Ids of ${loaded.info.name} run from 0 to ${table.size - 1}; get them from tokenize.`,
          data: { unknown_ids: unknown, vocabulary_size: table.size },
        });
      }
      const text = loaded.model.detokenize(args.ids as never[], args.special);
      return {
        structured: { model: loaded.info.name, text, count: args.ids.length },
        text,
      };
    },
  });

  const countTokens = defineTool({
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
      const loaded = await load(ctx);
      const counts = args.texts.map((t) => (t.length === 0 ? 0 : loaded.model.tokenize(t, args.special).length));
      const total = counts.reduce((a, b) => a + b, 0);
      return {
        structured: { model: loaded.info.name, counts, total },
        text: `${total} tokens in ${counts.length} text${counts.length === 1 ? "" : "s"}${counts.length > 1 ? ` (${counts.join(", ")})` : ""}`,
      };
    },
  });

  const vocabulary = defineTool({
    name: "vocabulary",
    title: "Describe the vocabulary",
    description:
      "Describes the loaded model's tokenizer: size, kind, BOS/EOS/EOT, every special token, the longest tokens " +
      "and counts over text tokens (" +
      Object.entries(VOCABULARY_DEFINITIONS)
        .map(([k, v]) => `${k}: ${v}`)
        .join("; ") +
      `). With query (a regular expression), also lists the matching tokens up to limit; a query that takes longer than ${REGEX_DEADLINE_MS / 1000} s is stopped.`,
    input: VocabularyInput,
    output: VocabularyOutput,
    annotations: READ_ONLY,
    async run(args, ctx) {
      let re: RegExp | undefined;
      if (args.query !== undefined) {
        try {
          re = new RegExp(args.query, "u");
        } catch (error) {
          throw new ToolError(`query is not a valid regular expression: ${(error as Error).message}`, {
            hint: "Use JavaScript RegExp syntax with the u flag, e.g. \"^ [A-Z]{2,}$\" for all-caps words.",
          });
        }
      }
      const loaded = await load(ctx);
      return describeVocabulary(loaded, re, args.limit, ctx.signal);
    },
  });

  return [tokenize, detokenize, countTokens, vocabulary];
}

export function vocabularyOf(loaded: LoadedModel): VocabularyAnalysis {
  let analysis = loaded.cache.get("vocabulary") as VocabularyAnalysis | undefined;
  if (!analysis) {
    analysis = analyseVocabulary(tokenTableOf(loaded));
    loaded.cache.set("vocabulary", analysis);
  }
  return analysis;
}

export async function describeVocabulary(loaded: LoadedModel, re: RegExp | undefined, limit: number, signal?: AbortSignal) {
  const table = tokenTableOf(loaded);
  const analysis = vocabularyOf(loaded);
  const ref = (id: number | null) => (id === null || !table.has(id) ? null : { id, piece: table.piece(id).piece });
  // The user's expression runs in a worker under a deadline: a backtracking one must not freeze the server.
  const found = re ? await matchPieces(analysis.pieces, re, limit, signal) : { matches: [], total: 0 };
  const matches = found.matches.map((id) => table.piece(id));
  const total = found.total;
  const kind = String(loaded.model.vocabularyType);
  const s = analysis.stats;
  const structured = {
    model: loaded.info.name,
    size: analysis.size,
    kind,
    bos: ref(loaded.model.tokens.bos),
    eos: ref(loaded.model.tokens.eos),
    eot: ref(loaded.model.tokens.eot),
    special_tokens: analysis.special_tokens,
    stats: s,
    longest: analysis.longest,
    ...(re ? { query: re.source } : {}),
    matches,
    matches_total: total,
  };
  const lines = [
    `${loaded.info.name}: ${analysis.size} tokens (${kind}), ${analysis.special_tokens.length} special.`,
    `BOS ${JSON.stringify(structured.bos)}, EOS ${JSON.stringify(structured.eos)}, EOT ${JSON.stringify(structured.eot)}.`,
    `Of ${s.text_tokens} text tokens: ${s.word_start} start a word, ${s.continuation} continue one, ` +
      `${s.uppercase_initial} uppercase / ${s.lowercase_initial} lowercase initial, ${s.all_caps} all-caps, ` +
      `${s.punctuation_only} punctuation only, ${s.digits_only} digits, ${s.whitespace_only} whitespace; ` +
      `${s.single_characters} distinct single characters; ${s.partial_utf8} partial UTF-8 bytes; average length ${s.average_length}.`,
    `Longest: ${analysis.longest.map((t) => JSON.stringify(t.piece)).join(", ")}.`,
    ...(re ? [`${total} match ${JSON.stringify(re.source)}: ${matches.map((m) => `${m.id}:${JSON.stringify(m.piece)}`).join(" ")}`] : []),
  ];
  return { structured, text: lines.join("\n") };
}
