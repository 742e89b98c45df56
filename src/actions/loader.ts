/**
 * Loading the tools directory: every .json, .yaml or .yml file is one action, validated by the ActionFile schema,
 * its input JSON Schema compiled, its templates checked. A bad file disables that action only, whatever is wrong
 * with it; every problem of a file is reported at once, each naming the field.
 *
 * The directory is the user's, and may hold anything: only regular files are read (a FIFO, socket, device or a
 * symlink to one is refused without blocking), their size is checked on the opened file, and no message ever quotes
 * a file's content beyond a short field name (a symlink to /etc/shadow must not put its lines in lam://actions).
 */
import { constants } from "node:fs";
import { open, readdir, stat } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { z } from "zod";
import { jsonDepth, MAX_JSON_DEPTH } from "../limits.js";
import { headerValueProblem, urlTemplateProblem } from "./plan.js";
import { ActionFile, scheduleOf } from "./schema.js";
import { parseTemplate, refsIn } from "./steps.js";
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
export const MAX_FILE_BYTES = 256 * 1024;
const MAX_PROBLEMS = 20;
const FILE = "(file)";

/** Reads an action file if it is a regular file within the size cap; never blocks on a FIFO or device. */
async function readActionText(file: string): Promise<{ text: string } | { problem: string }> {
  const what = (s: { isFIFO(): boolean; isSocket(): boolean; isDirectory(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }) =>
    s.isFIFO() ? "a FIFO" : s.isSocket() ? "a socket" : s.isDirectory() ? "a directory" : s.isCharacterDevice() || s.isBlockDevice() ? "a device" : "not a regular file";
  try {
    // Checked before opening (opening some devices has effects), and again on the opened file (it may have changed).
    const before = await stat(file);
    if (!before.isFile()) return { problem: `${what(before)}, not a regular file: only regular files are read` };
    const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    try {
      const opened = await handle.stat();
      if (!opened.isFile()) return { problem: `${what(opened)}, not a regular file: only regular files are read` };
      if (opened.size > MAX_FILE_BYTES) return { problem: `${opened.size} bytes, larger than the ${MAX_FILE_BYTES}-byte limit` };
      // One byte more than the cap: a file that grows while being read is refused too.
      const buffer = Buffer.alloc(MAX_FILE_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead > MAX_FILE_BYTES) return { problem: `larger than the ${MAX_FILE_BYTES}-byte limit` };
      return { text: buffer.toString("utf8", 0, bytesRead) };
    } finally {
      await handle.close();
    }
  } catch (error) {
    return { problem: `cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})` };
  }
}

/** Parses JSON or YAML text; a problem says what is wrong and where, never what the text says. */
async function parseText(file: string, text: string): Promise<{ raw: unknown } | { problems: Problem[] }> {
  if (extname(file) === ".json") {
    try {
      return { raw: JSON.parse(text) };
    } catch (error) {
      const at = /position (\d+)/.exec((error as Error).message);
      return { problems: [{ field: FILE, message: `not valid JSON${at ? ` (${lineColumn(text, Number(at[1]))})` : ""}` }] };
    }
  }
  const { parseDocument } = await import("./yaml.js"); // only when there is YAML to read
  try {
    const doc = parseDocument(text, { prettyErrors: true });
    if (doc.errors.length > 0) {
      // One problem per kind of error (a deep file gives one per level), with where it first occurs.
      const kinds = new Map<string, { at: string; count: number }>();
      for (const e of doc.errors) {
        const pos = e.linePos?.[0];
        const kind = kinds.get(e.code);
        if (kind) kind.count++;
        else kinds.set(e.code, { at: pos ? ` at line ${pos.line}, column ${pos.col}` : "", count: 1 });
      }
      return {
        problems: [...kinds].map(([code, { at, count }]) => ({
          field: FILE,
          message:
            code === "RESOURCE_EXHAUSTION"
              ? `nested too deeply to read${at}`
              : `not valid YAML (${code.toLowerCase().replace(/_/g, " ")}${at}${count > 1 ? `, and ${count - 1} more like it` : ""})`,
        })),
      };
    }
    return { raw: doc.toJS({ maxAliasCount: 100 }) };
  } catch (error) {
    const message = (error as Error).message;
    if (/alias count/i.test(message)) return { problems: [{ field: FILE, message: "its YAML aliases expand past 100 references (an alias bomb?)" }] };
    if (error instanceof RangeError) return { problems: [{ field: FILE, message: "nested too deeply to read" }] };
    return { problems: [{ field: FILE, message: "not valid YAML" }] };
  }
}

function lineColumn(text: string, position: number): string {
  const before = text.slice(0, position);
  const line = before.split("\n").length;
  return `line ${line}, column ${position - before.lastIndexOf("\n")}`;
}

/** A key from the file as a message may show it: a short plain name as is, anything else described, never quoted. */
export function shownKey(key: string): string {
  return /^[A-Za-z0-9_.-]{1,40}$/.test(key) ? key : `(a key of ${[...key].length} characters)`;
}

function zodIssues(error: z.ZodError): Problem[] {
  return error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.map((p) => (typeof p === "string" ? shownKey(p) : String(p))).join(".") : FILE;
    if (issue.code === "unrecognized_keys") {
      const keys = issue.keys.map((k) => (shownKey(k) === k ? `"${k}"` : shownKey(k)));
      return { field, message: `unknown field(s) ${keys.length > 5 ? `${keys.slice(0, 5).join(", ")} and ${keys.length - 5} more` : keys.join(", ")}` };
    }
    return { field, message: issue.message };
  });
}

export async function loadActionFile(file: string): Promise<{ action?: ActionFile; input?: z.ZodType; problems: Problem[] }> {
  const read = await readActionText(file);
  if ("problem" in read) return { problems: [{ field: FILE, message: read.problem }] };
  const parsedText = await parseText(file, read.text);
  if ("problems" in parsedText) return { problems: parsedText.problems };
  const raw = parsedText.raw;
  if (jsonDepth(raw) > MAX_JSON_DEPTH) return { problems: [{ field: FILE, message: `nested more than ${MAX_JSON_DEPTH} levels deep` }] };
  const parsed = ActionFile.safeParse(raw);
  const checked = checkAction(raw);
  const problems = [...(parsed.success ? [] : zodIssues(parsed.error)), ...checked.problems];
  const unique = [...new Map(problems.map((p) => [`${p.field}\n${p.message}`, p])).values()];
  const shown = unique.length > MAX_PROBLEMS ? [...unique.slice(0, MAX_PROBLEMS), { field: FILE, message: `${unique.length - MAX_PROBLEMS} more problems not shown` }] : unique;
  if (!parsed.success) return { problems: shown };
  const schedule = await scheduleProblem(parsed.data);
  if (schedule) shown.push(schedule);
  return shown.length > 0 || !checked.input ? { action: parsed.data, problems: shown } : { action: parsed.data, input: checked.input, problems: [] };
}

type Raw = Record<string, unknown>;
const asObject = (v: unknown): Raw | undefined => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Raw) : undefined);
const asString = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/**
 * Checks across fields, on the raw file so they run even when its shape has problems too (every problem at once):
 * exactly one runner, a compilable input schema, templates that refer only to declared arguments, header names
 * and values an HTTP request can carry.
 */
function checkAction(raw: unknown): { input?: z.ZodType; problems: Problem[] } {
  const file = asObject(raw);
  if (!file) return { problems: [] };
  const problems: Problem[] = [];
  const runners = ["http", "command", "steps"].filter((k) => file[k] !== undefined);
  if (runners.length !== 1) {
    problems.push({ field: runners[1] ?? "http", message: `give exactly one runner: http, command or steps${runners.length > 1 ? ` (this file has ${runners.join(" and ")})` : ""}` });
  }
  if (file.steps === undefined) {
    for (const key of ["output", "schedule", "unattended"]) if (file[key] !== undefined) problems.push({ field: key, message: `${key} is for workflows (a file with steps)` });
  }
  let input: z.ZodType | undefined;
  const schema = asObject(file.input) ?? (file.input === undefined ? { type: "object", properties: {} } : undefined);
  if (schema) {
    try {
      input = z.fromJSONSchema(schema as z.core.JSONSchema.JSONSchema);
    } catch (error) {
      // The library's message may quote the schema ("Unsupported type: ..."): only its kind is shown.
      const kind = ((error as Error).message.split(":")[0] ?? "").slice(0, 80);
      problems.push({ field: "input", message: `not a JSON Schema this server can enforce${kind ? ` (${kind})` : ""}` });
    }
  }
  const declared = new Set(Object.keys(asObject(schema?.properties) ?? {}));
  const checkParams = (field: string, template: unknown) => {
    if (typeof template !== "string") return;
    for (const p of paramsOf(template)) if (!declared.has(p)) problems.push({ field, message: `{{${shownKey(p)}}} is not a property of input` });
  };
  const http = asObject(file.http);
  if (http) {
    const url = asString(http.url);
    if (url !== undefined) {
      const urlProblem = urlTemplateProblem(url);
      if (urlProblem) problems.push({ field: "http.url", message: urlProblem });
      checkParams("http.url", url);
    }
    for (const [k, v] of Object.entries(asObject(http.query) ?? {})) checkParams(`http.query.${shownKey(k)}`, v);
    for (const [k, v] of Object.entries(asObject(http.headers) ?? {})) {
      const field = `http.headers.${shownKey(k)}`;
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) problems.push({ field, message: "not a valid header name" });
      if (typeof v === "string") {
        // The template's own text must be a valid header value; substituted values are checked when a call renders them.
        const literal = v.replace(/\{\{[^}]*\}\}|\$\{env:[^}]*\}/g, "");
        const bad = headerValueProblem(literal);
        if (bad) problems.push({ field, message: bad });
      }
      checkParams(field, v);
    }
    for (const [k, v] of Object.entries(asObject(http.form) ?? {})) checkParams(`http.form.${shownKey(k)}`, v);
    for (const s of stringsIn(http.json)) checkParams("http.json", s);
  }
  const command = asObject(file.command);
  if (command) {
    const argv = Array.isArray(command.argv) ? command.argv : [];
    if (typeof argv[0] === "string" && paramsOf(argv[0]).length > 0) problems.push({ field: "command.argv.0", message: "the program itself may not come from an argument" });
    argv.forEach((a, i) => checkParams(`command.argv.${i}`, a));
    const cwd = asString(command.cwd);
    if (cwd && paramsOf(cwd).length > 0) problems.push({ field: "command.cwd", message: "{{param}} may not appear in cwd" });
    checkParams("command.stdin", command.stdin);
  }
  if (Array.isArray(file.steps)) problems.push(...checkWorkflow(file, declared, schema));
  return { ...(input ? { input } : {}), problems };
}

/**
 * A workflow's templates refer only to what exists when they are rendered: declared inputs, earlier steps (the
 * output: any step), and item / index inside a for_each step's arguments. for_each is one template that gives a
 * list. A scheduled workflow runs without arguments, so its input may require none.
 */
function checkWorkflow(file: Raw, declared: Set<string>, schema: Raw | undefined): Problem[] {
  const problems: Problem[] = [];
  const steps = (file.steps as unknown[]).map(asObject);
  const ids = steps.map((s) => asString(s?.id));
  const earlier = new Set<string>();
  const check = (field: string, node: unknown, allowItem: boolean, selfId?: string) => {
    const { refs, problems: bad } = refsIn(node);
    for (const message of bad) problems.push({ field, message });
    for (const ref of refs) {
      const name = typeof ref.path[0] === "string" ? ref.path[0] : "";
      const shown = shownKey(name);
      if (ref.root === "input" && !declared.has(name)) problems.push({ field, message: `{{input.${shown}}}: ${shown} is not a property of input` });
      else if (ref.root === "steps" && !earlier.has(name)) {
        const why = name === selfId ? "a step cannot read its own result" : ids.includes(name) ? `step ${shown} comes later; a step reads only earlier steps` : `no step has the id ${shown}`;
        problems.push({ field, message: `{{steps.${shown}...}}: ${why}` });
      } else if ((ref.root === "item" || ref.root === "index") && !allowItem) {
        problems.push({ field, message: `{{${ref.root}}} is only for the arguments of a step with for_each` });
      }
    }
  };
  steps.forEach((step, i) => {
    if (!step) return;
    const id = ids[i];
    if (id !== undefined && ids.indexOf(id) < i) problems.push({ field: `steps.${i}.id`, message: `${shownKey(id)} is the id of an earlier step too` });
    const forEach = asString(step.for_each);
    check(`steps.${i}.arguments`, step.arguments, forEach !== undefined, id);
    check(`steps.${i}.when`, step.when, false, id);
    if (forEach !== undefined) {
      const { pieces } = parseTemplate(forEach);
      if (pieces.length !== 1 || pieces[0]!.kind !== "ref") problems.push({ field: `steps.${i}.for_each`, message: "must be one template that gives a list, like {{steps.search.results}}" });
      check(`steps.${i}.for_each`, forEach, false, id);
    }
    if (id !== undefined) earlier.add(id);
  });
  check("output", file.output, false);
  if (file.schedule !== undefined && Array.isArray(schema?.required) && schema.required.length > 0) {
    problems.push({ field: "schedule", message: "a scheduled run gets no arguments, so input may require none (give defaults instead)" });
  }
  return problems;
}

/** Why a schedule cannot fire, or undefined: a cron pattern croner reads, and a time zone the runtime knows. */
async function scheduleProblem(action: ActionFile): Promise<Problem | undefined> {
  const schedule = scheduleOf(action);
  if (!schedule) return undefined;
  if (schedule.timezone !== undefined) {
    try {
      new Intl.DateTimeFormat("en", { timeZone: schedule.timezone });
    } catch {
      return { field: "schedule.timezone", message: "not a time zone this runtime knows (an IANA name like Europe/Paris)" };
    }
  }
  const { Cron } = await import("croner");
  try {
    new Cron(schedule.cron, { paused: true, ...(schedule.timezone ? { timezone: schedule.timezone } : {}) }).stop();
  } catch {
    // croner's message quotes the pattern: only what is expected is said.
    return { field: "schedule", message: "not a cron pattern: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first" };
  }
  return undefined;
}

/** Loads every action file of a directory (not recursive). A missing directory is no actions. */
export async function loadActionsDir(dir: string, reserved: ReadonlySet<string>): Promise<{ actions: LoadedAction[]; statuses: ActionStatus[] }> {
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
    let loaded: Awaited<ReturnType<typeof loadActionFile>>;
    try {
      loaded = await loadActionFile(file);
    } catch (error) {
      // Whatever went wrong, it disables this file only.
      loaded = { problems: [{ field: FILE, message: `could not be loaded (${(error as Error).name ?? "error"})` }] };
    }
    const { action, input, problems } = loaded;
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
  return checkWorkflowTools(actions, statuses, reserved);
}

/**
 * Across files: each workflow step names a tool that exists (a built-in, or an action or workflow loaded here), and
 * no workflow reaches itself through others. A workflow that fails either is disabled, which may leave others
 * naming a tool that no longer exists: checked again until nothing changes.
 */
function checkWorkflowTools(actions: LoadedAction[], statuses: ActionStatus[], reserved: ReadonlySet<string>): { actions: LoadedAction[]; statuses: ActionStatus[] } {
  let live = actions;
  for (;;) {
    const names = new Set([...reserved, ...live.map((a) => a.action.name)]);
    const byName = new Map(live.map((a) => [a.action.name, a]));
    const failed = new Map<LoadedAction, Problem[]>();
    const fail = (a: LoadedAction, p: Problem) => failed.set(a, [...(failed.get(a) ?? []), p]);
    for (const a of live) {
      a.action.steps?.forEach((step, i) => {
        if (!names.has(step.tool)) {
          const known = [...names].sort();
          fail(a, { field: `steps.${i}.tool`, message: `no tool is named ${step.tool} (the tools: ${known.slice(0, 30).join(", ")}${known.length > 30 ? ", ..." : ""})` });
        }
      });
    }
    // A cycle: following steps from a workflow comes back to it.
    for (const a of live) {
      if (!a.action.steps || failed.has(a)) continue;
      const path = cycleFrom(a.action.name, byName);
      if (path) fail(a, { field: "steps", message: `calls itself through ${path.join(" -> ")}: workflows may not form a cycle` });
    }
    if (failed.size === 0) return { actions: live, statuses };
    for (const [a, problems] of failed) {
      const status = statuses.find((s) => s.file === a.file)!;
      status.status = "disabled";
      status.problems = problems;
    }
    live = live.filter((a) => !failed.has(a));
  }
}

/** The path from a workflow back to itself through the steps of workflows, if there is one. */
function cycleFrom(start: string, byName: Map<string, LoadedAction>): string[] | undefined {
  const seen = new Set<string>();
  const walk = (name: string, path: string[]): string[] | undefined => {
    for (const step of byName.get(name)?.action.steps ?? []) {
      if (step.tool === start) return [...path, start];
      if (seen.has(step.tool) || !byName.get(step.tool)?.action.steps) continue;
      seen.add(step.tool);
      const found = walk(step.tool, [...path, step.tool]);
      if (found) return found;
    }
    return undefined;
  };
  return walk(start, [start]);
}
