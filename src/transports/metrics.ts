/**
 * /metrics in Prometheus text format (prom-client): tool calls by tool and outcome, call durations, tokens in
 * and out, generation speed, search latency, action failures, generation queue depth, active sessions, model
 * load time, and the process's own figures. Fed by the services' telemetry; gauges read at scrape time.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Services } from "../services.js";
import type { TelemetryEvent } from "../telemetry.js";

export interface Metrics {
  contentType: string;
  render(): Promise<string>;
  close(): void;
}

export function createMetrics(services: Services, sessions: () => number, servers: () => number): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "lam_" });
  gauges(registry, {
    lam_generation_queue_depth: ["Generation calls waiting for a sequence", () => services.engine.stats()?.queued ?? 0],
    lam_generation_sequences_busy: ["Generation sequences in use", () => services.engine.stats()?.busy ?? 0],
    lam_sessions_active: ["Open MCP sessions over HTTP", sessions],
    lam_mcp_servers: ["MCP server instances alive over HTTP (one per session, one per stateless request in flight)", servers],
  });
  llmGauges(registry, services);
  const off = services.telemetry.on(telemetryRecorder(registry));
  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    close: off,
  };
}

/** Gauges read at scrape time. */
function gauges(registry: Registry, read: Record<string, [help: string, value: () => number]>) {
  for (const [name, [help, value]] of Object.entries(read)) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value());
      },
    });
  }
}

/** Each inference server URL's health and load (--llm-url), labelled by the URL without credentials. */
function llmGauges(registry: Registry, services: Services) {
  const servers = () => services.engine.backend().servers ?? [];
  new Gauge({
    name: "lam_llm_up",
    help: "Whether the last request to an inference server URL succeeded (1), failed (0), or none was sent yet (-1)",
    labelNames: ["url"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of servers()) this.set({ url: s.url }, s.healthy === null ? -1 : s.healthy ? 1 : 0);
    },
  });
  new Gauge({
    name: "lam_llm_requests_in_flight",
    help: "Requests in flight to an inference server URL",
    labelNames: ["url"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of servers()) this.set({ url: s.url }, s.inFlight);
    },
  });
  new Gauge({
    name: "lam_llm_requests_waiting",
    help: "Requests waiting for a free place under --llm-max-concurrent, per inference server URL",
    labelNames: ["url"],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of servers()) this.set({ url: s.url }, s.waiting);
    },
  });
}

/** The metrics fed by telemetry events: tool calls and durations, tokens and speed, searches, action failures, loads. */
function telemetryRecorder(registry: Registry): (event: TelemetryEvent) => void {
  const calls = new Counter({ name: "lam_tool_calls_total", help: "Tool calls by tool and outcome", labelNames: ["tool", "outcome"], registers: [registry] });
  const duration = new Histogram({
    name: "lam_tool_call_duration_seconds",
    help: "Tool call duration",
    labelNames: ["tool"],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const tokens = new Counter({ name: "lam_tokens_total", help: "Generation tokens, in (prompt) and out (completion)", labelNames: ["direction"], registers: [registry] });
  const speed = new Histogram({
    name: "lam_generation_tokens_per_second",
    help: "Generation speed of each call",
    buckets: [1, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
    registers: [registry],
  });
  const search = new Histogram({
    name: "lam_search_duration_seconds",
    help: "web_search / search_context searches, by outcome (ok, cached, error)",
    labelNames: ["outcome"],
    buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const actionFailures = new Counter({ name: "lam_action_failures_total", help: "User action failures by action and code", labelNames: ["action", "code"], registers: [registry] });
  const modelLoad = new Gauge({ name: "lam_model_load_seconds", help: "Time of the last model load", labelNames: ["kind"], registers: [registry] });
  return (event) => {
    switch (event.type) {
      case "tool_call":
        calls.inc({ tool: event.tool, outcome: event.outcome });
        duration.observe({ tool: event.tool }, event.ms / 1000);
        break;
      case "generation":
        tokens.inc({ direction: "in" }, event.promptTokens);
        tokens.inc({ direction: "out" }, event.completionTokens);
        if (event.tokensPerSecond > 0) speed.observe(event.tokensPerSecond);
        break;
      case "search":
        search.observe({ outcome: event.outcome }, event.ms / 1000);
        break;
      case "action_failure":
        actionFailures.inc({ action: event.action, code: event.code });
        break;
      case "model_load":
        modelLoad.set({ kind: event.vocabOnly ? "vocabulary" : "full" }, event.ms / 1000);
        break;
    }
  };
}
