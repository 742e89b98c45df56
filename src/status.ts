/**
 * server_status: what the server is and how it is doing, without loading anything. A cheap call an agent can use
 * to check the server before planning (and the no-op of the latency benchmark).
 */
import { z } from "zod";
import type { ActionRegistry } from "./actions/registry.js";
import type { BackendStatus, Engine, GenerationStats } from "./llm/engine.js";
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
function backendOf(backend: BackendStatus) {
  const out: { kind: typeof backend.kind; api?: string; servers?: Array<{ url: string; healthy: boolean | null; last_error: string | null; in_flight: number; waiting: number }> } = { kind: backend.kind };
  if (backend.api) out.api = backend.api;
  if (backend.servers) out.servers = backend.servers.map((s) => ({ url: s.url, healthy: s.healthy, last_error: s.lastError, in_flight: s.inFlight, waiting: s.waiting }));
  return out;
}

type Status = { uptime_s: number; model: { source: string; state: string }; generation: GenerationStats | null; search_configured: boolean; actions: { loaded: number; disabled: number } };

/**
 * The text of server_status. Agents poll it, and it is the no-op of `npm run bench -- noop`: the text of the last
 * answer is kept and given again while nothing in it has changed (within the same second of uptime), which spares
 * building a 200-character string per call.
 */
function statusText(deps: StatusDeps): (s: Status, servers: BackendStatus["servers"]) => string {
  const head = `lam-mcp ${VERSION} (replica ${deps.replica}, pid ${process.pid}), up `;
  let last: { status: Status; text: string } | undefined;
  const same = (a: Status, b: Status) =>
    a.uptime_s === b.uptime_s &&
    a.model.source === b.model.source &&
    a.model.state === b.model.state &&
    a.actions.loaded === b.actions.loaded &&
    a.actions.disabled === b.actions.disabled &&
    (a.generation === null
      ? b.generation === null
      : b.generation !== null && a.generation.busy === b.generation.busy && a.generation.sequences === b.generation.sequences && a.generation.queued === b.generation.queued);
  return (status, servers) => {
    if (!servers && last && same(last.status, status)) return last.text;
    const { generation: stats, actions } = status;
    const text =
      `${head}${status.uptime_s} s. Model ${status.model.source} (${status.model.state}). ` +
      `${servers ? `Model servers: ${servers.map((s) => `${s.url} ${s.healthy === null ? "not asked yet" : s.healthy ? "up" : `down (${s.lastError ?? "?"})`}`).join("; ")}. ` : ""}` +
      `${stats ? `Generation: ${stats.busy}/${stats.sequences} sequences busy, ${stats.queued} waiting. ` : ""}` +
      `Search ${status.search_configured ? "configured" : "not configured"}. Actions: ${actions.loaded} loaded, ${actions.disabled} disabled.`;
    // Remote servers' health changes without notice: their answers are never kept.
    last = servers ? undefined : { status, text };
    return text;
  };
}

export function statusTool(deps: StatusDeps): ToolSpec {
  const render = statusText(deps);
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
      return { structured, text: render(structured, backend.servers) };
    },
  });
}
