/**
 * The tokenizer family: tokenize, detokenize, count_tokens, vocabulary. All read-only; they run on a
 * vocabulary-only load of the model unless the full model is already loaded.
 */
import type { ToolSpec } from "../tool.js";
import { countTokens } from "./count-tokens.js";
import type { TokenToolDeps } from "./deps.js";
import { detokenize } from "./detokenize.js";
import { tokenize } from "./tokenize.js";
import { vocabulary } from "./vocabulary.js";

export type { TokenToolDeps } from "./deps.js";
export { describeVocabulary } from "./vocabulary.js";

export function tokenTools(deps: TokenToolDeps): ToolSpec[] {
  return [tokenize, detokenize, countTokens, vocabulary].map((define) => define(deps));
}
