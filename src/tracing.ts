/**
 * Traces, when asked for: a span per tool call, with child spans for model loads, generations, searches, page
 * fetches, action runs and workflow steps. Names and outcomes, counts and durations only: never an argument's value,
 * so nothing secret can leave in a span. This module is the facade every part uses; with no OTLP endpoint
 * configured it does nothing and loads nothing (OpenTelemetry's packages are imported by tracing-otel.ts, on start).
 */

export type SpanAttributes = Record<string, string | number | boolean>;

export interface SpanHandle {
  set(attributes: SpanAttributes): void;
}

export interface TracingBackend {
  span<T>(name: string, attributes: SpanAttributes, fn: (span: SpanHandle) => Promise<T>, parent?: { traceparent: string; tracestate?: string }): Promise<T>;
  shutdown(): Promise<void>;
}

/** Where traces go: OTLP/HTTP (the standard OTEL_* environment variables, read by config.ts). */
export interface TracingSettings {
  /** The traces URL (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces). */
  url: string;
  headers: Record<string, string>;
  serviceName: string;
  /** Batch delay (OTEL_BSP_SCHEDULE_DELAY), ms. */
  scheduleDelayMs: number;
  /** Export timeout (OTEL_EXPORTER_OTLP_TIMEOUT), ms. */
  timeoutMs: number;
}

const NOOP_SPAN: SpanHandle = { set: () => undefined };
const NOOP: TracingBackend = {
  span: (_name, _attributes, fn) => fn(NOOP_SPAN),
  shutdown: async () => undefined,
};

let backend: TracingBackend = NOOP;
let users = 0;

/** Whether spans go anywhere (callers on a hot path skip building one otherwise). */
export function tracingActive(): boolean {
  return backend !== NOOP;
}

/** Runs fn in a span: a child of the current one, or of the caller's W3C traceparent when given. */
export function span<T>(name: string, attributes: SpanAttributes, fn: (span: SpanHandle) => Promise<T>, parent?: { traceparent: string; tracestate?: string }): Promise<T> {
  return backend.span(name, attributes, fn, parent);
}

/** Starts exporting (once per process: OpenTelemetry's context is process-wide); stopTracing flushes. */
export async function startTracing(settings: TracingSettings): Promise<void> {
  users++;
  if (backend !== NOOP) return;
  const { otelBackend } = await import("./tracing-otel.js");
  backend = otelBackend(settings);
}

/** Flushes what is batched and stops, when the last user stops. */
export async function stopTracing(): Promise<void> {
  if (users === 0) return;
  users--;
  if (users > 0) return;
  const stopping = backend;
  backend = NOOP;
  await stopping.shutdown();
}
