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

type Status = {
  version: string;
  replica: string;
  pid: number;
  uptime_s: number;
  model: { source: string; state: Engine["state"]; name: string | null };
  generation: GenerationStats | null;
  backend: ReturnType<typeof backendOf>;
  search_configured: boolean;
  actions: { loaded: number; disabled: number };
};

const sameStats = (a: GenerationStats | null, b: GenerationStats | null) =>
  a === null ? b === null : b !== null && a.busy === b.busy && a.sequences === b.sequences && a.queued === b.queued;

/**
 * server_status's answer. Agents poll it, and it is the no-op of `npm run bench -- noop`: the last answer (its
 * structured part and its text) is given again while nothing in it has changed (within the same second of uptime),
 * which spares building a dozen objects and a 200-character string per call. Answers with remote servers are never
 * kept: their health changes without notice.
 */
function statusAnswer(deps: StatusDeps): () => Promise<{ structured: Status; text: string }> {
  const head = `lam-mcp ${VERSION} (replica ${deps.replica}, pid ${process.pid}), up `;
  let last: { structured: Status; text: string } | undefined;
  return async () => {
    const { engine } = deps;
    const stats = engine.stats();
    const backend = engine.backend();
    const { loaded, disabled } = deps.actions.countsNow() ?? (await deps.actions.counts());
    const uptime = Math.round((Date.now() - deps.started) / 1000);
    const source = engine.describeSource();
    const state = engine.state;
    const name = engine.loadedInfo()?.name ?? null;
    if (last && !backend.servers) {
      const s = last.structured;
      if (
        s.uptime_s === uptime &&
        s.model.source === source &&
        s.model.state === state &&
        s.model.name === name &&
        s.actions.loaded === loaded &&
        s.actions.disabled === disabled &&
        s.backend.kind === backend.kind &&
        s.backend.api === backend.api &&
        sameStats(s.generation, stats)
      ) {
        return last;
      }
    }
    const structured: Status = {
      version: VERSION,
      replica: deps.replica,
      pid: process.pid,
      uptime_s: uptime,
      model: { source, state, name },
      generation: stats,
      backend: backendOf(backend),
      search_configured: deps.searchConfigured,
      actions: { loaded, disabled },
    };
    const servers = backend.servers;
    const text =
      `${head}${uptime} s. Model ${source} (${state}). ` +
      `${servers ? `Model servers: ${servers.map((s) => `${s.url} ${s.healthy === null ? "not asked yet" : s.healthy ? "up" : `down (${s.lastError ?? "?"})`}`).join("; ")}. ` : ""}` +
      `${stats ? `Generation: ${stats.busy}/${stats.sequences} sequences busy, ${stats.queued} waiting. ` : ""}` +
      `Search ${deps.searchConfigured ? "configured" : "not configured"}. Actions: ${loaded} loaded, ${disabled} disabled.`;
    const answer = { structured, text };
    last = servers ? undefined : answer;
    return answer;
  };
}

export function statusTool(deps: StatusDeps): ToolSpec {
  const answer = statusAnswer(deps);
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
    run: answer,
  });
}
