/**
 * The Unicode classes llama.cpp's pre-tokenizers use (unicode.cpp: \p{L}, \p{N}, \s and the other general
 * categories, one flag set per code point), as a table built once from the JavaScript engine's own Unicode data.
 *
 * llama.cpp's table (unicode-data.cpp, generated from an older Unicode than Node's) knows fewer characters: the code
 * points assigned since are "undefined" there. They are listed below, so the table here equals llama.cpp's code
 * point for code point; a test compares the two whole tables. The list is right for one Unicode version of the
 * engine: under any other, `unicodeTable()` returns null and tokenization stays with llama.cpp.
 */

export const UNDEFINED = 0x01;
export const NUMBER = 0x02;
export const LETTER = 0x04;
export const SEPARATOR = 0x08;
export const ACCENT_MARK = 0x10;
export const PUNCTUATION = 0x20;
export const SYMBOL = 0x40;
export const CONTROL = 0x80;
export const WHITESPACE = 0x100;

/** The engine's Unicode version the list below was made against (process.versions.unicode). */
export const ENGINE_UNICODE = "17.0";

/**
 * Code points (single, or inclusive [first, last]) that the engine's Unicode 17.0 assigns and llama.cpp's table
 * does not (added in Unicode 16 and 17): llama.cpp treats them as undefined. Made by comparing the two tables
 * (test/integration/fast-tokenizer.test.ts compares the whole tables and names the code points that differ).
 */
const UNKNOWN_TO_LLAMA_CPP: ReadonlyArray<readonly [number, number?]> = [
  [2191], [2199], [3164], [3292], [6863, 6877], [6880, 6891], [6990, 6991], [7039], [7305, 7306], [8385], [9255, 9257],
  [11158], [12772, 12773], [42955, 42959], [42962], [42964], [42970, 42972], [42993], [64451, 64466], [64912, 64913],
  [64968, 64974], [67008, 67059], [67904, 67929], [68928, 68965], [68969, 68997], [69006, 69007], [69314, 69319],
  [69328, 69336], [69370, 69372], [70528, 70537], [70539], [70542], [70544, 70581], [70583, 70592], [70594], [70597],
  [70599, 70602], [70604, 70613], [70615, 70616], [70625, 70626], [71376, 71395], [72544, 72551], [72640, 72673],
  [72688, 72697], [73136, 73179], [73184, 73193], [73562], [78944, 82938], [90368, 90425], [93504, 93561],
  [93856, 93880], [93883, 93907], [94194, 94198], [100344, 100351], [101631], [101641, 101662], [101760, 101874],
  [117760, 118012], [118016, 118451], [118458, 118480], [118496, 118512], [124368, 124410], [124415], [124608, 124638],
  [124640, 124661], [124670, 124671], [128728], [128887, 128890], [129202, 129211], [129216, 129217], [129232, 129240],
  [129620, 129623], [129673, 129674], [129678, 129679], [129726], [129734], [129736], [129741], [129756], [129759],
  [129769, 129770], [129775], [129995, 130031], [130042], [177978, 177983], [183970, 183981], [205744, 210041],
];

const MAX_CODEPOINT = 0x110000;
const CATEGORY = /(\p{Cn})|(\p{N})|(\p{L})|(\p{Z})|(\p{M})|(\p{P})|(\p{S})|(\p{C})/u;
const WHITE_SPACE = /\p{White_Space}/u;

let table: Uint16Array | undefined;

/** Flags per code point (0x110000 entries, 2.2 MB), built on first use (~40 ms); null under another Unicode. */
export function unicodeTable(engineUnicode = process.versions.unicode): Uint16Array | null {
  if (engineUnicode !== ENGINE_UNICODE) return null;
  if (table) return table;
  const flags = new Uint16Array(MAX_CODEPOINT);
  for (let cp = 0; cp < MAX_CODEPOINT; cp++) {
    // Planes 4-13 hold nothing; 15 and 16 are private use (but for their last two, noncharacters).
    if (cp >= 0x40000 && cp < 0xe0000) flags[cp] = UNDEFINED;
    else if (cp >= 0xf0000) flags[cp] = (cp & 0xffff) >= 0xfffe ? UNDEFINED : CONTROL;
    else {
      const m = CATEGORY.exec(String.fromCodePoint(cp))!;
      let f = CONTROL;
      for (let i = 1; i <= 8; i++) {
        if (m[i] !== undefined) {
          f = 1 << (i - 1);
          break;
        }
      }
      flags[cp] = f;
    }
  }
  for (const [first, last = first] of UNKNOWN_TO_LLAMA_CPP) flags.fill(UNDEFINED, first, last + 1);
  for (let cp = 0; cp < 0x3001; cp++) if (WHITE_SPACE.test(String.fromCharCode(cp))) flags[cp] = flags[cp]! | WHITESPACE;
  return (table = flags);
}
