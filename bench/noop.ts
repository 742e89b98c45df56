/**
 * No-op tool call latency (p50, p99) and throughput with 16 calls in flight, over stdio and over HTTP: lam-mcp's
 * server_status against a minimal SDK server's one tool, in the same run.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { fmt, median, percentile, printRows, ROOT, type Row } from "./lib.js";

const BLOCKS = 10;
const BLOCK = 200;
const TOTAL = 2000;
const IN_FLIGHT = 16;

interface Figures {
  p50: number;
  p99: number;
  perSecond: number;
}

type Caller = () => Promise<void>;

/** server_status's answer is ~600 bytes; `echo:600` has the minimal server send as many, to separate payload from dispatch. */
function caller(client: Client, tool: string): Caller {
  const [name, size] = tool.split(":") as [string, string | undefined];
  tool = name;
  const args = tool === "echo" ? { text: "x".repeat(Number(size ?? 0)) } : {};
  return async () => {
    const r = await client.callTool({ name: tool, arguments: args });
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
  const rates: [number[], number[]] = [[], []];
  const fns = [a, b];
  for (let block = 0; block < BLOCKS; block++) {
    for (const k of block % 2 ? [1, 0] : [0, 1]) {
      for (let i = 0; i < BLOCK; i++) {
        const t = performance.now();
        await fns[k]!();
        times[k]!.push(performance.now() - t);
      }
    }
  }
  for (let round = 0; round < 3; round++) {
    for (const k of round % 2 ? [1, 0] : [0, 1]) {
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next++ < TOTAL) await fns[k]!();
        }),
      );
      rates[k]!.push((TOTAL / (performance.now() - t0)) * 1000);
    }
  }
  const figures = (k: 0 | 1): Figures => ({ p50: median(times[k]), p99: percentile(times[k], 99), perSecond: median(rates[k]) });
  return [figures(0), figures(1)];
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

  {
    const lam = await stdio(lamArgs);
    const base = await stdio([minimal]);
    [results["lam stdio"], results["minimal stdio"]] = await measurePair(caller(lam, "server_status"), caller(base, "echo"));
    [, results["minimal stdio, same payload"]] = await measurePair(caller(lam, "server_status"), caller(base, "echo:600"));
    await lam.close();
    await base.close();
  }
  {
    const lam = await http([...lamArgs, "--transport", "http", "--port", "0", "--log-level", "info", "--log-format", "json"], "stderr");
    const base = await http([minimalHttp, "0"], "stdout");
    [results["lam http"], results["minimal http"]] = await measurePair(caller(lam.client, "server_status"), caller(base.client, "echo"));
    await lam.client.close();
    await base.client.close();
    lam.child.kill("SIGTERM");
    base.child.kill("SIGTERM");
  }

  const rows: Row[] = [];
  for (const transport of ["stdio", "http"]) {
    const lam = results[`lam ${transport}`]!;
    const base = results[`minimal ${transport}`]!;
    rows.push(
      {
        bench: `no-op call p50, ${transport}`,
        figure: `${fmt.ms(lam.p50)} (p99 ${fmt.ms(lam.p99)})`,
        baseline: `${fmt.ms(base.p50)} (p99 ${fmt.ms(base.p99)}) minimal`,
        ratio: lam.p50 / base.p50,
        target: "<= 1.10x",
        ok: lam.p50 / base.p50 <= 1.1,
      },
      {
        bench: `throughput, 16 in flight, ${transport}`,
        figure: fmt.rate(lam.perSecond, "call"),
        baseline: `${fmt.rate(base.perSecond, "call")} minimal`,
        ratio: base.perSecond / lam.perSecond,
        target: "<= 1.10x",
        ok: base.perSecond / lam.perSecond <= 1.1,
      },
    );
  }
  const same = results["minimal stdio, same payload"]!;
  const lamStdio = results["lam stdio"]!;
  rows.splice(2, 0, {
    bench: "no-op call p50, stdio, same payload size",
    figure: `${fmt.ms(lamStdio.p50)} (p99 ${fmt.ms(lamStdio.p99)})`,
    baseline: `${fmt.ms(same.p50)} (p99 ${fmt.ms(same.p99)}) minimal, 600 B`,
    ratio: lamStdio.p50 / same.p50,
    target: "<= 1.10x",
    ok: lamStdio.p50 / same.p50 <= 1.1,
  });
  printRows("No-op tool calls (lam-mcp server_status vs a minimal SDK server's echo)", rows, [
    `p50/p99 of ${BLOCKS * BLOCK} sequential calls each, in alternating blocks; throughput: median of 3 alternating runs of ${TOTAL} calls with ${IN_FLIGHT} in flight; ratios: lower is better`,
  ]);
}
