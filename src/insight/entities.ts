/**
 * From the entities a model names (their text and label) to character spans in the text, and from spans to IOB
 * tags on the model's own tokens. Pure functions: the model's part is in extract-entities.ts.
 */

export interface Span {
  text: string;
  label: string;
  /** Character (UTF-16) offsets: text.slice(start, end) === span.text. */
  start: number;
  end: number;
}

/**
 * Places each named entity at an occurrence of its text: the first one at or after the previous entity's end (the
 * model lists them in reading order), else the first anywhere that overlaps no span already placed. An entity whose
 * text is not in the text, or only where others already are, is returned as dropped, with why.
 */
export function placeEntities(text: string, named: ReadonlyArray<{ text: string; label: string }>): { spans: Span[]; dropped: Array<{ text: string; label: string; why: string }> } {
  const spans: Span[] = [];
  const dropped: Array<{ text: string; label: string; why: string }> = [];
  let cursor = 0;
  const free = (start: number, end: number) => spans.every((s) => end <= s.start || start >= s.end);
  const find = (needle: string, from: number): number => {
    for (let at = text.indexOf(needle, from); at !== -1; at = text.indexOf(needle, at + 1)) if (free(at, at + needle.length)) return at;
    return -1;
  };
  for (const entity of named) {
    const needle = entity.text;
    if (needle.trim() === "") {
      dropped.push({ ...entity, why: "empty" });
      continue;
    }
    let at = find(needle, cursor);
    if (at === -1) at = find(needle, 0);
    if (at === -1) {
      dropped.push({ ...entity, why: text.includes(needle) ? "every occurrence is already another entity" : "not in the text" });
      continue;
    }
    spans.push({ text: needle, label: entity.label, start: at, end: at + needle.length });
    cursor = at + needle.length;
  }
  spans.sort((a, b) => a.start - b.start);
  return { spans, dropped };
}

/**
 * Character ranges of tokens whose bytes make up the text (a SentencePiece first token may add a space in front):
 * undefined when they do not add up to it. A token inside a multi-byte character covers that whole character.
 */
export function tokenRanges(text: string, pieces: readonly Uint8Array[]): Array<{ start: number; end: number }> | undefined {
  const bytes = Buffer.from(text, "utf8");
  // charAt[b] = the UTF-16 offset of the character that byte b belongs to (and charAt[length] = text.length).
  const charAt = new Array<number>(bytes.length + 1);
  let b = 0;
  for (let c = 0; c < text.length; ) {
    const code = text.codePointAt(c)!;
    const units = code > 0xffff ? 2 : 1;
    const size = Buffer.byteLength(String.fromCodePoint(code), "utf8");
    for (let k = 0; k < size; k++) charAt[b + k] = c;
    b += size;
    c += units;
  }
  charAt[bytes.length] = text.length;
  const endChar = (byte: number) => {
    if (byte >= bytes.length) return text.length;
    // A range ending inside a character ends after it.
    return (bytes[byte]! & 0xc0) === 0x80 ? nextCharStart(byte) : charAt[byte]!;
  };
  const nextCharStart = (byte: number) => {
    let k = byte;
    while (k < bytes.length && (bytes[k]! & 0xc0) === 0x80) k++;
    return charAt[k]!;
  };
  const ranges: Array<{ start: number; end: number }> = [];
  let pos = 0;
  for (const [i, piece] of pieces.entries()) {
    let n = piece.length;
    if (i === 0 && n > 0 && piece[0] === 0x20 && bytes[0] !== 0x20) n -= 1;
    ranges.push({ start: charAt[Math.min(pos, bytes.length)]!, end: endChar(pos + n) });
    pos += n;
  }
  return pos === bytes.length ? ranges : undefined;
}

/** IOB tags: a token overlapping an entity is B-LABEL if it is the entity's first token, I-LABEL after; else O. */
export function iobTags(ranges: ReadonlyArray<{ start: number; end: number }>, spans: readonly Span[]): string[] {
  const started = new Set<Span>();
  return ranges.map((r) => {
    const span = spans.find((s) => r.start < s.end && r.end > s.start);
    if (!span) return "O";
    if (started.has(span)) return `I-${span.label}`;
    started.add(span);
    return `B-${span.label}`;
  });
}
