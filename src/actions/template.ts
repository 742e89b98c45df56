/**
 * Templates in action files: `{{param}}` takes an argument, `${env:NAME}` (or `${env:NAME:-default}`) a value of
 * the server's environment. Environment values are secrets: every rendering registers them, and everything an
 * action shows (previews, results, errors, logs) passes through Secrets.mask, which replaces them with ***.
 *
 * An absent optional argument makes the whole string absent, so the caller drops the query key, header, form
 * field, JSON member or argv element that contains it.
 */
import { ToolError } from "../errors.js";
import { Secrets } from "./secrets.js";

export { Secrets };

export const ABSENT: unique symbol = Symbol("absent");
export type Rendered = string | typeof ABSENT;

type Piece = { kind: "text"; text: string } | { kind: "param"; name: string } | { kind: "env"; name: string; fallback: string | undefined };

const TOKEN = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}|\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function parse(template: string): Piece[] {
  const pieces: Piece[] = [];
  let last = 0;
  for (const m of template.matchAll(TOKEN)) {
    if (m.index > last) pieces.push({ kind: "text", text: template.slice(last, m.index) });
    if (m[1] !== undefined) pieces.push({ kind: "param", name: m[1] });
    else pieces.push({ kind: "env", name: m[2]!, fallback: m[3] });
    last = m.index + m[0].length;
  }
  if (last < template.length) pieces.push({ kind: "text", text: template.slice(last) });
  return pieces;
}

/** The parameter names a template refers to. */
export function paramsOf(template: string): string[] {
  return parse(template).flatMap((p) => (p.kind === "param" ? [p.name] : []));
}

/** The single parameter a template consists of entirely ("{{count}}"), if it does. */
export function wholeParam(template: string): string | undefined {
  const pieces = parse(template);
  return pieces.length === 1 && pieces[0]!.kind === "param" ? pieces[0]!.name : undefined;
}

export interface RenderContext {
  args: Record<string, unknown>;
  env: Readonly<Record<string, string | undefined>>;
  secrets: Secrets;
  /** Where the rendering happens, for messages ("header Authorization"). */
  where: string;
}

/** A value as text: strings as they are, other JSON values as JSON. */
export function asText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

export function envValue(name: string, fallback: string | undefined, ctx: RenderContext): string {
  const value = ctx.env[name];
  if (value !== undefined && value !== "") {
    ctx.secrets.add(value);
    return value;
  }
  if (fallback !== undefined) return fallback;
  throw new ToolError(`This action needs the environment variable ${name} (in ${ctx.where}), which is not set on the server.`, {
    hint: `Set ${name} in the environment lam-mcp runs in, then call again.`,
    code: "action_env_missing",
  });
}

/** Renders a template; `encode` is applied to each substituted value (not to the template's own text). */
export function render(template: string, ctx: RenderContext, encode: (value: string) => string = (v) => v): Rendered {
  let out = "";
  for (const piece of parse(template)) {
    if (piece.kind === "text") out += piece.text;
    else if (piece.kind === "env") out += encode(envValue(piece.name, piece.fallback, ctx));
    else {
      const value = ctx.args[piece.name];
      if (value === undefined) return ABSENT;
      out += encode(asText(value));
    }
  }
  return out;
}

/** Renders a JSON body: a string that is exactly "{{param}}" keeps the argument's JSON type. */
export function renderJson(node: unknown, ctx: RenderContext): unknown {
  if (typeof node === "string") {
    const whole = wholeParam(node);
    if (whole !== undefined) return ctx.args[whole] === undefined ? ABSENT : ctx.args[whole];
    return render(node, ctx);
  }
  if (Array.isArray(node)) return node.map((n) => renderJson(n, ctx)).filter((n) => n !== ABSENT);
  if (node && typeof node === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      const r = renderJson(v, ctx);
      if (r !== ABSENT) out[k] = r;
    }
    return out;
  }
  return node;
}

/** Every string inside a JSON value, for load-time checks. */
export function stringsIn(node: unknown): string[] {
  if (typeof node === "string") return [node];
  if (Array.isArray(node)) return node.flatMap(stringsIn);
  if (node && typeof node === "object") return Object.entries(node).flatMap(([k, v]) => [k, ...stringsIn(v)]);
  return [];
}
