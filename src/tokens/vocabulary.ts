/** vocabulary: the tokenizer described (size, kind, special tokens, an analysis), and tokens matching a query. */
import { z } from "zod";
import { ToolError } from "../errors.js";
import type { TokenizerImplementation, Vocabulary } from "../llm/engine.js";
import { defineTool } from "../tool.js";
import { VOCABULARY_DEFINITIONS, vocabularyOf } from "./analysis.js";
import { Piece, READ_ONLY, vocabularyFor, type TokenToolDeps } from "./deps.js";
import { matchPieces, REGEX_DEADLINE_MS } from "./regex.js";

const TokenRef = z.object({ id: z.number().int(), piece: z.string() }).nullable();

export const VocabularyInput = z.strictObject({
  query: z.string().max(200).optional().describe("A JavaScript regular expression (u flag) matched against every token's piece"),
  limit: z.number().int().min(0).max(1000).default(50).describe("Most matches to list"),
});
const Stats = z.object(Object.fromEntries([...Object.keys(VOCABULARY_DEFINITIONS), "text_tokens", "average_length"].map((k) => [k, z.number()])));
export const VocabularyOutput = z.object({
  model: z.string(),
  size: z.number().int(),
  kind: z.string().describe("Tokenizer kind: bpe (byte-level BPE), spm (SentencePiece), wpm, ugm, ..."),
  tokenizer: z
    .object({ engine: z.enum(["lam-mcp", "llama.cpp", "server"]), detail: z.string() })
    .describe("Which code tokenizes: lam-mcp's own (exact, faster) where it reproduces the vocabulary, else llama.cpp's (or the server's)"),
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

export const vocabulary = (deps: TokenToolDeps) =>
  defineTool({
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
            hint: 'Use JavaScript RegExp syntax with the u flag, e.g. "^ [A-Z]{2,}$" for all-caps words.',
          });
        }
      }
      const { tokenizer, vocabulary } = await vocabularyFor(deps, ctx);
      return describeVocabulary(tokenizer.info.name, vocabulary, tokenizer.implementation, re, args.limit, ctx.signal);
    },
  });

/** The vocabulary tool's answer (and the lam://vocabulary resource's, without a query). */
export async function describeVocabulary(
  name: string,
  tokenizer: Vocabulary,
  implementation: TokenizerImplementation,
  re: RegExp | undefined,
  limit: number,
  signal?: AbortSignal,
) {
  const analysis = vocabularyOf(tokenizer);
  const ref = (id: number | null) => (id === null || !tokenizer.has(id) ? null : { id, piece: tokenizer.piece(id).piece });
  // The user's expression runs in a worker under a deadline: a backtracking one must not freeze the server.
  const found = re ? await matchPieces(analysis.pieces, re, limit, signal) : { matches: [], total: 0 };
  const matches = found.matches.map((id) => tokenizer.piece(id));
  const total = found.total;
  const s = analysis.stats;
  const structured = {
    model: name,
    size: analysis.size,
    kind: tokenizer.kind,
    tokenizer: implementation,
    bos: ref(tokenizer.bos),
    eos: ref(tokenizer.eos),
    eot: ref(tokenizer.eot),
    special_tokens: analysis.special_tokens,
    stats: s,
    longest: analysis.longest,
    ...(re ? { query: re.source } : {}),
    matches,
    matches_total: total,
  };
  const lines = [
    `${name}: ${analysis.size} tokens (${tokenizer.kind}), ${analysis.special_tokens.length} special. Tokenized by ${implementation.detail}.`,
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
