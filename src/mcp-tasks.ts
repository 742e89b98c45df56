/**
 * MCP tasks (protocol 2025-11-25, experimental; the SDK has them under experimental/tasks): a client may start a
 * long tools/call as a task and poll it (tasks/get, tasks/result, tasks/list, tasks/cancel). This is the one place
 * that knows about them: the task store, and how a task-augmented call runs. When the next protocol revision moves
 * tasks to an extension, only this file (and its wiring in server.ts) changes.
 *
 * The store keeps each task as one JSON file under <state dir>/tasks/, so a finished task's result survives a
 * reconnect (and a restart). A task id is a random UUID, and it is what grants access to the task: tasks/get and
 * tasks/result answer any session that holds it (a client that reconnects gets a new session), while tasks/list
 * shows a session its own tasks only. A task still working when its server died is failed on the next start.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { CreateTaskOptions, TaskStore } from "@modelcontextprotocol/sdk/experimental/tasks/interfaces.js";
import { InMemoryTaskMessageQueue } from "@modelcontextprotocol/sdk/experimental/tasks/stores/in-memory.js";
import type { RequestTaskStore } from "@modelcontextprotocol/sdk/shared/protocol.js";
import { ErrorCode, McpError, type Request, type RequestId, type Result, type Task } from "@modelcontextprotocol/sdk/types.js";
import { callTool, type CallObserver, type ToolContext, type ToolSpec } from "./tool.js";

/** How long a task's result is kept when the client asks for nothing (1 hour), and at most (1 day). */
export const DEFAULT_TASK_TTL_MS = 3_600_000;
export const MAX_TASK_TTL_MS = 86_400_000;
const POLL_INTERVAL_MS = 500;
const PAGE = 50;

interface TaskFile {
  task: Task;
  sessionId?: string;
  result?: Result;
  owner: { pid: number; host: string };
}

const TERMINAL = new Set<Task["status"]>(["completed", "failed", "cancelled"]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class FileTaskStore implements TaskStore {
  private readonly dir: string;
  private opened: Promise<void> | undefined;
  /** Running tasks of this process: cancelling one aborts its call. */
  private readonly controllers = new Map<string, AbortController>();
  /** Writes of one task, in order. */
  private readonly writes = new Map<string, Promise<void>>();

  constructor(stateDir: string) {
    this.dir = join(stateDir, "tasks");
  }

  /** The signal a task's work runs under: aborted by tasks/cancel, or when the server stops. */
  signalFor(taskId: string): AbortSignal {
    let controller = this.controllers.get(taskId);
    if (!controller) this.controllers.set(taskId, (controller = new AbortController()));
    return controller.signal;
  }

  /** The work of a task is over (its controller is no longer needed). */
  done(taskId: string): void {
    this.controllers.delete(taskId);
  }

  async createTask(params: CreateTaskOptions, _requestId: RequestId, _request: Request, sessionId?: string): Promise<Task> {
    await this.open();
    const now = new Date().toISOString();
    const ttl = params.ttl === undefined || params.ttl === null ? DEFAULT_TASK_TTL_MS : Math.max(1000, Math.min(MAX_TASK_TTL_MS, params.ttl));
    const task: Task = { taskId: randomUUID(), status: "working", ttl, createdAt: now, lastUpdatedAt: now, pollInterval: POLL_INTERVAL_MS };
    await this.save({ task, ...(sessionId ? { sessionId } : {}), owner: { pid: process.pid, host: hostname() } });
    return { ...task };
  }

  async getTask(taskId: string): Promise<Task | null> {
    return (await this.read(taskId))?.task ?? null;
  }

  async storeTaskResult(taskId: string, status: "completed" | "failed", result: Result): Promise<void> {
    const file = await this.read(taskId);
    if (!file) throw new Error(`Task not found: ${taskId}`);
    // A task cancelled meanwhile keeps its status (its call ended because of the cancellation).
    if (TERMINAL.has(file.task.status)) return;
    await this.save({ ...file, task: { ...file.task, status, lastUpdatedAt: new Date().toISOString() }, result });
  }

  async getTaskResult(taskId: string): Promise<Result> {
    const file = await this.read(taskId);
    if (!file) throw new Error(`Task not found: ${taskId}`);
    if (file.result) return file.result;
    if (file.task.status === "cancelled") return { content: [{ type: "text", text: "The task was cancelled." }], isError: true };
    if (file.task.status === "failed") return { content: [{ type: "text", text: file.task.statusMessage ?? "The task failed." }], isError: true };
    throw new Error(`Task ${taskId} has no result yet`);
  }

  async updateTaskStatus(taskId: string, status: Task["status"], statusMessage?: string): Promise<void> {
    const file = await this.read(taskId);
    if (!file) throw new Error(`Task not found: ${taskId}`);
    if (TERMINAL.has(file.task.status)) return;
    await this.save({ ...file, task: { ...file.task, status, ...(statusMessage ? { statusMessage } : {}), lastUpdatedAt: new Date().toISOString() } });
    if (status === "cancelled") this.controllers.get(taskId)?.abort(new Error("the task was cancelled"));
  }

  /** This session's tasks, newest first, 50 a page. */
  async listTasks(cursor?: string, sessionId?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    await this.open();
    const mine: Task[] = [];
    for (const name of await this.names()) {
      const file = await this.read(name.slice(0, -".json".length));
      if (file && file.sessionId === sessionId) mine.push(file.task);
    }
    mine.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.taskId.localeCompare(b.taskId));
    const start = cursor ? Number.parseInt(cursor, 10) : 0;
    if (!Number.isInteger(start) || start < 0 || start > mine.length) throw new Error("invalid cursor");
    const tasks = mine.slice(start, start + PAGE);
    return { tasks, ...(start + PAGE < mine.length ? { nextCursor: String(start + PAGE) } : {}) };
  }

  /** At shutdown: this process's tasks still working are failed (their work is stopped). */
  async close(): Promise<void> {
    for (const [taskId, controller] of this.controllers) {
      const file = await this.read(taskId);
      if (file && !TERMINAL.has(file.task.status)) {
        await this.save({ ...file, task: { ...file.task, status: "failed", statusMessage: "the server stopped before the task ended", lastUpdatedAt: new Date().toISOString() } });
      }
      controller.abort(new Error("the server is stopping"));
    }
    this.controllers.clear();
    await Promise.all(this.writes.values());
  }

  /** Creates the folder; fails the tasks a dead server left working; deletes the expired. */
  private open(): Promise<void> {
    this.opened ??= (async () => {
      await mkdir(this.dir, { recursive: true });
      for (const name of await this.names()) await this.read(name.slice(0, -".json".length), true);
    })();
    return this.opened;
  }

  private async names(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((n) => n.endsWith(".json") && UUID.test(n.slice(0, -5)));
    } catch {
      return [];
    }
  }

  /** A task's file; an expired one is deleted (null), one a dead server left working is failed. */
  private async read(taskId: string, sweeping = false): Promise<TaskFile | null> {
    if (!UUID.test(taskId)) return null;
    if (!sweeping) await this.open();
    await this.writes.get(taskId);
    let file: TaskFile;
    try {
      file = JSON.parse(await readFile(join(this.dir, `${taskId}.json`), "utf8")) as TaskFile;
    } catch {
      return null;
    }
    const { task } = file;
    if (task.ttl !== null && Date.parse(task.createdAt) + task.ttl < Date.now()) {
      await rm(join(this.dir, `${taskId}.json`), { force: true });
      return null;
    }
    if (!TERMINAL.has(task.status) && !this.controllers.has(taskId) && !ownerAlive(file.owner)) {
      file = { ...file, task: { ...task, status: "failed", statusMessage: "the server that ran it stopped before it ended", lastUpdatedAt: new Date().toISOString() } };
      await this.save(file);
    }
    return file;
  }

  private save(file: TaskFile): Promise<void> {
    const id = file.task.taskId;
    const write = async () => {
      const path = join(this.dir, `${id}.json`);
      const temp = `${path}.${process.pid}.tmp`;
      await writeFile(temp, JSON.stringify(file));
      await rename(temp, path);
    };
    const next = (this.writes.get(id) ?? Promise.resolve()).then(write);
    this.writes.set(id, next);
    void next.finally(() => {
      if (this.writes.get(id) === next) this.writes.delete(id);
    }).catch(() => undefined);
    return next;
  }
}

/** Whether the process that runs a task still does (this process's own tasks are in `controllers`). */
function ownerAlive(owner: TaskFile["owner"] | undefined): boolean {
  if (!owner) return false;
  if (owner.host !== hostname()) return true;
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The tasks capability: tools/call may be task-augmented; tasks can be listed and cancelled. */
export const TASK_CAPABILITIES = { tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } } };

/** The server options that install the SDK's tasks/get, tasks/result, tasks/list and tasks/cancel handlers. */
export function taskServerOptions(store: FileTaskStore) {
  return { taskStore: store, taskMessageQueue: new InMemoryTaskMessageQueue() };
}

interface StartTask {
  spec: ToolSpec;
  args: unknown;
  /** The call's context (its log scoped to the session); its signal and progress are replaced by the task's. */
  ctx: ToolContext;
  extra: { taskStore?: RequestTaskStore | undefined };
  store: FileTaskStore;
  task: { ttl?: number | undefined };
  observe?: CallObserver | undefined;
}

/**
 * A task-augmented tools/call: the task is created and returned at once; the call runs in the background through
 * the same wrapper, under the task's signal (tasks/cancel aborts it), and its result is stored for tasks/result.
 */
export async function startTask({ spec, args, ctx, extra, store, task: params, observe }: StartTask): Promise<{ task: Task }> {
  if (!spec.longRunning) {
    throw new McpError(ErrorCode.InvalidParams, `${spec.name} does not run as a task (its calls are quick): call it without task.`);
  }
  const taskStore = extra.taskStore;
  if (!taskStore) throw new McpError(ErrorCode.InternalError, "tasks are not set up on this server");
  const task = await taskStore.createTask(params.ttl === undefined ? {} : { ttl: params.ttl });
  const signal = store.signalFor(task.taskId);
  const background: ToolContext = { ...ctx, signal, wantsProgress: false, progress: async () => undefined };
  void callTool(spec, args, background, observe)
    .then((result) => taskStore.storeTaskResult(task.taskId, result.isError ? "failed" : "completed", result))
    .catch((error: unknown) => ctx.log.warn("storing a task's result failed", { task: task.taskId, error: error instanceof Error ? error.message : String(error) }))
    .finally(() => store.done(task.taskId));
  return { task };
}
