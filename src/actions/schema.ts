/**
 * The action file: one action per file in the tools directory, JSON or YAML, validated by this one zod schema.
 * Exactly one runner: `http` (a request), `command` (a program run without a shell) or `steps` (a workflow: tool
 * calls in order, whose arguments are templates over the input and the earlier steps' results; see steps.ts).
 */
import { z } from "zod";

export const ACTION_NAME = /^[a-z][a-z0-9_]{0,63}$/;

const Scalar = z.union([z.string(), z.number(), z.boolean()]);

export const HttpRunner = z
  .strictObject({
    method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]).default("GET"),
    url: z.string().min(1).describe("http(s) URL; {{param}} allowed in the path and query, never in the scheme or host"),
    query: z.record(z.string(), Scalar).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    json: z.unknown().optional().describe("A JSON body; a whole-string {{param}} keeps the value's type"),
    form: z.record(z.string(), Scalar).optional().describe("An application/x-www-form-urlencoded body"),
    expect_status: z.array(z.number().int().min(100).max(599)).min(1).optional().describe("Statuses that count as success (default 200-299)"),
    pick: z
      .string()
      .regex(/^(\/([^~/]|~[01])*)*$/, "a JSON pointer like /current or /items/0/name")
      .optional()
      .describe("JSON pointer into the response to return"),
    max_response_bytes: z.number().int().min(1).max(1 << 30).default(1024 * 1024),
  })
  .refine((r) => r.json === undefined || r.form === undefined, { message: "give json or form, not both", path: ["json"] });

export const CommandRunner = z.strictObject({
  argv: z.array(z.string()).min(1).describe("The program and its arguments; no shell: each element reaches the program as is"),
  cwd: z.string().min(1).optional().describe("Working directory; relative to the action file's directory (default: the server's)"),
  env: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name"))
    .optional()
    .describe("Names of the server's environment variables passed to the program (PATH always is)"),
  stdin: z.string().optional().describe("Text written to the program's standard input"),
  max_output_bytes: z.number().int().min(1).max(1 << 30).default(1024 * 1024),
});

const Annotations = z.strictObject({
  readOnlyHint: z.boolean().optional(),
  destructiveHint: z.boolean().optional(),
  idempotentHint: z.boolean().optional(),
  openWorldHint: z.boolean().optional(),
});

/** The JSON Schema of the action's arguments: an object schema (further checked by ajv when loaded). */
const InputSchema = z
  .looseObject({
    type: z.literal("object"),
    properties: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
    required: z.array(z.string()).optional(),
  })
  .refine((s) => (s.required ?? []).every((r) => s.properties && r in s.properties), {
    message: "every name in required must be a property",
    path: ["required"],
  });

/** A step's id: how later steps and the output refer to its result. */
export const STEP_ID = /^[a-z][a-z0-9_]{0,63}$/;
/** The most items one for_each step may take (its max_items is at most this). */
export const MAX_FOR_EACH = 100;
export const MAX_STEPS = 50;

/**
 * A step's condition: the value (usually a template) compared with each test given; all must hold. A simple
 * comparison is enough to branch, and nothing is ever evaluated as code.
 */
export const Condition = z
  .strictObject({
    value: z.unknown().describe("What is tested, usually a template like {{steps.count.total}}"),
    equals: z.unknown().optional(),
    not_equals: z.unknown().optional(),
    gt: z.number().optional(),
    gte: z.number().optional(),
    lt: z.number().optional(),
    lte: z.number().optional(),
    contains: z.string().optional().describe("The value (a text, or a list of texts) contains this"),
    empty: z.boolean().optional().describe("true: the value is absent, null, an empty text, list or object; false: it is not"),
  })
  .refine((c) => ["equals", "not_equals", "gt", "gte", "lt", "lte", "contains", "empty"].some((k) => k in c), {
    message: "give at least one test: equals, not_equals, gt, gte, lt, lte, contains or empty",
  });

export const Step = z.strictObject({
  id: z.string().regex(STEP_ID, "snake_case: a lowercase letter, then lowercase letters, digits or _"),
  tool: z.string().regex(ACTION_NAME, "a tool name (snake_case)"),
  arguments: z.record(z.string(), z.unknown()).default({}).describe("The tool's arguments; strings may hold {{...}} templates"),
  when: Condition.optional().describe("Run the step only when this holds (else it is skipped, and its result is absent)"),
  for_each: z.string().optional().describe("A template that gives a list: the step runs once per item, with {{item}} and {{index}}"),
  max_items: z.number().int().min(1).max(MAX_FOR_EACH).default(10).describe(`for_each takes at most this many items (at most ${MAX_FOR_EACH}); more is an error`),
  continue_on_error: z.boolean().default(false).describe("A failure of this step does not stop the run; its result is {is_error: true, error}"),
});

/** When a workflow runs by itself: a cron pattern (5 fields, or 6 with seconds first), or the pattern with options. */
export const Schedule = z.union([
  z.string().min(1).max(200),
  z.strictObject({
    cron: z.string().min(1).max(200),
    enabled: z.boolean().default(true).describe("false: the schedule is declared but does not fire"),
    timezone: z.string().min(1).max(100).optional().describe("An IANA time zone (default: the server's)"),
  }),
]);

/** The shape of an action file. Checks across fields (exactly one runner, templates, the input schema) are in loader.ts. */
export const ActionFile = z.strictObject({
  name: z.string().regex(ACTION_NAME, "snake_case: a lowercase letter, then lowercase letters, digits or _, 64 at most"),
  title: z.string().min(1).max(200).optional(),
  description: z.string().min(1).max(4000),
  input: InputSchema.default({ type: "object", properties: {} }),
  annotations: Annotations.optional(),
  confirm: z.boolean().default(false).describe("Ask the user before every run"),
  timeout_ms: z.number().int().min(10).max(86_400_000).optional().describe("Default 30 s for http and command, 10 min for a workflow's whole run"),
  http: HttpRunner.optional(),
  command: CommandRunner.optional(),
  steps: z.array(Step).min(1).max(MAX_STEPS).optional(),
  output: z.unknown().optional().describe("A workflow's result: a JSON value whose strings may hold templates (default: every step's result by id)"),
  schedule: Schedule.optional(),
  unattended: z.boolean().default(false).describe("A scheduled run may take destructive steps without a user (also needs --allow-unattended)"),
});

/** How long one run may take: the file's timeout_ms, or the default of its kind. */
export function timeoutOf(action: Pick<ActionFile, "timeout_ms" | "steps">): number {
  return action.timeout_ms ?? (action.steps ? 600_000 : 30_000);
}

/** The cron pattern, enabled flag and time zone of a schedule. */
export function scheduleOf(action: Pick<ActionFile, "schedule">): { cron: string; enabled: boolean; timezone?: string } | undefined {
  const s = action.schedule;
  if (s === undefined) return undefined;
  return typeof s === "string" ? { cron: s, enabled: true } : { cron: s.cron, enabled: s.enabled, ...(s.timezone ? { timezone: s.timezone } : {}) };
}

export type ActionFile = z.output<typeof ActionFile>;
export type HttpRunner = z.output<typeof HttpRunner>;
export type CommandRunner = z.output<typeof CommandRunner>;
export type Step = z.output<typeof Step>;
export type Condition = z.output<typeof Condition>;
