/**
 * The user's actions, live: the tools directory is loaded and watched; adding, changing or removing a file reloads
 * it, and whoever subscribed with onChange (the catalog, hence every session's tools/list with
 * notifications/tools/list_changed) gets the new tools. Why each file was disabled goes to the log and to the
 * lam://actions resource.
 */
import { watch, type FSWatcher } from "node:fs";
import { ToolError } from "../errors.js";
import type { Logger } from "../log.js";
import type { ToolSpec } from "../tool.js";
import { loadActionsDir, type ActionStatus, type LoadedAction } from "./loader.js";
import { actionTool, validateArgs, type ActionDeps } from "./tools.js";

export interface ActionRegistryOptions {
  /** The tools directory (absolute). */
  dir: string;
  /** What running an action needs (environment, confirmation policy, log, telemetry). */
  deps: ActionDeps;
  log: Logger;
  /** Makes the tool of a workflow file (steps); without it, a workflow's tool says it runs only in the server. */
  workflowTool?: (loaded: LoadedAction) => ToolSpec;
}

export class ActionRegistry {
  readonly dir: string;
  private actions: LoadedAction[] = [];
  private statuses: ActionStatus[] = [];
  /** Tool specs by file, reused while the file's action is unchanged (so an unchanged list is not "changed"). */
  private specs = new Map<string, { signature: string; spec: ToolSpec }>();
  private readonly listeners = new Set<(tools: ToolSpec[]) => void>();
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private lastReport = "";
  private started: Promise<void> | undefined;
  private firstLoadDone = false;
  private reserved: ReadonlySet<string> = new Set();

  constructor(private readonly options: ActionRegistryOptions) {
    this.dir = options.dir;
  }

  /**
   * Loads the directory the first time (and, with watch, follows it from then on); `reserved` are the names an
   * action may not take (the built-in tools'). Resolves once the first load is done; a second call returns the same
   * promise.
   */
  start({ reserved, watch: watching = true }: { reserved?: ReadonlySet<string>; watch?: boolean } = {}): Promise<void> {
    if (reserved && !this.started) this.reserved = reserved;
    this.started ??= this.reload().then(() => void (this.firstLoadDone = true));
    if (watching && !this.watcher && !this.poll) this.watch();
    return this.started;
  }

  /** Resolves once the first load is done (starting it, without watching, if nobody has). */
  get ready(): Promise<void> {
    return this.started ?? this.start({ watch: false });
  }

  /** Calls the listener with the action tools after every load that changed them. Returns the unsubscribe function. */
  onChange(listener: (tools: ToolSpec[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The action tools as last loaded. */
  tools(): ToolSpec[] {
    return [...this.specs.values()].map((s) => s.spec);
  }

  /** Starts watching the directory (or, while it does not exist, checking for it every 2 s). */
  private watch(): void {
    try {
      this.watcher = watch(this.dir, { persistent: false }, () => this.schedule());
      this.watcher.on("error", () => {
        this.watcher?.close();
        this.watcher = undefined;
        this.schedule();
        this.waitForDir();
      });
    } catch {
      this.waitForDir();
    }
  }

  private waitForDir() {
    if (this.poll) return;
    this.poll = setInterval(() => {
      try {
        this.watcher = watch(this.dir, { persistent: false }, () => this.schedule());
        clearInterval(this.poll);
        this.poll = undefined;
        this.schedule();
      } catch {
        // still missing
      }
    }, 2000);
    this.poll.unref();
  }

  private schedule() {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload(), 100);
    this.debounce.unref();
  }

  /** Loads the directory again; reloads never overlap. */
  reload(): Promise<void> {
    const previous = this.loading ?? Promise.resolve();
    this.loading = previous.then(() => this.load()).catch((error: unknown) => this.options.log.error("loading actions failed", { error }));
    return this.loading;
  }

  private async load(): Promise<void> {
    const { actions, statuses } = await loadActionsDir(this.dir, this.reserved);
    const specs = new Map<string, { signature: string; spec: ToolSpec }>();
    for (const loaded of actions) {
      const signature = JSON.stringify(loaded.action);
      const previous = this.specs.get(loaded.file);
      specs.set(loaded.file, previous?.signature === signature ? previous : { signature, spec: this.toolOf(loaded) });
    }
    this.actions = actions;
    this.statuses = statuses;
    this.specs = specs;
    this.report();
    const tools = this.tools();
    for (const listener of this.listeners) listener(tools);
  }

  private toolOf(loaded: LoadedAction): ToolSpec {
    if (!loaded.action.steps) return actionTool(loaded, this.options.deps);
    if (this.options.workflowTool) return this.options.workflowTool(loaded);
    const { action } = loaded;
    return {
      name: action.name,
      title: action.title ?? action.name,
      description: action.description,
      inputSchema: action.input as Record<string, unknown>,
      annotations: action.annotations ?? {},
      validate: (args) => validateArgs(loaded, args),
      run: () => Promise.reject(new ToolError(`${action.name} is a workflow, which runs in the server or with lam-mcp actions run.`, { code: "unsupported" })),
    };
  }

  /** Logs what changed in the directory's state: loaded actions, and every problem with its file and field. */
  private report() {
    const text = JSON.stringify(this.statuses);
    if (text === this.lastReport) return;
    this.lastReport = text;
    const { log } = this.options;
    const loaded = this.statuses.filter((s) => s.status === "loaded").map((s) => s.name);
    log.info(`actions: ${loaded.length} loaded from ${this.dir}`, { actions: loaded });
    for (const s of this.statuses) {
      if (s.status !== "disabled") continue;
      for (const p of s.problems) log.warn(`action file ${s.file} disabled: ${p.field}: ${p.message}`, { file: s.file, field: p.field, message: p.message });
    }
  }

  async loaded(): Promise<LoadedAction[]> {
    await this.ready;
    return this.actions;
  }

  /** The lam://actions resource: every file, its action and its status. */
  async describe(): Promise<{ dir: string; actions: ActionStatus[] }> {
    await this.ready;
    return { dir: this.dir, actions: this.statuses };
  }

  /** How many action files are loaded and disabled (after the first load). */
  async counts(): Promise<{ loaded: number; disabled: number }> {
    await this.ready;
    return this.countsNow()!;
  }

  /** counts() without waiting (server_status is called often): undefined until the first load is done. */
  countsNow(): { loaded: number; disabled: number } | undefined {
    if (!this.firstLoadDone) return undefined;
    const loaded = this.actions.length;
    return { loaded, disabled: this.statuses.length - loaded };
  }

  close(): void {
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
    this.listeners.clear();
  }
}
