/**
 * The user's actions, live: the tools directory is loaded at start and watched; adding, changing or removing a
 * file reloads it, and the catalog (hence every session's tools/list, with notifications/tools/list_changed)
 * follows. Why each file was disabled goes to the log and to the lam://actions resource.
 */
import { watch, type FSWatcher } from "node:fs";
import type { Logger } from "../log.js";
import type { ToolSpec } from "../tool.js";
import { loadActionsDir, type ActionStatus, type LoadedAction } from "./loader.js";
import { actionTool, type ActionDeps } from "./tools.js";

export class ActionRegistry {
  private actions: LoadedAction[] = [];
  private statuses: ActionStatus[] = [];
  /** Tool specs by file, reused while the file's action is unchanged (so an unchanged list is not "changed"). */
  private specs = new Map<string, { signature: string; spec: ToolSpec }>();
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private loading: Promise<void> = Promise.resolve();
  private lastReport = "";
  readonly ready: Promise<void>;

  constructor(
    readonly dir: string,
    private readonly reserved: () => Set<string>,
    private readonly deps: ActionDeps,
    private readonly onTools: (specs: ToolSpec[]) => void,
    private readonly log: Logger,
  ) {
    this.ready = this.reload();
  }

  /** Starts watching the directory (or, while it does not exist, checking for it every 2 s). */
  watch(): void {
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
    this.loading = this.loading.then(() => this.load()).catch((error: unknown) => this.log.error("loading actions failed", { error }));
    return this.loading;
  }

  private async load(): Promise<void> {
    const { actions, statuses } = await loadActionsDir(this.dir, this.reserved());
    const specs = new Map<string, { signature: string; spec: ToolSpec }>();
    for (const loaded of actions) {
      const signature = JSON.stringify(loaded.action);
      const previous = this.specs.get(loaded.file);
      specs.set(loaded.file, previous?.signature === signature ? previous : { signature, spec: actionTool(loaded, this.deps) });
    }
    this.actions = actions;
    this.statuses = statuses;
    this.specs = specs;
    this.report();
    this.onTools([...specs.values()].map((s) => s.spec));
  }

  /** Logs what changed in the directory's state: loaded actions, and every problem with its file and field. */
  private report() {
    const text = JSON.stringify(this.statuses);
    if (text === this.lastReport) return;
    this.lastReport = text;
    const loaded = this.statuses.filter((s) => s.status === "loaded").map((s) => s.name);
    this.log.info(`actions: ${loaded.length} loaded from ${this.dir}`, { actions: loaded });
    for (const s of this.statuses) {
      if (s.status !== "disabled") continue;
      for (const p of s.problems) this.log.warn(`action file ${s.file} disabled: ${p.field}: ${p.message}`, { file: s.file, field: p.field, message: p.message });
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
    const loaded = this.actions.length;
    return { loaded, disabled: this.statuses.length - loaded };
  }

  close(): void {
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
  }
}
