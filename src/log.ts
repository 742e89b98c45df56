/**
 * The logger: stderr only, never stdout (stdout carries the protocol over stdio).
 * Text lines on a terminal, JSON lines otherwise. Listeners (the MCP logging capability) can subscribe.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * The session a record belongs to: records logged through a session's scoped logger (the `ctx.log` of its tool
 * calls) carry its scope (under a symbol key, so it never shows in the JSON), and the MCP logging forwarder sends a
 * session only its own records and the server-wide ones.
 *
 * The scope travels with the logger, not in an AsyncLocalStorage: on Node 20 one AsyncLocalStorage.run() turns on
 * promise hooks for the whole process, which cost a no-op tool call ~6 us of CPU (a quarter of the SDK's own
 * dispatch; `npm run bench -- noop`).
 */
export const LOG_SCOPE: unique symbol = Symbol("lam.log.scope");
const RANK: Record<LogLevel | "silent", number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface LogRecord {
  level: LogLevel;
  msg: string;
  time: string;
  [LOG_SCOPE]?: symbol;
  [field: string]: unknown;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** True when a record at this level would go to stderr. */
  enabled(level: LogLevel): boolean;
  /** True when anyone (stderr or a listener) would take a record at this level: build costly fields only then. */
  wanted(level: LogLevel): boolean;
  /**
   * Calls the listener for every record at or above its level (debug by default; change it with the returned
   * handle's setLevel). Records nobody wants are never built.
   */
  subscribe(listener: (record: LogRecord) => void, level?: LogLevel): Subscription;
  /** The same logger, its records marked as the session's (see LOG_SCOPE). */
  scoped(scope: symbol): Logger;
}

export interface Subscription {
  (): void;
  setLevel(level: LogLevel): void;
}

export interface LoggerOptions {
  level: LogLevel | "silent";
  format: "auto" | "text" | "json";
  /** Where lines go; stderr by default. */
  write?: (line: string) => void;
  isTTY?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const json = options.format === "json" || (options.format === "auto" && !(options.isTTY ?? process.stderr.isTTY));
  const listeners = new Map<(record: LogRecord) => void, number>();
  const threshold = RANK[options.level];
  // The least severe level anyone (stderr or a listener) wants, kept up to date.
  let lowest = threshold;
  const recompute = () => (lowest = Math.min(threshold, ...listeners.values()));

  const emit = (level: LogLevel, msg: string, fields: Record<string, unknown> | undefined, scope: symbol | undefined) => {
    if (RANK[level] < lowest) return;
    const wanted = RANK[level] >= threshold;
    const record: LogRecord = { time: new Date().toISOString(), level, msg, ...fields };
    if (scope) record[LOG_SCOPE] = scope;
    if (wanted) {
      if (json) write(`${safeJson(record)}\n`);
      else {
        const extra = fields && Object.keys(fields).length > 0 ? ` ${safeJson(fields)}` : "";
        write(`${record.time} ${level.toUpperCase().padEnd(5)} ${msg}${extra}\n`);
      }
    }
    for (const [listener, min] of listeners) if (RANK[level] >= min) listener(record);
  };
  const subscribe: Logger["subscribe"] = (listener, level = "debug") => {
    listeners.set(listener, RANK[level]);
    recompute();
    const unsubscribe = () => {
      listeners.delete(listener);
      recompute();
    };
    return Object.assign(unsubscribe, {
      setLevel(next: LogLevel) {
        if (!listeners.has(listener)) return;
        listeners.set(listener, RANK[next]);
        recompute();
      },
    });
  };
  const view = (scope: symbol | undefined): Logger => ({
    debug: (m, f) => emit("debug", m, f, scope),
    info: (m, f) => emit("info", m, f, scope),
    warn: (m, f) => emit("warn", m, f, scope),
    error: (m, f) => emit("error", m, f, scope),
    enabled: (level) => RANK[level] >= threshold,
    wanted: (level) => RANK[level] >= lowest,
    subscribe,
    scoped: (next) => view(next),
  });
  return view(undefined);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, v: unknown) =>
      v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : typeof v === "bigint" ? v.toString() : v,
    );
  } catch {
    return JSON.stringify(String(value));
  }
}

/** A logger that drops everything (tests and benchmarks that do not care). */
export const silentLogger: Logger = createLogger({ level: "silent", format: "text", write: () => undefined });
