/**
 * The sampling fields shared by generate and chat: their bounds (in the schema, so a client sees them and a
 * violation names the field and the range), the server defaults, and the sampler as applied (for the receipt).
 */
import { randomInt } from "node:crypto";
import { z } from "zod";
import type { Sampling } from "../llm/engine.js";

export interface SamplingDefaults {
  maxTokens: number;
  maxTokensLimit: number;
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repeatPenalty: number;
}

export function samplingFields(limit: number) {
  return {
    max_tokens: z.number().int().min(1).max(limit).optional().describe(`Most tokens to generate (1..${limit}; server default applies when absent)`),
    temperature: z.number().min(0).max(2).optional().describe("0..2; 0 = greedy and deterministic"),
    top_k: z.number().int().min(0).max(1_000_000).optional().describe("Keep the k most likely tokens (0 = off)"),
    top_p: z.number().min(0).max(1).optional().describe("Nucleus sampling: keep tokens up to this cumulative probability (1 = off)"),
    min_p: z.number().min(0).max(1).optional().describe("Drop tokens below this fraction of the top token's probability (0 = off)"),
    repeat_penalty: z.number().min(0).max(2).optional().describe("Penalty for tokens among the last 64 (1 = off)"),
    frequency_penalty: z.number().min(0).max(2).optional().describe("Lower a repeated token's probability by n x this (0 = off)"),
    presence_penalty: z.number().min(0).max(2).optional().describe("Lower every already-seen token's probability by this (0 = off)"),
    seed: z.number().int().min(0).max(4294967295).optional().describe("Sampling seed (0..2^32-1); the same seed and settings give the same text"),
    stop: z.array(z.string().min(1).max(200)).max(16).optional().describe("Stop when any of these strings is generated; it is not included in the text"),
    json_schema: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("Constrain the output to JSON matching this JSON Schema (through a grammar made from it); the result carries the parsed json"),
  };
}

export interface SamplingArgs {
  max_tokens?: number | undefined;
  temperature?: number | undefined;
  top_k?: number | undefined;
  top_p?: number | undefined;
  min_p?: number | undefined;
  repeat_penalty?: number | undefined;
  frequency_penalty?: number | undefined;
  presence_penalty?: number | undefined;
  seed?: number | undefined;
  stop?: string[] | undefined;
}

/** The sampler as applied to one call: defaults filled in, a seed chosen when sampling without one. */
export interface Sampler {
  greedy: boolean;
  temperature: number;
  top_k: number;
  top_p: number;
  min_p: number;
  repeat_penalty: number;
  frequency_penalty: number;
  presence_penalty: number;
  seed: number | null;
  max_tokens: number;
  stop: string[];
}

export function resolveSampler(args: SamplingArgs, defaults: SamplingDefaults): Sampler {
  const temperature = args.temperature ?? defaults.temperature;
  const greedy = temperature === 0;
  return {
    greedy,
    temperature,
    top_k: args.top_k ?? defaults.topK,
    top_p: args.top_p ?? defaults.topP,
    min_p: args.min_p ?? defaults.minP,
    repeat_penalty: args.repeat_penalty ?? defaults.repeatPenalty,
    frequency_penalty: args.frequency_penalty ?? 0,
    presence_penalty: args.presence_penalty ?? 0,
    seed: greedy ? null : (args.seed ?? randomInt(0, 2 ** 32 - 1)),
    max_tokens: args.max_tokens ?? Math.min(defaults.maxTokens, defaults.maxTokensLimit),
    stop: args.stop ?? [],
  };
}

/** The sampler as the engine takes it. */
export function engineSampling(s: Sampler): Sampling {
  return {
    temperature: s.temperature,
    topK: s.top_k,
    topP: s.top_p,
    minP: s.min_p,
    repeatPenalty: s.repeat_penalty,
    frequencyPenalty: s.frequency_penalty,
    presencePenalty: s.presence_penalty,
    seed: s.seed,
  };
}

export const SamplerOutput = z.object({
  greedy: z.boolean(),
  temperature: z.number(),
  top_k: z.number(),
  top_p: z.number(),
  min_p: z.number(),
  repeat_penalty: z.number(),
  frequency_penalty: z.number(),
  presence_penalty: z.number(),
  seed: z.number().nullable().describe("The seed used (null when greedy): pass it back to reproduce the text"),
  max_tokens: z.number(),
  stop: z.array(z.string()),
});
