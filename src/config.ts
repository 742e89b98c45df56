/**
 * Every setting of lam-mcp, in one table. Each has a CLI flag and an environment twin; the table drives the zod
 * schema, `--help` and the README's settings table. Defaults <- environment <- CLI, parsed once, frozen.
 * This is the only module that reads process.env.
 */
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { redactUrl } from "./errors.js";

export const DEFAULT_MODEL = "hf:bartowski/SmolLM2-360M-Instruct-GGUF:Q4_K_M";

const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.union([z.boolean(), z.enum(["true", "false", "1", "0", "yes", "no"])]).transform((v) =>
  typeof v === "boolean" ? v : v === "true" || v === "1" || v === "yes",
);
const jsonObject = z.union([z.record(z.string(), z.string()), z.string()]).transform((v, ctx) => {
  if (typeof v !== "string") return v;
  try {
    const parsed: unknown = JSON.parse(v);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed) && Object.values(parsed).every((x) => typeof x === "string")) {
      return parsed as Record<string, string>;
    }
  } catch {
    // reported below
  }
  ctx.addIssue({ code: "custom", message: 'expected a JSON object of strings, like {"X-Api-Key": "abc"}' });
  return z.NEVER;
});
const list = z
  .union([z.array(z.string()), z.string()])
  .transform((v) => (Array.isArray(v) ? v : v.split(",")).map((s) => s.trim()).filter((s) => s.length > 0));

interface Setting {
  /** camelCase key in Config */
  key: string;
  /** --flag */
  flag: string;
  env: string;
  /** Shown in --help and the README. */
  help: string;
  /** Placeholder for the value in --help; absent for booleans. */
  value?: string;
  schema: z.ZodType;
  /** A secret is masked wherever the effective settings are shown. */
  secret?: boolean;
  /** A flag without a value (--allow-unconfirmed); its environment twin takes true/false. */
  boolean?: boolean;
  /** A file or directory path: a leading ~ is the home directory. */
  path?: boolean;
}

export const SETTINGS = [
  {
    key: "model",
    flag: "model",
    env: "LAM_MODEL",
    value: "PATH|URI|URL",
    help: "The GGUF model: a file path, an hf:user/repo:QUANT URI or an https URL (downloaded on first use).",
    schema: z.string().min(1).default(DEFAULT_MODEL),
    path: true,
  },
  {
    key: "modelsDir",
    flag: "models-dir",
    env: "LAM_MODELS_DIR",
    value: "DIR",
    help: "Where downloaded models are cached.",
    schema: z.string().min(1).default(join(homedir(), ".cache", "lam-mcp", "models")),
    path: true,
  },
  {
    key: "hfEndpoint",
    flag: "hf-endpoint",
    env: "HF_ENDPOINT",
    value: "URL",
    help: "The Hugging Face endpoint used to resolve hf: URIs (for mirrors).",
    schema: z.url({ protocol: /^https?$/ }).default("https://huggingface.co/"),
  },
  {
    key: "threads",
    flag: "threads",
    env: "LAM_THREADS",
    value: "auto|N",
    help:
      "CPU threads for llama.cpp. auto = one less than the cores (at least 1, at most 8), chosen from `npm run bench -- threads`; " +
      "0 = node-llama-cpp's own default (max(4, cores)).",
    schema: z.union([z.literal("auto"), intFrom(0, 1024)]).default("auto"),
  },
  {
    key: "gpu",
    flag: "gpu",
    env: "LAM_GPU",
    value: "auto|false|cuda|vulkan",
    help: "GPU backend for llama.cpp; false runs on the CPU only.",
    schema: z.enum(["auto", "false", "cuda", "vulkan"]).default("auto"),
  },
  {
    key: "contextSize",
    flag: "context-size",
    env: "LAM_CONTEXT_SIZE",
    value: "TOKENS",
    help: "Context size in tokens of each generation sequence (capped by the model's training context).",
    schema: intFrom(64, 1 << 20).default(4096),
  },
  {
    key: "embeddingModel",
    flag: "embedding-model",
    env: "LAM_EMBEDDING_MODEL",
    value: "PATH|URI|URL",
    help: "A separate GGUF model for embed and similarity (an embedding model); unset = the main model.",
    schema: z.string().min(1).optional(),
    path: true,
  },
  {
    key: "sequences",
    flag: "sequences",
    env: "LAM_SEQUENCES",
    value: "N",
    help: "Generation calls that run at once, each on its own context sequence (memory grows with each).",
    schema: intFrom(1, 64).default(2),
  },
  {
    key: "maxQueue",
    flag: "max-queue",
    env: "LAM_MAX_QUEUE",
    value: "N",
    help: "Generation calls that may wait for a free sequence; past that a call is refused at once (busy).",
    schema: intFrom(0, 10_000).default(32),
  },
  {
    key: "maxTokens",
    flag: "max-tokens",
    env: "LAM_MAX_TOKENS",
    value: "N",
    help: "Default max_tokens of generate and chat.",
    schema: intFrom(1, 1 << 20).default(512),
  },
  {
    key: "maxTokensLimit",
    flag: "max-tokens-limit",
    env: "LAM_MAX_TOKENS_LIMIT",
    value: "N",
    help: "The largest max_tokens a call may ask for.",
    schema: intFrom(1, 1 << 20).default(4096),
  },
  {
    key: "temperature",
    flag: "temperature",
    env: "LAM_TEMPERATURE",
    value: "T",
    help: "Default sampling temperature (0 = greedy, deterministic).",
    schema: z.coerce.number().min(0).max(2).default(0.8),
  },
  {
    key: "topK",
    flag: "top-k",
    env: "LAM_TOP_K",
    value: "K",
    help: "Default top-k (0 = off).",
    schema: intFrom(0, 1_000_000).default(40),
  },
  {
    key: "topP",
    flag: "top-p",
    env: "LAM_TOP_P",
    value: "P",
    help: "Default top-p, nucleus sampling (1 = off).",
    schema: z.coerce.number().min(0).max(1).default(0.95),
  },
  {
    key: "minP",
    flag: "min-p",
    env: "LAM_MIN_P",
    value: "P",
    help: "Default min-p (0 = off).",
    schema: z.coerce.number().min(0).max(1).default(0.05),
  },
  {
    key: "repeatPenalty",
    flag: "repeat-penalty",
    env: "LAM_REPEAT_PENALTY",
    value: "X",
    help: "Default repeat penalty over the last 64 tokens (1 = off).",
    schema: z.coerce.number().min(0).max(2).default(1),
  },
  {
    key: "maxInputChars",
    flag: "max-input-chars",
    env: "LAM_MAX_INPUT_CHARS",
    value: "N",
    help: "Largest text (in characters, summed over a call) that the tokenizer and embedding tools accept.",
    schema: intFrom(1, 1 << 30).default(4_000_000),
  },
  {
    key: "searxngUrl",
    flag: "searxng-url",
    env: "SEARXNG_URL",
    value: "URL[,URL...]",
    help: "SearXNG instance(s), tried in order on failure; basic auth as http://user:pass@host (never shown). Needed by web_search and search_context.",
    schema: list.pipe(z.array(z.url({ protocol: /^https?$/ }))).default([]),
  },
  {
    key: "searchTimeoutMs",
    flag: "search-timeout-ms",
    env: "LAM_SEARCH_TIMEOUT_MS",
    value: "MS",
    help: "Timeout of one request to a SearXNG instance.",
    schema: intFrom(100, 300_000).default(10_000),
  },
  {
    key: "searchHeaders",
    flag: "search-headers",
    env: "LAM_SEARCH_HEADERS",
    value: "JSON",
    help: 'Extra headers sent to SearXNG, as a JSON object ({"X-Api-Key": "..."}).',
    schema: jsonObject.default({}),
    secret: true,
  },
  {
    key: "searchCacheTtlMs",
    flag: "search-cache-ttl-ms",
    env: "LAM_SEARCH_CACHE_TTL_MS",
    value: "MS",
    help: "How long a search (and a read page) is answered from the cache (0 = no cache).",
    schema: intFrom(0, 86_400_000).default(300_000),
  },
  {
    key: "searchCacheSize",
    flag: "search-cache-size",
    env: "LAM_SEARCH_CACHE_SIZE",
    value: "N",
    help: "Most searches (and, separately, pages) kept in the cache.",
    schema: intFrom(0, 100_000).default(256),
  },
  {
    key: "fetchAllow",
    flag: "fetch-allow",
    env: "LAM_FETCH_ALLOW",
    value: "LIST",
    help: "Hosts or CIDR ranges read_url may reach although they are loopback, private, link-local or metadata (e.g. 127.0.0.1,10.0.0.0/8).",
    schema: list.default([]),
  },
  {
    key: "fetchTimeoutMs",
    flag: "fetch-timeout-ms",
    env: "LAM_FETCH_TIMEOUT_MS",
    value: "MS",
    help: "Timeout of read_url's fetch of one page (all redirects included).",
    schema: intFrom(100, 300_000).default(15_000),
  },
  {
    key: "fetchMaxBytes",
    flag: "fetch-max-bytes",
    env: "LAM_FETCH_MAX_BYTES",
    value: "BYTES",
    help: "Largest response body read_url accepts.",
    schema: intFrom(1024, 1 << 30).default(5 * 1024 * 1024),
  },
  {
    key: "toolsDir",
    flag: "tools-dir",
    env: "LAM_TOOLS_DIR",
    value: "DIR",
    help: "The directory of action files (.json, .yaml, .yml), watched for changes; relative to the working directory.",
    schema: z.string().min(1).default("./tools"),
    path: true,
  },
  {
    key: "allowUnconfirmed",
    flag: "allow-unconfirmed",
    env: "LAM_ALLOW_UNCONFIRMED",
    help: "Run actions marked confirm or destructive without asking, when the client cannot ask the user (elicitation).",
    schema: bool.default(false),
    boolean: true,
  },
  {
    key: "transport",
    flag: "transport",
    env: "LAM_TRANSPORT",
    value: "stdio|http",
    help: "How clients connect: stdio (a child process) or Streamable HTTP at /mcp.",
    schema: z.enum(["stdio", "http"]).default("stdio"),
  },
  {
    key: "host",
    flag: "host",
    env: "LAM_HOST",
    value: "ADDRESS",
    help: "Address the HTTP transport binds.",
    schema: z.string().min(1).default("127.0.0.1"),
  },
  {
    key: "port",
    flag: "port",
    env: "LAM_PORT",
    value: "N",
    help: "Port of the HTTP transport (0 = any free port, printed on stderr).",
    schema: intFrom(0, 65535).default(3333),
  },
  {
    key: "allowedHosts",
    flag: "allowed-hosts",
    env: "LAM_ALLOWED_HOSTS",
    value: "LIST",
    help: "Extra Host header values the HTTP transport accepts (comma-separated), besides the bound address.",
    schema: list.default([]),
  },
  {
    key: "allowedOrigins",
    flag: "allowed-origins",
    env: "LAM_ALLOWED_ORIGINS",
    value: "LIST",
    help: "Extra Origin header values the HTTP transport accepts (comma-separated), besides loopback origins.",
    schema: list.default([]),
  },
  {
    key: "stateless",
    flag: "stateless",
    env: "LAM_STATELESS",
    help: "HTTP without sessions: every request stands alone (no Mcp-Session-Id, no server-to-client requests).",
    schema: bool.default(false),
    boolean: true,
  },
  {
    key: "authToken",
    flag: "auth-token",
    env: "LAM_AUTH_TOKEN",
    value: "TOKEN",
    help: "Require `Authorization: Bearer TOKEN` on /mcp and /metrics. Required to bind a non-loopback address.",
    schema: z.string().min(16, "at least 16 characters").optional(),
    secret: true,
  },
  {
    key: "maxSessions",
    flag: "max-sessions",
    env: "LAM_MAX_SESSIONS",
    value: "N",
    help: "Most concurrent HTTP sessions; past that, initialize is refused (503).",
    schema: intFrom(1, 100_000).default(100),
  },
  {
    key: "sessionIdleMs",
    flag: "session-idle-ms",
    env: "LAM_SESSION_IDLE_MS",
    value: "MS",
    help: "An HTTP session with no request for this long is closed.",
    schema: intFrom(1000, 7 * 86_400_000).default(1_800_000),
  },
  {
    key: "maxBodyBytes",
    flag: "max-body-bytes",
    env: "LAM_MAX_BODY_BYTES",
    value: "BYTES",
    help:
      "Largest JSON-RPC message accepted, in bytes: an HTTP request body (413 past it) or a stdio line (a JSON-RPC error " +
      "past it, and the server goes on). The default holds --max-input-chars of any text but escaped control characters.",
    schema: intFrom(1024, 1 << 30).default(16 * 1024 * 1024),
  },
  {
    key: "maxConcurrentPerClient",
    flag: "max-concurrent-per-client",
    env: "LAM_MAX_CONCURRENT_PER_CLIENT",
    value: "N",
    help: "Most HTTP requests in flight per client (session, or address without one); past that: 429.",
    schema: intFrom(1, 100_000).default(256),
  },
  {
    key: "shutdownTimeoutMs",
    flag: "shutdown-timeout-ms",
    env: "LAM_SHUTDOWN_TIMEOUT_MS",
    value: "MS",
    help: "On SIGTERM/SIGINT, how long in-flight calls may finish before they are cancelled.",
    schema: intFrom(0, 600_000).default(10_000),
  },
  {
    key: "logLevel",
    flag: "log-level",
    env: "LAM_LOG_LEVEL",
    value: "debug|info|warn|error|silent",
    help: "Least severe log line written to stderr.",
    schema: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  },
  {
    key: "logFormat",
    flag: "log-format",
    env: "LAM_LOG_FORMAT",
    value: "auto|text|json",
    help: "Log lines as text or JSON; auto = text on a terminal, JSON otherwise.",
    schema: z.enum(["auto", "text", "json"]).default("auto"),
  },
] as const satisfies readonly Setting[];

type SettingList = typeof SETTINGS;
type SettingByKey<K extends string> = Extract<SettingList[number], { key: K }>;
export type Config = Readonly<{
  [K in SettingList[number]["key"]]: z.output<SettingByKey<K>["schema"]>;
}>;

const ConfigSchema = z.object(
  Object.fromEntries(SETTINGS.map((s) => [s.key, s.schema])) as { [K in SettingList[number]["key"]]: SettingByKey<K>["schema"] },
);

export type RawSettings = Partial<Record<string, unknown>>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses settings: defaults <- environment <- cli. Throws ConfigError listing every problem. */
export function parseConfig(cli: RawSettings = {}, env: NodeJS.ProcessEnv = {}): Config {
  const merged: Record<string, unknown> = {};
  const source: Record<string, string> = {};
  for (const s of SETTINGS as readonly Setting[]) {
    const fromEnv = env[s.env];
    if (fromEnv !== undefined && fromEnv !== "") {
      merged[s.key] = fromEnv;
      source[s.key] = s.env;
    }
    if (cli[s.key] !== undefined) {
      merged[s.key] = cli[s.key];
      source[s.key] = `--${s.flag}`;
    }
    if (s.path && typeof merged[s.key] === "string") merged[s.key] = expandHome(merged[s.key] as string);
  }
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? "");
      const where = source[key] ?? key;
      return `${where}: ${issue.message} (got ${shownValue(key, merged[key])})`;
    });
    throw new ConfigError(problems);
  }
  const config = { ...parsed.data } as Record<string, unknown>;
  config.modelsDir = resolve(String(config.modelsDir));
  config.toolsDir = resolve(String(config.toolsDir));
  return Object.freeze(config) as Config;
}

/** A leading ~ (alone or before a slash) is the home directory, as a shell would expand it. */
export function expandHome(path: string, home = homedir()): string {
  return path === "~" ? home : path.startsWith("~/") ? join(home, path.slice(2)) : path;
}

/** A value as an error message may show it: a secret never, not even its length; URLs without credentials. */
function shownValue(key: string, value: unknown): string {
  const setting = (SETTINGS as readonly Setting[]).find((s) => s.key === key);
  if (setting?.secret) return "a value that is not shown: it is a secret";
  return JSON.stringify(redactAll(value));
}

/** The setting whose flag is nearest to a mistyped one (--modle -> model), if any is near enough. */
export function nearestFlag(typed: string): string | undefined {
  return nearest(typed.replace(/^-+/, ""), ["help", "version", ...SETTINGS.map((s) => s.flag)]);
}

/**
 * LAM_ variables that name no setting (LAM_MODLE), each with the nearest real one when there is one: a typo in an
 * environment variable is otherwise silently ignored.
 */
export function unknownEnvironment(env: NodeJS.ProcessEnv): string[] {
  const known = new Set<string>(SETTINGS.map((s) => s.env));
  return Object.keys(env)
    .filter((name) => name.startsWith("LAM_") && !known.has(name))
    .map((name) => {
      const near = nearest(name, [...known]);
      return `${name} is not a lam-mcp setting${near ? `; did you mean ${near}?` : ""}`;
    });
}

function nearest(typed: string, candidates: string[]): string | undefined {
  const lower = typed.toLowerCase();
  // A flag cut short (--searxng for --searxng-url) is the likeliest meaning.
  const extended = candidates.filter((c) => lower.length >= 4 && c.toLowerCase().startsWith(lower));
  if (extended.length > 0) return extended.sort((a, b) => a.length - b.length)[0];
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(typed.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  // Near enough: a third of the word at most (two letters swapped in "modle" are two edits).
  return bestDistance <= Math.max(2, Math.floor(typed.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}

/** Reads the process environment: the one place in src/ that does. */
export function processEnv(): NodeJS.ProcessEnv {
  return process.env;
}

/** The effective settings with secrets masked, for display. */
export function describeConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS as readonly Setting[]) {
    const value = (config as Record<string, unknown>)[s.key];
    out[s.key] = s.secret && value ? "***" : redactAll(value);
  }
  return out;
}

function redactAll(value: unknown): unknown {
  if (typeof value === "string") return redactUrl(value);
  if (Array.isArray(value)) return value.map(redactAll);
  return value;
}

export function helpText(version: string): string {
  const rows = (SETTINGS as readonly Setting[]).map((s) => {
    const flag = `--${s.flag}${s.value && !s.boolean ? ` ${s.value}` : ""}`;
    const def = ConfigSchema.shape[s.key as keyof typeof ConfigSchema.shape].safeParse(undefined);
    const shown = def.success && def.data !== undefined ? ` [default: ${JSON.stringify(def.data)}]` : "";
    return `  ${flag}\n      ${s.help}${shown}\n      env: ${s.env}`;
  });
  return [
    `lam-mcp ${version}: an MCP server of tokenizer, local generation, search and action tools.`,
    "",
    "Usage:",
    "  lam-mcp [settings]           serve MCP (stdio unless --transport http)",
    "  lam-mcp actions check [DIR]   validate every action file; exit 1 when any has a problem",
    "  lam-mcp actions run NAME [JSON]  run one action with JSON arguments, print the result",
    "  lam-mcp --help | --version",
    "",
    "Settings (a flag wins over its environment twin):",
    ...rows,
    "",
  ].join("\n");
}
