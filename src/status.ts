/**
 * server_status: what the server is and how it is doing, without loading anything. A cheap call an agent can use
 * to check the server before planning (and the no-op of the latency benchmark).
 */
import { z } from "zod";
import type { ActionRegistry } from "./actions/registry.js";
import type { Engine } from "./llm/engine.js";
import { defineTool, type ToolSpec } from "./tool.js";
import { VERSION } from "./version.js";

export interface StatusDeps {
  engine: Engine;
  /** This replica's name (--replica-id). */
  replica: string;
  actions: Pick<ActionRegistry, "counts" | "countsNow">;
  searchConfigured: boolean;
  started: number;
}

/** The backend part of the answer (built without spreads: server_status is the no-op of `npm run bench -- noop`). */
function backendOf(backend: ReturnType<Engine["backend"]>) {
  const out: { kind: typeof backend.kind; api?: string; servers?: Array<{ url: string; healthy: boolean | null; last_error: string | null; in_flight: number; waiting: number }> } = { kind: backend.kind };
  if (backend.api) out.api = backend.api;
  if (backend.servers) out.servers = backend.servers.map((s) => ({ url: s.url, healthy: s.healthy, last_error: s.lastError, in_flight: s.inFlight, waiting: s.waiting }));
  return out;
}

export function statusTool(deps: StatusDeps): ToolSpec {
  return defineTool({
    name: "server_status",
    title: "Server status",
    description:
      "Reports the server's version and uptime, the model (configured source, whether it is loaded), the backend (local, " +
      "or each inference server URL with its health), the generation " +
      "sequences in use and waiting, whether web search is configured, and how many user actions are loaded. Loads nothing.",
    input: z.strictObject({}),
    output: z.object({
      version: z.string(),
      replica: z.string().describe("This replica's name (--replica-id): session ids start with it"),
      pid: z.number().int(),
      uptime_s: z.number(),
      model: z.object({ source: z.string(), state: z.enum(["idle", "loading", "vocab", "full"]), name: z.string().nullable() }),
      generation: z.object({ sequences: z.number().int(), busy: z.number().int(), queued: z.number().int() }).nullable(),
      backend: z.object({
        kind: z.enum(["local", "remote"]).describe("local: node-llama-cpp in this process; remote: the inference server(s) of --llm-url"),
        api: z.string().optional().describe("The API spoken to the server (llama-server or openai), once known"),
        servers: z
          .array(
            z.object({
              url: z.string(),
              healthy: z.boolean().nullable().describe("null until the first request"),
              last_error: z.string().nullable(),
              in_flight: z.number().int(),
              waiting: z.number().int(),
            }),
          )
          .optional(),
      }),
      search_configured: z.boolean(),
      actions: z.object({ loaded: z.number().int(), disabled: z.number().int() }),
    }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async run() {
      const { engine } = deps;
      const stats = engine.stats();
      const backend = engine.backend();
      const { loaded, disabled } = deps.actions.countsNow() ?? (await deps.actions.counts());
      const structured = {
        version: VERSION,
        replica: deps.replica,
        pid: process.pid,
        uptime_s: Math.round((Date.now() - deps.started) / 1000),
        model: { source: engine.describeSource(), state: engine.state, name: engine.loadedInfo()?.name ?? null },
        generation: stats,
        backend: backendOf(backend),
        search_configured: deps.searchConfigured,
        actions: { loaded, disabled },
      };
      return {
        structured,
        text:
          `lam-mcp ${VERSION} (replica ${deps.replica}, pid ${process.pid}), up ${structured.uptime_s} s. Model ${structured.model.source} (${structured.model.state}). ` +
          `${backend.servers ? `Model servers: ${backend.servers.map((s) => `${s.url} ${s.healthy === null ? "not asked yet" : s.healthy ? "up" : `down (${s.lastError ?? "?"})`}`).join("; ")}. ` : ""}` +
          `${stats ? `Generation: ${stats.busy}/${stats.sequences} sequences busy, ${stats.queued} waiting. ` : ""}` +
          `Search ${deps.searchConfigured ? "configured" : "not configured"}. Actions: ${loaded} loaded, ${disabled} disabled.`,
      };
    },
  });
}
