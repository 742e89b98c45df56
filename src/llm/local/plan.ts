/**
 * One planning step on the local model: the conversation (with the calls made so far and their results) formatted by
 * the model's chat wrapper, the tools offered as node-llama-cpp chat functions, and the model's answer back as text
 * or as calls. node-llama-cpp's LlamaChat returns the calls without running them, so every call is run by the caller
 * (through lam-mcp's own wrapper).
 *
 * node-llama-cpp's function parameters are a JSON Schema subset (GbnfJsonSchema) in which every property is written
 * out: a tool's schema is converted so that an optional property may be null (and a null one is then left out),
 * keywords the subset lacks are dropped, and anything unknown may be any JSON value. The caller validates each call's
 * arguments against the tool's real schema before running it.
 *
 * tool_choice "required" cannot use functions (node-llama-cpp refuses a grammar with them): the tools are described
 * in the system message and a grammar allows only {"name": one of them, "arguments": its schema}.
 */
import type { ChatHistoryItem, ChatModelFunctionCall, ChatModelFunctions, GbnfJsonSchema, Token } from "node-llama-cpp";
import { ToolError, messageOf } from "../../errors.js";
import type { PlanCall, PlanRequest, PlanResult, PlanTurn } from "../../planning.js";
import { llamaCpp } from "./binding.js";
import { wrapperOf, type GenerationTarget } from "./generate.js";

type Schema = Record<string, unknown>;

/**
 * The longest string argument the model may write in a call. llama.cpp's grammar parser refuses a bounded repetition
 * whose rules times count reach 2000 (a string of maxLength 2000 exactly fails; one of 2001 becomes unbounded).
 */
const MAX_STRING = 1000;

const ANY: GbnfJsonSchema = {
  oneOf: [{ type: ["string", "number", "boolean", "null"] }, { type: "array" }, { type: "object", additionalProperties: true }],
};

/** A tool's JSON Schema in node-llama-cpp's subset (see the file's comment). */
export function toGbnfSchema(schema: unknown, depth = 0): GbnfJsonSchema {
  if (!schema || typeof schema !== "object" || depth > 16) return ANY;
  const s = schema as Schema;
  const description = typeof s.description === "string" ? { description: s.description.slice(0, 500) } : {};
  if (s.const !== undefined && isScalar(s.const)) return { const: s.const, ...description };
  if (Array.isArray(s.enum) && s.enum.length > 0 && s.enum.every(isScalar)) return { enum: s.enum, ...description };
  const alternatives = (Array.isArray(s.oneOf) ? s.oneOf : Array.isArray(s.anyOf) ? s.anyOf : undefined) as unknown[] | undefined;
  if (alternatives && alternatives.length > 0) return { oneOf: alternatives.map((a) => toGbnfSchema(a, depth + 1)), ...description };
  const types = (Array.isArray(s.type) ? s.type : [s.type]).filter((t): t is string => typeof t === "string");
  if (types.length > 1) return { oneOf: types.map((type) => toGbnfSchema({ ...s, type }, depth + 1)), ...description };
  switch (types[0]) {
    case "string":
      return {
        type: "string",
        ...(typeof s.minLength === "number" ? { minLength: s.minLength } : {}),
        maxLength: Math.min(typeof s.maxLength === "number" ? s.maxLength : MAX_STRING, MAX_STRING),
        ...description,
      };
    case "number":
    case "integer":
    case "boolean":
    case "null":
      return { type: types[0], ...description };
    case "array":
      return {
        type: "array",
        ...(s.items && typeof s.items === "object" && !Array.isArray(s.items) ? { items: toGbnfSchema(s.items, depth + 1) } : {}),
        ...(typeof s.minItems === "number" ? { minItems: s.minItems } : {}),
        maxItems: typeof s.maxItems === "number" ? Math.min(s.maxItems, 64) : 64,
        ...description,
      };
    case "object": {
      const props = (s.properties && typeof s.properties === "object" ? s.properties : {}) as Record<string, unknown>;
      const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
      const properties = Object.fromEntries(
        Object.entries(props).map(([key, value]) => {
          const converted = toGbnfSchema(value, depth + 1);
          return [key, required.has(key) ? converted : { oneOf: [converted, { type: "null" }] }];
        }),
      );
      // An object that declares no properties at all is any object; one that declares them (even none) is closed.
      if (s.properties === undefined && s.additionalProperties !== false) return { type: "object", additionalProperties: true, ...description };
      return { type: "object", properties, additionalProperties: false, ...description } as GbnfJsonSchema;
    }
    default:
      return ANY;
  }
}

function isScalar(v: unknown): v is string | number | boolean | null {
  return v === null || ["string", "number", "boolean"].includes(typeof v);
}

/** Optional arguments the model left null are left out (the tool's defaults then apply). */
export function withoutNulls(args: unknown): Record<string, unknown> {
  if (!args || typeof args !== "object" || Array.isArray(args)) return {};
  return Object.fromEntries(Object.entries(args).filter(([, v]) => v !== null));
}

function toHistory(turns: readonly PlanTurn[], systemExtra: string | undefined): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  for (const turn of turns) {
    if (turn.role === "system") history.push({ type: "system", text: systemExtra ? `${turn.content}\n\n${systemExtra}` : turn.content });
    else if (turn.role === "user") history.push({ type: "user", text: turn.content });
    else {
      const response: Array<string | ChatModelFunctionCall> = turn.content ? [turn.content] : [];
      for (const call of ("calls" in turn ? turn.calls : undefined) ?? []) response.push({ type: "functionCall", name: call.name, params: call.arguments, result: call.result });
      history.push({ type: "model", response });
    }
  }
  if (systemExtra && !turns.some((t) => t.role === "system")) history.unshift({ type: "system", text: systemExtra });
  history.push({ type: "model", response: [] });
  return history;
}

/** The tools described in words, for "required" (where they are not passed as functions). */
function describeTools(request: PlanRequest): string {
  const lines = request.functions.map((f) => `- ${f.name}: ${f.description}\n  arguments (JSON Schema): ${JSON.stringify(f.parameters)}`);
  return `Answer with one tool call, as JSON {"name": ..., "arguments": {...}}. The tools:\n${lines.join("\n")}`;
}

export async function plan(target: GenerationTarget, request: PlanRequest, options: { signal?: AbortSignal | undefined }): Promise<PlanResult> {
  const { model, pool, llama } = target;
  if (request.functions.length === 0) throw new ToolError("No tools to plan with.", { code: "invalid_arguments" });
  const { wrapper } = await wrapperOf(target);
  const { LlamaChat } = await llamaCpp();
  const required = request.toolChoice === "required";
  const history = toHistory(request.turns, required ? describeTools(request) : undefined);
  const functions: ChatModelFunctions = Object.fromEntries(request.functions.map((f) => [f.name, { description: f.description, params: toGbnfSchema(f.parameters) }]));
  let grammar: Awaited<ReturnType<typeof llama.createGrammarForJsonSchema>> | undefined;
  if (required) {
    const oneCall = {
      oneOf: request.functions.map((f) => ({ type: "object", properties: { name: { const: f.name }, arguments: toGbnfSchema(f.parameters) }, required: ["name", "arguments"], additionalProperties: false })),
    };
    try {
      grammar = await llama.createGrammarForJsonSchema(oneCall as never);
    } catch (error) {
      throw new ToolError(`The tools' argument schemas cannot be turned into a grammar: ${messageOf(error)}`, { code: "plan_failed" });
    }
  }
  const state = wrapper.generateContextState({ chatHistory: history, ...(required ? {} : { availableFunctions: functions, documentFunctionParams: true }) });
  const promptTokens = state.contextText.tokenize(model.tokenizer).length;
  if (promptTokens >= pool.context.contextSize) {
    throw new ToolError(`The task's conversation and tool descriptions are ${promptTokens} tokens; the context holds ${pool.context.contextSize}.`, {
      hint: "Offer fewer tools, lower max_steps, or raise --context-size.",
      code: "prompt_too_long",
    });
  }
  const maxTokens = Math.min(request.maxTokens, pool.context.contextSize - promptTokens);
  let completionTokens = 0;
  return pool.use(options.signal, async (sequence) => {
    const llamaChat = new LlamaChat({ contextSequence: sequence, chatWrapper: wrapper, autoDisposeSequence: false });
    try {
      const sampling = { temperature: request.temperature, ...(request.seed === null ? {} : { seed: request.seed }) };
      const common = { ...sampling, maxTokens, signal: options.signal, stopOnAbortSignal: true, onToken: (t: Token[]) => void (completionTokens += t.length) };
      const r = grammar
        ? await llamaChat.generateResponse(history, { ...common, grammar })
        : await llamaChat.generateResponse(history, { ...common, functions, documentFunctionParams: true, maxParallelFunctionCalls: 4 });
      let calls: PlanCall[] = [];
      let text = r.response;
      if (grammar) {
        if (r.metadata.stopReason !== "abort") {
          try {
            const parsed = grammar.parse(r.response) as unknown as { name: string; arguments: unknown };
            calls = [{ name: parsed.name, arguments: withoutNulls(parsed.arguments) }];
            text = "";
          } catch {
            throw new ToolError(`The model's call was cut off before it was complete (max_tokens ${maxTokens}).`, { hint: "Raise max_tokens.", code: "plan_failed" });
          }
        }
      } else {
        calls = (r.functionCalls ?? []).map((c) => ({ name: c.functionName, arguments: withoutNulls(c.params) }));
      }
      const stop = r.metadata.stopReason;
      return {
        text,
        calls,
        finishReason: stop === "abort" ? "cancelled" : calls.length > 0 ? "calls" : stop === "maxTokens" ? "length" : "stop",
        promptTokens,
        completionTokens,
        backend: "local",
        model: target.info.name,
      };
    } finally {
      llamaChat.dispose({ disposeSequence: false });
    }
  });
}
