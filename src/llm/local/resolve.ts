/**
 * Model resolution: a local path, an hf:user/repo:QUANT URI or an http(s) URL -> a local GGUF file path.
 * URIs and URLs go through node-llama-cpp's own resolver, which downloads into the models directory once.
 */
import { access } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { isLoopbackHost, redactUrl, ToolError, messageOf } from "../../errors.js";
import type { DownloadProgress } from "../engine.js";
import { llamaCpp } from "./binding.js";

export type ModelSource = { kind: "path"; path: string } | { kind: "uri"; uri: string } | { kind: "url"; url: string };

export function parseModelSource(model: string, cwd = process.cwd()): ModelSource {
  if (model.startsWith("hf:") || model.startsWith("huggingface:")) return { kind: "uri", uri: model };
  if (/^https?:\/\//i.test(model)) return { kind: "url", url: model };
  return { kind: "path", path: isAbsolute(model) ? model : resolve(cwd, model) };
}

export interface ResolveOptions {
  modelsDir: string;
  hfEndpoint: string;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
}

const SET_MODEL = "--model / LAM_MODEL";

export async function resolveModelPath(source: ModelSource, options: ResolveOptions): Promise<string> {
  if (source.kind === "path") {
    try {
      await access(source.path);
    } catch {
      throw new ToolError(`The model file ${source.path} does not exist.`, {
        hint: `Set ${SET_MODEL} to a GGUF file path, an hf:user/repo:QUANT URI or an https URL.`,
        code: "model_unavailable",
      });
    }
    return source.path;
  }
  const target = source.kind === "uri" ? source.uri : source.url;
  if (source.kind === "url" && /^http:/i.test(target) && !isLoopbackHost(hostOf(target))) {
    throw new ToolError(`Refusing to download the model over plain http from ${redactUrl(target)}.`, {
      hint: `Use an https URL (or a local file) in ${SET_MODEL}.`,
      code: "model_unavailable",
    });
  }
  const endpoint = options.hfEndpoint.endsWith("/") ? options.hfEndpoint : `${options.hfEndpoint}/`;
  const { resolveModelFile } = await llamaCpp();
  try {
    return await resolveModelFile(target, {
      directory: options.modelsDir,
      cli: false,
      download: "auto",
      endpoints: { huggingFace: endpoint },
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: ({ totalSize, downloadedSize }) => options.onProgress?.({ totalBytes: totalSize, downloadedBytes: downloadedSize }),
    });
  } catch (error) {
    if (options.signal?.aborted) throw new ToolError("The model download was cancelled.", { code: "cancelled" });
    throw new ToolError(`Downloading the model ${redactUrl(target)} failed: ${redactUrl(messageOf(error))}`, {
      hint: `Check the network (or --hf-endpoint), or set ${SET_MODEL} to a local GGUF file to work offline.`,
      code: "model_unavailable",
    });
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return "";
  }
}
