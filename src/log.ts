/**
 * The logger: stderr only, never stdout (stdout carries the protocol over stdio).
 * Text lines on a terminal, JSON lines otherwise. Listeners (the MCP logging capability) can subscribe.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel | "silent", number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface LogRecord {
  level: LogLevel;
  msg: string;
  time: string;
  [field: string]: unknown;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  enabled(level: LogLevel): boolean;
  /** Called for every record at or above the listener's own threshold; returns an unsubscribe function. */
  subscribe(listener: (record: LogRecord) => void): () => void;
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
  const listeners = new Set<(record: LogRecord) => void>();
  const threshold = RANK[options.level];

  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    const wanted = RANK[level] >= threshold;
    if (!wanted && listeners.size === 0) return;
    const record: LogRecord = { time: new Date().toISOString(), level, msg, ...fields };
    if (wanted) {
      if (json) write(`${safeJson(record)}\n`);
      else {
        const extra = fields && Object.keys(fields).length > 0 ? ` ${safeJson(fields)}` : "";
        write(`${record.time} ${level.toUpperCase().padEnd(5)} ${msg}${extra}\n`);
      }
    }
    for (const listener of listeners) listener(record);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    enabled: (level) => RANK[level] >= threshold,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
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
