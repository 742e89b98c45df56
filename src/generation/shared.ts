/**
 * What the generation tools share: their dependencies, annotations, the result schema, the constraint (checked
 * against the full JSON Schema with ajv once generated), the receipt, the log and metrics of a generation.
 */
import { z } from "zod";
import { ToolError, messageOf } from "../errors.js";
import type { Constraint, Engine, GenerationResult } from "../llm/engine.js";
import type { Telemetry } from "../telemetry.js";
import type { ToolContext } from "../tool.js";
import { span } from "../tracing.js";
import { SamplerOutput, type Sampler, type SamplingDefaults } from "./sampling.js";

export interface GenerationToolDeps {
  engine: Engine;
  /** The engine of the embedding model (the main engine unless --embedding-model is set). */
  embeddingEngine: Engine;
  defaults: SamplingDefaults;
  maxInputChars: number;
  telemetry?: Telemetry;
}

export const GENERATES = { readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: false } as const;
export const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;

const FinishReason = z.enum(["stop", "length", "stop_sequence", "cancelled"]);
const Usage = z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() });
const Timings = z.object({
  prompt_ms: z.number().describe("From the call's start to the first generated token (prompt evaluation)"),
  generation_ms: z.number().describe("From the first token to the last"),
  tokens_per_second: z.number().describe("Generation rate after the first token"),
});
const Receipt = z.object({
  backend: z.string().describe('Where it ran: "local", or the inference server\'s URL'),
  model: z.object({
    name: z.string(),
    file: z.string(),
    size_bytes: z.number(),
    quantization: z.string(),
    lora: z.array(z.object({ file: z.string(), scale: z.number() })).optional().describe("LoRA adapters applied (--lora)"),
  }),
  sampler: SamplerOutput,
  constraint: z.enum(["none", "json_schema", "grammar"]),
  context_size: z.number().int(),
  max_tokens_applied: z.number().int().describe("max_tokens after capping to the room left in the context"),
  chat_format: z.object({ wrapper: z.string(), source: z.string() }).optional(),
  not_applied: z.array(z.string()).optional().describe("Settings the backend could not apply, each with why (never dropped silently)"),
});
export const GenerationOutput = z.object({
  text: z.string(),
  finish_reason: FinishReason,
  json: z.unknown().optional().describe("The parsed output, when json_schema was given and the output is complete"),
  json_errors: z.array(z.string()).optional().describe("Why json is absent or does not validate against json_schema"),
  usage: Usage,
  timings: Timings,
  receipt: Receipt,
});
export type GenerationOutput = z.output<typeof GenerationOutput>;

/** A constraint for the engine, and (for a JSON Schema) the full check of what it produced. */
export interface CheckedConstraint {
  constraint: Constraint;
  /** The problems of a parsed value against the full JSON Schema. */
  check?: (value: unknown) => string[];
}

/** The constraint of a call: the schema is compiled (and refused when invalid) before the model does any work. */
export async function constraintOf(engine: Engine, jsonSchema: Record<string, unknown> | undefined, gbnf: string | undefined): Promise<CheckedConstraint> {
  if (jsonSchema !== undefined) {
    if (!(await engine.capabilities()).jsonSchema) throw new ToolError(`The model backend (${engine.describeSource()}) cannot constrain output with a JSON Schema.`, { code: "unsupported" });
    // ajv is loaded on first use: it would add ~40 ms to every start-up.
    const { compileSchema, schemaProblems, SchemaError } = await import("../json-schema.js");
    try {
      const validate = compileSchema(jsonSchema);
      return { constraint: { kind: "json_schema", schema: jsonSchema }, check: (value) => (validate(structuredClone(value)) ? [] : schemaProblems(validate.errors)) };
    } catch (error) {
      if (error instanceof SchemaError) throw new ToolError(`json_schema is not a valid JSON Schema: ${error.message}`, { hint: "Fix the schema (draft-07 or 2020-12)." });
      throw error;
    }
  }
  if (gbnf !== undefined) {
    if (!(await engine.capabilities()).grammar) throw new ToolError(`The model backend (${engine.describeSource()}) takes no GBNF grammar: the OpenAI API has none.`, {
        hint: "Use json_schema instead (with chat on an OpenAI-compatible server), or a llama-server (--llm-api llama-server), which takes GBNF.",
        code: "unsupported",
      });
    return { constraint: { kind: "grammar", gbnf } };
  }
  return { constraint: { kind: "none" } };
}

/** One generation (or chat) inside its trace span, whose usage attributes come from the result. */
export function tracedGeneration<R extends GenerationResult>(operation: "text_completion" | "chat", run: () => Promise<R>): Promise<R> {
  return span("generation", { "gen_ai.operation.name": operation }, async (s) => {
    const r = await run();
    s.set({
      "gen_ai.usage.input_tokens": r.promptTokens,
      "gen_ai.usage.output_tokens": r.completionTokens,
      "lam.tokens_per_second": r.tokensPerSecond,
      "lam.finish_reason": r.finishReason,
      "lam.backend": r.backend === "local" ? "local" : "remote",
    });
    return r;
  });
}

/** The tool's answer: the text, why it stopped, usage, timings, the receipt; for a JSON Schema the parsed json. */
export function generationOutput(r: GenerationResult, sampler: Sampler, constraint: CheckedConstraint): GenerationOutput {
  const out: GenerationOutput = {
    text: r.text,
    finish_reason: r.finishReason,
    usage: { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, total_tokens: r.promptTokens + r.completionTokens },
    timings: { prompt_ms: r.promptMs, generation_ms: r.generationMs, tokens_per_second: r.tokensPerSecond },
    receipt: {
      backend: r.backend,
      model: {
        name: r.model.name,
        file: r.model.file,
        size_bytes: r.model.sizeBytes,
        quantization: r.model.quantization,
        ...(r.model.adapters ? { lora: r.model.adapters } : {}),
      },
      sampler,
      constraint: constraint.constraint.kind,
      context_size: r.contextSize,
      max_tokens_applied: r.maxTokensApplied,
      ...(r.notApplied.length > 0 ? { not_applied: r.notApplied } : {}),
    },
  };
  if (constraint.check) {
    if (r.finishReason !== "stop") {
      out.json_errors = [`the output is incomplete JSON (finish_reason ${r.finishReason}); raise max_tokens`];
    } else {
      try {
        const value: unknown = JSON.parse(r.text);
        out.json = value;
        const problems = constraint.check(value);
        if (problems.length > 0) out.json_errors = problems;
      } catch (error) {
        out.json_errors = [`the output is not JSON: ${messageOf(error)}`];
      }
    }
  }
  return out;
}

export function logGeneration(ctx: ToolContext, out: GenerationOutput, telemetry: Telemetry | undefined) {
  telemetry?.emit({
    type: "generation",
    tool: ctx.tool,
    promptTokens: out.usage.prompt_tokens,
    completionTokens: out.usage.completion_tokens,
    tokensPerSecond: out.timings.tokens_per_second,
  });
  ctx.log.debug("generation finished", {
    tool: ctx.tool,
    finish_reason: out.finish_reason,
    prompt_tokens: out.usage.prompt_tokens,
    completion_tokens: out.usage.completion_tokens,
    max_tokens: out.receipt.max_tokens_applied,
    tokens_per_second: out.timings.tokens_per_second,
  });
}

/** The short text rendering: the generated text, then what stopped it, the counts and the speed. */
export function renderGeneration<T extends GenerationOutput>(out: T): { structured: T; text: string } {
  const s = out.usage;
  const tail = `[${out.finish_reason}; ${s.prompt_tokens} prompt + ${s.completion_tokens} generated tokens; ${out.timings.tokens_per_second} tok/s]`;
  const errors = out.json_errors ? `\n[json: ${out.json_errors.join("; ")}]` : "";
  return { structured: out, text: `${out.text}\n${tail}${errors}` };
}

/** The embedding engine, or a clear refusal when its backend cannot embed. */
export async function embeddingEngineOf(deps: GenerationToolDeps): Promise<Engine> {
  if (!(await deps.embeddingEngine.capabilities()).embed) {
    throw new ToolError(`The model backend (${deps.embeddingEngine.describeSource()}) does not compute embeddings.`, {
      hint: "Start the model server with embeddings on (llama-server: --embeddings --pooling mean), or set --embedding-model to a local embedding GGUF.",
      code: "unsupported",
    });
  }
  return deps.embeddingEngine;
}
