/**
 * The secrets of one action call (values of ${env:NAME}, and of the variables a command is given), masked in
 * everything the call shows: previews, results, errors, logs. A secret leaves the process not only as written but
 * as lam-mcp or the HTTP stack encodes it, and as a service may echo it back: each encoding below is masked too.
 *
 * - as written;
 * - percent-encoded as a URL component (either hex case), as a form field (space as +), and as the URL parser
 *   writes it in a path or a query;
 * - JSON-escaped (`"` and `\`), with non-ASCII as \uXXXX too (Python's json.dumps does that);
 * - base64 and base64url at each of the three byte alignments a secret can have inside a longer value (the
 *   password of `user:password` in a basic-auth header): the characters that depend only on the secret's bytes.
 *   Those runs are masked when they are at least 8 characters long (a secret of 7 bytes or more); shorter runs
 *   would match unrelated text.
 */
const MIN_BASE64_RUN = 8;

export class Secrets {
  private readonly values = new Set<string>();
  private forms: string[] | undefined;

  add(value: string): void {
    if (value.length === 0 || this.values.has(value)) return;
    this.values.add(value);
    this.forms = undefined;
  }

  get size(): number {
    return this.values.size;
  }

  /** The text with every secret, in every encoding, replaced by ***. Longer forms first, so none leaves a tail. */
  mask(text: string): string {
    if (this.values.size === 0) return text;
    this.forms ??= [...new Set([...this.values].flatMap(encodings))].sort((a, b) => b.length - a.length);
    let out = text;
    for (const form of this.forms) if (out.includes(form)) out = out.split(form).join("***");
    return out;
  }

  /** A JSON value with every string (and object key) masked; the structure is kept. */
  maskDeep<T>(value: T): T {
    if (this.values.size === 0) return value;
    const walk = (node: unknown): unknown => {
      if (typeof node === "string") return this.mask(node);
      if (Array.isArray(node)) return node.map(walk);
      if (node && typeof node === "object") return Object.fromEntries(Object.entries(node).map(([k, v]) => [this.mask(k), walk(v)]));
      return node;
    };
    return walk(value) as T;
  }
}

/** Every form in which a secret can appear in text that leaves the process. */
export function encodings(secret: string): string[] {
  const forms = new Set<string>([secret]);
  const component = encodeURIComponent(secret);
  forms.add(component);
  forms.add(component.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()));
  forms.add(new URLSearchParams({ s: secret }).toString().slice(2));
  for (const [prefix, part] of [
    ["http://h/", "pathname"],
    ["http://h/?", "search"],
  ] as const) {
    try {
      forms.add(new URL(prefix + secret)[part].slice(1));
    } catch {
      // not representable in a URL: then it cannot leave in one either
    }
  }
  const json = JSON.stringify(secret).slice(1, -1);
  forms.add(json);
  forms.add(json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
  const bytes = Buffer.from(secret, "utf8");
  for (let align = 0; align < 3; align++) {
    const encoded = Buffer.concat([Buffer.alloc(align), bytes]).toString("base64");
    // Characters wholly inside the secret's bits: from the first after the prefix's bits to the last before the end.
    const run = encoded.slice(Math.ceil((align * 8) / 6), Math.floor(((align + bytes.length) * 8) / 6));
    if (run.length >= MIN_BASE64_RUN) {
      forms.add(run);
      forms.add(run.replace(/\+/g, "-").replace(/\//g, "_"));
    }
  }
  forms.delete("");
  return [...forms];
}
