/**
 * Benchmark helpers. A benchmark prints its figure, a baseline measured in the same run, and their ratio.
 * Timings are medians of repeated runs; the machine is shared and noisy, so nothing here is a test.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const TMP = fileURLToPath(new URL("../.bench-tmp/", import.meta.url));
mkdirSync(TMP, { recursive: true });

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Runs fn `warmup` times unmeasured, then `runs` times; returns each run's milliseconds. */
export async function timeRuns(fn: () => unknown, runs: number, warmup = 2): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export interface Row {
  bench: string;
  figure: string;
  baseline: string;
  ratio: number;
  target?: string;
  ok?: boolean;
}

export function printRows(title: string, rows: Row[], notes: string[] = []): void {
  const w = (s: string, n: number) => s.padEnd(n);
  const lines = [
    "",
    `## ${title}`,
    ...notes.map((n) => `   ${n}`),
    `${w("bench", 44)} ${w("figure", 26)} ${w("baseline", 30)} ${w("ratio", 7)} target`,
    ...rows.map(
      (r) =>
        `${w(r.bench, 44)} ${w(r.figure, 26)} ${w(r.baseline, 30)} ${w(r.ratio.toFixed(2) + "x", 7)} ${r.target ?? ""}${
          r.ok === undefined ? "" : r.ok ? " (met)" : " (MISSED)"
        }`,
    ),
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

export const fmt = {
  rate: (n: number, unit: string) => `${n >= 1e6 ? (n / 1e6).toFixed(2) + " M" : n >= 1e3 ? (n / 1e3).toFixed(1) + " k" : n.toFixed(1) + " "}${unit}/s`,
  ms: (n: number) => `${n.toFixed(n < 10 ? 2 : 1)} ms`,
  mb: (n: number) => `${(n / 1048576).toFixed(1)} MB`,
};

/** Parses `--name value` pairs and bare words from argv. */
export function parseArgv(argv: string[]): { flags: Record<string, string>; words: string[] } {
  const flags: Record<string, string> = {};
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith("--")) flags[a.slice(2)] = argv[++i] ?? "";
    else words.push(a);
  }
  return { flags, words };
}

/**
 * The SDK's HTTP client passes one long-lived AbortSignal to every fetch, and fetch lets go of its listener on that
 * signal only when the request is garbage-collected: thousands of quick calls trip Node's listener warning (1500)
 * in the benchmark's own client, once per call. Those lines are dropped; every other warning is printed as usual.
 */
export function quietClientListenerWarnings(): void {
  process.removeAllListeners("warning");
  process.on("warning", (warning) => {
    if (warning.name === "MaxListenersExceededWarning" && /AbortSignal/.test(warning.message)) return;
    process.stderr.write(`${warning.name}: ${warning.message}\n`);
  });
}

/**
 * A client that costs next to nothing: JSON-RPC lines written straight to a server's stdin and its answers counted
 * off stdout, so that the CPU the machine has goes to the servers.
 */
export class LineClient {
  private pending = "";
  private onLine: (line: string) => void = () => undefined;
  private nextId = 1;

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (data: string) => {
      this.pending += data;
      for (let nl = this.pending.indexOf("\n"); nl !== -1; nl = this.pending.indexOf("\n")) {
        const line = this.pending.slice(0, nl);
        this.pending = this.pending.slice(nl + 1);
        this.onLine(line);
      }
    });
  }

  /** Starts a server (pinned to one core with taskset when `core` is given; taskset execs, so the PID is the server's). */
  static async start(args: string[], core?: number): Promise<LineClient> {
    const [command, argv] = core === undefined ? [process.execPath, args] : ["taskset", ["-c", String(core), process.execPath, ...args]];
    const client = new LineClient(spawn(command, argv, { stdio: ["pipe", "pipe", "pipe"] }));
    client.child.stderr.resume();
    await client.request("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "0" } });
    client.child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
    return client;
  }

  /** One tool call's answer line. */
  call(tool: string, args: Record<string, unknown>): Promise<string> {
    return this.request("tools/call", { name: tool, arguments: args });
  }

  private request(method: string, params: unknown): Promise<string> {
    return new Promise((resolve) => {
      // The answer, not a notification the server sends meanwhile (a log record, a list change).
      this.onLine = (line) => {
        if ("id" in (JSON.parse(line) as object)) resolve(line);
      };
      this.child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id: 0, method, params })}\n`);
    });
  }

  /** `calls` calls of one tool, `inFlight` at a time; rejects on an error answer. */
  run(tool: string, args: Record<string, unknown>, calls: number, inFlight: number): Promise<void> {
    const line = () => `${JSON.stringify({ jsonrpc: "2.0", id: this.nextId++, method: "tools/call", params: { name: tool, arguments: args } })}\n`;
    let sent = 0;
    let answered = 0;
    return new Promise((resolve, reject) => {
      this.onLine = (answer) => {
        if (!answer.includes('"result"') || answer.includes('"isError":true')) return reject(new Error(`${tool}: ${answer.slice(0, 300)}`));
        if (++answered === calls) return resolve();
        if (sent < calls) {
          sent++;
          this.child.stdin.write(line());
        }
      };
      for (; sent < Math.min(inFlight, calls); sent++) this.child.stdin.write(line());
    });
  }

  close(): void {
    this.child.stdin.end();
  }
}

