/**
 * deploy/cluster driven from tests and benchmarks: `up` on a free port (its KEY=VALUE lines parsed), `down` at the
 * end, and the small probes the cluster tests share.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

export const CLUSTER = fileURLToPath(new URL("../../deploy/cluster", import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs deploy/cluster with these arguments (at most timeoutMs), whatever its exit code. */
export function runCluster(args: string[], timeoutMs = 90_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(CLUSTER, args, { timeout: timeoutMs, killSignal: "SIGKILL" }, (error, stdout, stderr) => {
      const code = error ? ((error as { code?: unknown }).code as number | null) : 0;
      resolve({ code: typeof code === "number" ? code : null, stdout, stderr });
    });
  });
}

export interface Cluster extends AsyncDisposable {
  port: number;
  url: string;
  replicas: number[];
  nginx: number;
  runDir: string;
  prometheus?: string;
  /** `deploy/cluster down`: its STOPPED pids. */
  down(): Promise<number[]>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** `deploy/cluster up` with these options (before --) and lam-mcp flags (after). */
export async function clusterUp(options: string[], flags: string[] = []): Promise<Cluster> {
  const port = await freePort();
  const run = await runCluster(["up", "--port", String(port), ...options, "--", ...flags]);
  if (run.code !== 0) throw new Error(`deploy/cluster up failed (${run.code}):\n${run.stderr}`);
  const out = Object.fromEntries(run.stdout.trim().split("\n").map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]));
  let stopped: Promise<number[]> | undefined;
  const down = () =>
    (stopped ??= runCluster(["down", "--port", String(port), "--run-dir", out.RUN_DIR!]).then((r) => {
      if (r.code !== 0) throw new Error(`deploy/cluster down failed (${r.code}):\n${r.stderr}`);
      return (/^STOPPED=(.*)$/m.exec(r.stdout)?.[1] ?? "").split(",").filter(Boolean).map(Number);
    }));
  return {
    port,
    url: out.URL!,
    replicas: out.REPLICAS!.split(",").map(Number),
    nginx: Number(out.NGINX),
    runDir: out.RUN_DIR!,
    ...(out.PROMETHEUS ? { prometheus: out.PROMETHEUS } : {}),
    down,
    [Symbol.asyncDispose]: async () => void (await down()),
  };
}

/** Whether pid runs (a zombie, dead but not yet reaped by whoever inherited it, does not). */
export function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

export async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
