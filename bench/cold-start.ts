/** Cold start: spawn -> initialize -> tools/list, lam-mcp against a minimal SDK server with one tool. */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { join } from "node:path";
import { fmt, median, printRows, ROOT } from "./lib.js";

async function startToList(args: string[]): Promise<number> {
  const t = performance.now();
  const client = new Client({ name: "bench", version: "0" });
  await client.connect(new StdioClientTransport({ command: process.execPath, args }));
  await client.listTools();
  const ms = performance.now() - t;
  await client.close();
  return ms;
}

export async function benchColdStart(modelPath: string, runs = 15): Promise<void> {
  const lam = [join(ROOT, "dist/cli.js"), "--model", modelPath, "--log-level", "warn"];
  const minimal = [join(ROOT, "bench/fixtures/minimal-server.mjs")];
  await startToList(lam);
  await startToList(minimal);
  const lamMs: number[] = [];
  const minMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    lamMs.push(await startToList(lam));
    minMs.push(await startToList(minimal));
  }
  const a = median(lamMs);
  const b = median(minMs);
  printRows("Cold start (spawn -> initialize -> tools/list)", [
    { bench: "lam-mcp over stdio", figure: fmt.ms(a), baseline: `${fmt.ms(b)} minimal SDK server`, ratio: a / b, target: "<= 1.20x", ok: a / b <= 1.2 },
  ], [`median of ${runs} alternating runs; ratio = figure / baseline (lower is better)`]);
}
