/**
 * Fetching a page for read_url, safely: http and https only; every address a host resolves to must be a public
 * unicast address (loopback, private, link-local, metadata, CGNAT, multicast and reserved ranges are refused)
 * unless --fetch-allow admits it; the check happens inside the connection's own DNS lookup, so the address
 * checked is the address connected to (no DNS-rebinding window); redirects are followed by hand and re-checked;
 * the body is capped in bytes and the whole fetch in time.
 */
import { lookup as dnsLookup } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createBrotliDecompress, createGunzip, createInflate, createInflateRaw } from "node:zlib";
import ipaddr from "ipaddr.js";
import { Agent, request } from "undici";
import { bodySnippet, ToolError, messageOf } from "../errors.js";
import { deadline, errorCode, readCapped, type Deadline } from "../upstream.js";
import { VERSION } from "../version.js";

export interface FetchOptions {
  allow: string[];
  timeoutMs: number;
  maxBytes: number;
  maxRedirects?: number;
}

export interface Fetched {
  url: string;
  status: number;
  contentType: string;
  body: Buffer;
  redirects: string[];
}

const ALLOW_HINT = "--fetch-allow / LAM_FETCH_ALLOW";
export const FETCH_USER_AGENT = `Mozilla/5.0 (compatible; lam-mcp/${VERSION}; read_url)`;

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

export class PageFetcher {
  private readonly allowHosts = new Set<string>();
  private readonly allowRanges: Range[] = [];
  private readonly agent: Agent;

  constructor(private readonly options: FetchOptions) {
    for (const entry of options.allow) {
      const value = entry.trim().toLowerCase();
      if (!value) continue;
      if (value.includes("/")) {
        try {
          this.allowRanges.push(ipaddr.parseCIDR(value));
          continue;
        } catch {
          // not a CIDR: treated as a host name below
        }
      }
      if (ipaddr.isValid(value)) {
        const addr = ipaddr.process(value);
        this.allowRanges.push([addr, addr.kind() === "ipv4" ? 32 : 128]);
      } else this.allowHosts.add(value.replace(/^\[|\]$/g, ""));
    }
    this.agent = new Agent({
      connect: { lookup: this.lookup },
      keepAliveTimeout: 5_000,
    });
  }

  /** Why an address may not be reached, or null when it may. */
  refusal(address: string, hostname: string): string | null {
    if (this.allowHosts.has(hostname.toLowerCase())) return null;
    let addr: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      addr = ipaddr.process(address);
    } catch {
      return `${address} is not an IP address`;
    }
    if (this.allowRanges.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits))) return null;
    // An IPv6 address that carries an IPv4 address (IPv4-compatible, NAT64, 6to4, Teredo) reaches that address:
    // it is judged by it (a NAT64 address of a public server is fine; ::7f00:1 is loopback).
    if (addr.kind() === "ipv6") {
      const carried = carriedIpv4(addr as ipaddr.IPv6);
      if (carried.length > 0) {
        for (const v4 of carried) {
          const why = this.refusal(v4, hostname);
          if (why) return `${address} carries the IPv4 address ${why}`;
        }
        return null;
      }
    }
    const range = addr.range();
    if (range === "unicast") return null;
    const names: Record<string, string> = {
      loopback: "a loopback address",
      private: "a private address",
      linkLocal: "a link-local address (cloud metadata lives there)",
      uniqueLocal: "a private (unique local) address",
      carrierGradeNat: "a carrier-grade NAT address (some cloud metadata lives there)",
      unspecified: "the unspecified address",
      multicast: "a multicast address",
      broadcast: "the broadcast address",
      reserved: "a reserved address",
    };
    return `${address} is ${names[range] ?? `in the ${range} range`}`;
  }

  /** The connection's own DNS lookup: every address the host resolves to is checked before one is connected to. */
  private readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
      if (error) return callback(error, "");
      for (const a of addresses) {
        const why = this.refusal(a.address, hostname);
        if (why) return callback(Object.assign(new RefusedAddress(hostname, why), { code: "EREFUSED" }), "");
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };

  async fetch(rawUrl: string, signal?: AbortSignal): Promise<Fetched> {
    const limit = deadline(this.options.timeoutMs, signal);
    const redirects: string[] = [];
    let url = this.check(rawUrl);
    for (let hop = 0; ; hop++) {
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(url, {
          method: "GET",
          dispatcher: this.agent,
          signal: limit.signal,
          headers: {
            "user-agent": FETCH_USER_AGENT,
            accept: "text/html,application/xhtml+xml,text/plain;q=0.9,text/markdown;q=0.9,application/json;q=0.8,*/*;q=0.5",
            "accept-language": "en-US,en;q=0.9",
            "accept-encoding": "gzip, deflate, br",
          },
        });
      } catch (error) {
        throw this.failure(url, error, signal, limit);
      }
      if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
        await res.body.dump().catch(() => undefined);
        if (hop >= (this.options.maxRedirects ?? 5)) {
          throw new ToolError(`${url.href} redirected more than ${this.options.maxRedirects ?? 5} times.`, { code: "fetch_failed", hint: "Open the final URL directly." });
        }
        let next: URL;
        try {
          next = new URL(String(res.headers.location), url);
        } catch {
          throw new ToolError(`${url.href} redirected to an address that is not a valid URL (${JSON.stringify(String(res.headers.location).slice(0, 200))}).`, {
            code: "fetch_failed",
            hint: "The site sent a broken redirect; try another result.",
          });
        }
        redirects.push(next.href);
        url = this.check(next.href, url.href);
        continue;
      }
      const contentType = String(res.headers["content-type"] ?? "");
      const declared = Number(res.headers["content-length"] ?? NaN);
      if (declared > this.options.maxBytes) {
        await res.body.dump().catch(() => undefined);
        throw tooLarge(url.href, this.options.maxBytes, declared);
      }
      // Errors the body emits after reading stopped (an abort once the cap is hit) have no one else to hear them.
      res.body.on("error", () => undefined);
      const encoding = String(res.headers["content-encoding"] ?? "identity").trim().toLowerCase();
      let body: Buffer;
      try {
        body = await readBody(res.body, encoding, this.options.maxBytes, url.href);
      } catch (error) {
        res.body.destroy();
        if (error instanceof ToolError) throw error;
        throw this.failure(url, error, signal, limit);
      }
      if (res.statusCode >= 400) {
        const text = bodySnippet(body.toString("utf8"), 200);
        throw new ToolError(`${url.href} answered ${res.statusCode}${text ? `: ${text}` : ""}`, {
          code: "fetch_failed",
          hint: res.statusCode === 404 ? "The page does not exist; check the URL." : "The site refused or failed; try another result.",
          data: { status: res.statusCode },
        });
      }
      return { url: url.href, status: res.statusCode, contentType, body, redirects };
    }
  }

  /** Scheme and IP-literal checks (host names are checked at connect time, on the addresses they resolve to). */
  private check(raw: string, from?: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ToolError(`${JSON.stringify(raw)} is not a valid URL.`, { hint: "Pass an absolute http:// or https:// URL." });
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new ToolError(`${from ? `${from} redirected to` : "read_url refuses"} ${url.protocol} URLs: only http and https are read.`, {
        code: "fetch_refused",
        hint: "Pass an http:// or https:// URL.",
      });
    }
    url.username = "";
    url.password = "";
    const host = url.hostname.replace(/^\[|\]$/g, "");
    if (isIP(host)) {
      const why = this.refusal(host, host);
      if (why) throw refused(url.href, why, from);
    }
    return url;
  }

  private failure(url: URL, error: unknown, signal: AbortSignal | undefined, limit: Deadline): ToolError {
    const refusal = findRefusal(error);
    if (refusal) return refused(url.href, refusal.why);
    if (signal?.aborted) return new ToolError("read_url was cancelled.", { code: "cancelled" });
    if (limit.timedOut()) {
      return new ToolError(`${url.href} did not answer within ${this.options.timeoutMs} ms.`, {
        code: "fetch_timeout",
        hint: "Try again, try another result, or raise --fetch-timeout-ms.",
      });
    }
    const code = errorCode(error);
    return new ToolError(`${url.href} could not be fetched: ${code ?? messageOf(error)}`, {
      code: "fetch_failed",
      hint: code === "ENOTFOUND" ? "The host name does not resolve; check the URL." : "The site is unreachable from here; try another result.",
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/**
 * The IPv4 addresses an IPv6 address carries, for the ranges that route to them: IPv4-compatible (::a.b.c.d,
 * deprecated but still parsed), IPv4-translated (::ffff:0:a.b.c.d), NAT64 (64:ff9b::/96 and the local-use
 * 64:ff9b:1::/48), 6to4 (2002::/16, the address in bits 16-47) and Teredo (2001::/32: the server in bits 32-63 and
 * the client, inverted, in the last 32). IPv4-mapped addresses (::ffff:a.b.c.d) are already IPv4 to ipaddr.process.
 */
export function carriedIpv4(addr: ipaddr.IPv6): string[] {
  const p = addr.parts;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  const zeros = (from: number, to: number) => p.slice(from, to).every((x) => x === 0);
  if (zeros(0, 6) && (p[6] !== 0 || p[7]! > 1)) return [v4(p[6]!, p[7]!)];
  if (zeros(0, 4) && p[4] === 0xffff && p[5] === 0) return [v4(p[6]!, p[7]!)];
  if (p[0] === 0x64 && p[1] === 0xff9b && (zeros(2, 6) || p[2] === 1)) return [v4(p[6]!, p[7]!)];
  if (p[0] === 0x2002) return [v4(p[1]!, p[2]!)];
  if (p[0] === 0x2001 && p[1] === 0) return [v4(p[2]!, p[3]!), v4(~p[6]! & 0xffff, ~p[7]! & 0xffff)];
  return [];
}


class RefusedAddress extends Error {
  constructor(
    readonly hostname: string,
    readonly why: string,
  ) {
    super(`${hostname}: ${why}`);
  }
}

function findRefusal(error: unknown): RefusedAddress | undefined {
  for (let e: unknown = error, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    if (e instanceof RefusedAddress) return e;
  }
  return undefined;
}

function refused(url: string, why: string, from?: string): ToolError {
  return new ToolError(`read_url refused ${url}${from ? ` (a redirect from ${from})` : ""}: ${why}.`, {
    code: "fetch_refused",
    hint: `read_url reaches only public addresses. To admit this one, add its host or address (or a CIDR range) to ${ALLOW_HINT}.`,
  });
}

/**
 * The body, decoded from its Content-Encoding (gzip, deflate, br; identity), capped at max bytes both as sent and as
 * decoded: a small compressed body that inflates to gigabytes stops at the cap (the decompressor is destroyed).
 */
async function readBody(body: AsyncIterable<unknown> & Readable, encoding: string, max: number, url: string): Promise<Buffer> {
  const codings = encoding.split(",").map((c) => c.trim()).filter((c) => c && c !== "identity");
  if (codings.length > 1) throw unsupportedEncoding(url, encoding);
  const coding = codings[0];
  const decoder =
    coding === undefined
      ? undefined
      : coding === "gzip" || coding === "x-gzip"
        ? createGunzip()
        : coding === "deflate"
          ? createDeflateDecoder()
          : coding === "br"
            ? createBrotliDecompress()
            : undefined;
  if (coding !== undefined && !decoder) throw unsupportedEncoding(url, encoding);
  const chunks: Buffer[] = [];
  let size = 0;
  const take = (chunk: Buffer) => {
    size += chunk.length;
    if (size > max) throw tooLarge(url, max);
    chunks.push(chunk);
  };
  if (!decoder) {
    const read = await readCapped(body, max);
    if (read.over) throw tooLarge(url, max);
    return read.body;
  }
  let sent = 0;
  try {
    await pipeline(
      body,
      async function* (compressed: AsyncIterable<Buffer>) {
        for await (const chunk of compressed) {
          sent += chunk.length;
          if (sent > max) throw tooLarge(url, max);
          yield chunk;
        }
      },
      decoder,
      async (decoded: AsyncIterable<Buffer>) => {
        for await (const chunk of decoded) take(chunk);
      },
    );
  } catch (error) {
    if (error instanceof ToolError) throw error;
    throw new ToolError(`${url} sent a body that does not decode as ${coding}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}.`, {
      code: "fetch_failed",
      hint: "The site sent a corrupt compressed page; try another result.",
    });
  }
  return Buffer.concat(chunks);
}

/** "deflate" is a zlib stream by the standard, but some servers send raw deflate: the first byte tells which. */
function createDeflateDecoder(): Transform {
  let decoder: Transform | undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!decoder) {
        decoder = (chunk[0]! & 0x0f) === 8 ? createInflate() : createInflateRaw();
        decoder.on("data", (d: Buffer) => this.push(d));
        decoder.once("error", (e) => this.destroy(e));
      }
      decoder.write(chunk, () => callback());
    },
    flush(callback) {
      if (!decoder) return callback();
      decoder.once("end", () => callback());
      decoder.end();
    },
  });
}

function unsupportedEncoding(url: string, encoding: string): ToolError {
  return new ToolError(`${url} sent its page encoded as ${JSON.stringify(encoding.slice(0, 60))}, which read_url cannot decode.`, {
    code: "unsupported_type",
    hint: "read_url decodes gzip, deflate and br; try another result.",
  });
}

function tooLarge(url: string, max: number, declared?: number): ToolError {
  return new ToolError(`${url} is larger than ${max} bytes${declared ? ` (it declares ${declared})` : ""}.`, {
    code: "too_large",
    hint: "Raise --fetch-max-bytes / LAM_FETCH_MAX_BYTES to read bigger pages.",
  });
}
