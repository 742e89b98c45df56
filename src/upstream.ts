/**
 * Talking to an upstream over HTTP, done once: a deadline joined to the caller's signal, a body read up to a byte
 * cap, and the error code of a failed request. Used by the SearXNG client, the page fetcher, http actions and the
 * HTTP transport's request bodies.
 */

export interface Deadline {
  /** Aborts when the caller's signal does or when the time is up. */
  signal: AbortSignal;
  /** True once the time is up (as opposed to the caller cancelling). */
  timedOut(): boolean;
}

/** A deadline of `ms` milliseconds, joined to the caller's signal when there is one. */
export function deadline(ms: number, signal?: AbortSignal): Deadline {
  const timeout = AbortSignal.timeout(ms);
  return { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, timedOut: () => timeout.aborted };
}

export interface CappedBody {
  body: Buffer;
  /** Bytes seen: the cap plus at most one chunk when over. */
  size: number;
  /** More than `max` bytes were sent: `body` holds the first `max`. */
  over: boolean;
}

/**
 * Reads a body up to `max` bytes. Past the cap it stops reading without consuming or destroying the stream: the
 * caller decides (drop the connection, or answer 413 first). Errors of the stream propagate.
 */
export async function readCapped(stream: AsyncIterable<Uint8Array>, max: number): Promise<CappedBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  const iterator = stream[Symbol.asyncIterator]();
  for (;;) {
    const next: IteratorResult<Uint8Array> = await iterator.next();
    if (next.done) break;
    const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    if (size + chunk.length > max) {
      chunks.push(chunk.subarray(0, max - size));
      return { body: Buffer.concat(chunks), size: size + chunk.length, over: true };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { body: Buffer.concat(chunks), size, over: false };
}

/** The system error code (ECONNREFUSED, ENOTFOUND, UND_ERR_...) of a failed request, wherever undici put it. */
export function errorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * A service URL given with credentials (http://user:pass@host): the URL without them, and the Basic authorization
 * header they stand for. The credentials are then sent as a header, never in a URL that could be shown or logged.
 */
export function withoutUserinfo(raw: string): { url: URL; authorization: string | undefined } {
  const url = new URL(raw);
  const authorization =
    url.username || url.password
      ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`
      : undefined;
  url.username = "";
  url.password = "";
  return { url, authorization };
}
