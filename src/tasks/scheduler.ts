/**
 * Schedules: a workflow file's `schedule` (cron, with an optional seconds field, read by croner) runs it by itself
 * while the server runs. One run per occurrence and never two of the same workflow at once: an occurrence that
 * finds the previous run still going is recorded as skipped, with why. Nobody is there to confirm anything, so a
 * workflow with a step that needs confirmation is armed only when its file says `unattended: true` and the server
 * runs with --allow-unattended; otherwise the schedule stays unarmed and lam://actions says why.
 */
import { Cron } from "croner";
import { messageOf } from "../errors.js";
import type { Logger } from "../log.js";
import type { LoadedAction } from "../actions/loader.js";
import { scheduleOf } from "../actions/schema.js";
import { needsConfirmation, validateArgs } from "../actions/tools.js";
import type { StateLock } from "./lock.js";
import type { RunStore } from "./store.js";
import { confirmables, runWorkflow, type WorkflowDeps } from "./workflow.js";

export interface ScheduleStatus {
  workflow: string;
  cron: string;
  timezone?: string;
  enabled: boolean;
  /** It fires (else `why` says what keeps it from firing). */
  armed: boolean;
  why?: string;
  next_run: string | null;
}

interface Job {
  loaded: LoadedAction;
  /** The file's action as JSON: a changed file re-arms its job. */
  signature: string;
  cron?: Cron;
  status: ScheduleStatus;
}

export class Scheduler {
  private readonly jobs = new Map<string, Job>();
  /** The scheduled run going now, by workflow (it outlives a re-armed job). */
  private readonly running = new Map<string, Promise<void>>();
  private readonly stopping = new AbortController();

  private latest: readonly LoadedAction[] = [];
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: WorkflowDeps & { store(): RunStore; allowUnattended: boolean; log: Logger },
    /** Replicas sharing a state directory: only the holder of this lock runs the schedules. */
    private readonly lock?: StateLock,
  ) {}

  /** Arms the schedules of these workflows (after every load of the tools directory); stops the ones gone. */
  update(actions: readonly LoadedAction[]): void {
    if (this.stopping.signal.aborted) return;
    this.latest = actions;
    const seen = new Set<string>();
    for (const loaded of actions) {
      const schedule = scheduleOf(loaded.action);
      if (!loaded.action.steps || !schedule) continue;
      const name = loaded.action.name;
      seen.add(name);
      const signature = JSON.stringify(loaded.action);
      const existing = this.jobs.get(name);
      if (existing?.signature === signature) continue;
      existing?.cron?.stop();
      this.jobs.set(name, this.arm(loaded, signature));
    }
    for (const [name, job] of this.jobs) {
      if (seen.has(name)) continue;
      job.cron?.stop();
      this.jobs.delete(name);
    }
  }

  /** Every schedule: whether it fires, why not, and when next. */
  statuses(): ScheduleStatus[] {
    return [...this.jobs.values()].map((job) => ({ ...job.status, next_run: job.cron?.nextRun()?.toISOString() ?? null }));
  }

  /** Stops every schedule; the scheduled runs still going are stopped too (their records say interrupted). */
  async close(): Promise<void> {
    this.stopping.abort();
    if (this.retry) clearInterval(this.retry);
    for (const job of this.jobs.values()) job.cron?.stop();
    await Promise.all([...this.running.values()].map((run) => run.catch(() => undefined)));
    this.lock?.release();
  }

  /**
   * Whether this process may run schedules: without a lock always; with one, when it holds it. A replica that does
   * not asks again every 5 s, and arms the schedules once the holder is gone.
   */
  private mayRun(): { ok: true } | { ok: false; why: string } {
    if (!this.lock || this.lock.tryAcquire()) return { ok: true };
    if (!this.retry) {
      this.retry = setInterval(() => {
        if (this.stopping.signal.aborted || !this.lock!.tryAcquire()) return;
        clearInterval(this.retry);
        this.retry = undefined;
        for (const job of this.jobs.values()) job.cron?.stop();
        this.jobs.clear();
        this.update(this.latest);
        this.deps.log.info("this replica now runs the schedules (the one before it is gone)");
      }, 5000);
      this.retry.unref();
    }
    const holder = this.lock.holder();
    return { ok: false, why: `another replica runs this state directory's schedules${holder ? ` (${holder.replica}, pid ${holder.pid})` : ""}` };
  }

  private arm(loaded: LoadedAction, signature: string): Job {
    const schedule = scheduleOf(loaded.action)!;
    const status: ScheduleStatus = { workflow: loaded.action.name, cron: schedule.cron, ...(schedule.timezone ? { timezone: schedule.timezone } : {}), enabled: schedule.enabled, armed: false, next_run: null };
    const job: Job = { loaded, signature, status };
    const turn = schedule.enabled ? this.mayRun() : { ok: true as const };
    const why = !schedule.enabled ? "the file's schedule says enabled: false" : !turn.ok ? turn.why : this.unattendedProblem(loaded);
    if (why) {
      status.why = why;
      if (schedule.enabled && turn.ok) this.deps.log.warn(`schedule of ${loaded.action.name} not armed: ${why}`, { workflow: loaded.action.name });
      return job;
    }
    job.cron = new Cron(schedule.cron, { unref: true, ...(schedule.timezone ? { timezone: schedule.timezone } : {}) }, () => this.fire(job));
    status.armed = true;
    return job;
  }

  /** Why a scheduled run could not take its steps without a user, or undefined. */
  private unattendedProblem(loaded: LoadedAction): string | undefined {
    const asking = confirmables(loaded, this.deps);
    if (!needsConfirmation(loaded.action) && asking.length === 0) return undefined;
    const steps = asking.map((c) => `${c.step} (${c.tool}: ${c.why})`).join(", ") || "the workflow itself";
    if (!loaded.action.unattended) return `it has steps that need confirmation (${steps}) and its file does not say unattended: true`;
    if (!this.deps.allowUnattended) return `it has steps that need confirmation (${steps}); the server runs without --allow-unattended`;
    return undefined;
  }

  /** One occurrence: skipped (recorded) while the previous run goes on or when a step now needs a user; else a run. */
  private fire(job: Job): void {
    const name = job.loaded.action.name;
    if (this.lock && !this.lock.stillHeld()) {
      // Another replica holds the lock after all: it runs this occurrence; this one disarms and waits its turn.
      this.deps.log.warn("another replica holds the schedule lock: this one stops running schedules", { workflow: name });
      for (const armed of this.jobs.values()) armed.cron?.stop();
      this.jobs.clear();
      this.update(this.latest);
      return;
    }
    const store = this.deps.store();
    if (this.running.has(name)) {
      void store.skipped(name, "schedule", "the previous run was still going at this occurrence").catch((error: unknown) => this.deps.log.warn("recording a skipped run failed", { error: messageOf(error) }));
      return;
    }
    // The step tools may have changed since the schedule was armed.
    const why = this.unattendedProblem(job.loaded);
    if (why) {
      void store.skipped(name, "schedule", why).catch(() => undefined);
      return;
    }
    const input = validateArgs(job.loaded, {});
    if (!input.ok) {
      void store.skipped(name, "schedule", `its input without arguments is refused: ${input.problems.join("; ")}`).catch(() => undefined);
      return;
    }
    const run = runWorkflow(
      job.loaded,
      input.value,
      this.deps,
      { signal: this.stopping.signal, elicit: undefined, preconfirmed: true, depth: 0, progress: async () => undefined, log: this.deps.log },
      "schedule",
    )
      .then(
        (run) => this.deps.log.info(`scheduled run of ${name} completed`, { workflow: name, run: run.run_id }),
        (error: unknown) => this.deps.log.warn(`scheduled run of ${name} failed`, { workflow: name, error: messageOf(error) }),
      )
      .finally(() => {
        if (this.running.get(name) === run) this.running.delete(name);
      });
    this.running.set(name, run);
  }
}
