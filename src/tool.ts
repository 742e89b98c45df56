/**
 * defineTool() and the one wrapper every tool call goes through: input validation with messages that name the
 * field, ToolError -> isError result with a hint, progress, the cancellation signal, timing and logging.
 * Tool families never touch the SDK: they export arrays of tools made here.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { ToolError, messageOf } from "./errors.js";
import { jsonDepth, MAX_JSON_DEPTH } from "./limits.js";
import type { Logger } from "./log.js";
import { span, tracingActive, type SpanHandle } from "./tracing.js";

export interface ToolAnnotations {
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

export interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

export interface ElicitRequest {
  message: string;
  /** A flat JSON Schema object of primitive properties (the MCP elicitation subset). */
  requestedSchema: Record<string, unknown>;
}
export interface ElicitAnswer {
  action: "accept" | "decline" | "cancel";
  content?: Record<string, unknown>;
}

export interface ToolContext {
  /** Aborted when the client cancels the call or goes away. */
  signal: AbortSignal;
  /** True when the client sent a progressToken: progress() then reaches it. */
  wantsProgress: boolean;
  /** Sends a progress notification when the client asked for them; otherwise does nothing. */
  progress(update: Progress): Promise<void>;
  /** Asks the user through the client, when the client supports elicitation (undefined otherwise). */
  elicit: ((request: ElicitRequest) => Promise<ElicitAnswer>) | undefined;
  log: Logger;
  tool: string;
  /**
   * The user has allowed this call already: a workflow asked once for all of its steps (or runs unattended with
   * --allow-unattended), so an action that confirms each run does not ask again.
   */
  preconfirmed?: boolean;
  /** How many workflows this call is nested in (0 for a client's own call). */
  depth?: number;
  /** The client's W3C trace context (from the request's _meta), which the call's span continues. */
  trace?: { traceparent: string; tracestate?: string };
}

/**
 * What a tool returns: structured content, which must match the tool's output schema (clients such as the SDK's
 * check it, and the tests' client checks every answer), and a short text rendering.
 */
export interface ToolOutput<T = Record<string, unknown>> {
  structured: T;
  text: string;
}

export interface CallResult {
  content: Array<{ type: "text"; text: string }>;
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  [key: string]: unknown;
}

/** A tool as the server sees it: JSON Schemas for the client, a validator and a call for the wrapper. */
export interface ToolSpec {
  name: string;
  title: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  annotations: ToolAnnotations;
  /** Returns the validated arguments, or the list of problems ("temperature: must be <= 2"). */
  validate(args: unknown): { ok: true; value: unknown } | { ok: false; problems: string[] };
  run(args: unknown, ctx: ToolContext): Promise<ToolOutput>;
  /** The user is asked before each run (an action with confirm or destructiveHint, a workflow with such a step). */
  readonly confirm?: boolean;
  /** A call may take long: a client may run it as a task (MCP tasks) and poll for the result. */
  longRunning?: boolean;
  /** A workflow (its answers are drawn by the actions view). */
  workflow?: boolean;
}

export interface DefineToolOptions<I extends z.ZodObject, O extends z.ZodObject> {
  name: string;
  title: string;
  description: string;
  input: I;
  output: O;
  annotations: ToolAnnotations;
  /** A call may take long (generation, a search that reads pages): clients may run it as a task. */
  longRunning?: boolean;
  run(args: z.output<I>, ctx: ToolContext): Promise<ToolOutput<z.output<O>>>;
}

const TOOL_NAME = /^[a-z][a-z0-9_]{0,63}$/;

export function defineTool<I extends z.ZodObject, O extends z.ZodObject>(options: DefineToolOptions<I, O>): ToolSpec {
  if (!TOOL_NAME.test(options.name)) throw new Error(`bad tool name ${options.name}: snake_case, at most 64 characters`);
  const inputSchema = jsonSchemaOf(options.input, "input");
  const outputSchema = jsonSchemaOf(options.output, "output");
  const takesNothing = Object.keys(options.input.shape).length === 0;
  return {
    name: options.name,
    title: options.title,
    description: options.description,
    inputSchema,
    outputSchema,
    annotations: options.annotations,
    ...(options.longRunning ? { longRunning: true } : {}),
    validate(args) {
      // No arguments for a tool that takes none (server_status, the no-op of `npm run bench -- noop`): what zod
      // would answer, without its allocations.
      if (takesNothing && (args === undefined || isEmptyObject(args))) return NO_ARGUMENTS;
      const parsed = options.input.safeParse(args ?? {});
      return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problems: zodProblems(parsed.error) };
    },
    run: (args, ctx) => options.run(args as z.output<I>, ctx) as Promise<ToolOutput>,
  };
}

/** The validation of "no arguments", shared by every such call (nothing in it can be changed). */
const NO_ARGUMENTS = Object.freeze({ ok: true as const, value: Object.freeze({}) });

function isEmptyObject(value: unknown): boolean {
  if (value === null || typeof value !== "object" || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) return false;
  for (const key in value) if (Object.hasOwn(value, key)) return false;
  return true;
}

/** Refuses an input larger than the --max-input-chars limit, saying which input, its size and the limit. */
export function checkInputChars(what: string, chars: number, limit: number): void {
  if (chars > limit) {
    throw new ToolError(`${what} is ${chars} characters; the limit is ${limit}.`, {
      hint: "Split the text into smaller parts, or raise --max-input-chars / LAM_MAX_INPUT_CHARS.",
      code: "too_large",
      data: { chars, limit },
    });
  }
}

/** The JSON Schema a client sees for a zod schema (draft-07), without $schema and the safe-integer bounds of ints. */
export function jsonSchemaOf(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io, target: "draft-7" }) as Record<string, unknown>;
  tidySchema(json);
  return json;
}

function tidySchema(schema: Record<string, unknown>): void {
  delete schema.$schema;
  const walk = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== "object") return;
    const obj = node as Record<string, unknown>;
    if (obj.minimum === Number.MIN_SAFE_INTEGER) delete obj.minimum;
    if (obj.maximum === Number.MAX_SAFE_INTEGER) delete obj.maximum;
    Object.values(obj).forEach(walk);
  };
  walk(schema);
}

/** "field.sub: message" lines from a zod error. */
export function zodProblems(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join(".") : "(arguments)";
    if (issue.code === "unrecognized_keys") return `${path}: unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    return `${path}: ${issue.message}`;
  });
}

/** A compact signature for hints: `tokenize {text: string, special?: boolean}`. */
export function signatureOf(spec: Pick<ToolSpec, "name" | "inputSchema">): string {
  const props = (spec.inputSchema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const required = new Set((spec.inputSchema.required ?? []) as string[]);
  const fields = Object.entries(props).map(([key, schema]) => `${key}${required.has(key) ? "" : "?"}: ${typeOf(schema)}`);
  return `${spec.name} {${fields.join(", ")}}`;
}

function typeOf(schema: Record<string, unknown>): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join("|");
  if (schema.type === "array") return `${typeOf((schema.items ?? {}) as Record<string, unknown>)}[]`;
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as Array<Record<string, unknown>>).map(typeOf).join("|");
  return typeof schema.type === "string" ? schema.type : "any";
}

export interface CallObserver {
  (event: { tool: string; outcome: "ok" | "tool_error" | "invalid_arguments" | "internal_error" | "cancelled"; ms: number }): void;
}

/**
 * Runs one call through the wrapper. Never throws for anything a tool does: the result is an isError result
 * for expected failures and for internal errors alike.
 */
export function callTool(spec: ToolSpec, rawArgs: unknown, ctx: ToolContext, observe?: CallObserver): Promise<CallResult> {
  if (!tracingActive()) return callInner(spec, rawArgs, ctx, observe, undefined);
  // One span per call: the tool, the outcome and the time; never an argument's value.
  return span(
    `tools/call ${spec.name}`,
    { "mcp.method.name": "tools/call", "gen_ai.tool.name": spec.name, "lam.depth": ctx.depth ?? 0 },
    (s) => callInner(spec, rawArgs, ctx, observe, s),
    ctx.trace,
  );
}

type Outcome = Parameters<CallObserver>[0]["outcome"];

/** The wrapper itself: the path of every call, kept lean (see `npm run bench -- noop`). */
async function callInner(spec: ToolSpec, rawArgs: unknown, ctx: ToolContext, observe: CallObserver | undefined, s: SpanHandle | undefined): Promise<CallResult> {
  const started = performance.now();
  if (jsonDepth(rawArgs) > MAX_JSON_DEPTH) {
    const error = new ToolError(`The arguments of ${spec.name} are nested more than ${MAX_JSON_DEPTH} levels deep; the limit is ${MAX_JSON_DEPTH}.`, {
      code: "invalid_arguments",
      hint: "Flatten the value (a JSON Schema or JSON body this deep cannot be compiled or sent).",
      data: { limit: MAX_JSON_DEPTH },
    });
    return finish(spec.name, ctx, started, observe, s, "invalid_arguments", errorResult(error));
  }
  const checked = spec.validate(rawArgs);
  if (!checked.ok) {
    const error = new ToolError(`Invalid arguments for ${spec.name}:\n${checked.problems.map((p) => `- ${p}`).join("\n")}`, {
      code: "invalid_arguments",
      hint: `Call it as ${signatureOf(spec)}; the tool's inputSchema gives every range and default.`,
      data: { problems: checked.problems },
    });
    return finish(spec.name, ctx, started, observe, s, "invalid_arguments", errorResult(error));
  }
  try {
    const output = await spec.run(checked.value, ctx);
    return finish(spec.name, ctx, started, observe, s, ctx.signal.aborted ? "cancelled" : "ok", {
      content: [{ type: "text", text: output.text }],
      structuredContent: output.structured as Record<string, unknown>,
    });
  } catch (error) {
    if (error instanceof ToolError) {
      return finish(spec.name, ctx, started, observe, s, ctx.signal.aborted && error.code === "cancelled" ? "cancelled" : "tool_error", errorResult(error));
    }
    if (ctx.signal.aborted) {
      return finish(spec.name, ctx, started, observe, s, "cancelled", errorResult(new ToolError(`${spec.name} was cancelled`, { code: "cancelled" })));
    }
    const ref = randomUUID().slice(0, 8);
    ctx.log.error(`internal error in ${spec.name}`, { ref, error });
    return finish(spec.name, ctx, started, observe, s, 
      "internal_error",
      errorResult(
        new ToolError(`internal error in ${spec.name} (ref ${ref}): ${messageOf(error)}`, {
          code: "internal",
          hint: "This is a bug or an environment problem, not your input; the server log has the details under that ref.",
        }),
      ),
    );
  }
}

/** The end of every call: its span's outcome, the observer, a debug record; the result as it was. */
function finish(tool: string, ctx: ToolContext, started: number, observe: CallObserver | undefined, s: SpanHandle | undefined, outcome: Outcome, result: CallResult): CallResult {
  const ms = performance.now() - started;
  s?.set({ "lam.outcome": outcome });
  observe?.({ tool, outcome, ms });
  if (ctx.log.wanted("debug")) ctx.log.debug("tool call", { tool, outcome, ms: Math.round(ms * 10) / 10 });
  return result;
}

export function errorResult(error: ToolError): CallResult {
  const result: CallResult = { content: [{ type: "text", text: error.render() }], isError: true };
  result._meta = { "lam/error": { code: error.code, message: error.message, hint: error.hint, ...(error.data ?? {}) } };
  return result;
}
