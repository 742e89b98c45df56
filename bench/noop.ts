/**
 * No-op tool calls, lam-mcp's server_status against a minimal SDK server's one tool, in the same run: the server CPU
 * each call costs, throughput with 16 calls in flight, and latency (p50, p99), over stdio and over HTTP.
 *
 * This machine's speed drifts by 2x within seconds (shared cores), so every ratio is the median of the ratios of
 * rounds run back to back (alternating which goes first), never of two figures taken minutes apart.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { fmt, LineClient, median, percentile, printRows, ROOT, type Row } from "./lib.js";

const BLOCKS = 20;
const BLOCK = 200;
const TOTAL = 2000;
const IN_FLIGHT = 16;
const THROUGHPUT_ROUNDS = 9;
const CPU_ROUNDS = 30;
const CPU_CALLS = 2000;

interface Figures {
  p50: number;
  p99: number;
  perSecond: number;
  /** The median of the per-round throughput ratios (this one / the other), rounds back to back. */
  rateRatio: number;
  /** The median of the per-block p50 ratios (this one / the other), blocks back to back. */
  p50Ratio: number;
}

type Caller = () => Promise<void>;

function caller(client: Client, tool: string): Caller {
  return async () => {
    const r = await client.callTool({ name: tool, arguments: {} });
    if (r.isError) throw new Error(JSON.stringify(r.content));
  };
}

/** Both contenders measured in alternating blocks, so that machine noise falls on both alike. */
async function measurePair(a: Caller, b: Caller): Promise<[Figures, Figures]> {
  for (let i = 0; i < 300; i++) {
    await a();
    await b();
  }
  const times: [number[], number[]] = [[], []];
  const blockP50: [number[], number[]] = [[], []];
  const rates: [number[], number[]] = [[], []];
  const fns = [a, b];
  for (let block = 0; block < BLOCKS; block++) {
    for (const k of block % 2 ? [1, 0] : [0, 1]) {
      const own: number[] = [];
      for (let i = 0; i < BLOCK; i++) {
        const t = performance.now();
        await fns[k]!();
        own.push(performance.now() - t);
      }
      times[k]!.push(...own);
      blockP50[k]!.push(median(own));
    }
  }
  // Two rounds of warm-up: the first rounds with 16 in flight run ~1.5x slower on both sides (the JIT's later tiers).
  for (let round = -2; round < THROUGHPUT_ROUNDS; round++) {
    for (const k of round % 2 ? [1, 0] : [0, 1]) {
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next++ < TOTAL) await fns[k]!();
        }),
      );
      if (round >= 0) rates[k]!.push((TOTAL / (performance.now() - t0)) * 1000);
    }
  }
  const ratios = rates[0].map((r, i) => r / rates[1][i]!);
  const p50Ratios = blockP50[0].map((t, i) => t / blockP50[1][i]!);
  if (process.env.BENCH_VERBOSE) process.stderr.write(`throughput rounds: ${rates.map((r) => r.map((x) => x.toFixed(0)).join(" ")).join(" | ")}\n`);
  const figures = (k: 0 | 1): Figures => ({
    p50: median(times[k]),
    p99: percentile(times[k], 99),
    perSecond: median(rates[k]),
    rateRatio: median(k === 0 ? ratios : ratios.map((r) => 1 / r)),
    p50Ratio: median(k === 0 ? p50Ratios : p50Ratios.map((r) => 1 / r)),
  });
  return [figures(0), figures(1)];
}

/** CPU time a process and all its threads have run, in ns (Linux: /proc/PID/task/TID/schedstat), or null elsewhere. */
function cpuNs(pid: number): number | null {
  try {
    let total = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // The thread ended between the listing and the read.
      }
    }
    return total;
  } catch {
    return null;
  }
}

interface CpuFigures {
  /** Median server CPU per call, in us, of each. */
  us: [number, number];
  /** Median of the per-round ratios (first / second). */
  ratio: number;
  /** Median calls per second of each, and the median of the per-round ratios (second / first: lower is better). */
  perSecond: [number, number];
  rateRatio: number;
}

/**
 * Server CPU per call: the servers take CPU_CALLS calls each (16 in flight), in turn, round after round (which goes
 * first alternates), both pinned to the same core when taskset is there, and each round's CPU (every thread of the
 * process) is divided by the calls. Pinned and in turn, two copies of one server measure within 3% of each other
 * here; loaded at the same time, or free to move between cores, 25% apart.
 */
async function measureCpu(a: { client: LineClient; tool: string; args: Record<string, unknown> }, b: typeof a): Promise<CpuFigures | null> {
  const both = [a, b];
  if (cpuNs(a.client.child.pid!) === null) return null;
  const us: [number[], number[]] = [[], []];
  const rates: [number[], number[]] = [[], []];
  for (let round = -2; round < CPU_ROUNDS; round++) {
    for (const k of round % 2 ? [1, 0] : [0, 1]) {
      const s = both[k]!;
      const before = cpuNs(s.client.child.pid!)!;
      const t0 = performance.now();
      await s.client.run(s.tool, s.args, CPU_CALLS, IN_FLIGHT);
      if (round < 0) continue; // warm-up
      rates[k as 0 | 1].push((CPU_CALLS / (performance.now() - t0)) * 1000);
      us[k as 0 | 1].push((cpuNs(s.client.child.pid!)! - before) / CPU_CALLS / 1000);
    }
  }
  if (process.env.BENCH_VERBOSE) process.stderr.write(`cpu rounds (us/call): ${us.map((r) => r.map((x) => x.toFixed(1)).join(" ")).join(" | ")}\n`);
  return {
    us: [median(us[0]), median(us[1])],
    ratio: median(us[0].map((x, i) => x / us[1][i]!)),
    perSecond: [median(rates[0]), median(rates[1])],
    rateRatio: median(rates[1].map((x, i) => x / rates[0][i]!)),
  };
}

async function stdio(args: string[]): Promise<Client> {
  const client = new Client({ name: "bench", version: "0" });
  await client.connect(new StdioClientTransport({ command: process.execPath, args }));
  return client;
}

async function http(args: string[], urlFrom: "stdout" | "stderr"): Promise<{ client: Client; child: ChildProcess }> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const url = await new Promise<string>((resolve, reject) => {
    let text = "";
    const onData = (d: Buffer) => {
      text += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(text);
      if (m) resolve(m[1]!);
    };
    (urlFrom === "stdout" ? child.stdout : child.stderr)!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`exited ${code}: ${text}`)));
  });
  const client = new Client({ name: "bench", version: "0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return { client, child };
}

export async function benchNoop(modelPath: string): Promise<void> {
  const lamArgs = [join(ROOT, "dist/cli.js"), "--model", modelPath, "--log-level", "warn", "--tools-dir", join(ROOT, "tools")];
  const minimal = join(ROOT, "bench/fixtures/minimal-server.mjs");
  const minimalHttp = join(ROOT, "bench/fixtures/minimal-http-server.mjs");
  const results: Record<string, Figures> = {};

  let cpu: CpuFigures | null;
  let answer: string;
  {
    const core = existsSync("/usr/bin/taskset") && cpus().length > 1 ? cpus().length - 1 : undefined;
    const lam = await LineClient.start(lamArgs, core);
    // The minimal server answers with server_status's own result, so that only the servers' paths differ.
    answer = JSON.stringify((JSON.parse(await lam.call("server_status", {})) as { result: unknown }).result);
    const base = await LineClient.start([minimal, answer], core);
    cpu = await measureCpu({ client: lam, tool: "server_status", args: {} }, { client: base, tool: "answer", args: {} });
    lam.close();
    base.close();
  }
  {
    const lam = await stdio(lamArgs);
    const base = await stdio([minimal, answer]);
    [results["lam stdio"], results["minimal stdio"]] = await measurePair(caller(lam, "server_status"), caller(base, "answer"));
    await lam.close();
    await base.close();
  }
  {
    const lam = await http([...lamArgs, "--transport", "http", "--port", "0", "--log-level", "info", "--log-format", "json"], "stderr");
    const base = await http([minimalHttp, "0", answer], "stdout");
    [results["lam http"], results["minimal http"]] = await measurePair(caller(lam.client, "server_status"), caller(base.client, "answer"));
    await lam.client.close();
    await base.client.close();
    lam.child.kill("SIGTERM");
    base.child.kill("SIGTERM");
  }

  const rows: Row[] = [];
  const na = { figure: "n/a (needs Linux /proc)", baseline: "", ratio: Number.NaN, ok: true };
  rows.push(
    {
      bench: "server CPU per no-op call, stdio",
      target: "<= 1.05x",
      ...(cpu ? { figure: `${cpu.us[0].toFixed(1)} us`, baseline: `${cpu.us[1].toFixed(1)} us minimal`, ratio: cpu.ratio, ok: cpu.ratio <= 1.05 } : na),
    },
    {
      bench: "throughput, 16 in flight, stdio, bare client",
      target: "<= 1.05x",
      ...(cpu
        ? { figure: fmt.rate(cpu.perSecond[0], "call"), baseline: `${fmt.rate(cpu.perSecond[1], "call")} minimal`, ratio: cpu.rateRatio, ok: cpu.rateRatio <= 1.05 }
        : na),
    },
  );
  for (const transport of ["stdio", "http"]) {
    const lam = results[`lam ${transport}`]!;
    const base = results[`minimal ${transport}`]!;
    // Through the SDK's client, the client is the slower side (~45 us of CPU per call here): this throughput is mostly its.
    const target = 1.1;
    rows.push(
      {
        bench: `throughput, 16 in flight, ${transport}, SDK client`,
        figure: fmt.rate(lam.perSecond, "call"),
        baseline: `${fmt.rate(base.perSecond, "call")} minimal`,
        ratio: 1 / lam.rateRatio,
        target: `<= ${target.toFixed(2)}x`,
        ok: 1 / lam.rateRatio <= target,
      },
      {
        bench: `no-op call p50, ${transport}`,
        figure: `${fmt.ms(lam.p50)} (p99 ${fmt.ms(lam.p99)})`,
        baseline: `${fmt.ms(base.p50)} (p99 ${fmt.ms(base.p99)}) minimal`,
        ratio: lam.p50Ratio,
        target: "<= 1.10x",
        ok: lam.p50Ratio <= 1.1,
      },
    );
  }
  printRows("No-op tool calls (lam-mcp server_status vs a minimal SDK server's tool that returns the same result)", rows, [
    `server CPU and bare-client throughput: every thread of each server process (/proc/PID/task/*/schedstat), the servers pinned to one core taking ${CPU_CALLS} calls with ${IN_FLIGHT} in flight in turn from a bare JSON-lines client, ${CPU_ROUNDS} rounds each; medians, ratio: median of the per-round ratios`,
    `SDK client throughput: the SDK's client, ${TOTAL} calls with ${IN_FLIGHT} in flight, ${THROUGHPUT_ROUNDS} rounds back to back (alternating which goes first), ratio: median of the per-round ratios; p50/p99 of ${BLOCKS * BLOCK} sequential calls each, in ${BLOCKS} alternating blocks, ratio: median of the per-block p50 ratios; ratios: lower is better`,
  ]);
}
