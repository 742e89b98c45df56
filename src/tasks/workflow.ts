/**
 * Workflows: a file of steps, each a call of a tool (built-in, action or another workflow) through the same wrapper
 * a client's call goes through (validation, errors, cancellation), with arguments rendered from the input and the
 * earlier steps' results. Before the first step runs, every step that needs the user's confirmation is known, and
 * one question lists them all; without a way to ask (and without --allow-unconfirmed) nothing runs. Every run is
 * recorded in the run store, step by step.
 */
import { z } from "zod";
import { ToolError, messageOf } from "../errors.js";
import type { Logger } from "../log.js";
import { callTool, jsonSchemaOf, type CallObserver, type CallResult, type ToolContext, type ToolOutput, type ToolSpec } from "../tool.js";
import type { LoadedAction } from "../actions/loader.js";
import { timeoutOf, type Condition, type Step } from "../actions/schema.js";
import { ABSENT, parseTemplate, renderString, renderValue, type Scope } from "../actions/steps.js";
import { confirmWithUser, needsConfirmation, validateArgs } from "../actions/tools.js";
import { span } from "../tracing.js";
import type { RunRecord, RunStore, RunTrigger, StepRecord } from "./store.js";

export interface WorkflowDeps {
  /** The tool a step names, as the catalog has it now. */
  lookup(name: string): ToolSpec | undefined;
  /** The run store (opened on the first run). */
  store(): RunStore;
  allowUnconfirmed: boolean;
  log: Logger;
  observe?: CallObserver;
}

/** Workflows inside workflows: at most this deep (cycles are refused when the files load). */
const MAX_DEPTH = 8;
const SUMMARY_CHARS = 300;

const StepOutput = z.object({
  id: z.string(),
  index: z.number().int().optional().describe("The item's index, for a for_each step (one entry per item)"),
  tool: z.string(),
  arguments: z.record(z.string(), z.unknown()),
  is_error: z.boolean(),
  skipped: z.boolean().optional().describe("Its when did not hold: it did not run"),
  duration_ms: z.number(),
  summary: z.string().describe("The start of the tool's answer, or its error"),
});
export const WorkflowOutput = z.object({
  output: z.unknown().describe("The workflow's output, as its file's output declares (default: each step's result by id)"),
  steps: z.array(StepOutput),
  run_id: z.string().describe("The run's record: lam://runs/{run_id}"),
});
const WORKFLOW_OUTPUT_SCHEMA = jsonSchemaOf(WorkflowOutput, "output");

/** A step that needs the user's confirmation, and why. */
export interface Confirmable {
  step: string;
  tool: string;
  why: string;
}

/** The steps of a workflow (and of the workflows it calls) that need the user's confirmation. */
export function confirmables(loaded: LoadedAction, deps: Pick<WorkflowDeps, "lookup">, prefix = ""): Confirmable[] {
  const out: Confirmable[] = [];
  for (const step of loaded.action.steps ?? []) {
    const spec = deps.lookup(step.tool);
    const where = `${prefix}${step.id}`;
    const nested = spec ? workflowOf(spec) : undefined;
    if (nested) {
      if (needsConfirmation(nested.action)) out.push({ step: where, tool: step.tool, why: "a workflow that asks before each run" });
      out.push(...confirmables(nested, deps, `${where}.`));
    } else if (spec?.confirm) out.push({ step: where, tool: step.tool, why: spec.annotations.destructiveHint ? "destructive" : "asks before each run" });
    else if (spec?.annotations.destructiveHint) out.push({ step: where, tool: step.tool, why: "destructive" });
  }
  return out;
}

/** Workflow tool specs carry their file, so a workflow calling another can see its steps. */
const WORKFLOWS = new WeakMap<ToolSpec, LoadedAction>();
function workflowOf(spec: ToolSpec): LoadedAction | undefined {
  return WORKFLOWS.get(spec);
}

/** Whether a condition holds for its rendered value. */
export function holds(condition: Condition, value: unknown): boolean {
  const absent = value === ABSENT || value === undefined || value === null;
  const isEmpty = absent || value === "" || (Array.isArray(value) && value.length === 0) || (typeof value === "object" && value !== null && Object.keys(value).length === 0);
  const num = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value)) ? Number(value) : undefined;
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (condition.equals !== undefined && !same(value, condition.equals)) return false;
  if (condition.not_equals !== undefined && same(value, condition.not_equals)) return false;
  for (const [op, limit] of [
    ["gt", condition.gt],
    ["gte", condition.gte],
    ["lt", condition.lt],
    ["lte", condition.lte],
  ] as const) {
    if (limit === undefined) continue;
    if (num === undefined) return false;
    if ((op === "gt" && !(num > limit)) || (op === "gte" && !(num >= limit)) || (op === "lt" && !(num < limit)) || (op === "lte" && !(num <= limit))) return false;
  }
  if (condition.contains !== undefined) {
    const has = typeof value === "string" ? value.includes(condition.contains) : Array.isArray(value) && value.some((v) => v === condition.contains);
    if (!has) return false;
  }
  if (condition.empty !== undefined && condition.empty !== isEmpty) return false;
  return true;
}

/** What a failed step stops the run with. */
class StepFailed extends Error {
  constructor(
    readonly step: string,
    readonly detail: string,
  ) {
    super(`step ${step} failed: ${detail}`);
  }
}

function summaryOf(result: CallResult): string {
  const text = result.content.map((c) => c.text).join("\n");
  return text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS)}…` : text;
}

/**
 * Runs a workflow: asks once for every step that needs it (unless the caller did, or --allow-unconfirmed), then
 * the steps in order. The run is recorded from start to end; a failure names the step and the run.
 */
export async function runWorkflow(
  loaded: LoadedAction,
  input: Record<string, unknown>,
  deps: WorkflowDeps,
  ctx: Pick<ToolContext, "signal" | "elicit" | "preconfirmed" | "depth" | "progress" | "log">,
  trigger: RunTrigger,
): Promise<{ output: unknown; steps: StepRecord[]; run_id: string }> {
  const { action } = loaded;
  const depth = ctx.depth ?? 0;
  if (depth >= MAX_DEPTH) throw new ToolError(`${action.name} is nested ${depth} workflows deep; the limit is ${MAX_DEPTH}.`, { code: "workflow_depth" });
  let confirmed = ctx.preconfirmed === true || deps.allowUnconfirmed;
  if (!confirmed) {
    const asking = confirmables(loaded, deps);
    if (needsConfirmation(action) || asking.length > 0) {
      const lines = asking.map((c) => `- step ${c.step}: ${c.tool} (${c.why})`);
      await confirmWithUser(ctx, action.name, action.title ?? action.name, `${lines.length ? `It runs:\n${lines.join("\n")}` : `Workflow ${action.name}.`}`);
    }
    confirmed = true;
  }
  const store = deps.store();
  const run = await store.start(action.name, trigger, input);
  const timeout = AbortSignal.timeout(timeoutOf(action));
  const signal = AbortSignal.any([ctx.signal, timeout]);
  const steps = action.steps ?? [];
  const scope: Scope = { input, steps: {} };
  try {
    for (const [i, step] of steps.entries()) {
      if (signal.aborted) break;
      void ctx.progress({ progress: i, total: steps.length, message: `step ${step.id}: ${step.tool}` }).catch(() => undefined);
      scope.steps[step.id] = await runStep(step, scope, run, { deps, store, signal, ctx, depth, confirmed });
    }
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
    const output = action.output === undefined ? Object.fromEntries(Object.entries(scope.steps).filter(([, v]) => v !== null)) : renderValue(action.output, scope);
    await store.finish(run, "completed", { output: output === ABSENT ? null : output });
    return { output: output === ABSENT ? null : output, steps: run.steps, run_id: run.id };
  } catch (error) {
    const cancelled = ctx.signal.aborted;
    const timedOut = !cancelled && timeout.aborted;
    const why = cancelled
      ? "cancelled"
      : timedOut
        ? `took longer than its ${timeoutOf(action)} ms (timeout_ms)`
        : error instanceof StepFailed
          ? error.message
          : messageOf(error);
    await store.finish(run, cancelled ? "cancelled" : "failed", { error: why });
    throw new ToolError(`Workflow ${action.name} ${cancelled ? "was cancelled" : `failed: ${why.replace(/\.$/, "")}`} (run ${run.id}).`, {
      code: cancelled ? "cancelled" : timedOut ? "workflow_timeout" : "workflow_failed",
      hint: timedOut
        ? "Raise timeout_ms in the workflow file, or give it less to do."
        : `Each step's arguments and answer are in lam://runs/${run.id}; fix the step (or set continue_on_error on it) and run again.`,
      data: { run_id: run.id, steps: run.steps },
    });
  }
}

interface StepRun {
  deps: WorkflowDeps;
  store: RunStore;
  signal: AbortSignal;
  ctx: Pick<ToolContext, "elicit" | "log">;
  depth: number;
  confirmed: boolean;
}

/** One step: skipped (null), one call (its result), or one call per item (the list of results). */
async function runStep(step: Step, scope: Scope, run: RunRecord, r: StepRun): Promise<unknown> {
  if (step.when && !holds(step.when, renderValue(step.when.value, scope))) {
    await r.store.step(run, { id: step.id, tool: step.tool, arguments: {}, is_error: false, skipped: true, duration_ms: 0, summary: "skipped: its when did not hold" });
    return null;
  }
  const spec = r.deps.lookup(step.tool);
  if (!spec) throw new StepFailed(step.id, `no tool is named ${step.tool} any more (was its file removed?)`);
  if (step.for_each === undefined) return call(step, spec, renderArguments(step, scope), undefined, run, r);
  const list = renderString(step.for_each, scope);
  if (list === ABSENT) return [];
  if (!Array.isArray(list)) throw new StepFailed(step.id, `for_each gives ${list === null ? "null" : typeof list}, not a list`);
  if (list.length > step.max_items) {
    throw new StepFailed(step.id, `for_each gives ${list.length} items; max_items is ${step.max_items} (at most 100): raise it, or give fewer`);
  }
  const results: unknown[] = [];
  for (const [index, item] of list.entries()) {
    if (r.signal.aborted) break;
    results.push(await call(step, spec, renderArguments(step, { ...scope, item, index }), index, run, r));
  }
  return results;
}

function renderArguments(step: Step, scope: Scope): Record<string, unknown> {
  try {
    return renderValue(step.arguments, scope) as Record<string, unknown>;
  } catch (error) {
    throw new StepFailed(step.id, messageOf(error));
  }
}

/** Calls the step's tool through the wrapper and records it; a failure stops the run unless tolerated. */
async function call(step: Step, spec: ToolSpec, args: Record<string, unknown>, index: number | undefined, run: RunRecord, r: StepRun): Promise<unknown> {
  const started = performance.now();
  const stepCtx: ToolContext = {
    signal: r.signal,
    wantsProgress: false,
    progress: async () => undefined,
    elicit: r.ctx.elicit,
    log: r.ctx.log,
    tool: step.tool,
    preconfirmed: r.confirmed,
    depth: r.depth + 1,
  };
  const result = await span("workflow.step", { "lam.workflow": run.workflow, "lam.step": step.id, ...(index !== undefined ? { "lam.step.index": index } : {}) }, (s) =>
    callTool(spec, args, stepCtx, r.deps.observe).then((res) => {
      s.set({ "lam.outcome": res.isError ? "error" : "ok" });
      return res;
    }),
  );
  await r.store.step(run, {
    id: step.id,
    ...(index !== undefined ? { index } : {}),
    tool: step.tool,
    arguments: args,
    is_error: result.isError === true,
    duration_ms: Math.round((performance.now() - started) * 10) / 10,
    summary: summaryOf(result),
  });
  if (result.isError) {
    const detail = result.content.map((c) => c.text).join("\n");
    if (!step.continue_on_error) throw new StepFailed(index === undefined ? step.id : `${step.id}[${index}]`, detail);
    return { is_error: true, error: detail };
  }
  return result.structuredContent ?? { text: result.content.map((c) => c.text).join("\n") };
}

/** A workflow file as an MCP tool: its input enforced, the run recorded, the result with every step. */
export function workflowTool(loaded: LoadedAction, deps: WorkflowDeps): ToolSpec {
  const { action } = loaded;
  const spec: ToolSpec = {
    name: action.name,
    title: action.title ?? action.name.replace(/_/g, " "),
    description: `${action.description} (A workflow of ${action.steps!.length} step${action.steps!.length === 1 ? "" : "s"}: ${action.steps!.map((s) => s.tool).join(", ")}.)`,
    inputSchema: action.input as Record<string, unknown>,
    outputSchema: WORKFLOW_OUTPUT_SCHEMA,
    annotations: action.annotations ?? {},
    longRunning: true,
    workflow: true,
    get confirm() {
      return needsConfirmation(action) || confirmables(loaded, deps).length > 0;
    },
    validate: (args) => validateArgs(loaded, args),
    async run(args, ctx): Promise<ToolOutput> {
      const result = await runWorkflow(loaded, args as Record<string, unknown>, deps, ctx, "call");
      const failedTolerated = result.steps.filter((s) => s.is_error).length;
      const output = typeof result.output === "string" ? result.output : JSON.stringify(result.output, null, 2);
      return {
        structured: result,
        text: `${output}\n[workflow ${action.name}: ${result.steps.length} step call${result.steps.length === 1 ? "" : "s"}${failedTolerated ? `, ${failedTolerated} failed and tolerated` : ""}; run ${result.run_id}]`,
      };
    },
  };
  WORKFLOWS.set(spec, loaded);
  return spec;
}

/**
 * What a workflow would run, without running it: each step's tool, its arguments with the input filled in (the
 * templates over earlier steps stay as written: their values exist only once those steps have run), its condition
 * and loop, and whether it needs the user's confirmation.
 */
export function previewWorkflow(loaded: LoadedAction, input: Record<string, unknown>, deps: Pick<WorkflowDeps, "lookup">): Record<string, unknown> {
  const confirm = new Map(confirmables(loaded, deps).map((c) => [c.step, c.why]));
  const fill = (node: unknown): unknown => {
    if (typeof node === "string") {
      const { pieces } = parseTemplate(node);
      if (pieces.length === 1 && pieces[0]!.kind === "ref" && pieces[0]!.ref.root === "input") {
        const value = renderString(node, { input, steps: {} });
        return value === ABSENT ? "(absent)" : value;
      }
      return pieces
        .map((p) => {
          if (p.kind === "text") return p.text;
          if (p.ref.root !== "input") return `{{${p.ref.text}}}`;
          const value = renderString(`{{${p.ref.text}}}`, { input, steps: {} });
          return value === ABSENT ? "(absent)" : typeof value === "string" ? value : JSON.stringify(value);
        })
        .join("");
    }
    if (Array.isArray(node)) return node.map(fill);
    if (node && typeof node === "object") return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, fill(v)]));
    return node;
  };
  return {
    kind: "workflow",
    timeout_ms: timeoutOf(loaded.action),
    steps: (loaded.action.steps ?? []).map((step) => ({
      id: step.id,
      tool: step.tool,
      ...(deps.lookup(step.tool) ? {} : { missing: true }),
      arguments: fill(step.arguments),
      ...(step.when ? { when: fill(step.when) } : {}),
      ...(step.for_each !== undefined ? { for_each: step.for_each, max_items: step.max_items } : {}),
      ...(step.continue_on_error ? { continue_on_error: true } : {}),
      ...(confirm.has(step.id) ? { needs_confirmation: confirm.get(step.id) } : {}),
    })),
    ...(loaded.action.output !== undefined ? { output: fill(loaded.action.output) } : {}),
  };
}
