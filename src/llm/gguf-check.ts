/**
 * Checks a GGUF file with node-llama-cpp's own reader before llama.cpp sees it: llama.cpp aborts the whole
 * process (SIGABRT) on some bad files instead of throwing, so what it would choke on is refused here.
 */
import { stat } from "node:fs/promises";
import type { GgufFileInfo } from "node-llama-cpp";
import { ToolError, messageOf } from "../errors.js";
import { llamaCpp } from "./binding.js";

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
  const dataEnd = tensorDataEnd(info);
  if (dataEnd !== undefined && dataEnd > size) {
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

function metadataProblems(info: GgufFileInfo): string[] {
  const problems: string[] = [];
  const metadata = info.metadata as unknown as Record<string, Record<string, unknown> | undefined>;
  const arch = (metadata.general as { architecture?: string } | undefined)?.architecture;
  if (!arch) return ["general.architecture is missing"];
  const archMeta = (metadata[arch] ?? {}) as Record<string, unknown>;
  const need = (key: string) => {
    const value = key.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], archMeta);
    if (value === undefined) problems.push(`${arch}.${key} is missing`);
  };
  need("context_length");
  need("embedding_length");
  need("block_count");
  if (!NON_TRANSFORMER.has(arch)) {
    need("feed_forward_length");
    need("attention.head_count");
  }
  const tokenizer = (metadata.tokenizer as { ggml?: { model?: unknown; tokens?: unknown[] } } | undefined)?.ggml;
  if (!tokenizer?.model) problems.push("tokenizer.ggml.model is missing");
  if (!Array.isArray(tokenizer?.tokens) || tokenizer.tokens.length === 0) problems.push("tokenizer.ggml.tokens is missing");
  return problems;
}

/** Bytes of GGML block per type id: [block size in elements, bytes per block]. Unknown types skip the check. */
const GGML_BLOCK: Record<number, [number, number]> = {
  0: [1, 4], // F32
  1: [1, 2], // F16
  2: [32, 18], // Q4_0
  3: [32, 20], // Q4_1
  6: [32, 22], // Q5_0
  7: [32, 24], // Q5_1
  8: [32, 34], // Q8_0
  10: [256, 84], // Q2_K
  11: [256, 110], // Q3_K
  12: [256, 144], // Q4_K
  13: [256, 176], // Q5_K
  14: [256, 210], // Q6_K
  15: [256, 292], // Q8_K
  30: [1, 2], // BF16
};

function tensorDataEnd(info: GgufFileInfo): number | undefined {
  const tensors = info.fullTensorInfo ?? info.tensorInfo;
  if (!tensors || info.splicedParts !== 1) return undefined;
  let end = 0;
  for (const t of tensors) {
    const block = GGML_BLOCK[t.ggmlType as number];
    if (!block) return undefined;
    const elements = t.dimensions.reduce<number>((a, d) => a * Number(d), 1);
    end = Math.max(end, Number(t.fileOffset) + Math.ceil(elements / block[0]) * block[1]);
  }
  return end;
}
