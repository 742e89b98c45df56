/**
 * The template language of workflow files: `{{input.NAME}}`, `{{steps.ID.PATH}}` (PATH walks the step's structured
 * result: `a.b`, `a[0]`), and inside a `for_each` step `{{item.PATH}}` and `{{index}}`. A string that is exactly
 * one template keeps the value's JSON type; a template inside a longer string is replaced by the value as text
 * (JSON for objects and arrays). Nothing is evaluated: a template is a path, and a path only reads.
 *
 * A value that is absent (an optional input not given, a step skipped by its `when`) is left out: a string that is
 * exactly its template is absent, so the member or element holding it is dropped (the tool's default applies); inside
 * a longer string it is empty. A path that goes where the value has nothing (a field the result lacks, an index past
 * the end) is an error that names the template.
 */
import { ToolError } from "../errors.js";

export const ABSENT: unique symbol = Symbol("absent");

/** A reference: its root and the path below it. */
export interface Ref {
  root: "input" | "steps" | "item" | "index";
  path: Array<string | number>;
  /** The template as written, for messages. */
  text: string;
}

type Piece = { kind: "text"; text: string } | { kind: "ref"; ref: Ref };

const TEMPLATE = /\{\{\s*([^{}]*?)\s*\}\}/g;
const SEGMENT = /^(?:\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d{1,6})\])/;

/** Parses one reference ("steps.loud.stdout", "item.url", "input.texts[0]"); a problem says what is wrong. */
export function parseRef(text: string): Ref | { problem: string } {
  const head = /^(input|steps|item|index)\b/.exec(text);
  if (!head) return { problem: `{{${shortText(text)}}} must start with input., steps., item or index` };
  const root = head[1] as Ref["root"];
  const path: Array<string | number> = [];
  let rest = text.slice(head[0].length);
  while (rest.length > 0) {
    const m = SEGMENT.exec(rest);
    if (!m) return { problem: `{{${shortText(text)}}}: a path is .name or [number] steps, nothing else` };
    path.push(m[1] !== undefined ? m[1] : Number(m[2]));
    rest = rest.slice(m[0].length);
  }
  if (root === "index" && path.length > 0) return { problem: `{{${shortText(text)}}}: index is a number, with no path below it` };
  if ((root === "input" || root === "steps") && typeof path[0] !== "string") return { problem: `{{${shortText(text)}}} must name ${root === "input" ? "an input" : "a step"}` };
  return { root, path, text };
}

function shortText(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** A string's pieces; a problem per reference that does not parse. */
export function parseTemplate(template: string): { pieces: Piece[]; problems: string[] } {
  const pieces: Piece[] = [];
  const problems: string[] = [];
  let last = 0;
  for (const m of template.matchAll(TEMPLATE)) {
    if (m.index > last) pieces.push({ kind: "text", text: template.slice(last, m.index) });
    const ref = parseRef(m[1]!);
    if ("problem" in ref) problems.push(ref.problem);
    else pieces.push({ kind: "ref", ref });
    last = m.index + m[0].length;
  }
  if (last < template.length) pieces.push({ kind: "text", text: template.slice(last) });
  if (/\$\{env:/.test(template)) problems.push("workflows take no ${env:...}: a secret belongs in the action that uses it, where it stays masked");
  return { pieces, problems };
}

/** Every reference in a JSON value's strings (keys included), with the problems of those that do not parse. */
export function refsIn(node: unknown): { refs: Ref[]; problems: string[] } {
  const refs: Ref[] = [];
  const problems: string[] = [];
  const walk = (n: unknown) => {
    if (typeof n === "string") {
      const parsed = parseTemplate(n);
      problems.push(...parsed.problems);
      for (const p of parsed.pieces) if (p.kind === "ref") refs.push(p.ref);
    } else if (Array.isArray(n)) n.forEach(walk);
    else if (n && typeof n === "object") {
      for (const [k, v] of Object.entries(n)) {
        walk(k);
        walk(v);
      }
    }
  };
  walk(node);
  return { refs, problems };
}

/** What a template can read while a step runs. */
export interface Scope {
  input: Record<string, unknown>;
  /** Each finished step's result by id: its structured result, null when skipped (then absent). */
  steps: Record<string, unknown>;
  item?: unknown;
  index?: number;
}

/** The value of a reference, ABSENT when an optional input or a skipped step's result is missing. */
export function resolveRef(ref: Ref, scope: Scope): unknown {
  if (ref.root === "index") {
    if (scope.index === undefined) throw new ToolError(`{{${ref.text}}} is used outside a for_each step.`, { code: "workflow_template" });
    return scope.index;
  }
  let value: unknown;
  let path = ref.path;
  let here: string = ref.root;
  if (ref.root === "item") {
    if (!("item" in scope)) throw new ToolError(`{{${ref.text}}} is used outside a for_each step.`, { code: "workflow_template" });
    value = scope.item;
  } else {
    const name = path[0] as string;
    const table = ref.root === "input" ? scope.input : scope.steps;
    if (!(name in table) || table[name] === undefined || table[name] === null) return ABSENT;
    value = table[name];
    path = path.slice(1);
    here = `${ref.root}.${name}`;
  }
  for (const key of path) {
    if (typeof key === "number") {
      if (!Array.isArray(value)) throw missing(ref, `${here} is ${kindOf(value)}, not a list`);
      if (key >= value.length) throw missing(ref, `${here} has ${value.length} items`);
      value = value[key];
      here += `[${key}]`;
    } else {
      if (value === null || typeof value !== "object" || Array.isArray(value)) throw missing(ref, `${here} is ${kindOf(value)}, not an object`);
      if (!Object.hasOwn(value, key)) {
        const keys = Object.keys(value);
        throw missing(ref, `${here} has no field ${key}${keys.length ? ` (it has ${keys.slice(0, 12).join(", ")})` : ""}`);
      }
      value = (value as Record<string, unknown>)[key];
      here += `.${key}`;
    }
  }
  return value;
}

function kindOf(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "a list" : typeof value === "object" ? "an object" : `a ${typeof value}`;
}

function missing(ref: Ref, why: string): ToolError {
  return new ToolError(`{{${ref.text}}} cannot be read: ${why}.`, {
    code: "workflow_template",
    hint: "Check the path against the step's result (preview it, or see the run's steps in lam://runs/{id}).",
  });
}

/** A value as text: strings as they are, other JSON values as JSON. */
function asText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Renders a string: a whole-string template keeps the value's type (ABSENT when absent); inside text, absent is empty. */
export function renderString(template: string, scope: Scope): unknown {
  const { pieces } = parseTemplate(template);
  if (pieces.length === 1 && pieces[0]!.kind === "ref") return resolveRef(pieces[0]!.ref, scope);
  let out = "";
  for (const piece of pieces) {
    if (piece.kind === "text") out += piece.text;
    else {
      const value = resolveRef(piece.ref, scope);
      if (value !== ABSENT) out += asText(value);
    }
  }
  return out;
}

/** Renders a JSON value: every string rendered, absent members and elements dropped. */
export function renderValue(node: unknown, scope: Scope): unknown {
  if (typeof node === "string") return renderString(node, scope);
  if (Array.isArray(node)) return node.map((n) => renderValue(n, scope)).filter((n) => n !== ABSENT);
  if (node && typeof node === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      const key = renderString(k, scope);
      const value = renderValue(v, scope);
      if (key !== ABSENT && value !== ABSENT) out[asText(key)] = value;
    }
    return out;
  }
  return node;
}
