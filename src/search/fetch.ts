/**
 * Fetching a page for read_url, safely: http and https only; every address a host resolves to must be a public
 * unicast address (loopback, private, link-local, metadata, CGNAT, multicast and reserved ranges are refused)
 * unless --fetch-allow admits it; the check happens inside the connection's own DNS lookup, so the address
 * checked is the address connected to (no DNS-rebinding window); redirects are followed by hand and re-checked;
 * the body is capped in bytes and the whole fetch in time.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";
import { Agent, request } from "undici";
import { bodySnippet, ToolError, messageOf } from "../errors.js";
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
      connect: { lookup: (hostname: string, opts: { all?: boolean }, callback: LookupCallback) => this.lookup(hostname, opts, callback) } as never,
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

  private lookup(hostname: string, opts: { all?: boolean }, callback: LookupCallback) {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, [] as never);
      for (const a of addresses) {
        const why = this.refusal(a.address, hostname);
        if (why) return callback(new RefusedAddress(hostname, why), [] as never);
      }
      if (opts.all) callback(null, addresses as never);
      else callback(null, addresses[0]!.address as never, addresses[0]!.family);
    });
  }

  async fetch(rawUrl: string, signal?: AbortSignal): Promise<Fetched> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const redirects: string[] = [];
    let url = this.check(rawUrl);
    for (let hop = 0; ; hop++) {
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(url, {
          method: "GET",
          dispatcher: this.agent,
          signal: combined,
          headers: {
            "user-agent": FETCH_USER_AGENT,
            accept: "text/html,application/xhtml+xml,text/plain;q=0.9,text/markdown;q=0.9,application/json;q=0.8,*/*;q=0.5",
            "accept-language": "en-US,en;q=0.9",
          },
        });
      } catch (error) {
        throw this.failure(url, error, signal, timeout);
      }
      if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
        await res.body.dump().catch(() => undefined);
        if (hop >= (this.options.maxRedirects ?? 5)) {
          throw new ToolError(`${url.href} redirected more than ${this.options.maxRedirects ?? 5} times.`, { code: "fetch_failed", hint: "Open the final URL directly." });
        }
        const next = new URL(String(res.headers.location), url);
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
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of res.body) {
          size += (chunk as Buffer).length;
          if (size > this.options.maxBytes) {
            res.body.destroy();
            throw tooLarge(url.href, this.options.maxBytes);
          }
          chunks.push(chunk as Buffer);
        }
      } catch (error) {
        if (error instanceof ToolError) throw error;
        throw this.failure(url, error, signal, timeout);
      }
      if (res.statusCode >= 400) {
        const text = bodySnippet(Buffer.concat(chunks).toString("utf8"), 200);
        throw new ToolError(`${url.href} answered ${res.statusCode}${text ? `: ${text}` : ""}`, {
          code: "fetch_failed",
          hint: res.statusCode === 404 ? "The page does not exist; check the URL." : "The site refused or failed; try another result.",
          data: { status: res.statusCode },
        });
      }
      return { url: url.href, status: res.statusCode, contentType, body: Buffer.concat(chunks), redirects };
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

  private failure(url: URL, error: unknown, signal: AbortSignal | undefined, timeout: AbortSignal): ToolError {
    const refusal = findRefusal(error);
    if (refusal) return refused(url.href, refusal.why);
    if (signal?.aborted) return new ToolError("read_url was cancelled.", { code: "cancelled" });
    if (timeout.aborted) {
      return new ToolError(`${url.href} did not answer within ${this.options.timeoutMs} ms.`, {
        code: "fetch_timeout",
        hint: "Try again, try another result, or raise --fetch-timeout-ms.",
      });
    }
    const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
    return new ToolError(`${url.href} could not be fetched: ${code ?? messageOf(error)}`, {
      code: "fetch_failed",
      hint: code === "ENOTFOUND" ? "The host name does not resolve; check the URL." : "The site is unreachable from here; try another result.",
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

type LookupCallback = (error: Error | null, address: string | LookupAddress[], family?: number) => void;

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

function tooLarge(url: string, max: number, declared?: number): ToolError {
  return new ToolError(`${url} is larger than ${max} bytes${declared ? ` (it declares ${declared})` : ""}.`, {
    code: "too_large",
    hint: "Raise --fetch-max-bytes / LAM_FETCH_MAX_BYTES to read bigger pages.",
  });
}
