/**
 * run_task: the model plans. It gets the named tools as functions and a goal, and asks for calls step by step; each
 * call runs through lam-mcp's own wrapper (the tool's schema validated, its errors as results), a tool that needs the
 * user's confirmation is asked for (or refused, never run, when nobody can answer), and its result goes back to the
 * model, until it answers or max_steps calls have been made.
 */
import { z } from "zod";
import { ToolError, messageOf } from "../errors.js";
import type { Logger } from "../log.js";
import type { PlanFunction, Planner, PlanTurn } from "../planning.js";
import { callTool, defineTool, type CallObserver, type ToolContext, type ToolSpec } from "../tool.js";
import { confirmWithUser } from "../actions/tools.js";

export interface RunTaskDeps {
  planner: Planner;
  lookup(name: string): ToolSpec | undefined;
  allowUnconfirmed: boolean;
  log: Logger;
  observe?: CallObserver;
}

const RESULT_CHARS = 4000;
const SUMMARY_CHARS = 300;
const SYSTEM =
  "You complete the user's goal by calling the tools you are given, one step at a time. Call a tool when it brings " +
  "you closer to the goal; read its result; when you have what the goal asks for, answer in plain text, briefly.";

const Step = z.object({
  tool: z.string(),
  arguments: z.record(z.string(), z.unknown()),
  is_error: z.boolean(),
  refused: z.string().optional().describe("Why the call was not run (it needs the user's confirmation, or the tool was not offered)"),
  summary: z.string().describe("The start of the tool's answer, or its error"),
});

export function runTaskTool(deps: RunTaskDeps): ToolSpec {
  return defineTool({
    name: "run_task",
    title: "Run a task with the model planning the calls",
    description:
      "Gives the model (local, or the inference server) a goal and the tools you name, as functions it can call. " +
      "It calls them step by step (each call validated and run like yours; a tool that needs confirmation is asked " +
      "to the user, and refused when nobody can answer), reads the results, and answers. tool_choice required makes " +
      "its first response a call. Returns the answer, every step and why it stopped. Small models plan poorly: " +
      "name few tools, with a precise goal.",
    input: z.strictObject({
      goal: z.string().min(1).max(20_000).describe("What to do, in words"),
      tools: z.array(z.string().min(1)).min(1).max(16).describe("The tools the model may call, by name"),
      max_steps: z.number().int().min(1).max(20).default(5).describe("Most tool calls (1..20)"),
      tool_choice: z.enum(["auto", "required"]).default("auto").describe("required: the first response must be a call; auto: the model chooses"),
      temperature: z.number().min(0).max(2).default(0).describe("0 = greedy and deterministic"),
      seed: z.number().int().min(0).max(4294967295).optional(),
      max_tokens: z.number().int().min(16).max(8192).default(512).describe("Most tokens of each of the model's responses"),
    }),
    output: z.object({
      answer: z.string().nullable().describe("The model's answer; null when it made max_steps calls without answering"),
      steps: z.array(Step),
      finish_reason: z.enum(["answered", "max_steps", "length", "cancelled"]),
      backend: z.string(),
      model: z.string(),
      usage: z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int() }).describe("Summed over the model's responses"),
    }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    longRunning: true,
    async run(args, ctx) {
      const offered = args.tools.map((name) => {
        if (name === "run_task") throw new ToolError("run_task cannot be one of its own tools.", { code: "invalid_arguments" });
        const spec = deps.lookup(name);
        if (!spec) throw new ToolError(`No tool is named ${name}.`, { hint: "Name tools from tools/list.", code: "invalid_arguments" });
        return spec;
      });
      const functions: PlanFunction[] = offered.map((s) => ({ name: s.name, description: s.description, parameters: s.inputSchema }));
      const turns: PlanTurn[] = [
        { role: "system", content: SYSTEM },
        { role: "user", content: args.goal },
      ];
      const steps: Array<z.output<typeof Step>> = [];
      const usage = { prompt_tokens: 0, completion_tokens: 0 };
      let answer: string | null = null;
      let finish: "answered" | "max_steps" | "length" | "cancelled" = "max_steps";
      let where = { backend: "", model: "" };
      while (steps.length < args.max_steps) {
        if (ctx.signal.aborted) {
          finish = "cancelled";
          break;
        }
        void ctx.progress({ progress: steps.length, total: args.max_steps, message: `planning step ${steps.length + 1}` }).catch(() => undefined);
        const planned = await deps.planner.plan(
          { turns, functions, toolChoice: steps.length === 0 ? args.tool_choice : "auto", temperature: args.temperature, seed: args.seed ?? null, maxTokens: args.max_tokens },
          { signal: ctx.signal },
        );
        usage.prompt_tokens += planned.promptTokens;
        usage.completion_tokens += planned.completionTokens;
        where = { backend: planned.backend, model: planned.model };
        if (planned.finishReason === "cancelled") {
          finish = "cancelled";
          break;
        }
        if (planned.calls.length === 0) {
          answer = planned.text.trim();
          finish = planned.finishReason === "length" ? "length" : "answered";
          break;
        }
        const made: Array<{ id: string; name: string; arguments: Record<string, unknown>; result: string }> = [];
        for (const call of planned.calls) {
          if (steps.length >= args.max_steps) break;
          const step = await runCall(call.name, call.arguments, offered, deps, ctx);
          steps.push(step.record);
          made.push({ id: `call_${steps.length}`, name: call.name, arguments: call.arguments, result: step.result });
        }
        turns.push({ role: "assistant", content: planned.text, calls: made });
      }
      const structured = { answer, steps, finish_reason: finish, ...where, usage };
      const lines = steps.map((s, i) => `${i + 1}. ${s.tool} ${JSON.stringify(s.arguments)} -> ${s.refused ? `refused: ${s.refused}` : s.is_error ? `error: ${s.summary}` : s.summary}`);
      return { structured, text: `${answer ?? `(no answer: ${finish})`}\n${lines.length ? `[steps]\n${lines.join("\n")}` : "[no tool calls]"}` };
    },
  });
}

/** One call the model asked for: refused (and said why) or run through the wrapper; its result for the model. */
async function runCall(
  name: string,
  args: Record<string, unknown>,
  offered: ToolSpec[],
  deps: RunTaskDeps,
  ctx: ToolContext,
): Promise<{ record: z.output<typeof Step>; result: string }> {
  const spec = offered.find((s) => s.name === name);
  const refuse = (why: string) => ({ record: { tool: name, arguments: args, is_error: true, refused: why, summary: `not run: ${why}` }, result: `Not run: ${why}` });
  if (!spec) return refuse(`${name} is not one of the tools offered (${offered.map((s) => s.name).join(", ")})`);
  const asks = spec.confirm === true || spec.annotations.destructiveHint === true;
  let confirmed = ctx.preconfirmed === true || deps.allowUnconfirmed;
  if (asks && !confirmed) {
    if (!ctx.elicit) return refuse(`${name} needs the user's confirmation, and this client cannot ask`);
    try {
      await confirmWithUser(ctx, name, spec.title, `The model asks to call ${name} with ${JSON.stringify(args)}.`);
      confirmed = true;
    } catch (error) {
      return refuse(messageOf(error));
    }
  }
  const result = await callTool(spec, args, { ...ctx, tool: name, preconfirmed: confirmed, wantsProgress: false, progress: async () => undefined, depth: (ctx.depth ?? 0) + 1 }, deps.observe);
  const text = result.content.map((c) => c.text).join("\n");
  const body = result.structuredContent ? JSON.stringify(result.structuredContent) : text;
  return {
    record: { tool: name, arguments: args, is_error: result.isError === true, summary: text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS)}…` : text },
    result: (result.isError ? `Error: ${text}` : body).slice(0, RESULT_CHARS),
  };
}
