/**
 * Requests to inference servers: the URLs tried in order (a server that is down, failing or timing out hands the
 * request to the next), a bearer key, a limit of requests in flight per URL, bounded retries with backoff on 429 and
 * 503 (honouring Retry-After), Server-Sent Events read as they arrive, and every failure translated into what to do,
 * the URL shown without credentials. Each URL's health is kept for server_status, /healthz and /metrics.
 */
import { redactUrl, ToolError, messageOf } from "../../errors.js";
import { errorCode, readCapped, withoutUserinfo } from "../../upstream.js";

export interface RemoteClientOptions {
  urls: string[];
  apiKey: string | undefined;
  /** Longest wait for an answer to begin, and between two events of a streamed one. */
  timeoutMs: number;
  /** Requests in flight per URL; more wait their turn. */
  maxConcurrent: number;
}

export interface UrlHealth {
  url: string;
  /** null until the first request. */
  healthy: boolean | null;
  lastError: string | null;
  inFlight: number;
  waiting: number;
}

/** A server's refusal that the next URL would repeat (a bad request, a bad key, an unknown model). */
class Final extends Error {
  constructor(readonly error: ToolError) {
    super(error.message);
  }
}

const MAX_ATTEMPTS = 3;
const MAX_RETRY_WAIT_MS = 5000;
const MAX_JSON_BYTES = 64 * 1024 * 1024;

class Gate {
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  constructor(private readonly limit: number) {}
  get inFlight() {
    return this.active;
  }
  get waiting() {
    return this.waiters.length;
  }
  async enter(signal: AbortSignal | undefined): Promise<() => void> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve, reject) => {
        const go = () => {
          signal?.removeEventListener("abort", stop);
          resolve();
        };
        const stop = () => {
          const i = this.waiters.indexOf(go);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new ToolError("cancelled while waiting for the model server", { code: "cancelled" }));
        };
        signal?.addEventListener("abort", stop, { once: true });
        this.waiters.push(go);
      });
    }
    this.active++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.active--;
      this.waiters.shift()?.();
    };
  }
}

interface Target {
  base: string;
  shown: string;
  /** The Authorization header, if any. */
  auth: string | undefined;
  gate: Gate;
  health: UrlHealth;
}

export interface StreamEvent {
  /** The event's data, parsed as JSON (the `[DONE]` sentinel ends the stream and is not passed on). */
  data: unknown;
}

export class RemoteClient {
  private readonly targets: Target[];

  constructor(private readonly options: RemoteClientOptions) {
    this.targets = options.urls.map((raw) => {
      // Credentials in the URL become a Basic header (a bearer key, when given, takes the header instead).
      const { url, authorization } = withoutUserinfo(raw);
      // The OpenAI API's base is often given with its /v1 (Ollama's http://host:11434/v1): lam-mcp adds it itself.
      const base = url.href.replace(/\/+$/, "").replace(/\/v1$/, "");
      const shown = redactUrl(base);
      const auth = options.apiKey ? `Bearer ${options.apiKey}` : authorization;
      return { base, shown, auth, gate: new Gate(options.maxConcurrent), health: { url: shown, healthy: null, lastError: null, inFlight: 0, waiting: 0 } };
    });
  }

  /** The URL requests go to first, without credentials. */
  get primary(): string {
    return this.targets[0]!.shown;
  }

  health(): UrlHealth[] {
    return this.targets.map((t) => ({ ...t.health, inFlight: t.gate.inFlight, waiting: t.gate.waiting }));
  }

  /** GET or POST a JSON endpoint; the answer's JSON. */
  async json(method: "GET" | "POST", path: string, body: unknown, signal?: AbortSignal): Promise<{ value: unknown; url: string }> {
    return this.attempt(path, signal, async (target, res) => {
      const read = await readCapped(res.body, MAX_JSON_BYTES);
      if (read.over) throw new ToolError(`${target.shown}${path} answered more than ${MAX_JSON_BYTES} bytes.`, { code: "llm_bad_response" });
      try {
        return { value: JSON.parse(read.body.toString("utf8")) as unknown, url: target.shown };
      } catch {
        throw new ToolError(`${target.shown}${path} answered something that is not JSON.`, {
          code: "llm_bad_response",
          hint: "Check that --llm-url points at the inference server itself (not a proxy's login page).",
        });
      }
    }, method, body);
  }

  /**
   * POSTs a streamed request and calls onEvent for each Server-Sent Event as it arrives. Aborting the signal
   * aborts the request, so the server stops generating.
   */
  async stream(path: string, body: unknown, signal: AbortSignal | undefined, onEvent: (event: StreamEvent) => void): Promise<string> {
    return this.attempt(path, signal, async (target, res, limit) => {
      let buffer = "";
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        limit.touch();
        buffer += decoder.decode(chunk as Buffer, { stream: true });
        for (let nl = buffer.indexOf("\n"); nl !== -1; nl = buffer.indexOf("\n")) {
          const line = buffer.slice(0, nl).replace(/\r$/, "");
          buffer = buffer.slice(nl + 1);
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") return target.shown;
          let parsed: unknown;
          try {
            parsed = JSON.parse(data);
          } catch {
            throw new ToolError(`${target.shown}${path} streamed an event that is not JSON.`, { code: "llm_bad_response" });
          }
          const error = (parsed as { error?: { message?: unknown } } | null)?.error;
          if (error) {
            const why = typeof error.message === "string" ? error.message : JSON.stringify(error);
            throw new ToolError(`${target.shown}${path} failed while generating: ${why.slice(0, 300)}`, { code: "llm_failed" });
          }
          onEvent({ data: parsed });
        }
      }
      return target.shown;
    }, "POST", { ...(body as object), stream: true });
  }

  /** One request, over the URLs in order and with bounded retries; read does the rest with the answer. */
  private async attempt<T>(
    path: string,
    signal: AbortSignal | undefined,
    read: (target: Target, res: Awaited<ReturnType<typeof import("undici").request>>, limit: { touch(): void }) => Promise<T>,
    method: "GET" | "POST",
    body: unknown,
  ): Promise<T> {
    // undici takes ~60 ms to import: loaded with the first request to a server.
    const { request } = await import("undici");
    const failures: string[] = [];
    let lastHint = "Check that the server runs and that --llm-url points at it.";
    for (const target of this.targets) {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const leave = await target.gate.enter(signal);
        const idle = new IdleDeadline(this.options.timeoutMs, signal);
        let answered = false;
        try {
          const res = await request(`${target.base}${path}`, {
            method,
            headers: {
              "content-type": "application/json",
              accept: "application/json, text/event-stream",
              ...(target.auth ? { authorization: target.auth } : {}),
            },
            ...(method === "POST" ? { body: JSON.stringify(body) } : {}),
            signal: idle.signal,
          });
          answered = true;
          if (res.statusCode >= 400) {
            const text = (await readCapped(res.body, 4096).catch(() => ({ body: Buffer.alloc(0) }))).body.toString("utf8");
            const failure = statusFailure(target.shown, path, res.statusCode, text);
            if (failure.retry && attempt < MAX_ATTEMPTS) {
              await sleep(retryDelay(res.headers["retry-after"], attempt), signal);
              continue;
            }
            target.health.healthy = failure.healthy;
            target.health.lastError = failure.error.message;
            if (failure.final) throw new Final(failure.error);
            failures.push(failure.error.message);
            lastHint = failure.error.hint ?? lastHint;
            break;
          }
          const value = await read(target, res, idle);
          target.health.healthy = true;
          target.health.lastError = null;
          return value;
        } catch (error) {
          if (error instanceof Final) throw error.error;
          if (signal?.aborted) throw new ToolError("The call was cancelled; the model server's request was aborted.", { code: "cancelled" });
          if (error instanceof ToolError) {
            target.health.lastError = error.message;
            throw error;
          }
          // A kept-alive connection the server had just closed fails before any answer: the request never reached
          // it, so it is sent again on a fresh connection.
          if (!answered && !idle.timedOut() && staleConnection(error) && attempt < MAX_ATTEMPTS) continue;
          const why = idle.timedOut() ? `did not answer within ${this.options.timeoutMs} ms` : describeNetworkError(error);
          target.health.healthy = false;
          target.health.lastError = why;
          failures.push(`${target.shown}${path} ${why}`);
          break;
        } finally {
          idle.clear();
          leave();
        }
      }
    }
    throw new ToolError(failures.length === 1 ? `${failures[0]}.` : `Every model server failed:\n${failures.map((f) => `- ${f}`).join("\n")}`, {
      code: "llm_unavailable",
      hint: lastHint,
    });
  }
}

/** A deadline that moves each time the answer shows progress: the wait for the answer, then between events. */
class IdleDeadline {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout;
  private expired = false;
  readonly signal: AbortSignal;

  constructor(
    private readonly ms: number,
    caller: AbortSignal | undefined,
  ) {
    this.timer = this.arm();
    this.signal = caller ? AbortSignal.any([caller, this.controller.signal]) : this.controller.signal;
  }

  private arm() {
    return setTimeout(() => {
      this.expired = true;
      this.controller.abort();
    }, this.ms);
  }

  touch() {
    clearTimeout(this.timer);
    this.timer = this.arm();
  }

  timedOut() {
    return this.expired;
  }

  clear() {
    clearTimeout(this.timer);
  }
}

/** What a failing status means: whose fault, whether to retry the same URL, whether another URL could do better. */
function statusFailure(shown: string, path: string, status: number, body: string): { error: ToolError; retry: boolean; final: boolean; healthy: boolean } {
  const detail = body.replace(/\s+/g, " ").trim().slice(0, 300);
  const where = `${shown}${path} answered ${status}${detail ? `: ${detail}` : ""}`;
  const failure = (code: string, hint: string, retry: boolean, final: boolean, healthy = status < 500) => ({ error: new ToolError(where, { code, hint }), retry, final, healthy });
  // An input longer than the server takes (llama-server answers 400 for a prompt, 500 for an embedding input): the
  // request's fault, which another server with the same settings would repeat; the server is well.
  if (/exceed_context_size|exceeds the available context size|too large to process/i.test(body)) {
    return failure(
      "too_large",
      "The input is longer than the model server takes at once: shorten it (count_tokens measures it), split it, or start the server with a larger context (-c) or batch (-b / -ub).",
      false,
      true,
      true,
    );
  }
  if (status === 401 || status === 403) {
    return failure("llm_unauthorized", "Set --llm-api-key / LAM_LLM_API_KEY to a key this server accepts.", false, true);
  }
  if (status === 404) {
    return failure(
      "llm_not_found",
      "The server lacks this endpoint or model: check --llm-model (the server's /v1/models lists its models) and --llm-api (llama-server or openai).",
      false,
      true,
    );
  }
  if (status === 429 || status === 503) {
    return failure("llm_busy", "The server is busy: retry later, or add another server to --llm-url.", true, false, false);
  }
  if (status === 501) {
    return failure("unsupported", "The server does not offer this: for embeddings start llama-server with --embeddings (and --pooling mean).", false, true, true);
  }
  if (status >= 500) return failure("llm_failed", "The server failed; its own log says why.", false, false);
  return failure("llm_rejected", "The server refused the request as sent; the message above says why.", false, true);
}

function retryDelay(retryAfter: string | string[] | undefined, attempt: number): number {
  const value = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
  const seconds = value !== undefined && /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : undefined;
  return Math.min(MAX_RETRY_WAIT_MS, seconds !== undefined ? seconds * 1000 : 250 * 2 ** (attempt - 1));
}

/** The promise, or a cancellation as soon as the signal aborts (the work itself goes on for whoever else waits). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new ToolError("The call was cancelled.", { code: "cancelled" }));
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(new ToolError("The call was cancelled.", { code: "cancelled" }));
    signal.addEventListener("abort", stop, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", stop));
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(new ToolError("cancelled while waiting to retry the model server", { code: "cancelled" }));
      },
      { once: true },
    );
  });
}

function staleConnection(error: unknown): boolean {
  const code = errorCode(error);
  return code === "UND_ERR_SOCKET" || code === "ECONNRESET" || code === "EPIPE";
}

function describeNetworkError(error: unknown): string {
  const code = errorCode(error);
  if (code === "ECONNREFUSED") return "refused the connection (is the server running?)";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "has a host name that does not resolve";
  return `could not be reached (${code ?? messageOf(error)})`;
}
