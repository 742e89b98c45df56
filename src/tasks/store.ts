/**
 * The run store: every workflow run (called or scheduled) as one JSON file under <state dir>/runs/, written
 * atomically (a temporary file renamed over the old one), so a run survives restarts and a crash never leaves half a
 * record. A run records the process that runs it; one found "running" whose process is gone (a crash, a kill) is
 * marked "interrupted" when the store opens, and the runs still going when the server stops are marked so at
 * shutdown: a run is never left "running" by a process that is not.
 *
 * Old runs are pruned by count and age. Listeners hear when a run ends (lam://runs subscribers).
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";

export type RunStatus = "running" | "completed" | "failed" | "cancelled" | "skipped" | "interrupted";
export type RunTrigger = "call" | "schedule";

export interface StepRecord {
  id: string;
  /** The item's index, for a for_each step (one record per item). */
  index?: number;
  tool: string;
  arguments: Record<string, unknown>;
  is_error: boolean;
  /** The step did not run: its `when` did not hold. */
  skipped?: boolean;
  /** The step was refused before it ran (a confirmation missing): it never ran. */
  refused?: boolean;
  duration_ms: number;
  /** The first lines of the tool's text answer (or its error). */
  summary: string;
}

export interface RunRecord {
  id: string;
  workflow: string;
  trigger: RunTrigger;
  status: RunStatus;
  started_at: string;
  ended_at: string | null;
  arguments: Record<string, unknown>;
  steps: StepRecord[];
  output?: unknown;
  /** Why the run failed, was skipped or interrupted. */
  error?: string;
  /** The process that runs it: its replica name (--replica-id), pid and host. */
  owner: { replica?: string; pid: number; host: string };
}

export type RunSummary = Pick<RunRecord, "id" | "workflow" | "trigger" | "status" | "started_at" | "ended_at">;

export interface RunStoreOptions {
  /** The state directory (runs go to its runs/ folder). */
  dir: string;
  /** Most runs kept (the oldest beyond are deleted). */
  keep: number;
  /** Runs older than this are deleted. */
  maxAgeMs: number;
  /** This process's replica name, recorded as each run's owner. */
  replica?: string;
}

const ID = /^\d{8}T\d{9}Z-[0-9a-f]{6}$/;

export class RunStore {
  private readonly runsDir: string;
  private opened: Promise<void> | undefined;
  /** The runs of this process still going, as last written. */
  private readonly live = new Map<string, RunRecord>();
  /** Writes of one run, in order. */
  private readonly writes = new Map<string, Promise<void>>();
  private readonly listeners = new Set<(run: RunSummary) => void>();

  constructor(private readonly options: RunStoreOptions) {
    this.runsDir = join(options.dir, "runs");
  }

  get directory(): string {
    return this.runsDir;
  }

  /**
   * Opens the store once: creates the folder, marks the runs of processes that are gone as interrupted, prunes.
   * Called by the first run, and at start-up when the folder exists (so a crash is cleaned up on the next start).
   */
  open(): Promise<void> {
    this.opened ??= (async () => {
      await mkdir(this.runsDir, { recursive: true });
      for (const run of await this.readAll()) {
        if (run.status === "running" && !alive(run.owner)) {
          await this.write({ ...run, status: "interrupted", ended_at: run.ended_at ?? new Date().toISOString(), error: "the server that ran it stopped before it ended" });
        }
      }
      await this.prune();
    })();
    return this.opened;
  }

  onEnded(listener: (run: RunSummary) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records a new run as running (or, for a skipped occurrence, as skipped at once). */
  async start(workflow: string, trigger: RunTrigger, args: Record<string, unknown>): Promise<RunRecord> {
    await this.open();
    const run: RunRecord = {
      id: newId(),
      workflow,
      trigger,
      status: "running",
      started_at: new Date().toISOString(),
      ended_at: null,
      arguments: args,
      steps: [],
      owner: { ...(this.options.replica ? { replica: this.options.replica } : {}), pid: process.pid, host: hostname() },
    };
    this.live.set(run.id, run);
    await this.save(run);
    return run;
  }

  /** Adds a step's record to a running run. */
  async step(run: RunRecord, step: StepRecord): Promise<void> {
    run.steps.push(step);
    await this.save(run);
  }

  /** Ends a run with its final status; its listeners hear of it. */
  async finish(run: RunRecord, status: Exclude<RunStatus, "running">, end: { output?: unknown; error?: string } = {}): Promise<void> {
    // Ended once: a run marked interrupted at shutdown keeps that status when its own end comes after.
    if (run.status !== "running") return;
    run.status = status;
    run.ended_at = new Date().toISOString();
    if (end.output !== undefined) run.output = end.output;
    if (end.error !== undefined) run.error = end.error;
    this.live.delete(run.id);
    await this.save(run);
    const summary = summarize(run);
    for (const listener of this.listeners) listener(summary);
  }

  /** Records an occurrence that did not run (its reason in error), as one ended record. */
  async skipped(workflow: string, trigger: RunTrigger, why: string): Promise<RunRecord> {
    const run = await this.start(workflow, trigger, {});
    await this.finish(run, "skipped", { error: why });
    return run;
  }

  /** The runs, newest first, at most `limit`. */
  async list(limit = 100): Promise<RunSummary[]> {
    const runs = await this.readAll(limit);
    return runs.map(summarize);
  }

  /** One run with its steps, or undefined. */
  async get(id: string): Promise<RunRecord | undefined> {
    if (!ID.test(id)) return undefined;
    const live = this.live.get(id);
    if (live) return structuredClone(live);
    return readRun(join(this.runsDir, `${id}.json`));
  }

  /** At shutdown: this process's runs still going are marked interrupted. */
  async close(): Promise<void> {
    for (const run of [...this.live.values()]) await this.finish(run, "interrupted", { error: "the server stopped before the run ended" });
    await Promise.all(this.writes.values());
  }

  /** Deletes the runs beyond the count kept and those older than the age kept (never a running one). */
  async prune(): Promise<void> {
    const names = await this.names();
    const cutoff = Date.now() - this.options.maxAgeMs;
    for (const [i, name] of names.entries()) {
      const started = timeOf(name);
      if (i < this.options.keep && started >= cutoff) continue;
      const id = name.slice(0, -".json".length);
      if (this.live.has(id)) continue;
      await rm(join(this.runsDir, name), { force: true });
    }
  }

  /** File names of the runs, newest first. */
  private async names(): Promise<string[]> {
    try {
      return (await readdir(this.runsDir)).filter((n) => n.endsWith(".json") && ID.test(n.slice(0, -5))).sort().reverse();
    } catch {
      return [];
    }
  }

  private async readAll(limit = Infinity): Promise<RunRecord[]> {
    const out: RunRecord[] = [];
    for (const name of await this.names()) {
      if (out.length >= limit) break;
      const live = this.live.get(name.slice(0, -5));
      const run = live ? structuredClone(live) : await readRun(join(this.runsDir, name));
      if (run) out.push(run);
    }
    return out;
  }

  /** Writes a run's record, after the writes of the same run before it (each write is whole). */
  private save(run: RunRecord): Promise<void> {
    const snapshot = structuredClone(run);
    const next = (this.writes.get(run.id) ?? Promise.resolve()).then(() => this.write(snapshot));
    this.writes.set(run.id, next);
    void next.finally(() => {
      if (this.writes.get(run.id) === next) this.writes.delete(run.id);
    });
    return next;
  }

  private async write(run: RunRecord): Promise<void> {
    const file = join(this.runsDir, `${run.id}.json`);
    const temp = `${file}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify(run, null, 1)}\n`);
    await rename(temp, file);
  }
}

function summarize(run: RunRecord): RunSummary {
  return { id: run.id, workflow: run.workflow, trigger: run.trigger, status: run.status, started_at: run.started_at, ended_at: run.ended_at };
}

/** Sortable by time, then unique: 20261129T144501123Z-a1b2c3. */
function newId(): string {
  const stamp = new Date().toISOString().replace(/[-:.]/g, "");
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

function timeOf(name: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(name);
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!) : 0;
}

async function readRun(file: string): Promise<RunRecord | undefined> {
  try {
    const run = JSON.parse(await readFile(file, "utf8")) as RunRecord;
    return typeof run.id === "string" && typeof run.status === "string" ? run : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the process that owns a run still runs (on this host; another host's runs are left to it). */
function alive(owner: RunRecord["owner"] | undefined): boolean {
  if (!owner) return false;
  if (owner.host !== hostname()) return true;
  if (owner.pid === process.pid) return false; // an earlier life of this pid cannot be this process: it just opened
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
