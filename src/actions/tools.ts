/**
 * Each loaded action becomes an MCP tool: its input JSON Schema published as written and enforced before anything
 * runs; confirm / destructive actions asked to the user through elicitation; every output masked.
 * preview_action shows exactly what a call would run, without running it.
 */
import { z } from "zod";
import { ToolError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Telemetry } from "../telemetry.js";
import { span } from "../tracing.js";
import { defineTool, jsonSchemaOf, zodProblems, type ToolContext, type ToolOutput, type ToolSpec } from "../tool.js";
import type { LoadedAction } from "./loader.js";
import { planCommand, planHttp, previewOf, type Plan } from "./plan.js";
import { runCommand, runHttp, type CommandOutcome, type HttpOutcome } from "./run.js";
import { timeoutOf, type ActionFile } from "./schema.js";

export interface ActionDeps {
  env: Readonly<Record<string, string | undefined>>;
  allowUnconfirmed: boolean;
  log: Logger;
  telemetry?: Telemetry;
}

const ActionOutput = z.object({
  action: z.string(),
  kind: z.enum(["http", "command"]),
  duration_ms: z.number(),
  status: z.number().int().optional().describe("http: the response status"),
  content_type: z.string().optional(),
  result: z.unknown().optional().describe("http: the JSON (picked) or text of the response"),
  exit_code: z.number().int().optional().describe("command: the exit code"),
  stdout: z.string().optional(),
  stderr: z.string().optional(),
  truncated: z.union([z.boolean(), z.object({ stdout: z.boolean(), stderr: z.boolean() })]).optional().describe("Output cut at the action's byte cap"),
});
const ACTION_OUTPUT_SCHEMA = jsonSchemaOf(ActionOutput, "output");

export function needsConfirmation(action: ActionFile): boolean {
  return action.confirm || action.annotations?.destructiveHint === true;
}

export function planFor(loaded: LoadedAction, args: Record<string, unknown>, env: ActionDeps["env"]): Plan {
  const { action } = loaded;
  return action.http ? planHttp(action.http, args, env) : planCommand(action.command!, args, env, loaded.dir);
}

export function validateArgs(loaded: LoadedAction, args: unknown): { ok: true; value: Record<string, unknown> } | { ok: false; problems: string[] } {
  const parsed = loaded.input.safeParse(args ?? {});
  return parsed.success ? { ok: true, value: parsed.data as Record<string, unknown> } : { ok: false, problems: zodProblems(parsed.error) };
}

/** One line of what will run, for confirmations and logs (secrets masked). */
export function summarize(plan: Plan): string {
  const p = previewOf(plan);
  if (p.kind === "http") return `${String(p.method)} ${String(p.url)}`;
  return `run ${(p.argv as string[]).map((a) => JSON.stringify(a)).join(" ")} in ${String(p.cwd)}`;
}

/**
 * Asks the user to allow a run, through the client's elicitation; throws (nothing runs) unless the user confirms.
 * `what` is the message's body: the request or program, or a workflow's steps that need it.
 */
export async function confirmWithUser(ctx: Pick<ToolContext, "elicit">, name: string, title: string, what: string): Promise<void> {
  if (!ctx.elicit) {
    throw new ToolError(`${name} must be confirmed by the user before it runs, and this client cannot ask (it does not support elicitation).`, {
      code: "confirmation_required",
      hint: "Use a client that supports elicitation, or start lam-mcp with --allow-unconfirmed (LAM_ALLOW_UNCONFIRMED=true) to run such actions without asking.",
    });
  }
  const answer = await ctx.elicit({
    message: `Allow "${title}" to run?\n${what}`,
    requestedSchema: {
      type: "object",
      properties: { confirm: { type: "boolean", title: "Run it", description: `Run ${name} now`, default: false } },
      required: ["confirm"],
    },
  });
  if (answer.action === "accept" && typeof answer.content?.confirm !== "boolean") {
    throw new ToolError(`The client accepted the confirmation of ${name} without the confirm field it asks for; nothing ran.`, {
      code: "confirmation_failed",
      hint: "The client must answer with the form's fields (confirm: true or false); a client bug, or try another client.",
    });
  }
  if (answer.action !== "accept" || answer.content?.confirm !== true) {
    throw new ToolError(`The user did not confirm ${name} (${answer.action === "accept" ? "confirm: false" : answer.action}); nothing ran.`, {
      code: "declined",
      hint: "Ask the user what they want instead, or choose another action.",
    });
  }
}

export async function executeAction(
  loaded: LoadedAction,
  args: Record<string, unknown>,
  deps: ActionDeps,
  ctx: Pick<ToolContext, "signal" | "elicit" | "preconfirmed" | "log">,
): Promise<HttpOutcome | CommandOutcome> {
  const { action } = loaded;
  const plan = planFor(loaded, args, deps.env);
  // A workflow that runs this action as a step has asked the user already, for every step at once.
  if (needsConfirmation(action) && !deps.allowUnconfirmed && !ctx.preconfirmed) {
    await confirmWithUser(ctx, action.name, action.title ?? action.name, summarize(plan));
  }
  if (ctx.log.wanted("info")) ctx.log.info("action run", { action: action.name, file: loaded.file, what: summarize(plan) });
  try {
    return await span("action.run", { "lam.action": action.name, "lam.action.kind": plan.kind }, async (s) => {
      const outcome = plan.kind === "http" ? await runHttp(plan, action.http!, timeoutOf(action), ctx.signal) : await runCommand(plan, action.command!, timeoutOf(action), ctx.signal);
      s.set(outcome.kind === "http" ? { "http.response.status_code": outcome.status } : { "process.exit.code": outcome.exit_code });
      return outcome;
    });
  } catch (error) {
    if (error instanceof ToolError) {
      deps.telemetry?.emit({ type: "action_failure", action: action.name, code: error.code });
      ctx.log.warn("action failed", { action: action.name, error: plan.secrets.mask(error.message) });
      throw new ToolError(plan.secrets.mask(error.message), {
        code: error.code,
        ...(error.hint ? { hint: error.hint } : {}),
        ...(error.data ? { data: plan.secrets.maskDeep(error.data) } : {}),
      });
    }
    throw error;
  }
}

export function renderOutcome(name: string, outcome: HttpOutcome | CommandOutcome): ToolOutput {
  if (outcome.kind === "http") {
    const body = typeof outcome.result === "string" ? outcome.result : JSON.stringify(outcome.result, null, 2);
    return {
      structured: { action: name, ...outcome },
      text: `${body.length > 20_000 ? `${body.slice(0, 20_000)}…` : body}${outcome.truncated ? "\n[response cut at max_response_bytes]" : ""}`,
    };
  }
  const parts = [outcome.stdout.trimEnd()];
  if (outcome.stderr.trim()) parts.push(`[stderr]\n${outcome.stderr.trimEnd()}`);
  if (outcome.truncated.stdout || outcome.truncated.stderr) parts.push("[output cut at max_output_bytes]");
  return { structured: { action: name, ...outcome }, text: parts.filter(Boolean).join("\n") || "(no output)" };
}

export function actionTool(loaded: LoadedAction, deps: ActionDeps): ToolSpec {
  const { action } = loaded;
  const confirm = needsConfirmation(action);
  return {
    name: action.name,
    title: action.title ?? action.name.replace(/_/g, " "),
    description: `${action.description}${confirm ? " (The user is asked to confirm each run.)" : ""}`,
    inputSchema: action.input as Record<string, unknown>,
    outputSchema: ACTION_OUTPUT_SCHEMA,
    annotations: action.annotations ?? {},
    confirm,
    validate: (args) => validateArgs(loaded, args),
    async run(args, ctx) {
      return renderOutcome(action.name, await executeAction(loaded, args as Record<string, unknown>, deps, ctx));
    },
  };
}

/** A workflow's preview (the steps it would run), made by the workflow layer. */
export type WorkflowPreview = (loaded: LoadedAction, args: Record<string, unknown>) => { plan: Record<string, unknown>; needsConfirmation: boolean };

/** preview_action: exactly what a call would run (request or argv, cwd, environment names), secrets masked. */
export function previewTool(find: () => Promise<LoadedAction[]>, deps: ActionDeps, previewSteps?: WorkflowPreview): ToolSpec {
  return defineTool({
    name: "preview_action",
    title: "Preview an action",
    description:
      "Shows exactly what calling one of the user's actions with these arguments would run — the HTTP request " +
      "(method, URL, headers, body) or the program (argv, working directory, environment variable names) — with " +
      "secrets masked, without running it; for a workflow, the steps it would run and which need the user's " +
      "confirmation. Check a plan step with it before taking the step.",
    input: z.strictObject({
      name: z.string().min(1).describe("The action's tool name"),
      arguments: z.record(z.string(), z.unknown()).default({}).describe("The arguments the call would pass"),
    }),
    output: z.object({
      name: z.string(),
      needs_confirmation: z.boolean(),
      annotations: z.record(z.string(), z.boolean()),
      arguments: z.record(z.string(), z.unknown()).describe("After defaults were applied"),
      plan: z.record(z.string(), z.unknown()),
    }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async run(args) {
      const actions = await find();
      const loaded = actions.find((a) => a.action.name === args.name);
      if (!loaded) {
        throw new ToolError(`No action is named ${args.name}.`, {
          hint: actions.length ? `The actions are: ${actions.map((a) => a.action.name).join(", ")}.` : "No action is loaded; see the lam://actions resource.",
        });
      }
      const checked = validateArgs(loaded, args.arguments);
      if (!checked.ok) {
        throw new ToolError(`These arguments would be refused by ${args.name}:\n${checked.problems.map((p) => `- ${p}`).join("\n")}`, {
          code: "invalid_arguments",
          hint: "Fix them as the action's inputSchema says.",
        });
      }
      if (loaded.action.steps) {
        if (!previewSteps) throw new ToolError(`${args.name} is a workflow; its steps are previewed in the server.`, { code: "unsupported" });
        const { plan: steps, needsConfirmation: asks } = previewSteps(loaded, checked.value);
        return {
          structured: { name: args.name, needs_confirmation: asks, annotations: (loaded.action.annotations ?? {}) as Record<string, boolean>, arguments: checked.value, plan: steps },
          text: `${args.name} would run ${(steps.steps as unknown[]).length} steps${asks ? " (after the user confirms)" : ""}\n${JSON.stringify(steps, null, 2)}`,
        };
      }
      const plan = planFor(loaded, checked.value, deps.env);
      const preview = previewOf(plan);
      const confirm = needsConfirmation(loaded.action);
      return {
        structured: {
          name: args.name,
          needs_confirmation: confirm,
          annotations: (loaded.action.annotations ?? {}) as Record<string, boolean>,
          arguments: plan.secrets.maskDeep(checked.value),
          plan: preview,
        },
        text: `${args.name} would ${summarize(plan)}${confirm ? " (after the user confirms)" : ""}\n${JSON.stringify(preview, null, 2)}`,
      };
    },
  });
}
