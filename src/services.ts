/**
 * The composition root: createServices(config) builds what every session shares (the model engines, the tool
 * families, the user's actions, the catalog, telemetry) and wires them, in order, each from what exists already.
 * Nothing loads or listens at import time; building loads nothing either (the model, the search runtime and the
 * actions directory load on first need, or when start is asked for).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ActionRegistry } from "./actions/registry.js";
import type { LoadedAction } from "./actions/loader.js";
import { previewTool, type ActionDeps } from "./actions/tools.js";
import { ToolCatalog } from "./catalog.js";
import { DEFAULT_MODEL, loraAdapters, type Config } from "./config.js";
import { generationTools } from "./generation/tools.js";
import { insightTools } from "./insight/tools.js";
import { messageOf } from "./errors.js";
import type { Engine } from "./llm/engine.js";
import { LocalEngine } from "./llm/local/engine.js";
import { RemoteEngine } from "./llm/remote/engine.js";
import type { Logger } from "./log.js";
import type { SearchRuntime } from "./search/runtime.js";
import { searchTools } from "./search/tools.js";
import { statusTool } from "./status.js";
import { Telemetry } from "./telemetry.js";
import { startTracing, stopTracing, type TracingSettings } from "./tracing.js";
import { callTool, type CallObserver, type CallResult, type ToolContext, type ToolSpec } from "./tool.js";
import { FileTaskStore } from "./mcp-tasks.js";
import { StateLock } from "./tasks/lock.js";
import { Scheduler, type ScheduleStatus } from "./tasks/scheduler.js";
import { RunStore } from "./tasks/store.js";
import { runTaskTool } from "./tasks/run-task.js";
import { previewWorkflow, workflowTool, type WorkflowDeps } from "./tasks/workflow.js";
import { tokenTools } from "./tokens/tools.js";

export interface Services {
  config: Config;
  log: Logger;
  engine: Engine;
  embeddingEngine: Engine;
  catalog: ToolCatalog;
  /** The search runtime (SearXNG client, page fetcher), created on first use. */
  searchRuntime: () => Promise<SearchRuntime>;
  actions: ActionRegistry;
  /** The record of workflow runs (opened on first use). */
  runs: () => RunStore;
  /** The workflows' schedules: armed or why not, and when next. */
  schedules: () => ScheduleStatus[];
  /** The MCP tasks of every session (task-augmented tools/call), kept in the state directory. */
  tasks: () => FileTaskStore;
  /** Resolves once the first load of the actions is done (tools/list waits for it). */
  ready: Promise<void>;
  /** Events for /metrics (tool calls, generation, searches, action failures, model loads). */
  telemetry: Telemetry;
  observe: CallObserver;
  close(): Promise<void>;
  /** `await using services = createServices(...)` closes them. */
  [Symbol.asyncDispose](): Promise<void>;
}

export interface ServiceOptions {
  /** The environment actions read ${env:NAME} secrets and allow-listed variables from (cli.ts passes the process's). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Watch the tools directory for changes (default true). */
  watchActions?: boolean;
  /** Arm the workflows' schedules (default true). */
  schedules?: boolean;
  /** Export traces there (OTLP/HTTP); undefined: no tracing, nothing loaded. */
  tracing?: TracingSettings | undefined;
}

/**
 * Everything wired, nothing started: the engines (lazy), the families' tools, the actions registry (not loaded yet),
 * the catalog. Each piece is made from what exists already.
 */
function assemble(config: Config, log: Logger, env: Readonly<Record<string, string | undefined>>) {
  const telemetry = new Telemetry();
  const onLoad = (ms: number, vocabOnly: boolean) => telemetry.emit({ type: "model_load", ms, vocabOnly });
  const local = (model: string, adapters: ReadonlyArray<{ path: string; scale: number }> = []) => new LocalEngine({ ...config, model, adapters }, log, onLoad);
  // With an inference server, it does the work; a --model given as well is its tokenizer (vocabulary-only).
  const engine: Engine =
    config.llmUrl.length > 0
      ? new RemoteEngine(
          {
            urls: config.llmUrl,
            api: config.llmApi,
            apiKey: config.llmApiKey,
            model: config.llmModel,
            timeoutMs: config.llmTimeoutMs,
            maxConcurrent: config.llmMaxConcurrent,
            contextSize: config.contextSize,
          },
          config.model === undefined ? undefined : local(config.model),
        )
      : local(config.model ?? DEFAULT_MODEL, loraAdapters(config));
  const embeddingEngine: Engine = config.embeddingModel ? local(config.embeddingModel) : engine;
  let search: Promise<SearchRuntime> | undefined;
  const searchRuntime = () =>
    (search ??= import("./search/runtime.js").then((m) =>
      m.createSearchRuntime({
        searx: { urls: config.searxngUrl, timeoutMs: config.searchTimeoutMs, headers: config.searchHeaders, cacheTtlMs: config.searchCacheTtlMs, cacheSize: config.searchCacheSize },
        fetch: { allow: config.fetchAllow, timeoutMs: config.fetchTimeoutMs, maxBytes: config.fetchMaxBytes },
      }),
    ));
  const closeSearch = async () => (await search?.catch(() => undefined))?.close();
  // A call's record reaches /metrics when it listens; otherwise nothing is built (every tool call passes here).
  const observeCalls: CallObserver = ({ tool, outcome, ms }) => {
    if (telemetry.listened) telemetry.emit({ type: "tool_call", tool, outcome, ms });
  };
  const actionDeps: ActionDeps = { env, allowUnconfirmed: config.allowUnconfirmed, log, telemetry };
  let runs: RunStore | undefined;
  const store = () => (runs ??= new RunStore({ dir: config.stateDir, keep: config.runsKeep, maxAgeMs: config.runsMaxAgeDays * 86_400_000, replica: config.replicaId }));
  // Workflows call tools the way a client does: through the catalog and the one wrapper.
  const workflowDeps: WorkflowDeps = {
    lookup: (name) => catalog.get(name),
    store,
    allowUnconfirmed: config.allowUnconfirmed,
    log,
    observe: observeCalls,
  };
  const actions = new ActionRegistry({ dir: config.toolsDir, deps: actionDeps, log, workflowTool: (loaded) => workflowTool(loaded, workflowDeps) });
  const previewSteps = (loaded: LoadedAction, args: Record<string, unknown>) => ({
    plan: previewWorkflow(loaded, args, workflowDeps),
    needsConfirmation: workflowTool(loaded, workflowDeps).confirm === true,
  });
  const catalog: ToolCatalog = new ToolCatalog([
    ...tokenTools({ engine, maxInputChars: config.maxInputChars }),
    ...generationTools({ engine, embeddingEngine, defaults: config, maxInputChars: config.maxInputChars, telemetry }),
    ...insightTools({ engine, embeddingEngine, defaults: config, maxInputChars: config.maxInputChars, scoreMaxTokens: config.scoreMaxTokens }),
    ...searchTools({ runtime: searchRuntime, engine, embeddingEngine, cacheTtlMs: config.searchCacheTtlMs, cacheSize: config.searchCacheSize, telemetry }),
    previewTool(() => actions.loaded(), actionDeps, previewSteps),
    runTaskTool({ planner: engine, lookup: (name) => catalog.get(name), allowUnconfirmed: config.allowUnconfirmed, log, observe: workflowDeps.observe }),
    statusTool({ engine, replica: config.replicaId, actions, searchConfigured: config.searxngUrl.length > 0, started: Date.now() }),
  ]);
  actions.onChange((tools) => catalog.setDynamic(tools));
  return { telemetry, engine, embeddingEngine, searchRuntime, closeSearch, actions, catalog, store, runsOpened: () => runs, workflowDeps, observe: observeCalls };
}

/** Every built-in tool's spec (for the docs, and `lam-mcp actions check`, which run no server): built, nothing started. */
export function builtInTools(config: Config, log: Logger): ToolSpec[] {
  return assemble(config, log, {}).catalog.list();
}

export function builtInToolNames(config: Config, log: Logger): ReadonlySet<string> {
  return new Set(builtInTools(config, log).map((t) => t.name));
}

/**
 * The server's tools without a transport (`lam-mcp actions run` of a workflow): each call through the one wrapper,
 * as a client's would be; no watcher, no schedules.
 */
export function toolRunner(config: Config, log: Logger, env: Readonly<Record<string, string | undefined>>) {
  const services = createServices(config, log, { env, watchActions: false, schedules: false });
  return {
    async call(name: string, args: unknown, signal: AbortSignal): Promise<CallResult> {
      await services.ready;
      const spec = services.catalog.get(name);
      if (!spec) throw new Error(`no tool named ${name}`);
      const ctx: ToolContext = { signal, wantsProgress: false, progress: async () => undefined, elicit: undefined, log, tool: name };
      return callTool(spec, args, ctx, services.observe);
    },
    close: () => services.close(),
  };
}

export function createServices(config: Config, log: Logger, options: ServiceOptions = {}): Services {
  const { telemetry, engine, embeddingEngine, searchRuntime, closeSearch, actions, catalog, store, runsOpened, workflowDeps, observe } = assemble(config, log, options.env ?? {});
  const ready = actions.start({ reserved: catalog.builtInNames(), watch: options.watchActions !== false });
  const tracing = options.tracing ? startTracing(options.tracing).catch((error: unknown) => log.warn("tracing could not start", { error: messageOf(error) })) : undefined;
  let taskStore: FileTaskStore | undefined;
  const tasks = () => (taskStore ??= new FileTaskStore(config.stateDir));
  // Schedules fire while the server runs (not in `lam-mcp actions` commands).
  const scheduler =
    options.schedules === false
      ? undefined
      : new Scheduler({ ...workflowDeps, allowUnattended: config.allowUnattended }, new StateLock(join(config.stateDir, "scheduler.lock"), config.replicaId));
  if (scheduler) {
    const arm = () => void actions.loaded().then((loaded) => scheduler.update(loaded));
    actions.onChange(arm);
    void ready.then(arm);
  }
  // Runs a crashed server left "running" are marked interrupted now, not at the next run.
  if (existsSync(join(config.stateDir, "runs"))) store().open().catch((error: unknown) => log.warn("the run store could not be opened", { error: messageOf(error) }));
  const close = async () => {
    actions.close();
    await runsOpened()?.close();
    await scheduler?.close();
    await taskStore?.close();
    // Spans still batched are sent before the process goes.
    if (tracing) await tracing.then(() => stopTracing());
    await engine.close();
    if (embeddingEngine !== engine) await embeddingEngine.close();
    await closeSearch();
  };
  return {
    config,
    log,
    engine,
    embeddingEngine,
    catalog,
    searchRuntime,
    actions,
    runs: store,
    schedules: () => scheduler?.statuses() ?? [],
    tasks,
    ready,
    telemetry,
    observe,
    close,
    [Symbol.asyncDispose]: close,
  };
}
