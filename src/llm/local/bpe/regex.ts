/**
 * llama.cpp's general pre-tokenizer path (unicode.cpp, unicode_regex_split), for the expressions it has no
 * hand-written matcher for: the regex runs through C++'s std::regex (ECMAScript grammar, as JavaScript's), on one of
 * two stand-ins for the text, each word of the previous split on its own (a lookahead or `$` stops at its end):
 * - an expression with a Unicode category (\p{L}, \p{N}, \p{P}, \p{M}, \p{S}, \p{Lu}...) runs on the "collapsed"
 *   text, one byte per code point: ASCII as is, any other whitespace 0x0B, any other letter 0xD2, number 0xD1,
 *   punctuation 0xD3, mark 0xD4, symbol 0xD5, the rest 0xD0; each \p{X} becomes a class of its byte and its ASCII
 *   members (so \p{P} is [\xD3!-#%-*,-/:-;?-@\[-\]_{}] and $+<=>^`|~ are symbols, not punctuation);
 * - any other expression runs on the code points (std::wregex), any non-ASCII whitespace replaced by 0x0B.
 * In both, \s is C++'s classic-locale isspace: [\t\n\v\f\r ] only (JavaScript's \s knows more, so it is rewritten).
 * A match is a word, and so is each run between matches.
 *
 * Only the constructs these expressions use are translated; anything else (\d, \w, \b, `.`, flags) is refused
 * when the expression is compiled, so a family cannot silently differ from llama.cpp.
 */
import type { Splitter } from "./split.js";
import { ACCENT_MARK, LETTER, NUMBER, PUNCTUATION, SYMBOL, WHITESPACE } from "./unicode.js";

/** \p{X} as llama.cpp collapses it: [its stand-in byte, the ASCII members] (k_ucat_cpt, k_ucat_map). */
const CATEGORIES: Readonly<Record<string, readonly [number, string]>> = {
  "\\p{N}": [0xd1, "0-9"],
  "\\p{L}": [0xd2, "A-Za-z"],
  "\\p{Lu}": [0xd2, "A-Za-z"],
  "\\p{Ll}": [0xd2, "A-Za-z"],
  "\\p{Lt}": [0xd2, "A-Za-z"],
  "\\p{Lm}": [0xd2, "A-Za-z"],
  "\\p{Lo}": [0xd2, "A-Za-z"],
  "\\p{P}": [0xd3, "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}"],
  "\\p{M}": [0xd4, ""],
  "\\p{S}": [0xd5, "\\$\\+<->\\^`\\|~"],
};

/** The collapsed byte of a code point's category (flags & 0xff), 0xD0 for any other. */
const STAND_IN = new Map<number, number>([
  [NUMBER, 0xd1],
  [LETTER, 0xd2],
  [PUNCTUATION, 0xd3],
  [ACCENT_MARK, 0xd4],
  [SYMBOL, 0xd5],
]);

const hex = (b: number) => `\\x${b.toString(16).toUpperCase()}`;

/** llama.cpp's rewrite of an expression for the collapsed text (each \p{X} to its class, [] kept as they are). */
function collapse(expr: string): string {
  let out = "";
  let inside = false;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (c === "[" && (i === 0 || expr[i - 1] !== "\\")) {
      out += c;
      inside = true;
      continue;
    }
    if (inside && c === "]" && expr[i - 1] !== "\\") {
      out += c;
      inside = false;
      continue;
    }
    if (c === "\\" && expr[i + 1] === "p" && expr[i + 2] === "{") {
      const close = expr.indexOf("}", i + 3);
      const category = close !== -1 && close <= i + 10 ? CATEGORIES[expr.slice(i, close + 1)] : undefined;
      if (category) {
        const members = hex(category[0]) + category[1];
        out += inside ? members : `[${members}]`;
        i = close;
        continue;
      }
    }
    out += c;
  }
  return out;
}

const SPACE_CLASS = "\\t-\\r ";

/** C++'s \s and \S in JavaScript; what is not translated is refused. */
function cppSpaces(source: string, expr: string): string {
  let out = "";
  let inside = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === "\\") {
      const e = source[i + 1]!;
      i++;
      if (e === "s") out += inside ? SPACE_CLASS : `[${SPACE_CLASS}]`;
      else if (e === "S" && !inside) out += `[^${SPACE_CLASS}]`;
      else if ("SdDwWbBpPuck".includes(e)) throw new Error(`pre-tokenizer expression ${JSON.stringify(expr)}: \\${e} is not translated`);
      else out += c + e;
      continue;
    }
    if (c === "[") inside = true;
    else if (c === "]") inside = false;
    else if (!inside && c === ".") throw new Error(`pre-tokenizer expression ${JSON.stringify(expr)}: "." is not translated`);
    else if (!inside && c === "(" && source[i + 1] === "?" && !"=!:".includes(source[i + 2]!)) {
      throw new Error(`pre-tokenizer expression ${JSON.stringify(expr)}: a group with flags is not translated`);
    }
    out += c;
  }
  return out;
}

/** The text as the expression sees it: one UTF-16 unit per code point (collapsed), or the code points (wide). */
interface Stand {
  text: string;
  /** UTF-16 index of each code point (and of the end), or null when every code point is one unit. */
  unitOf: Int32Array | null;
  /** Code point index of each UTF-16 unit (and of the end), or null likewise. */
  pointOf: Int32Array | null;
}

/** Code points to a string, in slices (String.fromCharCode takes arguments, and they are bounded). */
function fromUnits(units: Uint16Array): string {
  let s = "";
  for (let i = 0; i < units.length; i += 8192) s += String.fromCharCode.apply(null, units.subarray(i, i + 8192) as unknown as number[]);
  return s;
}

function collapsedText(cps: Int32Array, table: Uint16Array): Stand {
  const units = new Uint16Array(cps.length);
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i]!;
    if (cp < 128) units[i] = cp;
    else {
      const flags = table[cp]!;
      units[i] = flags & WHITESPACE ? 0x0b : (STAND_IN.get(flags & 0xff) ?? 0xd0);
    }
  }
  return { text: fromUnits(units), unitOf: null, pointOf: null };
}

function wideText(cps: Int32Array, table: Uint16Array): Stand {
  let astral = 0;
  for (let i = 0; i < cps.length; i++) if (cps[i]! > 0xffff) astral++;
  const units = new Uint16Array(cps.length + astral);
  const unitOf = astral ? new Int32Array(cps.length + 1) : null;
  const pointOf = astral ? new Int32Array(units.length + 1) : null;
  let u = 0;
  for (let i = 0; i < cps.length; i++) {
    let cp = cps[i]!;
    if (cp > 127 && table[cp]! & WHITESPACE) cp = 0x0b;
    if (unitOf) unitOf[i] = u;
    if (pointOf) pointOf[u] = i;
    if (cp > 0xffff) {
      units[u++] = 0xd800 + ((cp - 0x10000) >> 10);
      if (pointOf) pointOf[u] = i;
      units[u++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
    } else units[u++] = cp;
  }
  if (unitOf) unitOf[cps.length] = u;
  if (pointOf) pointOf[u] = cps.length;
  return { text: fromUnits(units), unitOf, pointOf };
}

/** The stand-in texts of the code points being split now (one tokenize call holds one array of them). */
const stands = [new WeakMap<Int32Array, Stand>(), new WeakMap<Int32Array, Stand>()] as const;

/** A pre-tokenizer step that runs one of llama.cpp's expressions by its general path. */
export function regexSplitter(expr: string): Splitter {
  const collapsed = Object.keys(CATEGORIES).some((c) => expr.includes(c));
  if (collapsed && [...expr].some((c) => c.charCodeAt(0) > 127)) throw new Error("llama.cpp refuses an expression with both categories and non-ASCII characters");
  const source = cppSpaces(collapsed ? collapse(expr) : expr, expr);
  const regex = new RegExp(source, collapsed ? "g" : "gu");
  const memo = stands[collapsed ? 0 : 1];
  return (cps, table, start, end, out) => {
    let stand = memo.get(cps);
    if (!stand) memo.set(cps, (stand = collapsed ? collapsedText(cps, table) : wideText(cps, table)));
    const { unitOf, pointOf } = stand;
    const base = unitOf ? unitOf[start]! : start;
    const word = stand.text.slice(base, unitOf ? unitOf[end] : end);
    const point = (unit: number) => (pointOf ? pointOf[base + unit]! : start + unit);
    regex.lastIndex = 0;
    let last = start;
    for (let m = regex.exec(word); m !== null; m = regex.exec(word)) {
      if (m[0].length === 0) {
        // None of the expressions served can match nothing; were one to, the search moves on as std::regex does.
        regex.lastIndex++;
        continue;
      }
      const from = point(m.index);
      if (from > last) out.push(from);
      last = point(m.index + m[0].length);
      out.push(last);
    }
    if (end > last) out.push(end);
  };
}
