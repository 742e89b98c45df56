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
  actions: Pick<ActionRegistry, "counts">;
  searchConfigured: boolean;
  started: number;
}

export function statusTool(deps: StatusDeps): ToolSpec {
  return defineTool({
    name: "server_status",
    title: "Server status",
    description:
      "Reports the server's version and uptime, the model (configured source, whether it is loaded), the generation " +
      "sequences in use and waiting, whether web search is configured, and how many user actions are loaded. Loads nothing.",
    input: z.strictObject({}),
    output: z.object({
      version: z.string(),
      uptime_s: z.number(),
      model: z.object({ source: z.string(), state: z.enum(["idle", "loading", "vocab", "full"]), name: z.string().nullable() }),
      generation: z.object({ sequences: z.number().int(), busy: z.number().int(), queued: z.number().int() }).nullable(),
      search_configured: z.boolean(),
      actions: z.object({ loaded: z.number().int(), disabled: z.number().int() }),
    }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async run() {
      const { engine } = deps;
      const stats = engine.stats();
      const { loaded, disabled } = await deps.actions.counts();
      const structured = {
        version: VERSION,
        uptime_s: Math.round((Date.now() - deps.started) / 1000),
        model: { source: engine.describeSource(), state: engine.state, name: engine.loadedInfo()?.name ?? null },
        generation: stats,
        search_configured: deps.searchConfigured,
        actions: { loaded, disabled },
      };
      return {
        structured,
        text:
          `lam-mcp ${VERSION}, up ${structured.uptime_s} s. Model ${structured.model.source} (${structured.model.state}). ` +
          `${stats ? `Generation: ${stats.busy}/${stats.sequences} sequences busy, ${stats.queued} waiting. ` : ""}` +
          `Search ${deps.searchConfigured ? "configured" : "not configured"}. Actions: ${loaded} loaded, ${disabled} disabled.`,
      };
    },
  });
}
