/**
 * The SearXNG client: one or more instances tried in order, basic auth from URL userinfo, an honest User-Agent
 * and Accept-Language (so a SearXNG limiter lets it through), a bounded TTL cache, and every failure translated
 * into what to do. Accepts both searx 1.x and current SearXNG JSON.
 */
import { Agent, request, errors as undiciErrors } from "undici";
import { z } from "zod";
import { TtlCache } from "../cache.js";
import { bodySnippet, ToolError, messageOf } from "../errors.js";
import { deadline, errorCode, withoutUserinfo } from "../upstream.js";
import { VERSION } from "../version.js";

export interface SearchParams {
  query: string;
  categories?: string[] | undefined;
  engines?: string[] | undefined;
  language?: string | undefined;
  timeRange?: "day" | "week" | "month" | "year" | undefined;
  safesearch?: 0 | 1 | 2 | undefined;
  page?: number | undefined;
}

export interface SearchResult {
  title: string;
  url: string;
  snippet: string;
  engines: string[];
  score: number;
  published: string | null;
  category: string;
}

export interface SearchAnswer {
  answer: string;
  url: string | null;
}

export interface Infobox {
  title: string;
  content: string;
  urls: Array<{ title: string; url: string }>;
  attributes: Array<{ label: string; value: string }>;
  engine: string;
}

export interface SearchResponse {
  results: SearchResult[];
  answers: SearchAnswer[];
  suggestions: string[];
  corrections: string[];
  infoboxes: Infobox[];
  unresponsive_engines: Array<{ engine: string; reason: string }>;
  number_of_results: number | null;
  /** The instance that answered (no credentials). */
  instance: string;
  cached: boolean;
}

export interface SearxOptions {
  urls: string[];
  timeoutMs: number;
  headers: Record<string, string>;
  cacheTtlMs: number;
  cacheSize: number;
}

export const USER_AGENT = `lam-mcp/${VERSION} (MCP server; SearXNG JSON API client)`;

interface Instance {
  /** The search endpoint without credentials, shown in messages. */
  display: string;
  endpoint: URL;
  authorization: string | undefined;
}

/** Thrown per instance; the client decides whether the next instance is worth trying. */
class InstanceFailure extends Error {
  constructor(
    message: string,
    readonly hint: string,
    /** False when the request itself is at fault: the next instance would answer the same. */
    readonly tryNext: boolean,
    readonly code: string,
  ) {
    super(message);
  }
}

export class SearxClient {
  private readonly instances: Instance[];
  private readonly cache: TtlCache<Omit<SearchResponse, "cached">>;
  private readonly agent = new Agent({ keepAliveTimeout: 10_000, connections: 16 });

  constructor(private readonly options: SearxOptions) {
    this.instances = options.urls.map(parseInstance);
    this.cache = new TtlCache(options.cacheSize, options.cacheTtlMs);
  }

  get configured(): boolean {
    return this.instances.length > 0;
  }

  async search(params: SearchParams, signal?: AbortSignal): Promise<SearchResponse> {
    if (!this.configured) {
      throw new ToolError("No SearXNG instance is configured.", {
        hint: "Start lam-mcp with --searxng-url / SEARXNG_URL pointing at a SearXNG instance (e.g. http://127.0.0.1:8888).",
        code: "search_unconfigured",
      });
    }
    const key = JSON.stringify([params.query, params.categories ?? [], params.engines ?? [], params.language ?? "", params.timeRange ?? "", params.safesearch ?? "", params.page ?? 1]);
    const hit = this.cache.get(key);
    if (hit) return { ...hit, cached: true };
    const failures: InstanceFailure[] = [];
    for (const instance of this.instances) {
      try {
        const response = await this.ask(instance, params, signal);
        this.cache.set(key, response);
        return { ...response, cached: false };
      } catch (error) {
        if (signal?.aborted) throw new ToolError("The search was cancelled.", { code: "cancelled" });
        if (!(error instanceof InstanceFailure)) throw error;
        failures.push(error);
        if (!error.tryNext) break;
      }
    }
    const first = failures[0]!;
    if (failures.length === 1) throw new ToolError(first.message, { hint: first.hint, code: first.code });
    throw new ToolError(`All ${failures.length} SearXNG instances failed:\n${failures.map((f) => `- ${f.message}`).join("\n")}`, {
      hint: first.hint,
      code: first.code,
    });
  }

  private async ask(instance: Instance, params: SearchParams, signal?: AbortSignal): Promise<Omit<SearchResponse, "cached">> {
    const url = new URL(instance.endpoint);
    url.searchParams.set("q", params.query);
    url.searchParams.set("format", "json");
    if (params.categories?.length) url.searchParams.set("categories", params.categories.join(","));
    if (params.engines?.length) url.searchParams.set("engines", params.engines.join(","));
    if (params.language) url.searchParams.set("language", params.language);
    if (params.timeRange) url.searchParams.set("time_range", params.timeRange);
    if (params.safesearch !== undefined) url.searchParams.set("safesearch", String(params.safesearch));
    if (params.page && params.page > 1) url.searchParams.set("pageno", String(params.page));
    const headers: Record<string, string> = {
      accept: "application/json",
      "accept-language": acceptLanguage(params.language),
      "user-agent": USER_AGENT,
      ...lowerKeys(this.options.headers),
    };
    if (instance.authorization) headers.authorization = instance.authorization;
    const limit = deadline(this.options.timeoutMs, signal);
    const where = `SearXNG at ${instance.display}`;
    let status: number;
    let contentType: string;
    let body: string;
    try {
      // undici's request follows no redirect: a redirecting instance is reported below.
      const res = await request(url, { method: "GET", headers, signal: limit.signal, dispatcher: this.agent });
      status = res.statusCode;
      contentType = String(res.headers["content-type"] ?? "");
      body = await res.body.text();
    } catch (error) {
      if (signal?.aborted) throw error;
      if (limit.timedOut() || error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
        throw new InstanceFailure(
          `${where} did not answer within ${this.options.timeoutMs} ms.`,
          "Retry, raise --search-timeout-ms, or lower the instance's outgoing.request_timeout so slow engines are dropped sooner.",
          true,
          "search_timeout",
        );
      }
      throw networkFailure(where, error);
    }
    const refusal = statusFailure(where, status, body);
    if (refusal) throw refusal;
    if (!/json/i.test(contentType)) {
      throw new InstanceFailure(
        `${where} answered ${contentType || "without a content type"} instead of JSON: ${(bodySnippet(body, 300) || "(empty body)")}`,
        "Check that the URL is the SearXNG instance (not a proxy login page), and that json is in its search.formats.",
        true,
        "search_bad_response",
      );
    }
    let raw: unknown;
    try {
      raw = JSON.parse(body);
    } catch (error) {
      throw new InstanceFailure(`${where} answered malformed JSON: ${messageOf(error)}`, "The instance or a proxy in front of it is broken; try another instance.", true, "search_bad_response");
    }
    return { ...normalize(raw, where), instance: instance.display };
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** What a status other than 2xx means for a search, and whether the next instance is worth trying. */
function statusFailure(where: string, status: number, body: string): InstanceFailure | undefined {
  if (status === 403) {
    return new InstanceFailure(
      `${where} refused format=json (403 Forbidden).`,
      "Add json to search.formats in the instance's settings.yml (formats: [html, json]), or use another instance.",
      true,
      "search_forbidden",
    );
  }
  if (status === 429) {
    return new InstanceFailure(
      `${where} rate-limited the request (429 Too Many Requests: its limiter or bot detection).`,
      "Retry later, or let lam-mcp through the limiter (server.limiter: false, or pass its IP in botdetection.ip_lists.pass_ip).",
      true,
      "search_rate_limited",
    );
  }
  if (status === 401) {
    return new InstanceFailure(
      `${where} requires authentication (401).`,
      "Put the credentials in the URL (http://user:password@host/) of --searxng-url, or send a header with --search-headers.",
      true,
      "search_unauthorized",
    );
  }
  if (status >= 500) {
    return new InstanceFailure(`${where} failed with ${status}: ${(bodySnippet(body, 300) || "(empty body)")}`, "The instance itself failed; check its log, or retry.", true, "search_failed");
  }
  if (status >= 300 && status < 400) {
    return new InstanceFailure(
      `${where} redirected the search (${status}).`,
      "Point --searxng-url at the instance's base URL (where /search answers directly).",
      true,
      "search_failed",
    );
  }
  if (status >= 400) {
    return new InstanceFailure(
      `${where} rejected the search with ${status}: ${(bodySnippet(body, 300) || "(empty body)")}`,
      "Check the arguments: language like en or fr-FR, time_range day|week|month|year, safesearch 0|1|2, page >= 1.",
      false,
      "search_rejected",
    );
  }
  return undefined;
}

function parseInstance(raw: string): Instance {
  const { url, authorization } = withoutUserinfo(raw);
  url.search = "";
  url.hash = "";
  if (!/\/search\/?$/.test(url.pathname)) url.pathname = `${url.pathname.replace(/\/$/, "")}/search`;
  return { display: url.origin + url.pathname.replace(/\/search$/, "/"), endpoint: url, authorization };
}

function acceptLanguage(language: string | undefined): string {
  if (!language || language === "all" || language === "auto") return "en-US,en;q=0.9";
  const base = language.split("-")[0]!;
  return base === language ? `${language},en;q=0.5` : `${language},${base};q=0.9,en;q=0.5`;
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

function networkFailure(where: string, error: unknown): InstanceFailure {
  const code = errorCode(error);
  if (code === "ECONNREFUSED") {
    return new InstanceFailure(`${where} refused the connection: is SearXNG running?`, "Start SearXNG, or set --searxng-url / SEARXNG_URL to a running instance.", true, "search_unreachable");
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return new InstanceFailure(`${where}: the host name does not resolve.`, "Check the host in --searxng-url / SEARXNG_URL.", true, "search_unreachable");
  }
  return new InstanceFailure(`${where} could not be reached: ${code ?? messageOf(error)}`, "Check that the instance is up and reachable from this machine.", true, "search_unreachable");
}

// --- Normalizing searx 1.x and SearXNG answers ---------------------------------------------------------------

const RawResponse = z.looseObject({
  results: z.array(z.unknown()),
  answers: z.array(z.unknown()).optional(),
  suggestions: z.array(z.unknown()).optional(),
  corrections: z.array(z.unknown()).optional(),
  infoboxes: z.array(z.unknown()).optional(),
  unresponsive_engines: z.array(z.unknown()).optional(),
  number_of_results: z.number().optional(),
});

function normalize(raw: unknown, where: string): Omit<SearchResponse, "instance" | "cached"> {
  const parsed = RawResponse.safeParse(raw);
  if (!parsed.success) {
    throw new InstanceFailure(
      `${where} answered JSON that is not a SearXNG search result (${parsed.error.issues[0]?.path.join(".") || "root"}: ${parsed.error.issues[0]?.message}).`,
      "Check that --searxng-url points at a SearXNG instance.",
      true,
      "search_bad_response",
    );
  }
  const r = parsed.data;
  const results = r.results.flatMap((item): SearchResult[] => {
    if (!item || typeof item !== "object") return [];
    const o = item as Record<string, unknown>;
    const url = str(o.url);
    if (!url) return [];
    const engines = Array.isArray(o.engines) ? o.engines.map(str).filter(Boolean) : o.engine ? [str(o.engine)] : [];
    return [
      {
        title: str(o.title) || url,
        url,
        snippet: str(o.content),
        engines,
        score: typeof o.score === "number" ? Math.round(o.score * 1000) / 1000 : 0,
        published: isoDate(o.pubdate) ?? isoDate(o.publishedDate),
        category: str(o.category) || "general",
      },
    ];
  });
  const answers = (r.answers ?? []).flatMap((a): SearchAnswer[] => {
    if (typeof a === "string") return [{ answer: a, url: null }];
    if (a && typeof a === "object") {
      const o = a as Record<string, unknown>;
      const text = str(o.answer) || str(o.content);
      return text ? [{ answer: text, url: str(o.url) || null }] : [];
    }
    return [];
  });
  const infoboxes = (r.infoboxes ?? []).flatMap((b): Infobox[] => {
    if (!b || typeof b !== "object") return [];
    const o = b as Record<string, unknown>;
    const urls = Array.isArray(o.urls)
      ? o.urls.flatMap((u) => (u && typeof u === "object" && str((u as Record<string, unknown>).url) ? [{ title: str((u as Record<string, unknown>).title), url: str((u as Record<string, unknown>).url) }] : []))
      : [];
    const attributes = Array.isArray(o.attributes)
      ? o.attributes.flatMap((a) => (a && typeof a === "object" ? [{ label: str((a as Record<string, unknown>).label), value: str((a as Record<string, unknown>).value) }] : []))
      : [];
    return [{ title: str(o.infobox) || str(o.title), content: str(o.content), urls, attributes, engine: str(o.engine) }];
  });
  const unresponsive = (r.unresponsive_engines ?? []).flatMap((u) => {
    if (Array.isArray(u)) return [{ engine: String(u[0] ?? ""), reason: String(u[1] ?? "") }];
    if (u && typeof u === "object") {
      const o = u as Record<string, unknown>;
      return [{ engine: str(o.engine) || str(o.name), reason: str(o.error) || str(o.reason) || str(o.message) }];
    }
    return typeof u === "string" ? [{ engine: u, reason: "" }] : [];
  });
  return {
    results,
    answers,
    suggestions: (r.suggestions ?? []).map(String),
    corrections: (r.corrections ?? []).map(String),
    infoboxes,
    unresponsive_engines: unresponsive,
    number_of_results: typeof r.number_of_results === "number" && r.number_of_results > 0 ? r.number_of_results : null,
  };
}

/** A string field as text: numbers and booleans printed, anything else (objects, null) empty. */
function str(v: unknown): string {
  if (typeof v === "string") return v;
  return typeof v === "number" || typeof v === "boolean" ? String(v) : "";
}

/** ISO-8601 from SearXNG's ISO dates or searx's "YYYY-MM-DD HH:MM:SS+ZZZZ" pubdate; null for anything else. */
export function isoDate(v: unknown): string | null {
  if (typeof v !== "string" || !v.trim()) return null;
  const m = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(v.trim());
  if (!m) return null;
  const zone = m[3] ? (m[3] === "Z" ? "Z" : `${m[3].slice(0, 3)}:${m[3].slice(-2)}`) : "Z";
  const time = m[2] ? (m[2].length === 5 ? `${m[2]}:00` : m[2]) : "00:00:00";
  const date = new Date(`${m[1]}T${time}${zone}`);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
