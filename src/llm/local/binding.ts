/**
 * node-llama-cpp takes ~0.4 s to import: it is loaded on first need, never at start-up, so initialize and
 * tools/list answer at once. Only type imports of it appear elsewhere.
 *
 * The llama.cpp binding itself is made once per process and kept until it exits, shared by every engine that asks
 * for the same settings (the main model's and the embedding model's engines, several servers in one test process):
 * llama.cpp has a single log callback, and a second Llama instance of node-llama-cpp 3.21.1 (made while the first
 * lives, or after it was disposed) does not get it; its logs go to the native default, stdout, which is the
 * protocol's channel over stdio. So there is no second instance, and every engine gets the logs through its sink.
 */
import type { Llama, LlamaOptions } from "node-llama-cpp";

let module: Promise<typeof import("node-llama-cpp")> | undefined;

export function llamaCpp(): Promise<typeof import("node-llama-cpp")> {
  module ??= import("node-llama-cpp");
  return module;
}

/** Where an engine wants llama.cpp's log lines: errors as errors, everything else (warnings included) as debug. */
export type LlamaLogSink = (level: "error" | "debug", text: string) => void;

const sinks = new Set<LlamaLogSink>();
const shared = new Map<string, Promise<Llama>>();

export interface SharedLlama {
  llama: Llama;
  /** Stops this engine's log sink; the binding stays for the process (see above). Idempotent. */
  release: () => Promise<void>;
}

/** The process's llama.cpp binding for these options, created on first need; its logs reach `sink` while held. */
export async function acquireLlama(options: Omit<LlamaOptions, "logger" | "logLevel">, sink: LlamaLogSink): Promise<SharedLlama> {
  const { getLlama, LlamaLogLevel } = await llamaCpp();
  const key = JSON.stringify(options);
  let llama = shared.get(key);
  if (!llama) {
    llama = getLlama({
      ...options,
      logLevel: LlamaLogLevel.warn,
      logger: (level, message) => {
        const text = message.trim();
        if (!text) return;
        const mapped = level === LlamaLogLevel.error || level === LlamaLogLevel.fatal ? "error" : "debug";
        for (const s of sinks) s(mapped, text);
      },
    });
    shared.set(key, llama);
    // A failed start is not kept: the next call tries again.
    llama.catch(() => shared.delete(key));
  }
  sinks.add(sink);
  try {
    return { llama: await llama, release: async () => void sinks.delete(sink) };
  } catch (error) {
    sinks.delete(sink);
    throw error;
  }
}
