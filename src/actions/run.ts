/**
 * Running a plan. HTTP through undici, with a timeout, a size cap and a status check. Commands spawned without a
 * shell in their own process group: a timeout or a cancellation kills the whole group; stdout and stderr are
 * capped (the rest is read and dropped, so a huge output never grows the server's memory).
 * Everything returned or thrown is masked: no secret leaves.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { bodySnippet, ToolError, messageOf } from "../errors.js";
import { jsonDepth } from "../limits.js";
import { deadline, errorCode, readCapped, type CappedBody } from "../upstream.js";
import type { CommandPlan, HttpPlan, Plan } from "./plan.js";
import type { CommandRunner, HttpRunner } from "./schema.js";

export interface HttpOutcome {
  kind: "http";
  status: number;
  content_type: string;
  result: unknown;
  duration_ms: number;
  truncated: boolean;
}

export interface CommandOutcome {
  kind: "command";
  exit_code: number;
  stdout: string;
  stderr: string;
  duration_ms: number;
  truncated: { stdout: boolean; stderr: boolean };
}

export async function runHttp(plan: HttpPlan & Pick<Plan, "secrets">, runner: HttpRunner, timeoutMs: number, signal: AbortSignal): Promise<HttpOutcome> {
  const mask = (t: string) => plan.secrets.mask(t);
  const started = performance.now();
  // undici takes ~60 ms to import: loaded on the first http action, not at start-up.
  const { request } = await import("./http-client.js");
  const limit = deadline(timeoutMs, signal);
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(plan.url, {
      method: plan.method as "GET",
      headers: plan.headers,
      ...(plan.body ? { body: plan.body.text } : {}),
      signal: limit.signal,
    });
  } catch (error) {
    if (signal.aborted) throw new ToolError("The action was cancelled.", { code: "cancelled" });
    if (limit.timedOut()) throw new ToolError(`The request to ${mask(plan.url)} took longer than ${timeoutMs} ms.`, { code: "action_timeout", hint: "Retry, or raise timeout_ms in the action file." });
    const code = errorCode(error);
    throw new ToolError(`The request to ${mask(plan.url)} failed: ${mask(code ?? messageOf(error))}`, {
      code: "action_failed",
      hint: code === "ECONNREFUSED" ? "The service is not answering; is it running?" : "Check that the service is reachable from the server.",
    });
  }
  let read: CappedBody;
  try {
    read = await readCapped(res.body, runner.max_response_bytes);
    if (read.over) res.body.destroy();
  } catch (error) {
    if (signal.aborted) throw new ToolError("The action was cancelled.", { code: "cancelled" });
    if (limit.timedOut()) throw new ToolError(`The response of ${mask(plan.url)} took longer than ${timeoutMs} ms.`, { code: "action_timeout", hint: "Raise timeout_ms in the action file." });
    throw new ToolError(`Reading the response of ${mask(plan.url)} failed: ${mask(messageOf(error))}`, { code: "action_failed" });
  }
  const truncated = read.over;
  const text = read.body.toString("utf8");
  const ok = runner.expect_status ? runner.expect_status.includes(res.statusCode) : res.statusCode >= 200 && res.statusCode < 300;
  if (!ok) {
    const retryAfter = res.headers["retry-after"];
    throw new ToolError(`${plan.method} ${mask(plan.url)} answered ${res.statusCode}: ${mask(bodySnippet(text, 500) || "(empty body)")}`, {
      code: "action_failed",
      hint: `${statusHint(res.statusCode, typeof retryAfter === "string" ? retryAfter : undefined)}${runner.expect_status ? ` (The action counts ${runner.expect_status.join(", ")} as success.)` : ""}`,
      data: { status: res.statusCode },
    });
  }
  const contentType = String(res.headers["content-type"] ?? "");
  let result: unknown = text;
  if (/json/i.test(contentType) && !truncated) {
    try {
      const parsed: unknown = JSON.parse(text);
      // A value nested deeper than any real API answers stays text: serializing it would overflow the stack.
      result = jsonDepth(parsed, MAX_RESPONSE_DEPTH) === Infinity ? text : parsed;
    } catch {
      result = text;
    }
  }
  if (runner.pick) {
    if (typeof result !== "object" || result === null) {
      throw new ToolError(`pick ${runner.pick} needs a JSON response; ${mask(plan.url)} sent ${contentType || "no content type"}${truncated ? " (cut at max_response_bytes)" : ""}.`, {
        code: "action_failed",
      });
    }
    const picked = pointer(result, runner.pick);
    if (picked === undefined) {
      const keys = Array.isArray(result) ? `an array of ${result.length}` : Object.keys(result).slice(0, 20).join(", ");
      throw new ToolError(`pick ${runner.pick} found nothing in the response (it has: ${keys}).`, {
        code: "action_failed",
        hint: "Fix pick in the action file.",
      });
    }
    result = picked;
  }
  return {
    kind: "http",
    status: res.statusCode,
    content_type: contentType,
    result: typeof result === "string" ? mask(result) : plan.secrets.maskDeep(result),
    duration_ms: Math.round(performance.now() - started),
    truncated,
  };
}

const MAX_RESPONSE_DEPTH = 256;

/** What a failing status means for the caller: whose move it is, and whether to retry. */
export function statusHint(status: number, retryAfter?: string): string {
  if (status < 400) return "The service answered, but with a status this action does not count as success.";
  const retry = retryAfter ? ` (it asks to wait ${retryAfter}${/^\d+$/.test(retryAfter) ? " s" : ""})` : "";
  if (status === 401 || status === 403) return "The service refused the credentials: check the environment variables the action's headers or URL use.";
  if (status === 404 || status === 410) return "The service has nothing at that address: check the arguments that form the URL.";
  if (status === 429) return `The service is rate-limiting these calls: retry later${retry}.`;
  if (status === 408 || status === 504) return `The service (or a gateway) timed out: retry later${retry}.`;
  if (status === 503 || status === 502) return `The service is unavailable right now; the arguments are not the problem: retry later${retry}.`;
  if (status >= 500) return "The service failed while handling the call; the arguments are probably not the problem: retry later, or report it to its owner.";
  if (status === 400 || status === 422) return "The service refused the request as malformed: check the arguments against the action's input schema.";
  return "The service refused the call; check the arguments.";
}

/** RFC 6901 JSON pointer. */
export function pointer(value: unknown, path: string): unknown {
  if (path === "") return value;
  let node: unknown = value;
  for (const raw of path.split("/").slice(1)) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(node)) node = /^\d+$/.test(key) ? node[Number(key)] : undefined;
    else if (node && typeof node === "object") node = Object.prototype.hasOwnProperty.call(node, key) ? (node as Record<string, unknown>)[key] : undefined;
    else return undefined;
    if (node === undefined) return undefined;
  }
  return node;
}

export async function runCommand(
  plan: CommandPlan & Pick<Plan, "secrets">,
  runner: CommandRunner,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CommandOutcome> {
  const started = performance.now();
  const child = spawn(plan.argv[0]!, plan.argv.slice(1), {
    cwd: plan.cwd,
    env: plan.env,
    shell: false,
    detached: true, // its own process group, so a timeout can end it and everything it started
    stdio: ["pipe", "pipe", "pipe"],
    windowsHide: true,
  });
  const stdout = new CappedOutput(runner.max_output_bytes);
  const stderr = new CappedOutput(runner.max_output_bytes);
  child.stdout.on("data", (chunk: Buffer) => stdout.add(chunk));
  child.stderr.on("data", (chunk: Buffer) => stderr.add(chunk));
  child.stdin.on("error", () => undefined); // a program that does not read its input
  child.stdin.end(plan.stdin ?? "");
  const end = await ending(child, timeoutMs, signal);
  const mask = (t: string) => plan.secrets.mask(t);
  const program = mask(plan.argv[0]!);
  if (end.kind === "error") {
    throw new ToolError(
      end.error.code === "ENOENT"
        ? `The program ${program} was not found (or the working directory ${plan.cwd} does not exist).`
        : `The program ${program} could not start: ${mask(end.error.message)}`,
      { code: "action_failed", hint: "Check argv[0], cwd and the PATH the server runs with." },
    );
  }
  const duration = Math.round(performance.now() - started);
  const out = mask(stdout.text());
  const err = mask(stderr.text());
  if (end.kind === "stopped" && end.why === "cancelled") throw new ToolError("The action was cancelled; its processes were ended.", { code: "cancelled" });
  if (end.kind === "stopped") {
    throw new ToolError(`${program} ran longer than ${timeoutMs} ms; it and every process it started were killed.`, {
      code: "action_timeout",
      hint: "Raise timeout_ms in the action file, or pass arguments that make less work.",
      data: { stdout_tail: tail(out), stderr_tail: tail(err), duration_ms: duration },
    });
  }
  if (end.code !== 0) {
    throw new ToolError(`${program} exited with ${end.code ?? `signal ${end.signal}`}${err.trim() ? `:\n${tail(err)}` : "."}`, {
      code: "action_failed",
      hint: "Read the error output above; check the arguments.",
      data: { exit_code: end.code, signal: end.signal, stdout_tail: tail(out), stderr_tail: tail(err), duration_ms: duration },
    });
  }
  return { kind: "command", exit_code: 0, stdout: out, stderr: err, duration_ms: duration, truncated: { stdout: stdout.truncated, stderr: stderr.truncated } };
}

/** A program's output kept up to a cap; the rest is read and dropped, so a flood costs no memory. */
class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly cap: number) {}

  add(chunk: Buffer) {
    if (this.size < this.cap) this.chunks.push(chunk.subarray(0, this.cap - this.size));
    this.size += chunk.length;
  }

  get truncated(): boolean {
    return this.size > this.cap;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

type Ending =
  | { kind: "exit"; code: number | null; signal: NodeJS.Signals | null }
  | { kind: "stopped"; why: "timeout" | "cancelled" }
  | { kind: "error"; error: NodeJS.ErrnoException };

/**
 * How a child's run ends: it exits (and its output closes), it runs past the timeout, the call is cancelled, or it
 * cannot start. A timeout or a cancellation kills its whole process group; a child that exits while something it
 * started still holds its output open gets 500 ms, then the group is ended.
 */
function ending(child: ChildProcess, timeoutMs: number, signal: AbortSignal): Promise<Ending> {
  return new Promise<Ending>((resolve) => {
    let stop: "timeout" | "cancelled" | undefined;
    let lingering: NodeJS.Timeout | undefined;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      stop = "timeout";
      killGroup();
    }, timeoutMs);
    const onAbort = () => {
      stop = "cancelled";
      killGroup();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    let settled = false;
    const settle = (end: Ending) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (lingering) clearTimeout(lingering);
      signal.removeEventListener("abort", onAbort);
      resolve(end);
    };
    const exited = (code: number | null, sig: NodeJS.Signals | null) => settle(stop ? { kind: "stopped", why: stop } : { kind: "exit", code, signal: sig });
    child.once("error", (error: NodeJS.ErrnoException) => settle({ kind: "error", error }));
    child.once("close", exited);
    child.once("exit", (code, sig) => {
      lingering = setTimeout(() => {
        killGroup();
        exited(code, sig);
      }, 500);
    });
  });
}

function tail(text: string): string {
  return text.length > 2000 ? `…${text.slice(-2000)}` : text;
}
