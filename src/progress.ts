/** What a tool call gives the engine: its cancellation signal, and a listener that turns download progress into MCP progress. */
import type { CallOptions, LoadListener } from "./llm/engine.js";
import type { ToolContext } from "./tool.js";

/** A listener that reports download progress to the caller, at most every 250 ms (and always at the end). */
export function loadListener(ctx: ToolContext, everyMs = 250): LoadListener | undefined {
  if (!ctx.wantsProgress) return undefined;
  let last = 0;
  return {
    onDownload({ downloadedBytes, totalBytes }) {
      const now = Date.now();
      if (now - last < everyMs && downloadedBytes < totalBytes) return;
      last = now;
      const mb = (n: number) => (n / 1048576).toFixed(1);
      void ctx
        .progress({ progress: downloadedBytes, total: totalBytes, message: `downloading the model: ${mb(downloadedBytes)} of ${mb(totalBytes)} MB` })
        .catch(() => undefined);
    },
  };
}

/** The engine call options of a tool call. */
export function callOptions(ctx: ToolContext): CallOptions {
  return { signal: ctx.signal, listener: loadListener(ctx) };
}
