/**
 * Every setting of lam-mcp, in one table. Each has a CLI flag and an environment twin; the table drives the zod
 * schema, `--help` and the README's settings table. Defaults <- environment <- CLI, parsed once, frozen.
 * This is the only module that reads process.env.
 */
import { homedir, hostname } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { redactUrl } from "./errors.js";
import type { TracingSettings } from "./tracing.js";

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

export const GROUPS = ["Model", "Remote inference", "Generation", "Input limits", "Search and reading pages", "Actions", "Workflows and runs", "Transport and HTTP service", "Logging"] as const;

interface SettingDefinition {
  /** camelCase key in Config; the flag and the environment twin derive from it (flagOf, envOf). */
  key: string;
  group: (typeof GROUPS)[number];
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
  /** The flag may be given several times (each adds one value); its environment twin takes them comma-separated. */
  repeatable?: boolean;
  /** The default as documented, where the real one depends on the machine (a home directory). */
  shownDefault?: string;
}

export interface Setting extends SettingDefinition {
  /** --flag */
  flag: string;
  env: string;
}

/** The flag of a setting: its key in kebab case (contextSize -> --context-size). */
export function flagOf(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Environment twins that keep the name other tools already use for the same thing. */
const ENV_EXCEPTIONS: Record<string, string> = { hfEndpoint: "HF_ENDPOINT", searxngUrl: "SEARXNG_URL" };

/** The environment twin of a setting: LAM_ and its key in upper snake case (contextSize -> LAM_CONTEXT_SIZE), but for ENV_EXCEPTIONS. */
export function envOf(key: string): string {
  return ENV_EXCEPTIONS[key] ?? `LAM_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

const DEFINITIONS = [
  {
    key: "model",
    group: "Model",
    value: "PATH|URI|URL",
    help:
      "The GGUF model: a file path, an hf:user/repo:QUANT URI or an https URL (downloaded on first use). " +
      "With --llm-url, only the tokenizer tools use it (vocabulary-only), and it is not needed when the server has a tokenizer.",
    schema: z.string().min(1).optional(),
    path: true,
    shownDefault: `${DEFAULT_MODEL} (none with --llm-url)`,
  },
  {
    key: "modelsDir",
    group: "Model",
    value: "DIR",
    help: "Where downloaded models are cached.",
    schema: z.string().min(1).default(join(homedir(), ".cache", "lam-mcp", "models")),
    path: true,
    shownDefault: "~/.cache/lam-mcp/models",
  },
  {
    key: "hfEndpoint",
    group: "Model",
    value: "URL",
    help: "The Hugging Face endpoint used to resolve hf: URIs (for mirrors).",
    schema: z.url({ protocol: /^https?$/ }).default("https://huggingface.co/"),
  },
  {
    key: "threads",
    group: "Model",
    value: "auto|N",
    help:
      "CPU threads for llama.cpp. auto = one less than the cores (at least 1, at most 8), chosen from `npm run bench -- threads`; " +
      "0 = node-llama-cpp's own default (max(4, cores)).",
    schema: z.union([z.literal("auto"), intFrom(0, 1024)]).default("auto"),
  },
  {
    key: "gpu",
    group: "Model",
    value: "auto|false|cuda|vulkan",
    help: "GPU backend for llama.cpp; false runs on the CPU only.",
    schema: z.enum(["auto", "false", "cuda", "vulkan"]).default("auto"),
  },
  {
    key: "tokenizer",
    group: "Model",
    value: "auto|llama.cpp",
    help:
      "Which code tokenizes a local model's text for tokenize, count_tokens and token budgets: auto uses lam-mcp's own (TypeScript, faster) where it reproduces llama.cpp exactly (SentencePiece BPE, and byte-level BPE with 79 of llama.cpp's 88 pre-tokenizers: gpt2, llama3, qwen2, starcoder, deepseek, falcon, gpt-4o, tekken and their kin), llama.cpp's elsewhere; llama.cpp always uses llama.cpp's. vocabulary and lam://model say which is in use.",
    schema: z.enum(["auto", "llama.cpp"]).default("auto"),
  },
  {
    key: "contextSize",
    group: "Model",
    value: "TOKENS",
    help: "Context size in tokens of each generation sequence, capped by the model's training context (lam://config shows the size applied).",
    schema: intFrom(64, 1 << 20).default(4096),
  },
  {
    key: "embeddingModel",
    group: "Model",
    value: "PATH|URI|URL",
    help: "A separate GGUF model for embed and similarity (an embedding model); unset = the main model.",
    schema: z.string().min(1).optional(),
    path: true,
  },
  {
    key: "llmUrl",
    group: "Remote inference",
    value: "URL[,URL...]",
    help:
      "Base URL(s) of the inference server that generates, chats and embeds (llama-server, vLLM, Ollama, LM Studio, any OpenAI-compatible " +
      "server), tried in order on failure; basic auth as http://user:pass@host (never shown). Unset = the local model.",
    schema: list.pipe(z.array(z.url({ protocol: /^https?$/ }))).default([]),
  },
  {
    key: "llmApi",
    group: "Remote inference",
    value: "auto|llama-server|openai",
    help: "The API spoken to --llm-url: auto recognises llama-server by its /props, and speaks to anything else as OpenAI-compatible /v1.",
    schema: z.enum(["auto", "llama-server", "openai"]).default("auto"),
  },
  {
    key: "llmApiKey",
    group: "Remote inference",
    value: "KEY",
    help: "Sent to the inference server as `Authorization: Bearer KEY`.",
    schema: z.string().min(1).optional(),
    secret: true,
  },
  {
    key: "llmModel",
    group: "Remote inference",
    value: "NAME",
    help: "The model name sent in OpenAI-style requests; unset = the first model the server lists in /v1/models.",
    schema: z.string().min(1).optional(),
  },
  {
    key: "llmTimeoutMs",
    group: "Remote inference",
    value: "MS",
    help: "Longest wait for the inference server to start answering, and between two streamed tokens.",
    schema: intFrom(100, 3_600_000).default(300_000),
  },
  {
    key: "llmMaxConcurrent",
    group: "Remote inference",
    value: "N",
    help: "Requests in flight to each inference server URL; more wait their turn (match the server's parallel slots, -np).",
    schema: intFrom(1, 1024).default(4),
  },
  {
    key: "lora",
    group: "Model",
    value: "PATH[:SCALE]",
    help:
      "A LoRA adapter GGUF applied to generation (scale default 1); give the flag once per adapter, or a comma-separated list in " +
      "the environment. The receipts and lam://model list them.",
    schema: list.pipe(z.array(z.string().regex(/^(?!:).+?(:-?\d+(\.\d+)?)?$/, "PATH or PATH:SCALE (a number)"))).default([]),
    repeatable: true,
  },
  {
    key: "sequences",
    group: "Generation",
    value: "N",
    help: "Generation calls that run at once, each on its own context sequence (memory grows with each).",
    schema: intFrom(1, 64).default(2),
  },
  {
    key: "maxQueue",
    group: "Generation",
    value: "N",
    help: "Generation calls that may wait for a free sequence; past that a call is refused at once (busy).",
    schema: intFrom(0, 10_000).default(32),
  },
  {
    key: "maxTokens",
    group: "Generation",
    value: "N",
    help: "Default max_tokens of generate and chat.",
    schema: intFrom(1, 1 << 20).default(512),
  },
  {
    key: "maxTokensLimit",
    group: "Generation",
    value: "N",
    help: "The largest max_tokens a call may ask for.",
    schema: intFrom(1, 1 << 20).default(4096),
  },
  {
    key: "temperature",
    group: "Generation",
    value: "T",
    help: "Default sampling temperature (0 = greedy, deterministic).",
    schema: z.coerce.number().min(0).max(2).default(0.8),
  },
  {
    key: "topK",
    group: "Generation",
    value: "K",
    help: "Default top-k (0 = off).",
    schema: intFrom(0, 1_000_000).default(40),
  },
  {
    key: "topP",
    group: "Generation",
    value: "P",
    help: "Default top-p, nucleus sampling (1 = off).",
    schema: z.coerce.number().min(0).max(1).default(0.95),
  },
  {
    key: "minP",
    group: "Generation",
    value: "P",
    help: "Default min-p (0 = off).",
    schema: z.coerce.number().min(0).max(1).default(0.05),
  },
  {
    key: "repeatPenalty",
    group: "Generation",
    value: "X",
    help: "Default repeat penalty over the last 64 tokens (1 = off).",
    schema: z.coerce.number().min(0).max(2).default(1),
  },
  {
    key: "scoreMaxTokens",
    group: "Generation",
    value: "N",
    help: "The longest text score takes, in tokens (each token costs a pass over the whole vocabulary).",
    schema: intFrom(1, 1 << 20).default(4096),
  },
  {
    key: "maxInputChars",
    group: "Input limits",
    value: "N",
    help: "Largest text (in characters, summed over a call) that the tokenizer and embedding tools accept.",
    schema: intFrom(1, 1 << 30).default(4_000_000),
  },
  {
    key: "maxBodyBytes",
    group: "Input limits",
    value: "BYTES",
    help:
      "Largest JSON-RPC message accepted, in bytes: an HTTP request body (413 past it) or a stdio line (a JSON-RPC error " +
      "past it, and the server goes on). The default holds --max-input-chars of any text but escaped control characters.",
    schema: intFrom(1024, 1 << 30).default(16 * 1024 * 1024),
  },
  {
    key: "searxngUrl",
    group: "Search and reading pages",
    value: "URL[,URL...]",
    help: "SearXNG instance(s), tried in order on failure; basic auth as http://user:pass@host (never shown). Needed by web_search and search_context.",
    schema: list.pipe(z.array(z.url({ protocol: /^https?$/ }))).default([]),
  },
  {
    key: "searchTimeoutMs",
    group: "Search and reading pages",
    value: "MS",
    help: "Timeout of one request to a SearXNG instance.",
    schema: intFrom(100, 300_000).default(10_000),
  },
  {
    key: "searchHeaders",
    group: "Search and reading pages",
    value: "JSON",
    help: 'Extra headers sent to SearXNG, as a JSON object ({"X-Api-Key": "..."}).',
    schema: jsonObject.default({}),
    secret: true,
  },
  {
    key: "searchCacheTtlMs",
    group: "Search and reading pages",
    value: "MS",
    help: "How long a search (and a read page) is answered from the cache (0 = no cache).",
    schema: intFrom(0, 86_400_000).default(300_000),
  },
  {
    key: "searchCacheSize",
    group: "Search and reading pages",
    value: "N",
    help: "Most searches (and, separately, pages) kept in the cache.",
    schema: intFrom(0, 100_000).default(256),
  },
  {
    key: "fetchAllow",
    group: "Search and reading pages",
    value: "LIST",
    help: "Hosts or CIDR ranges read_url may reach although they are loopback, private, link-local or metadata (e.g. 127.0.0.1,10.0.0.0/8).",
    schema: list.default([]),
  },
  {
    key: "fetchTimeoutMs",
    group: "Search and reading pages",
    value: "MS",
    help: "Timeout of read_url's fetch of one page (all redirects included).",
    schema: intFrom(100, 300_000).default(15_000),
  },
  {
    key: "fetchMaxBytes",
    group: "Search and reading pages",
    value: "BYTES",
    help: "Largest response body read_url accepts.",
    schema: intFrom(1024, 1 << 30).default(5 * 1024 * 1024),
  },
  {
    key: "toolsDir",
    group: "Actions",
    value: "DIR",
    help: "The directory of action files (.json, .yaml, .yml), watched for changes; relative to the working directory.",
    schema: z.string().min(1).default("./tools"),
    path: true,
  },
  {
    key: "allowUnconfirmed",
    group: "Actions",
    help: "Run actions marked confirm or destructive without asking, when the client cannot ask the user (elicitation).",
    schema: bool.default(false),
    boolean: true,
  },
  {
    key: "stateDir",
    group: "Workflows and runs",
    value: "DIR",
    help: "Where workflow runs (and MCP tasks) are recorded, so they outlast a restart. Default: the platform's state directory for lam-mcp.",
    schema: z.string().min(1).optional(),
    path: true,
    shownDefault: "$XDG_STATE_HOME/lam-mcp, else ~/.local/state/lam-mcp (macOS: ~/Library/Application Support/lam-mcp; Windows: %LOCALAPPDATA%\\lam-mcp)",
  },
  {
    key: "allowUnattended",
    group: "Workflows and runs",
    help: "Let scheduled workflows whose file says unattended: true run steps that need confirmation (nobody is there to ask).",
    schema: bool.default(false),
    boolean: true,
  },
  {
    key: "runsKeep",
    group: "Workflows and runs",
    value: "N",
    help: "Most run records kept; older ones are deleted.",
    schema: intFrom(1, 1_000_000).default(500),
  },
  {
    key: "runsMaxAgeDays",
    group: "Workflows and runs",
    value: "DAYS",
    help: "Run records older than this are deleted.",
    schema: intFrom(1, 36_500).default(30),
  },
  {
    key: "transport",
    group: "Transport and HTTP service",
    value: "stdio|http",
    help: "How clients connect: stdio (a child process) or Streamable HTTP at /mcp.",
    schema: z.enum(["stdio", "http"]).default("stdio"),
  },
  {
    key: "host",
    group: "Transport and HTTP service",
    value: "ADDRESS",
    help: "Address the HTTP transport binds.",
    schema: z.string().min(1).default("127.0.0.1"),
  },
  {
    key: "port",
    group: "Transport and HTTP service",
    value: "N",
    help: "Port of the HTTP transport (0 = any free port, printed on stderr).",
    schema: intFrom(0, 65535).default(3333),
  },
  {
    key: "allowedHosts",
    group: "Transport and HTTP service",
    value: "LIST",
    help: "Extra Host header values the HTTP transport accepts (comma-separated), besides the bound address.",
    schema: list.default([]),
  },
  {
    key: "allowedOrigins",
    group: "Transport and HTTP service",
    value: "LIST",
    help: "Extra Origin header values the HTTP transport accepts (comma-separated), besides loopback origins.",
    schema: list.default([]),
  },
  {
    key: "replicaId",
    group: "Transport and HTTP service",
    value: "NAME",
    help:
      "This replica's name behind a load balancer: session ids start with it (NAME.uuid), so a proxy can send each " +
      "session's requests to the replica that holds it (deploy/cluster). Letters, digits, _, : and -.",
    schema: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_:-]{0,63}$/, "letters, digits, _, : and - (64 at most; no dot: the first dot ends it in a session id)")
      .optional(),
    shownDefault: "HOST:PID",
  },
  {
    key: "stateless",
    group: "Transport and HTTP service",
    help: "HTTP without sessions: every request stands alone (no Mcp-Session-Id, no server-to-client requests).",
    schema: bool.default(false),
    boolean: true,
  },
  {
    key: "authToken",
    group: "Transport and HTTP service",
    value: "TOKEN",
    help: "Require `Authorization: Bearer TOKEN` on /mcp and /metrics. Required to bind a non-loopback address.",
    schema: z.string().min(16, "at least 16 characters").optional(),
    secret: true,
  },
  {
    key: "maxSessions",
    group: "Transport and HTTP service",
    value: "N",
    help: "Most concurrent HTTP sessions; past that, initialize is refused (503).",
    schema: intFrom(1, 100_000).default(100),
  },
  {
    key: "sessionIdleMs",
    group: "Transport and HTTP service",
    value: "MS",
    help: "An HTTP session with no request for this long is closed.",
    schema: intFrom(1000, 7 * 86_400_000).default(1_800_000),
  },
  {
    key: "maxConcurrentPerClient",
    group: "Transport and HTTP service",
    value: "N",
    help: "Most HTTP requests in flight per client (session, or address without one); past that: 429.",
    schema: intFrom(1, 100_000).default(256),
  },
  {
    key: "shutdownTimeoutMs",
    group: "Transport and HTTP service",
    value: "MS",
    help: "On SIGTERM/SIGINT, how long in-flight calls may finish before they are cancelled.",
    schema: intFrom(0, 600_000).default(10_000),
  },
  {
    key: "logLevel",
    group: "Logging",
    value: "debug|info|warn|error|silent",
    help: "Least severe log line written to stderr.",
    schema: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  },
  {
    key: "logFormat",
    group: "Logging",
    value: "auto|text|json",
    help: "Log lines as text or JSON; auto = text on a terminal, JSON otherwise.",
    schema: z.enum(["auto", "text", "json"]).default("auto"),
  },
] as const satisfies readonly SettingDefinition[];

/** Every setting, in groups, each with its flag and environment twin. */
export const SETTINGS: readonly Setting[] = DEFINITIONS.map((d) => ({ ...d, flag: flagOf(d.key), env: envOf(d.key) }));

type SettingList = typeof DEFINITIONS;
type SettingByKey<K extends string> = Extract<SettingList[number], { key: K }>;
export type Config = Readonly<
  {
    [K in SettingList[number]["key"]]: z.output<SettingByKey<K>["schema"]>;
  } & { stateDir: string; replicaId: string }
>;

const ConfigSchema = z.object(
  Object.fromEntries(DEFINITIONS.map((s) => [s.key, s.schema])) as { [K in SettingList[number]["key"]]: SettingByKey<K>["schema"] },
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
  for (const s of SETTINGS) {
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
    if (s.key === "lora" && Array.isArray(merged[s.key])) merged[s.key] = (merged[s.key] as string[]).map((v) => expandHome(v));
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
  if ((config.lora as string[]).length > 0 && (config.llmUrl as string[]).length > 0) {
    throw new ConfigError([`${source.lora ?? "--lora"}: LoRA adapters apply to the local model; with --llm-url the server generates, so give the adapter to it (llama-server --lora FILE)`]);
  }
  // The default model is for running alone: with an inference server, nothing is downloaded unless asked for.
  if (config.model === undefined && (config.llmUrl as string[]).length === 0) config.model = DEFAULT_MODEL;
  config.modelsDir = resolve(String(config.modelsDir));
  config.stateDir = resolve(typeof config.stateDir === "string" ? config.stateDir : defaultStateDir(env));
  config.replicaId ??= `${hostname().replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 48)}:${process.pid}`;
  config.toolsDir = resolve(String(config.toolsDir));
  return Object.freeze(config) as Config;
}

/**
 * Where traces go, from the standard OpenTelemetry environment variables (not lam-mcp settings: the same names every
 * OpenTelemetry SDK reads): undefined, and nothing is traced, unless OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
 * OTEL_EXPORTER_OTLP_ENDPOINT is set (or OTEL_TRACES_EXPORTER / OTEL_SDK_DISABLED say no).
 */
export function otelSettings(env: NodeJS.ProcessEnv): TracingSettings | undefined {
  if (env.OTEL_SDK_DISABLED === "true" || (env.OTEL_TRACES_EXPORTER ?? "otlp").split(",").every((e) => e.trim() !== "otlp")) return undefined;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const url = traces || (base ? `${base.replace(/\/+$/, "")}/v1/traces` : undefined);
  if (!url) return undefined;
  const headers: Record<string, string> = {};
  for (const pair of (env.OTEL_EXPORTER_OTLP_TRACES_HEADERS ?? env.OTEL_EXPORTER_OTLP_HEADERS ?? "").split(",")) {
    const at = pair.indexOf("=");
    if (at > 0) headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
  }
  const number = (value: string | undefined, fallback: number) => (value && /^\d+$/.test(value) ? Number(value) : fallback);
  return {
    url,
    headers,
    serviceName: env.OTEL_SERVICE_NAME || "lam-mcp",
    scheduleDelayMs: number(env.OTEL_BSP_SCHEDULE_DELAY, 5000),
    timeoutMs: number(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT, 10_000),
  };
}

/** The adapters of --lora: each PATH[:SCALE] as a resolved path and a scale (default 1). */
export function loraAdapters(config: Pick<Config, "lora">): Array<{ path: string; scale: number }> {
  return config.lora.map((entry) => {
    const m = /^(.+?):(-?\d+(?:\.\d+)?)$/.exec(entry);
    return m ? { path: resolve(m[1]!), scale: Number(m[2]) } : { path: resolve(entry), scale: 1 };
  });
}

/** The platform's state directory for lam-mcp (XDG on Linux and the BSDs). */
export function defaultStateDir(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform, home = homedir()): string {
  if (platform === "darwin") return join(home, "Library", "Application Support", "lam-mcp");
  if (platform === "win32") return join(env.LOCALAPPDATA ?? join(home, "AppData", "Local"), "lam-mcp");
  const xdg = env.XDG_STATE_HOME;
  return join(xdg && xdg.startsWith("/") ? xdg : join(home, ".local", "state"), "lam-mcp");
}

/** A leading ~ (alone or before a slash) is the home directory, as a shell would expand it. */
export function expandHome(path: string, home = homedir()): string {
  return path === "~" ? home : path.startsWith("~/") ? join(home, path.slice(2)) : path;
}

/** A value as an error message may show it: a secret never, not even its length; URLs without credentials. */
function shownValue(key: string, value: unknown): string {
  const setting = SETTINGS.find((s) => s.key === key);
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
  for (const s of SETTINGS) {
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

/** A setting's default as documented ("" when it has none): the machine-independent form where one is given. */
export function shownDefault(s: Setting): string {
  if (s.shownDefault !== undefined) return s.shownDefault;
  const def = ConfigSchema.shape[s.key as keyof typeof ConfigSchema.shape].safeParse(undefined);
  if (!def.success || def.data === undefined) return "";
  const value: unknown = def.data;
  if (Array.isArray(value)) return value.join(",");
  if (value !== null && typeof value === "object") return Object.keys(value).length === 0 ? "" : JSON.stringify(value);
  return String(value);
}

export function helpText(version: string): string {
  const rows = GROUPS.flatMap((group) => [
    `${group}:`,
    ...SETTINGS.filter((s) => s.group === group).map((s) => {
      const flag = `--${s.flag}${s.value && !s.boolean ? ` ${s.value}` : ""}${s.repeatable ? " (repeatable)" : ""}`;
      const def = shownDefault(s);
      return `  ${flag}\n      ${s.help}${def ? ` [default: ${def}]` : ""}\n      env: ${s.env}`;
    }),
    "",
  ]);
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
    "",
    ...rows,
  ].join("\n");
}
