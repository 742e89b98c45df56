/**
 * The action file: one action per file in the tools directory, JSON or YAML, validated by this one zod schema.
 * Exactly one runner: `http` (a request) or `command` (a program run without a shell).
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

/** The shape of an action file. Checks across fields (exactly one runner, templates, the input schema) are in loader.ts. */
export const ActionFile = z.strictObject({
  name: z.string().regex(ACTION_NAME, "snake_case: a lowercase letter, then lowercase letters, digits or _, 64 at most"),
  title: z.string().min(1).max(200).optional(),
  description: z.string().min(1).max(4000),
  input: InputSchema.default({ type: "object", properties: {} }),
  annotations: Annotations.optional(),
  confirm: z.boolean().default(false).describe("Ask the user before every run"),
  timeout_ms: z.number().int().min(10).max(3_600_000).default(30_000),
  http: HttpRunner.optional(),
  command: CommandRunner.optional(),
});

export type ActionFile = z.output<typeof ActionFile>;
export type HttpRunner = z.output<typeof HttpRunner>;
export type CommandRunner = z.output<typeof CommandRunner>;
