/**
 * `lam-mcp actions check [DIR]` and `lam-mcp actions run NAME [JSON]`: the action files from the shell, for
 * editing them and for scripts. They use the registry and the runner directly: no server, no model, no watcher.
 * Output goes to the given writers (stdout for reports and results, stderr for usage and failures).
 */
import { stat } from "node:fs/promises";
import { relative, resolve } from "node:path";
import type { Config } from "../config.js";
import { ToolError, messageOf } from "../errors.js";
import { silentLogger, type Logger } from "../log.js";
import type { CallResult } from "../tool.js";
import { ActionRegistry } from "./registry.js";
import { executeAction, renderOutcome, validateArgs } from "./tools.js";

export interface Writers {
  out(text: string): void;
  err(text: string): void;
}

const USAGE = "usage: lam-mcp actions check [DIR] | lam-mcp actions run NAME ['<json arguments>']";

export interface ActionsCommandContext {
  config: Config;
  env: Readonly<Record<string, string | undefined>>;
  log: Logger;
  io: Writers;
  /** The built-in tools' names, which no action may take. */
  reserved: ReadonlySet<string>;
  /**
   * The server's tools without a transport, for a workflow (whose steps may be any tool): its call goes through
   * the same wrapper as a client's. Made only when a workflow is run.
   */
  openTools?: () => ToolRunner;
}

export interface ToolRunner {
  call(name: string, args: unknown, signal: AbortSignal): Promise<CallResult>;
  close(): Promise<void>;
}

export async function actionsCommand(args: string[], context: ActionsCommandContext): Promise<number> {
  const [verb, ...rest] = args;
  if (verb === "check" && rest.length <= 1) return check(rest[0], context);
  if (verb === "run" && rest.length >= 1 && rest.length <= 2) return run(rest[0]!, rest[1] ?? "{}", context);
  return usage(context.io);
}

/** `actions check [DIR]`: every file's status on stdout; exit 1 when any has a problem or DIR is no directory. */
async function check(where: string | undefined, { config, env, io, reserved }: ActionsCommandContext): Promise<number> {
  const dir = resolve(where ?? config.toolsDir);
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error("not a directory");
  } catch {
    io.err(`lam-mcp: ${dir} is not a directory of action files\n`);
    return 1;
  }
  // The report is this command's output (stdout); the registry's own log lines would only repeat it.
  const registry = new ActionRegistry({ dir, deps: { env, allowUnconfirmed: config.allowUnconfirmed, log: silentLogger }, log: silentLogger });
  try {
    await registry.start({ reserved, watch: false });
    const { actions } = await registry.describe();
    if (actions.length === 0) {
      io.out(`no action files (.json, .yaml, .yml) in ${dir}\n`);
      return 0;
    }
    let bad = 0;
    for (const a of actions) {
      const file = relative(process.cwd(), a.file) || a.file;
      if (a.status === "loaded") io.out(`ok    ${a.name}  ${file}\n`);
      else {
        bad++;
        for (const p of a.problems) io.out(`FAIL  ${file}: ${p.field}: ${p.message}\n`);
      }
    }
    io.out(`${actions.length - bad} of ${actions.length} action files are valid\n`);
    return bad > 0 ? 1 : 0;
  } finally {
    registry.close();
  }
}

/** `actions run NAME [JSON]`: one action run, its result as JSON on stdout (Ctrl-C cancels it). */
async function run(name: string, json: string, context: ActionsCommandContext): Promise<number> {
  const { config, env, log, io, reserved } = context;
  let input: unknown;
  try {
    input = JSON.parse(json);
  } catch (error) {
    io.err(`lam-mcp: the arguments are not valid JSON: ${messageOf(error)}\n`);
    return 2;
  }
  const deps = { env, allowUnconfirmed: config.allowUnconfirmed, log };
  const registry = new ActionRegistry({ dir: config.toolsDir, deps, log });
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  try {
    await registry.start({ reserved, watch: false });
    const actions = await registry.loaded();
    const loaded = actions.find((a) => a.action.name === name);
    if (!loaded) {
      io.err(`lam-mcp: no action named ${name} in ${config.toolsDir} (actions: ${actions.map((a) => a.action.name).join(", ") || "none"})\n`);
      return 1;
    }
    if (loaded.action.steps) return await runWorkflow(name, input, controller.signal, context);
    const checked = validateArgs(loaded, input);
    if (!checked.ok) {
      io.err(`lam-mcp: invalid arguments for ${name}:\n${checked.problems.map((p) => `- ${p}`).join("\n")}\n`);
      return 1;
    }
    const outcome = await executeAction(loaded, checked.value, deps, { signal: controller.signal, elicit: undefined, log: deps.log });
    io.out(`${JSON.stringify(renderOutcome(name, outcome).structured, null, 2)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof ToolError) {
      io.err(`lam-mcp: ${error.render()}\n`);
      return 1;
    }
    throw error;
  } finally {
    process.off("SIGINT", stop);
    registry.close();
  }
}

/** A workflow from the shell: the server's tools, no transport; the result (or the error) as the server gives it. */
async function runWorkflow(name: string, input: unknown, signal: AbortSignal, { io, openTools }: ActionsCommandContext): Promise<number> {
  if (!openTools) {
    io.err(`lam-mcp: ${name} is a workflow, which needs the server's tools\n`);
    return 1;
  }
  const tools = openTools();
  try {
    const result = await tools.call(name, input, signal);
    const text = result.content.map((c) => c.text).join("\n");
    if (result.isError) {
      io.err(`lam-mcp: ${text}\n`);
      return 1;
    }
    io.out(`${JSON.stringify(result.structuredContent ?? text, null, 2)}\n`);
    return 0;
  } finally {
    await tools.close();
  }
}

function usage(io: Writers): number {
  io.err(`${USAGE}\n`);
  return 2;
}
