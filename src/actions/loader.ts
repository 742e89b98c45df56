/**
 * Loading the tools directory: every .json, .yaml or .yml file is one action, validated by the ActionFile schema,
 * its input JSON Schema compiled, its templates checked. A bad file disables that action only; each problem names
 * the file and the field.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { z } from "zod";
import { zodProblems } from "../tool.js";
import { urlTemplateProblem } from "./plan.js";
import { ActionFile } from "./schema.js";
import { paramsOf, stringsIn } from "./template.js";

export interface Problem {
  field: string;
  message: string;
}

export interface LoadedAction {
  file: string;
  dir: string;
  action: ActionFile;
  /** The input JSON Schema as a zod schema (z.fromJSONSchema): enforced before anything runs, defaults applied. */
  input: z.ZodType;
}

export interface ActionStatus {
  file: string;
  name: string | null;
  status: "loaded" | "disabled";
  problems: Problem[];
}

export const ACTION_EXTENSIONS = new Set([".json", ".yaml", ".yml"]);
const MAX_FILE_BYTES = 256 * 1024;

export async function loadActionFile(file: string): Promise<{ action?: ActionFile; input?: z.ZodType; problems: Problem[] }> {
  let text: string;
  try {
    const s = await stat(file);
    if (s.size > MAX_FILE_BYTES) return { problems: [{ field: "(file)", message: `larger than ${MAX_FILE_BYTES} bytes` }] };
    text = await readFile(file, "utf8");
  } catch (error) {
    return { problems: [{ field: "(file)", message: `cannot be read: ${(error as Error).message}` }] };
  }
  let raw: unknown;
  if (extname(file) === ".json") {
    try {
      raw = JSON.parse(text);
    } catch (error) {
      return { problems: [{ field: "(file)", message: `not valid JSON: ${(error as Error).message}` }] };
    }
  } else {
    const { parseDocument } = await import("./yaml.js"); // only when there is YAML to read
    const doc = parseDocument(text, { prettyErrors: true });
    if (doc.errors.length > 0) {
      return { problems: doc.errors.map((e) => ({ field: "(file)", message: `not valid YAML: ${e.message.split("\n")[0]}` })) };
    }
    raw = doc.toJS();
  }
  const parsed = ActionFile.safeParse(raw);
  if (!parsed.success) {
    return {
      problems: zodProblems(parsed.error).map((line) => {
        const at = line.indexOf(": ");
        return { field: line.slice(0, at), message: line.slice(at + 2) };
      }),
    };
  }
  const action = parsed.data;
  const { input, problems } = checkAction(action);
  return problems.length > 0 || !input ? { action, problems } : { action, input, problems };
}

/** Checks beyond the shape: a compilable input schema, and templates that refer only to declared arguments. */
function checkAction(action: ActionFile): { input?: z.ZodType; problems: Problem[] } {
  const problems: Problem[] = [];
  let input: z.ZodType | undefined;
  try {
    input = z.fromJSONSchema(action.input as never);
  } catch (error) {
    problems.push({ field: "input", message: `not a JSON Schema this server can enforce: ${(error as Error).message}` });
  }
  const declared = new Set(Object.keys(action.input.properties ?? {}));
  const checkParams = (field: string, template: string) => {
    for (const p of paramsOf(template)) {
      if (!declared.has(p)) problems.push({ field, message: `{{${p}}} is not a property of input` });
    }
  };
  if (action.http) {
    const h = action.http;
    const urlProblem = urlTemplateProblem(h.url);
    if (urlProblem) problems.push({ field: "http.url", message: urlProblem });
    checkParams("http.url", h.url);
    for (const [k, v] of Object.entries(h.query ?? {})) if (typeof v === "string") checkParams(`http.query.${k}`, v);
    for (const [k, v] of Object.entries(h.headers ?? {})) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) problems.push({ field: `http.headers.${k}`, message: "not a valid header name" });
      checkParams(`http.headers.${k}`, v);
    }
    for (const [k, v] of Object.entries(h.form ?? {})) if (typeof v === "string") checkParams(`http.form.${k}`, v);
    for (const s of stringsIn(h.json)) checkParams("http.json", s);
  }
  if (action.command) {
    const c = action.command;
    if (paramsOf(c.argv[0]!).length > 0) problems.push({ field: "command.argv.0", message: "the program itself may not come from an argument" });
    c.argv.forEach((a, i) => checkParams(`command.argv.${i}`, a));
    if (c.cwd && paramsOf(c.cwd).length > 0) problems.push({ field: "command.cwd", message: "{{param}} may not appear in cwd" });
    if (c.stdin) checkParams("command.stdin", c.stdin);
  }
  return { ...(input ? { input } : {}), problems };
}

/** Loads every action file of a directory (not recursive). A missing directory is no actions. */
export async function loadActionsDir(dir: string, reserved: Set<string>): Promise<{ actions: LoadedAction[]; statuses: ActionStatus[] }> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => ACTION_EXTENSIONS.has(extname(n)) && !n.startsWith(".")).sort();
  } catch {
    return { actions: [], statuses: [] };
  }
  const actions: LoadedAction[] = [];
  const statuses: ActionStatus[] = [];
  const taken = new Map<string, string>();
  for (const name of names) {
    const file = join(dir, name);
    const { action, input, problems } = await loadActionFile(file);
    if (action) {
      if (reserved.has(action.name)) problems.push({ field: "name", message: `${action.name} is a built-in tool's name` });
      else if (taken.has(action.name)) problems.push({ field: "name", message: `${action.name} is already used by ${basename(taken.get(action.name)!)}` });
    }
    if (action && input && problems.length === 0) {
      taken.set(action.name, file);
      actions.push({ file, dir: dirname(file), action, input });
      statuses.push({ file, name: action.name, status: "loaded", problems: [] });
    } else {
      statuses.push({ file, name: action?.name ?? null, status: "disabled", problems });
    }
  }
  return { actions, statuses };
}
