/** ~1 MB of deterministic mixed text: prose, code, JSON, numbers, CJK, accents and emoji. */
const WORDS =
  "the model reads every token of a prompt before it writes one of its own and a tokenizer decides where those tokens begin search results arrive as passages with titles and links an action declares what it may do".split(
    " ",
  );

export function mixedText(targetBytes = 1 << 20, firstSeed = 12345): string {
  let seed = firstSeed;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const parts: string[] = [];
  let bytes = 0;
  const push = (s: string) => {
    parts.push(s);
    bytes += Buffer.byteLength(s);
  };
  while (bytes < targetBytes) {
    switch (rand(6)) {
      case 0:
      case 1: {
        const n = 20 + rand(40);
        const words = Array.from({ length: n }, () => WORDS[rand(WORDS.length)]!);
        words[0] = words[0]!.charAt(0).toUpperCase() + words[0]!.slice(1);
        push(`${words.join(" ")}. `);
        break;
      }
      case 2:
        push(`function f${rand(1000)}(x) {\n  return x * ${rand(100)} + ${rand(100)}; // comment\n}\n`);
        break;
      case 3:
        push(`${JSON.stringify({ id: rand(1e6), name: `item-${rand(999)}`, tags: ["a", "b"], price: rand(10000) / 100, ok: rand(2) === 0 })}\n`);
        break;
      case 4:
        push("日本語のテキストと中文文本，한국어 텍스트도 있습니다。 ");
        break;
      default:
        push(`Crème brûlée for ${rand(50)} people 👋🏽🦙 — naïve café, Ελληνικά, кириллица.\n`);
    }
  }
  return parts.join("");
}
