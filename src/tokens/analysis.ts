/**
 * The analysis a person does when first studying a tokenizer, computed once per loaded model.
 * Every figure is over "text tokens": tokens that are not special (control, user-defined, unknown, unused) and
 * whose bytes are valid UTF-8 on their own. The definitions are part of the tool's description.
 */
import type { TokenPiece, Vocabulary } from "../llm/engine.js";

export const VOCABULARY_DEFINITIONS = {
  word_start: "begins with a space followed by a non-space character (' world')",
  continuation: "begins with a letter or digit, no leading space ('ing')",
  uppercase_initial: "first character after an optional leading space is an uppercase letter",
  lowercase_initial: "first character after an optional leading space is a lowercase letter",
  all_caps: "an optional leading space, then two or more letters, all uppercase (' JSON')",
  punctuation_only: "an optional leading space, then only punctuation or symbols (' ->')",
  whitespace_only: "only whitespace",
  digits_only: "an optional leading space, then only digits",
  single_characters: "distinct pieces that are exactly one character",
  partial_utf8: "tokens whose bytes are not valid UTF-8 alone (pieces of a multi-byte character)",
} as const;

export const CLASSIFIERS: Record<Exclude<keyof typeof VOCABULARY_DEFINITIONS, "single_characters" | "partial_utf8">, RegExp> = {
  word_start: /^ \S/u,
  continuation: /^[\p{L}\p{N}]/u,
  uppercase_initial: /^ ?\p{Lu}/u,
  lowercase_initial: /^ ?\p{Ll}/u,
  all_caps: /^ ?\p{Lu}{2,}$/u,
  punctuation_only: /^ ?[\p{P}\p{S}]+$/u,
  whitespace_only: /^\s+$/u,
  digits_only: /^ ?\p{N}+$/u,
};

export type VocabularyStats = Record<keyof typeof VOCABULARY_DEFINITIONS, number> & {
  text_tokens: number;
  average_length: number;
};

export interface SpecialToken extends TokenPiece {
  kind: string;
}

export interface VocabularyAnalysis {
  size: number;
  special_tokens: SpecialToken[];
  stats: VocabularyStats;
  longest: Array<TokenPiece & { length: number }>;
  /** Every rendered piece, in id order, for queries. */
  pieces: string[];
}

/** The analysis of a tokenizer's vocabulary, computed once per loaded model. */
const analyses = new WeakMap<Vocabulary, VocabularyAnalysis>();

export function vocabularyOf(tokenizer: Vocabulary): VocabularyAnalysis {
  let analysis = analyses.get(tokenizer);
  if (!analysis) {
    analysis = analyseVocabulary(tokenizer);
    analyses.set(tokenizer, analysis);
  }
  return analysis;
}

function analyseVocabulary(table: Vocabulary): VocabularyAnalysis {
  const stats = Object.fromEntries([...Object.keys(VOCABULARY_DEFINITIONS), "text_tokens", "average_length"].map((k) => [k, 0])) as VocabularyStats;
  const special: SpecialToken[] = [];
  const singles = new Set<string>();
  const pieces: string[] = new Array<string>(table.size);
  const lengths: Array<{ id: number; length: number }> = [];
  let totalLength = 0;
  for (let id = 0; id < table.size; id++) {
    const p = table.piece(id);
    pieces[id] = p.piece;
    if (table.isSpecial(id)) {
      special.push({ ...p, kind: table.tokenKind(id) });
      continue;
    }
    if (p.bytes !== undefined) {
      stats.partial_utf8++;
      continue;
    }
    stats.text_tokens++;
    const length = [...p.piece].length;
    totalLength += length;
    lengths.push({ id, length });
    if (length === 1) singles.add(p.piece);
    for (const [name, re] of Object.entries(CLASSIFIERS)) if (re.test(p.piece)) stats[name as keyof typeof CLASSIFIERS]++;
  }
  stats.single_characters = singles.size;
  stats.average_length = stats.text_tokens > 0 ? Math.round((totalLength / stats.text_tokens) * 100) / 100 : 0;
  lengths.sort((a, b) => b.length - a.length || a.id - b.id);
  const longest = lengths.slice(0, 10).map(({ id, length }) => ({ ...table.piece(id), length }));
  return { size: table.size, special_tokens: special, stats, longest, pieces };
}
