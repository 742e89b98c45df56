/**
 * A pool of context sequences shared by every generation call. One llama.cpp context holds `size` sequences
 * (each with its own contextSize of KV cells); a call leases one, and gives it back cleared. Calls beyond the
 * free sequences wait in a FIFO queue of bounded length; past that they are refused at once ("busy").
 */
import type { LlamaContext, LlamaContextSequence } from "node-llama-cpp";
import { ToolError } from "../../errors.js";

export interface Lease {
  sequence: LlamaContextSequence;
  /** Clears the sequence and hands it to the next waiting call. Idempotent. */
  release(): Promise<void>;
}

export interface PoolStats {
  size: number;
  busy: number;
  queued: number;
  maxQueue: number;
}

interface Waiter {
  resolve(lease: Lease): void;
  reject(error: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class SequencePool {
  private free: LlamaContextSequence[] = [];
  private readonly waiters: Waiter[] = [];
  private busy = 0;
  private closed = false;

  constructor(
    readonly context: LlamaContext,
    private readonly maxQueue: number,
  ) {
    for (let i = 0; i < context.totalSequences; i++) this.free.push(context.getSequence());
  }

  stats(): PoolStats {
    return { size: this.context.totalSequences, busy: this.busy, queued: this.waiters.length, maxQueue: this.maxQueue };
  }

  acquire(signal?: AbortSignal): Promise<Lease> {
    if (this.closed) return Promise.reject(new ToolError("the server is shutting down", { code: "closed" }));
    if (signal?.aborted) return Promise.reject(cancelled());
    const sequence = this.free.pop();
    if (sequence) {
      this.busy++;
      return Promise.resolve(this.lease(sequence));
    }
    if (this.waiters.length >= this.maxQueue) {
      const { size } = this.stats();
      return Promise.reject(
        new ToolError(`busy, retry later: all ${size} generation sequences are in use and ${this.waiters.length} calls are waiting.`, {
          code: "busy",
          hint: "Retry in a few seconds, or raise --sequences / --max-queue on the server.",
          data: { ...this.stats() },
        }),
      );
    }
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.waiters.indexOf(waiter);
          if (index >= 0) this.waiters.splice(index, 1);
          reject(cancelled());
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Runs fn on a leased sequence, and always gives the sequence back (cleared) afterwards. */
  async use<T>(signal: AbortSignal | undefined, fn: (sequence: LlamaContextSequence) => Promise<T>): Promise<T> {
    const lease = await this.acquire(signal);
    try {
      return await fn(lease.sequence);
    } finally {
      await lease.release();
    }
  }

  private lease(sequence: LlamaContextSequence): Lease {
    let released = false;
    return {
      sequence,
      release: async () => {
        if (released) return;
        released = true;
        try {
          await sequence.clearHistory();
        } catch {
          // A sequence that cannot be cleared is still handed on: the next call evaluates from position 0.
        }
        this.handOn(sequence);
      },
    };
  }

  private handOn(sequence: LlamaContextSequence) {
    const next = this.waiters.shift();
    if (next && !this.closed) {
      next.signal?.removeEventListener("abort", next.onAbort);
      next.resolve(this.lease(sequence));
      return;
    }
    this.busy--;
    this.free.push(sequence);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new ToolError("the server is shutting down", { code: "closed" }));
    await this.context.dispose();
  }
}

function cancelled() {
  return new ToolError("cancelled while waiting for a free generation sequence", { code: "cancelled" });
}
