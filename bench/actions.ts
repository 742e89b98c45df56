/**
 * Action dispatch overhead: an http action against a loopback server through MCP (in-memory) against the same
 * request made directly with undici; a command action against spawning the same program directly. Same run,
 * alternating rounds.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { request } from "undici";
import { parseConfig } from "../src/config.js";
import { silentLogger } from "../src/log.js";
import { createServer } from "../src/server.js";
import { createServices } from "../src/services.js";
import { startFixture } from "../test/helpers/http-fixture.js";
import { fmt, median, percentile, printRows } from "./lib.js";

const ROUNDS = 300;

export async function benchActions(modelPath: string): Promise<void> {
  const body = JSON.stringify({ current: { temperature_2m: 7.3, wind_speed_10m: 12.1 }, hourly: Array.from({ length: 48 }, (_, i) => i) });
  const api = await startFixture({ "/v1/forecast": (_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end(body) });
  const dir = mkdtempSync(join(tmpdir(), "lam-bench-actions-"));
  writeFileSync(
    join(dir, "weather.json"),
    JSON.stringify({
      name: "weather",
      description: "bench",
      input: { type: "object", properties: { latitude: { type: "number" }, longitude: { type: "number" } }, required: ["latitude", "longitude"] },
      http: { url: `${api.url}/v1/forecast`, query: { latitude: "{{latitude}}", longitude: "{{longitude}}" }, pick: "/current" },
    }),
  );
  writeFileSync(join(dir, "noop.json"), JSON.stringify({ name: "noop", description: "bench", command: { argv: ["true"] } }));
  const services = createServices(parseConfig({ model: modelPath, toolsDir: dir, logLevel: "silent" }, {}), silentLogger, {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    watchActions: false,
  });
  const server = createServer(services);
  const client = new Client({ name: "bench", version: "0" });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(b);
  await client.connect(a);

  const directHttp = async () => {
    const res = await request(`${api.url}/v1/forecast?latitude=48.85&longitude=2.35`, { headers: { "user-agent": "lam-mcp actions" } });
    const json = (await res.body.json()) as { current: unknown };
    if (!json.current) throw new Error("no current");
  };
  const viaMcp = async (name: string, args: Record<string, unknown>) => {
    const r = await client.callTool({ name, arguments: args });
    if (r.isError) throw new Error(JSON.stringify(r.content));
  };
  const directSpawn = () =>
    new Promise<void>((resolve, reject) => {
      const child = spawn("true", [], { shell: false, detached: true, stdio: ["pipe", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "" } });
      child.stdout.resume();
      child.stderr.resume();
      child.stdin.end();
      child.once("error", reject);
      child.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
    });

  const http = { direct: [] as number[], mcp: [] as number[] };
  const cmd = { direct: [] as number[], mcp: [] as number[] };
  const time = async (fn: () => Promise<void>, into: number[] | undefined) => {
    const t = performance.now();
    await fn();
    into?.push(performance.now() - t);
  };
  for (let i = -20; i < ROUNDS; i++) {
    const keep = i >= 0;
    await time(directHttp, keep ? http.direct : undefined);
    await time(() => viaMcp("weather", { latitude: 48.85, longitude: 2.35 }), keep ? http.mcp : undefined);
  }
  for (let i = -10; i < ROUNDS / 3; i++) {
    const keep = i >= 0;
    await time(directSpawn, keep ? cmd.direct : undefined);
    await time(() => viaMcp("noop", {}), keep ? cmd.mcp : undefined);
  }
  await client.close();
  await services.close();
  await api.close();

  const row = (bench: string, s: { direct: number[]; mcp: number[] }, what: string) => ({
    bench,
    figure: `${fmt.ms(median(s.mcp))} (p99 ${fmt.ms(percentile(s.mcp, 99))})`,
    baseline: `${fmt.ms(median(s.direct))} ${what}`,
    ratio: median(s.mcp) / median(s.direct),
    target: `overhead ${(median(s.mcp) - median(s.direct)).toFixed(2)} ms`,
  });
  printRows(
    "Action dispatch",
    [row("http action via MCP (in-memory)", http, "undici request"), row("command action via MCP (in-memory)", cmd, "spawn directly")],
    [`http: GET on 127.0.0.1 with a pick, ${ROUNDS} alternating rounds; command: /bin/true, ${ROUNDS / 3} alternating rounds`],
  );
}
