/**
 * Local generation: generate (raw completion), chat (the model's own chat template), embed and similarity.
 * Generation calls share the model through the engine's pool of context sequences.
 */
import type { ChatHistoryItem, ChatWrapper, LlamaGrammar, LlamaJsonSchemaGrammar, Token } from "node-llama-cpp";
import { z } from "zod";
import { ToolError, messageOf } from "../errors.js";
import { llamaCpp } from "../llm/binding.js";
import type { LoadedModel, ModelEngine } from "../llm/engine.js";
import { loadListener } from "../llm/progress.js";
import { checkInputChars, defineTool, type ToolContext, type ToolSpec } from "../tool.js";
import type { Telemetry } from "../telemetry.js";
import { dot, unit } from "../vector.js";
import {
  llamaSamplingOptions,
  resolveSampler,
  SamplerOutput,
  samplingFields,
  type Sampler,
  type SamplingArgs,
  type SamplingDefaults,
} from "./sampling.js";
import { streamGeneration, type Streamed } from "./stream.js";

export interface GenerationToolDeps {
  engine: ModelEngine;
  /** The engine of the embedding model (the main engine unless --embedding-model is set). */
  embeddingEngine: ModelEngine;
  defaults: SamplingDefaults;
  maxInputChars: number;
  telemetry?: Telemetry;
}

const GENERATES = { readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: false } as const;
const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;

const FinishReason = z.enum(["stop", "length", "stop_sequence", "cancelled"]);
const Usage = z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() });
const Timings = z.object({
  prompt_ms: z.number().describe("From the call's start to the first generated token (prompt evaluation)"),
  generation_ms: z.number().describe("From the first token to the last"),
  tokens_per_second: z.number().describe("Generation rate after the first token"),
});
const Receipt = z.object({
  model: z.object({ name: z.string(), file: z.string(), size_bytes: z.number(), quantization: z.string() }),
  sampler: SamplerOutput,
  constraint: z.enum(["none", "json_schema", "grammar"]),
  context_size: z.number().int(),
  max_tokens_applied: z.number().int().describe("max_tokens after capping to the room left in the context"),
  chat_format: z.object({ wrapper: z.string(), source: z.string() }).optional(),
});
const GenerationOutput = z.object({
  text: z.string(),
  finish_reason: FinishReason,
  json: z.unknown().optional().describe("The parsed output, when json_schema was given and the output is complete"),
  json_errors: z.array(z.string()).optional().describe("Why json is absent or does not validate against json_schema"),
  usage: Usage,
  timings: Timings,
  receipt: Receipt,
});
type GenerationResult = z.output<typeof GenerationOutput>;

export function generationTools(deps: GenerationToolDeps): ToolSpec[] {
  const { engine, defaults } = deps;
  const limit = defaults.maxTokensLimit;
  const fields = samplingFields(limit);
  const exclusive = (v: { json_schema?: unknown; grammar?: unknown }) => v.json_schema === undefined || v.grammar === undefined;

  const GenerateInput = z
    .strictObject({
      prompt: z.string().min(1).describe("The text to continue, used as is (no chat template)"),
      special: z.boolean().default(false).describe("Parse special-token text in the prompt (<|im_start|> ...) as special tokens"),
      ...fields,
      grammar: z.string().min(1).max(100_000).optional().describe("A GBNF grammar the output must follow (instead of json_schema)"),
    })
    .refine(exclusive, { message: "give json_schema or grammar, not both" });

  const generate = defineTool({
    name: "generate",
    title: "Generate text (raw completion)",
    description:
      "Continues a prompt with the local model, exactly as given (no chat template; use chat for conversations). " +
      "Every sampling control is available; temperature 0 is greedy and deterministic, and a seed reproduces a sampled " +
      "text. json_schema or a GBNF grammar constrains the output. The result has the text, why it stopped, token " +
      "usage, timings and a receipt of the model and sampler as applied.",
    input: GenerateInput,
    output: GenerationOutput,
    annotations: GENERATES,
    async run(args, ctx) {
      checkInputChars("prompt", args.prompt.length, deps.maxInputChars);
      const { loaded, pool } = await engine.generation(loadListener(ctx), ctx.signal);
      const model = loaded.model;
      const tokens: Token[] = [...model.tokenize(args.prompt, args.special)];
      if (model.tokens.shouldPrependBosToken && model.tokens.bos !== null && tokens[0] !== model.tokens.bos) tokens.unshift(model.tokens.bos);
      const sampler = resolveSampler(args as SamplingArgs, defaults);
      const contextSize = pool.context.contextSize;
      const maxTokens = roomFor(tokens.length, sampler.max_tokens, contextSize);
      const constraint = await makeConstraint(engine, args.json_schema, args.grammar);
      const { LlamaCompletion } = await llamaCpp();
      const streamed = await pool.use(ctx.signal, async (sequence) => {
        const completion = new LlamaCompletion({ contextSequence: sequence, autoDisposeSequence: false });
        try {
          return await streamGeneration(ctx, { model, prompt: tokens, maxTokens, stop: sampler.stop }, async (hooks) => {
            const r = await completion.generateCompletionWithMeta(tokens, {
              ...hooks,
              ...llamaSamplingOptions(sampler),
              maxTokens,
              disableContextShift: true,
              ...(constraint.grammar ? { grammar: constraint.grammar } : {}),
            });
            return { stopReason: r.metadata.stopReason };
          });
        } finally {
          completion.dispose({ disposeSequence: false });
        }
      });
      const out = result(loaded, streamed, tokens.length, sampler, maxTokens, contextSize, constraint);
      logGeneration(ctx, out, deps.telemetry);
      return render(out);
    },
  });

  const Message = z.strictObject({
    role: z.enum(["system", "user", "assistant"]),
    content: z.string(),
  });
  const ChatInput = z
    .strictObject({
      messages: z
        .array(Message)
        .min(1)
        .max(1000)
        .describe("The conversation; ending with an assistant message continues that message (a prefill)"),
      ...fields,
      echo_prompt: z.boolean().default(false).describe("Also return the exact prompt text the chat template produced"),
    })
    .refine((v) => v.messages.some((m) => m.role !== "system"), { message: "messages needs at least one user or assistant message" });
  const ChatOutput = GenerationOutput.extend({ prompt: z.string().optional().describe("The templated prompt (echo_prompt)") });

  const chat = defineTool({
    name: "chat",
    title: "Chat with the local model",
    description:
      "Answers a conversation with the local model, formatted with the model's own chat template (node-llama-cpp's " +
      "chat wrappers; a model without a template gets a plain '### System / ### Human / ### Assistant' format, and " +
      "the receipt says so). Same sampling controls and json_schema as generate.",
    input: ChatInput,
    output: ChatOutput,
    annotations: GENERATES,
    async run(args, ctx) {
      checkInputChars("the messages together", args.messages.reduce((n, m) => n + m.content.length, 0), deps.maxInputChars);
      const { loaded, pool } = await engine.generation(loadListener(ctx), ctx.signal);
      const { LlamaChat, GeneralChatWrapper, resolveChatWrapper } = await llamaCpp();
      const history = toHistory(args.messages);
      const sampler = resolveSampler(args as SamplingArgs, defaults);
      const contextSize = pool.context.contextSize;
      const fromModel = loaded.info.chatTemplate;
      // Resolving the wrapper analyses the Jinja template (~0.2 s): once per loaded model.
      let wrapper = loaded.cache.get("chatWrapper") as ChatWrapper | undefined;
      if (!wrapper) {
        wrapper = (fromModel ? resolveChatWrapper(loaded.model) : null) ?? new GeneralChatWrapper();
        loaded.cache.set("chatWrapper", wrapper);
      }
      const state = wrapper.generateContextState({ chatHistory: history });
      const prompt = state.contextText.tokenize(loaded.model.tokenizer);
      const maxTokens = roomFor(prompt.length, sampler.max_tokens, contextSize);
      const constraint = await makeConstraint(engine, args.json_schema, undefined);
      const streamed = await pool.use(ctx.signal, async (sequence) => {
        const llamaChat = new LlamaChat({ contextSequence: sequence, chatWrapper: wrapper, autoDisposeSequence: false });
        try {
          return await streamGeneration(ctx, { model: loaded.model, prompt, maxTokens, stop: sampler.stop }, async (hooks) => {
            const r = await llamaChat.generateResponse(history, {
              ...hooks,
              ...llamaSamplingOptions(sampler),
              maxTokens,
              ...(constraint.grammar ? { grammar: constraint.grammar } : {}),
            });
            return { stopReason: r.metadata.stopReason };
          });
        } finally {
          llamaChat.dispose({ disposeSequence: false });
        }
      });
      const out = result(loaded, streamed, prompt.length, sampler, maxTokens, contextSize, constraint);
      out.receipt.chat_format = {
        wrapper: wrapper.wrapperName,
        source:
          fromModel && !(wrapper instanceof GeneralChatWrapper)
            ? "the model's chat template"
            : "fallback: the model has no chat template, so the plain '### System / ### Human / ### Assistant' format is used",
      };
      logGeneration(ctx, out, deps.telemetry);
      const rendered = render(out);
      if (args.echo_prompt) rendered.structured = { ...rendered.structured, prompt: loaded.model.detokenize(prompt, true) };
      return rendered;
    },
  });

  const EmbedInput = z.strictObject({
    texts: z.array(z.string().min(1)).min(1).max(256).describe("Texts to embed, each on its own"),
    normalize: z.boolean().default(true).describe("Scale each vector to unit length (default true)"),
  });
  const embed = defineTool({
    name: "embed",
    title: "Embed texts",
    description:
      "Turns texts into embedding vectors with the embedding model (the main model unless --embedding-model is set). " +
      "Use similarity to rank texts against a query directly.",
    input: EmbedInput,
    output: z.object({ model: z.string(), dimensions: z.number().int(), normalized: z.boolean(), vectors: z.array(z.array(z.number())) }),
    annotations: READ_ONLY,
    async run(args, ctx) {
      checkInputChars("the texts together", args.texts.reduce((n, t) => n + t.length, 0), deps.maxInputChars);
      const { vectors, model } = await embedAll(deps.embeddingEngine, args.texts, ctx);
      const out = args.normalize ? vectors.map(unit) : vectors;
      const dimensions = out[0]?.length ?? 0;
      return {
        structured: { model, dimensions, normalized: args.normalize, vectors: out },
        text: `${out.length} vector${out.length === 1 ? "" : "s"} of ${dimensions} dimensions${args.normalize ? " (unit length)" : ""} from ${model}`,
      };
    },
  });

  const similarity = defineTool({
    name: "similarity",
    title: "Rank texts by similarity",
    description:
      "Ranks texts by cosine similarity of their embeddings to a query, most similar first: quick semantic ranking " +
      "of search results, passages or action names.",
    input: z.strictObject({
      query: z.string().min(1),
      texts: z.array(z.string().min(1)).min(1).max(256),
      top: z.number().int().min(1).max(256).optional().describe("Return only the best n"),
    }),
    output: z.object({
      model: z.string(),
      results: z.array(z.object({ index: z.number().int(), score: z.number(), text: z.string() })),
    }),
    annotations: READ_ONLY,
    async run(args, ctx) {
      checkInputChars("the query and texts together", args.texts.reduce((n, t) => n + t.length, args.query.length), deps.maxInputChars);
      const { vectors, model } = await embedAll(deps.embeddingEngine, [args.query, ...args.texts], ctx);
      const [query, ...rest] = vectors.map(unit);
      const results = rest
        .map((v, index) => ({ index, score: round(dot(query!, v)), text: preview(args.texts[index]!) }))
        .sort((a, b) => b.score - a.score || a.index - b.index)
        .slice(0, args.top ?? rest.length);
      return {
        structured: { model, results },
        text: results.map((r, i) => `${i + 1}. [${r.index}] ${r.score.toFixed(4)} ${r.text}`).join("\n"),
      };
    },
  });

  return [generate, chat, embed, similarity];
}

/** max_tokens capped to the room the context has left; an over-long prompt is refused before any work. */
function roomFor(promptTokens: number, maxTokens: number, contextSize: number): number {
  if (promptTokens >= contextSize) {
    throw new ToolError(`The prompt is ${promptTokens} tokens; the context holds ${contextSize}, so nothing is left to generate.`, {
      hint: "Shorten the prompt (count_tokens measures it), or raise --context-size on the server.",
      code: "prompt_too_long",
      data: { prompt_tokens: promptTokens, context_size: contextSize },
    });
  }
  return Math.min(maxTokens, contextSize - promptTokens);
}

interface Constraint {
  kind: "none" | "json_schema" | "grammar";
  grammar: LlamaGrammar | undefined;
  json: LlamaJsonSchemaGrammar<never> | undefined;
  /** Checks a parsed value against the full JSON Schema; returns the problems. */
  check?: (value: unknown) => string[];
}

async function makeConstraint(engine: ModelEngine, jsonSchema: Record<string, unknown> | undefined, gbnf: string | undefined): Promise<Constraint> {
  if (jsonSchema === undefined && gbnf === undefined) return { kind: "none", grammar: undefined, json: undefined };
  const llama = await engine.binding();
  if (jsonSchema !== undefined) {
    // ajv is loaded on first use: it would add ~40 ms to every start-up.
    const { compileSchema, schemaProblems, SchemaError } = await import("../json-schema.js");
    let check: (value: unknown) => string[];
    try {
      const validate = compileSchema(jsonSchema);
      check = (value) => (validate(structuredClone(value)) ? [] : schemaProblems(validate.errors));
    } catch (error) {
      if (error instanceof SchemaError) throw new ToolError(`json_schema is not a valid JSON Schema: ${error.message}`, { hint: "Fix the schema (draft-07 or 2020-12)." });
      throw error;
    }
    try {
      const grammar = await llama.createGrammarForJsonSchema(jsonSchema as never);
      return { kind: "json_schema", grammar, json: grammar as LlamaJsonSchemaGrammar<never>, check };
    } catch (error) {
      throw new ToolError(`json_schema cannot be turned into a grammar: ${messageOf(error)}`, {
        hint: "Use the JSON Schema subset node-llama-cpp supports: type, properties, required, items, enum, const, oneOf/anyOf, $defs/$ref, minItems/maxItems, minLength/maxLength, format.",
      });
    }
  }
  try {
    return { kind: "grammar", grammar: await llama.createGrammar({ grammar: gbnf! }), json: undefined };
  } catch (error) {
    throw new ToolError(`grammar is not valid GBNF: ${messageOf(error)}`, {
      hint: 'Write llama.cpp GBNF, starting with a root rule: root ::= "yes" | "no"',
    });
  }
}

function result(
  loaded: LoadedModel,
  streamed: Streamed,
  promptTokens: number,
  sampler: Sampler,
  maxTokens: number,
  contextSize: number,
  constraint: Constraint,
): GenerationResult {
  const out: GenerationResult = {
    text: streamed.text,
    finish_reason: streamed.finishReason,
    usage: { prompt_tokens: promptTokens, completion_tokens: streamed.completionTokens, total_tokens: promptTokens + streamed.completionTokens },
    timings: { prompt_ms: streamed.promptMs, generation_ms: streamed.generationMs, tokens_per_second: streamed.tokensPerSecond },
    receipt: {
      model: { name: loaded.info.name, file: loaded.info.file, size_bytes: loaded.info.sizeBytes, quantization: loaded.info.quantization },
      sampler,
      constraint: constraint.kind,
      context_size: contextSize,
      max_tokens_applied: maxTokens,
    },
  };
  if (constraint.check) {
    if (streamed.finishReason !== "stop") {
      out.json_errors = [`the output is incomplete JSON (finish_reason ${streamed.finishReason}); raise max_tokens`];
    } else {
      try {
        const value: unknown = JSON.parse(streamed.text);
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

function logGeneration(ctx: ToolContext, out: GenerationResult, telemetry: Telemetry | undefined) {
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

function render(out: GenerationResult) {
  const s = out.usage;
  const tail = `[${out.finish_reason}; ${s.prompt_tokens} prompt + ${s.completion_tokens} generated tokens; ${out.timings.tokens_per_second} tok/s]`;
  const errors = out.json_errors ? `\n[json: ${out.json_errors.join("; ")}]` : "";
  return { structured: out as GenerationResult & { prompt?: string }, text: `${out.text}\n${tail}${errors}` };
}

function toHistory(messages: Array<{ role: "system" | "user" | "assistant"; content: string }>): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m) =>
    m.role === "system" ? { type: "system", text: m.content } : m.role === "user" ? { type: "user", text: m.content } : { type: "model", response: [m.content] },
  );
  if (messages.at(-1)?.role !== "assistant") history.push({ type: "model", response: [] });
  return history;
}

async function embedAll(engine: ModelEngine, texts: string[], ctx: ToolContext): Promise<{ vectors: number[][]; model: string }> {
  return engine.withEmbedding(
    async (context, loaded) => {
      // The input length counts the BOS/EOS the embedding context adds; the context must hold one more.
      const limit = engine.contextSizeFor(loaded) - 1;
      texts.forEach((text, index) => {
        const n = context.calculateInputLength(text);
        if (n > limit) {
          throw new ToolError(`Text ${index} is ${n} tokens; the embedding context holds ${limit}.`, {
            hint: "Split long texts into passages before embedding them.",
            code: "too_large",
          });
        }
      });
      const vectors: number[][] = [];
      for (const text of texts) {
        if (ctx.signal.aborted) throw new ToolError("cancelled", { code: "cancelled" });
        vectors.push([...(await context.getEmbeddingFor(text)).vector]);
      }
      return { vectors, model: loaded.info.name };
    },
    loadListener(ctx),
    ctx.signal,
  );
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

function preview(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
