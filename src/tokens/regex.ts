/**
 * A user's regular expression run over every token piece, off the main thread and under a deadline. JavaScript's
 * engine backtracks: `^(?:.?){40}.{40}$` took 26 s over a 512-token vocabulary, and on the main thread it froze
 * every session and /healthz. Here it runs in a worker thread that is terminated at the deadline, while the server
 * goes on answering; the caller gets a clear refusal instead.
 */
import { Worker } from "node:worker_threads";
import { ToolError } from "../errors.js";

export const REGEX_DEADLINE_MS = 2000;

/** The worker's whole program (an eval worker: nothing to bundle or resolve). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { pieces, source, flags, limit } = workerData;
const re = new RegExp(source, flags);
const matches = [];
let total = 0;
for (let id = 0; id < pieces.length; id++) {
  if (re.test(pieces[id])) {
    total++;
    if (matches.length < limit) matches.push(id);
  }
}
parentPort.postMessage({ matches, total });
`;

export interface RegexMatches {
  /** Ids of the first `limit` matching pieces, in id order. */
  matches: number[];
  total: number;
}

/** Matches `re` against every piece; refuses past the deadline (the worker is ended) or when cancelled. */
export async function matchPieces(pieces: readonly string[], re: RegExp, limit: number, signal?: AbortSignal, deadlineMs = REGEX_DEADLINE_MS): Promise<RegexMatches> {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { pieces, source: re.source, flags: re.flags, limit } });
  try {
    return await new Promise<RegexMatches>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new ToolError(`query took longer than ${deadlineMs} ms over ${pieces.length} tokens and was stopped.`, {
            code: "query_too_slow",
            hint: "Simplify the regular expression: nested or repeated optional quantifiers such as (a*)* or (?:.?){40} backtrack exponentially; anchor it and use plain character classes.",
            data: { deadline_ms: deadlineMs },
          }),
        );
      }, deadlineMs);
      const onAbort = () => reject(new ToolError("vocabulary was cancelled", { code: "cancelled" }));
      signal?.addEventListener("abort", onAbort, { once: true });
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      worker.once("message", (result: RegexMatches) => {
        settle();
        resolve(result);
      });
      worker.once("error", (error) => {
        settle();
        reject(new ToolError(`query failed: ${error.message}`, { hint: "Use JavaScript RegExp syntax with the u flag." }));
      });
      worker.once("exit", () => {
        settle();
        reject(new ToolError("query stopped before it finished", { code: "query_too_slow" }));
      });
    });
  } finally {
    void worker.terminate();
  }
}
