/**
 * Checks a GGUF file with node-llama-cpp's own reader before llama.cpp sees it: llama.cpp aborts the whole
 * process (SIGABRT) on some bad files instead of throwing, so what it would choke on is refused here.
 */
import { stat } from "node:fs/promises";
import type { GgufFileInfo } from "node-llama-cpp";
import { ToolError, messageOf } from "../../errors.js";
import { llamaCpp } from "./binding.js";
import { GgufHeaderError, walkGgufHeader, type GgufHeaderSummary } from "./gguf-header.js";

/** Architectures that are not attention transformers and so carry no feed-forward / head-count keys. */
const NON_TRANSFORMER = new Set(["mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"]);

const MODEL_HINT = "Point --model / LAM_MODEL at a complete GGUF model file (or an hf:user/repo:QUANT URI).";

export async function checkGguf(path: string): Promise<{ gguf: GgufFileInfo; bytes: number }> {
  let size: number;
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new Error("not a regular file");
    size = s.size;
  } catch (error) {
    throw new ToolError(`The model file ${path} cannot be read: ${messageOf(error)}.`, { hint: MODEL_HINT, code: "model_unavailable" });
  }
  // Every length and count is bounded before node-llama-cpp's reader (or llama.cpp) trusts it.
  let header: GgufHeaderSummary;
  try {
    header = await walkGgufHeader(path);
  } catch (error) {
    if (!(error instanceof GgufHeaderError)) {
      throw new ToolError(`The model file ${path} cannot be read: ${messageOf(error)}.`, { hint: MODEL_HINT, code: "model_unavailable" });
    }
    throw new ToolError(`The model file ${path} is not a valid GGUF file: ${error.message}.`, { hint: MODEL_HINT, code: "model_invalid" });
  }
  let info: GgufFileInfo;
  const { readGgufFileInfo } = await llamaCpp();
  try {
    info = await readGgufFileInfo(path, { readTensorInfo: true, logWarnings: false, sourceType: "filesystem" });
  } catch (error) {
    throw new ToolError(`The model file ${path} is not a valid GGUF file: ${messageOf(error)}.`, {
      hint: MODEL_HINT,
      code: "model_invalid",
    });
  }
  const problems = metadataProblems(info);
  const dataEnd = header.dataOffset + header.dataBytes;
  if (header.tensors > 0 && dataEnd > size) {
    problems.push(`the file is truncated: its tensors need ${dataEnd} bytes but it has ${size} (an interrupted download?)`);
  }
  if (problems.length > 0) {
    throw new ToolError(`The model file ${path} cannot be loaded: ${problems.join("; ")}.`, {
      hint: MODEL_HINT,
      code: "model_invalid",
      data: { problems },
    });
  }
  return { gguf: info, bytes: size };
}
/** llama.cpp's limits (llama-hparams.h): past them its loader asserts and the process aborts. */
const MAX_LAYERS = 512;
const MAX_EXPERTS = 1024;

/**
 * What llama.cpp's loader asserts on (aborting the process) rather than reports: missing or zero sizes, a layer or
 * expert count past its limits, duplicate token texts. Found by fuzzing the header (test/e2e/gguf-fuzz.test.ts).
 */
function metadataProblems(info: GgufFileInfo): string[] {
  const problems: string[] = [];
  const metadata = info.metadata as unknown as Record<string, Record<string, unknown> | undefined>;
  const arch = (metadata.general as { architecture?: string } | undefined)?.architecture;
  if (typeof arch !== "string" || !arch) return ["general.architecture is missing"];
  const archMeta = (metadata[arch] ?? {}) as Record<string, unknown>;
  const get = (key: string) => key.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], archMeta);
  /** A size: a number >= 1, or (per layer) an array of numbers not all zero. */
  const size = (key: string, required: boolean) => {
    const value = get(key);
    if (value === undefined) {
      if (required) problems.push(`${arch}.${key} is missing`);
      return;
    }
    const values = Array.isArray(value) ? value : [value];
    if (!values.every((v) => typeof v === "number" || typeof v === "bigint")) problems.push(`${arch}.${key} is not a number`);
    else if (!values.some((v) => Number(v) >= 1)) problems.push(`${arch}.${key} is 0`);
  };
  size("context_length", true);
  size("embedding_length", true);
  size("block_count", true);
  const transformer = !NON_TRANSFORMER.has(arch);
  size("feed_forward_length", transformer);
  size("attention.head_count", transformer);
  size("attention.head_count_kv", false);
  size("attention.key_length", false);
  size("attention.value_length", false);
  const count = (key: string) => {
    const value = get(key);
    return typeof value === "number" || typeof value === "bigint" ? Number(value) : 0;
  };
  const layers = count("block_count");
  if (layers > MAX_LAYERS) problems.push(`${arch}.block_count is ${layers}; llama.cpp allows ${MAX_LAYERS}`);
  if (count("nextn_predict_layers") > layers) problems.push(`${arch}.nextn_predict_layers exceeds block_count`);
  const experts = count("expert_count");
  if (experts > MAX_EXPERTS) problems.push(`${arch}.expert_count is ${experts}; llama.cpp allows ${MAX_EXPERTS}`);
  if (count("expert_used_count") > experts) problems.push(`${arch}.expert_used_count exceeds expert_count`);
  if (experts > 0 && count("expert_used_count") === 0) problems.push(`${arch}.expert_used_count is missing or 0 for a mixture of experts`);
  const tokenizer = (metadata.tokenizer as { ggml?: { model?: unknown; tokens?: unknown[] } } | undefined)?.ggml;
  if (!tokenizer?.model) problems.push("tokenizer.ggml.model is missing");
  if (!Array.isArray(tokenizer?.tokens) || tokenizer.tokens.length === 0) problems.push("tokenizer.ggml.tokens is missing");
  else if (tokenizer.model !== "hybriddna" && new Set(tokenizer.tokens).size !== tokenizer.tokens.length) {
    problems.push("tokenizer.ggml.tokens lists the same token text twice");
  }
  return problems;
}

/** A LoRA adapter for this model's architecture, checked before llama.cpp loads it (a bad one fails context creation). */
export async function checkLoraAdapter(path: string, architecture: string): Promise<void> {
  const hint = "Point --lora at a LoRA adapter GGUF made for this model (convert_lora_to_gguf.py from llama.cpp makes one), or leave it out.";
  try {
    if (!(await stat(path)).isFile()) throw new Error("not a regular file");
  } catch (error) {
    throw new ToolError(`The LoRA adapter ${path} cannot be read: ${messageOf(error)}.`, { hint, code: "lora_invalid" });
  }
  try {
    await walkGgufHeader(path);
  } catch (error) {
    throw new ToolError(`The LoRA adapter ${path} is not a valid GGUF file: ${messageOf(error)}.`, { hint, code: "lora_invalid" });
  }
  const { readGgufFileInfo } = await llamaCpp();
  const info = await readGgufFileInfo(path, { readTensorInfo: false, logWarnings: false, sourceType: "filesystem" });
  const meta = info.metadata as { general?: { type?: unknown; architecture?: unknown }; adapter?: { type?: unknown } };
  if (meta.general?.type !== "adapter" || meta.adapter?.type !== "lora") {
    throw new ToolError(`${path} is not a LoRA adapter (its general.type is ${JSON.stringify(meta.general?.type ?? null)}, adapter.type ${JSON.stringify(meta.adapter?.type ?? null)}).`, { hint, code: "lora_invalid" });
  }
  if (meta.general.architecture !== architecture) {
    throw new ToolError(`The LoRA adapter ${path} is for ${String(meta.general.architecture)}; the model is ${architecture}.`, { hint, code: "lora_invalid" });
  }
}
