/**
 * From an action and its validated arguments to exactly what will run: the HTTP request, or the argv, working
 * directory and environment of the program. The same plan is previewed (masked) and executed.
 */
import { isAbsolute, resolve } from "node:path";
import { ToolError } from "../errors.js";
import type { CommandRunner, HttpRunner } from "./schema.js";
import { ABSENT, asText, envValue, parse, render, renderJson, Secrets, wholeParam, type RenderContext } from "./template.js";

export interface HttpPlan {
  kind: "http";
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: { type: "json" | "form"; text: string };
}

export interface CommandPlan {
  kind: "command";
  argv: string[];
  cwd: string;
  /** The environment the program gets (PATH and the allow-listed names present on the server). */
  env: Record<string, string>;
  stdin?: string;
}

export type Plan = (HttpPlan | CommandPlan) & { secrets: Secrets };

export const USER_AGENT_ACTIONS = "lam-mcp actions";

/**
 * Why a text cannot be an HTTP header value, or undefined: a value may hold tabs, visible ASCII, spaces and
 * obs-text (0x80-0xFF) only (RFC 9110). A line break would be header injection; U+2028 and the like cannot be sent.
 */
export function headerValueProblem(value: string): string | undefined {
  const bad = /[^\t\x20-\x7e\x80-\xff]/.exec(value);
  if (!bad) return undefined;
  if (bad[0] === "\r" || bad[0] === "\n") return "contains a line break, which would inject headers";
  const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
  return `contains U+${code}, which an HTTP header value cannot carry`;
}

/**
 * Load-time check of a URL template: it starts with http(s):// (possibly from ${env:...}), and no {{param}} comes
 * before the host is complete. Returns the problem, or undefined.
 */
export function urlTemplateProblem(template: string): string | undefined {
  let prefix = "";
  for (const piece of parse(template)) {
    if (piece.kind === "param") {
      return /^https?:\/\/[^/?#]+[/?#]/i.test(prefix) ? undefined : "{{param}} may not appear in the scheme or host, only in the path and query";
    }
    prefix += piece.kind === "text" ? piece.text : (piece.fallback ?? "http://env.invalid");
  }
  return /^https?:\/\/[^/?#]+/i.test(prefix) ? undefined : "must start with http:// or https:// (or an ${env:NAME} that holds one)";
}

/**
 * The URL of a call, in one pass over the template: ${env:...} as is, each {{param}} percent-encoded as one path
 * segment or query value, never in the scheme or host; a segment that climbs the path (. or ..) is refused.
 */
function buildUrl(template: string, args: Record<string, unknown>, ctx: (where: string) => RenderContext, secrets: Secrets): URL {
  let raw = "";
  let inOrigin = true;
  const missing: string[] = [];
  for (const piece of parse(template)) {
    if (piece.kind === "text") raw += piece.text;
    else if (piece.kind === "env") raw += envValue(piece.name, piece.fallback, ctx("the URL"));
    else {
      if (inOrigin) throw new ToolError("The action's URL takes an argument in its host; refused.", { code: "action_refused" });
      const value = args[piece.name];
      if (value === undefined) missing.push(piece.name);
      else raw += encodeURIComponent(asText(value));
    }
    if (inOrigin && /^https?:\/\/[^/?#]*[/?#]/i.test(raw)) inOrigin = false;
  }
  if (missing.length > 0) {
    throw new ToolError(`The URL needs ${missing.map((m) => `{{${m}}}`).join(", ")}, which was not given.`, {
      hint: "Pass every argument the URL uses (optional query values belong in the action's query, where an absent one is dropped).",
    });
  }
  const path = raw.replace(/^https?:\/\/[^/?#]*/i, "").split(/[?#]/)[0] ?? "";
  for (const segment of path.split("/")) {
    if (/^(?:\.|%2e){1,2}$/i.test(segment)) {
      throw new ToolError(`An argument would make the URL path segment ${JSON.stringify(segment)}, which climbs the path; refused.`, {
        hint: "Pass a plain name, not . or ..",
        code: "action_refused",
      });
    }
  }
  try {
    return new URL(raw);
  } catch {
    throw new ToolError(`The action's URL is not valid once filled in: ${secrets.mask(raw)}`, { code: "action_invalid" });
  }
}

export function planHttp(runner: HttpRunner, args: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>): Plan {
  const secrets = new Secrets();
  const ctx = (where: string): RenderContext => ({ args, env, secrets, where });
  const url = buildUrl(runner.url, args, ctx, secrets);
  for (const [k, v] of Object.entries(runner.query ?? {})) {
    const value = typeof v === "string" ? render(v, ctx(`the query ${k}`)) : String(v);
    if (value !== ABSENT) url.searchParams.append(k, value);
  }
  const headers: Record<string, string> = { "user-agent": USER_AGENT_ACTIONS };
  // Credentials in the URL (https://user:${env:PASSWORD}@host/) become a basic-auth header, as browsers and curl
  // send them (undici would drop them silently); the encoded header is a secret as a whole.
  if (url.username || url.password) {
    const credentials = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`, "utf8").toString("base64");
    secrets.add(credentials);
    headers.authorization = `Basic ${credentials}`;
    url.username = "";
    url.password = "";
  }
  for (const [k, v] of Object.entries(runner.headers ?? {})) {
    const value = render(v, ctx(`the header ${k}`));
    if (value === ABSENT) continue;
    const problem = headerValueProblem(value);
    if (problem) {
      throw new ToolError(`The header ${k} ${problem}; refused.`, {
        hint: "Pass a value of printable characters only (no line breaks, no characters beyond U+00FF): percent-encode or base64 it first if it must carry them.",
        code: "action_refused",
      });
    }
    headers[k.toLowerCase()] = value;
  }
  let body: HttpPlan["body"];
  if (runner.json !== undefined) {
    body = { type: "json", text: JSON.stringify(renderJson(runner.json, ctx("the JSON body"))) };
    headers["content-type"] ??= "application/json";
  } else if (runner.form) {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(runner.form)) {
      const value = typeof v === "string" ? render(v, ctx(`the form field ${k}`)) : String(v);
      if (value !== ABSENT) form.append(k, value);
    }
    body = { type: "form", text: form.toString() };
    headers["content-type"] ??= "application/x-www-form-urlencoded";
  }
  return { kind: "http", method: runner.method, url: url.href, headers, ...(body ? { body } : {}), secrets };
}

export function planCommand(
  runner: CommandRunner,
  args: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  fileDir: string,
): Plan {
  const secrets = new Secrets();
  const ctx = (where: string): RenderContext => ({ args, env, secrets, where });
  const argv: string[] = [];
  runner.argv.forEach((element, i) => {
    const whole = wholeParam(element);
    if (whole !== undefined) {
      const value = args[whole];
      if (value === undefined) return;
      // An array argument becomes several arguments, each as it is.
      if (Array.isArray(value)) argv.push(...value.map(asText));
      else argv.push(asText(value));
      return;
    }
    const value = render(element, ctx(`argv[${i}]`));
    if (value !== ABSENT) argv.push(value);
  });
  const childEnv: Record<string, string> = {};
  if (env.PATH) childEnv.PATH = env.PATH;
  for (const name of runner.env ?? []) {
    const value = env[name];
    if (value === undefined) continue;
    childEnv[name] = value;
    // What the program is given it can print: its values are masked like ${env:...} (PATH is no secret).
    if (name !== "PATH") secrets.add(value);
  }
  const stdin = runner.stdin === undefined ? undefined : render(runner.stdin, ctx("stdin"));
  const cwd = runner.cwd === undefined ? process.cwd() : isAbsolute(runner.cwd) ? runner.cwd : resolve(fileDir, runner.cwd);
  return { kind: "command", argv, cwd, env: childEnv, ...(stdin !== undefined && stdin !== ABSENT ? { stdin } : {}), secrets };
}

/** What preview_action shows: the plan with secrets masked and only the names of the environment. */
export function previewOf(plan: Plan): Record<string, unknown> {
  const { secrets } = plan;
  if (plan.kind === "http") {
    return secrets.maskDeep({ kind: "http", method: plan.method, url: plan.url, headers: plan.headers, ...(plan.body ? { body: plan.body } : {}) });
  }
  return secrets.maskDeep({ kind: "command", argv: plan.argv, cwd: plan.cwd, env_names: Object.keys(plan.env), ...(plan.stdin !== undefined ? { stdin: plan.stdin } : {}) });
}
