/**
 * llama.cpp's byte-level BPE pre-tokenizers that lam-mcp reproduces: for each tokenizer.ggml.pre name, the regular
 * expressions llama.cpp runs one after the other (llama-vocab.cpp, regex_exprs) and whether a word found whole in
 * the vocabulary skips the merges (ignore_merges). The expressions are llama.cpp's, character for character (written
 * with \u escapes, so no editor or normaliser can change one); test/integration/fast-tokenizer.test.ts reads
 * llama-vocab.cpp and checks every entry against it, and runs each family against llama.cpp's own tokenizer.
 *
 * An absent tokenizer.ggml.pre is "" (llama.cpp's "default"). Not reproduced, so llama.cpp's tokenizer stays:
 * gemma4, granite-embed-multi-311m, sarvam-moe and whitespace (raw UTF-8 symbols instead of byte-level ones),
 * kimi-k2 (\p{Han}, a matcher of its own), afmoe, tiny_aya and cohere2moe (digit grouping of their own), superbpe
 * (\d and an expression that can match nothing).
 */

export interface PreTokenizer {
  /** The expressions, in the order llama.cpp applies them (each splits the words the previous one made). */
  readonly exprs: readonly string[];
  readonly ignoreMerges: boolean;
}

const family = (names: readonly string[], exprs: readonly string[], ignoreMerges: boolean) =>
  Object.fromEntries(names.map((name) => [name, { exprs, ignoreMerges }] as const));

export const LLAMA3 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const JAIS2 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}";
const CR_OR_LF = "[\r\n]";
const DEEPSEEK_LETTERS = "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\u{10400}-\u{1044f}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}\u{1e900}-\u{1e943}]+";
const DEEPSEEK_PUNCTUATION = "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+";
const TRAILING_SPACES = "\\s+$";
const CJK_AND_HANGUL = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";
const NUMBERS = "\\p{N}+";
const NUMBERS_1_TO_3 = "\\p{N}{1,3}";
const HAN_AND_KANA = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+";
const DEEPSEEK3 = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";
const YOUTU_SCRIPTS = "[\uac00-\ud7a3\u3131-\u318e]+|[\uff01\u2026\u201c\u201d\u2018\u2019\u2014\uff1a\uff1b\uff0c\u3001-\u303f\ufe30-\ufe4f]+|[\u3105-\u312f]+|[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+";
const YOUTU = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const LETTERS_AFTER_SPACE = "\\s?\\p{L}+";
const PUNCTUATION_AFTER_SPACE = "\\s?\\p{P}+";
export const ONE_NUMBER = "\\p{N}";
const FALCON_PUNCTUATION = "[\\p{P}\\$\\+<=>\\^~\\|`]+";
export const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const THREE_DIGITS = "[0-9][0-9][0-9]";
export const QWEN2 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
export const QWEN35 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const BLOOM = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+";
const TEKKEN = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const CHAMELEON_SENTINEL = "<sentinel:[0-9]+>";
const CHAMELEON_IMAGE = "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z";
const CHAMELEON_BLANKS = "([\\t\\n]|    |  )";
const CHAMELEON_PUNCTUATION = "[\\p{P}!-/:-@\\[-`{-~]";
const GPT4O = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GRANITE_MULTI = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const BAILINGMOE = "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
const SEED_CODER = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const NEWLINE_RUNS = "[^\\n]+|[\\n]+";
const EXAONE_MOE = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
const MINICPM5 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const DEFAULT_PUNCTUATION = "[\\p{P}\\$\\+<=>\\^~\\|]+";

export const PRE_TOKENIZERS: Readonly<Record<string, PreTokenizer>> = {
  ...family(["", "default"], [DEFAULT_PUNCTUATION, GPT2, NUMBERS, THREE_DIGITS], false),
  ...family(["minicpm5"], [NUMBERS_1_TO_3, MINICPM5], true),
  ...family(["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"], [LLAMA3], true),
  ...family(["deepseek-llm"], [CR_OR_LF, DEEPSEEK_LETTERS, DEEPSEEK_PUNCTUATION, TRAILING_SPACES, CJK_AND_HANGUL, NUMBERS], false),
  ...family(["deepseek-coder"], [CR_OR_LF, LETTERS_AFTER_SPACE, PUNCTUATION_AFTER_SPACE, CJK_AND_HANGUL, ONE_NUMBER], false),
  ...family(["deepseek-v3", "hunyuan-dense", "joyai-llm"], [NUMBERS_1_TO_3, HAN_AND_KANA, DEEPSEEK3], false),
  ...family(["youtu"], [YOUTU_SCRIPTS, YOUTU], true),
  ...family(["falcon"], [FALCON_PUNCTUATION, GPT2, THREE_DIGITS], false),
  ...family(["mpt", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe", "olmo", "jais", "exaone4", "trillion", "granite-docling"], [GPT2], false),
  ...family(["starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"], [ONE_NUMBER, GPT2], false),
  ...family(["jais-2"], [JAIS2], false),
  ...family(["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "megrez", "hunyuan", "grok-2", "solar-open"], [QWEN2], false),
  ...family(["qwen35"], [QWEN35], false),
  ...family(["dbrx", "smaug-bpe", "glm4", "chatglm-bpe"], [LLAMA3], false),
  ...family(["poro-chat", "bloom", "gpt3-finnish"], [BLOOM], false),
  ...family(["viking"], [BLOOM, ONE_NUMBER], false),
  ...family(["tekken"], [TEKKEN], true),
  ...family(["exaone-moe"], [EXAONE_MOE], false),
  ...family(["chameleon"], [CHAMELEON_SENTINEL, CHAMELEON_IMAGE, CHAMELEON_BLANKS, ONE_NUMBER, CHAMELEON_PUNCTUATION, GPT2], false),
  ...family(["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"], [GPT4O], false),
  ...family(["granite-embed-multi-97m"], [GRANITE_MULTI], true),
  ...family(["bailingmoe", "bailingmoe2", "llada-moe"], [BAILINGMOE], false),
  ...family(["seed-coder"], [SEED_CODER], false),
  ...family(["laguna"], [NEWLINE_RUNS, QWEN2], false),
};
