/**
 * deploy/cluster's costs: the latency nginx adds to a no-op call (p50/p99, the same replica called directly and
 * through nginx, in alternating blocks), and how long after a replica's SIGKILL new calls all succeed again,
 * against one call's latency measured in the same run.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { request } from "undici";
import { clusterUp, type Cluster } from "../test/helpers/cluster.js";
import { fmt, median, percentile, printRows, ROOT, type Row } from "./lib.js";

const BLOCKS = 10;
const BLOCK = 200;
const ROUNDS = 3;
const IN_FLIGHT = 4;
const RUN_MS = 3000;
const KILL_AT_MS = 1000;

const HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: "bench", version: "0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

/** The first replica's own URL, from the Prometheus targets file deploy/cluster writes. */
function directUrl(cluster: Cluster): string {
  const targets = JSON.parse(readFileSync(join(cluster.runDir, "replicas.json"), "utf8")) as { targets: string[]; labels: { replica: string } }[];
  const r1 = targets.find((t) => t.labels.replica === "r1")!;
  return `http://${r1.targets[0]}/mcp`;
}

async function hopLatency(cluster: Cluster): Promise<{ direct: number[]; proxied: number[] }> {
  // Both sessions on r1: the proxied one is opened until nginx hands it to r1 (new sessions go round-robin).
  const direct = await connect(directUrl(cluster));
  let proxied: Client | undefined;
  for (let i = 0; i < 8 && !proxied; i++) {
    const c = await connect(cluster.url);
    const status = (await c.callTool({ name: "server_status", arguments: {} })).structuredContent as { replica: string };
    if (status.replica === "r1") proxied = c;
    else await c.close();
  }
  if (!proxied) throw new Error("nginx never gave a new session to r1");
  const call = (c: Client) => async () => {
    const r = await c.callTool({ name: "server_status", arguments: {} });
    if (r.isError) throw new Error(JSON.stringify(r.content));
  };
  const fns = [call(direct), call(proxied)];
  for (let i = 0; i < 300; i++) for (const fn of fns) await fn();
  const times: [number[], number[]] = [[], []];
  for (let block = 0; block < BLOCKS; block++) {
    for (const k of block % 2 ? [1, 0] : [0, 1]) {
      for (let i = 0; i < BLOCK; i++) {
        const t = performance.now();
        await fns[k]!();
        times[k]!.push(performance.now() - t);
      }
    }
  }
  await direct.close();
  await proxied.close();
  return { direct: times[0], proxied: times[1] };
}

interface Outcome {
  start: number;
  end: number;
  ok: boolean;
}

/** One stateless tools/call, or (with sessions) initialize + initialized + tools/call + DELETE, as a new client does. */
async function attempt(url: string, sessions: boolean): Promise<boolean> {
  const post = async (body: unknown, headers: Record<string, string> = {}) => {
    const res = await request(url, { method: "POST", headers: { ...HEADERS, ...headers }, body: JSON.stringify(body), headersTimeout: 10_000, bodyTimeout: 10_000 });
    const text = await res.body.text();
    return { status: res.statusCode, text, session: res.headers["mcp-session-id"] as string | undefined };
  };
  const call = { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "server_status", arguments: {} } };
  try {
    if (!sessions) {
      const r = await post(call);
      return r.status === 200 && r.text.includes('"result"');
    }
    const init = await post({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "0" } } });
    if (init.status !== 200 || !init.session) return false;
    const headers = { "mcp-session-id": init.session, "mcp-protocol-version": "2025-06-18" };
    await post({ jsonrpc: "2.0", method: "notifications/initialized" }, headers);
    const r = await post(call, headers);
    await request(url, { method: "DELETE", headers }).then((d) => d.body.dump());
    return r.status === 200 && r.text.includes('"result"');
  } catch {
    return false;
  }
}

interface Failover {
  recoveryMs: number;
  failedInFlight: number;
  failedAfter: number;
  callsAfter: number;
}

/**
 * Keeps IN_FLIGHT clients calling; SIGKILLs r1 after KILL_AT_MS. Recovery: from the kill to the start of the last
 * failed call that began after it (0 when every call begun after the kill succeeded).
 */
async function failover(sessions: boolean, replicaFlags: string[]): Promise<Failover> {
  const cluster = await clusterUp(["--replicas", "2"], sessions ? replicaFlags : [...replicaFlags, "--stateless"]);
  try {
    for (let i = 0; i < 20; i++) await attempt(cluster.url, sessions);
    const outcomes: Outcome[] = [];
    const t0 = performance.now();
    let killedAt = Infinity;
    const killer = new Promise<void>((resolve) =>
      setTimeout(() => {
        killedAt = performance.now();
        process.kill(cluster.replicas[0]!, "SIGKILL");
        resolve();
      }, KILL_AT_MS),
    );
    await Promise.all([
      killer,
      ...Array.from({ length: IN_FLIGHT }, async () => {
        while (performance.now() - t0 < RUN_MS) {
          const start = performance.now();
          const ok = await attempt(cluster.url, sessions);
          outcomes.push({ start, end: performance.now(), ok });
        }
      }),
    ]);
    const after = outcomes.filter((o) => o.start >= killedAt);
    const lastFailure = Math.max(killedAt, ...after.filter((o) => !o.ok).map((o) => o.start));
    return {
      recoveryMs: lastFailure - killedAt,
      failedInFlight: outcomes.filter((o) => o.start < killedAt && o.end >= killedAt && !o.ok).length,
      failedAfter: after.filter((o) => !o.ok).length,
      callsAfter: after.length,
    };
  } finally {
    await cluster.down();
  }
}

export async function benchCluster(modelPath: string): Promise<void> {
  const flags = ["--model", modelPath, "--threads", "1", "--gpu", "false", "--log-level", "warn", "--tools-dir", join(ROOT, "tools")];
  const rows: Row[] = [];
  const counts: string[] = [];
  let oneCall: number;
  {
    const cluster = await clusterUp(["--replicas", "2"], flags);
    try {
      const { direct, proxied } = await hopLatency(cluster);
      oneCall = median(proxied);
      rows.push(
        {
          bench: "no-op call p50, through nginx",
          figure: `${fmt.ms(median(proxied))} (+${((median(proxied) - median(direct)) * 1000).toFixed(0)} us)`,
          baseline: `${fmt.ms(median(direct))} direct to the replica`,
          ratio: median(proxied) / median(direct),
        },
        {
          bench: "no-op call p99, through nginx",
          figure: fmt.ms(percentile(proxied, 99)),
          baseline: `${fmt.ms(percentile(direct, 99))} direct to the replica`,
          ratio: percentile(proxied, 99) / percentile(direct, 99),
        },
      );
    } finally {
      await cluster.down();
    }
  }
  for (const sessions of [false, true]) {
    const runs: Failover[] = [];
    for (let round = 0; round < ROUNDS; round++) runs.push(await failover(sessions, flags));
    const recovery = runs.map((r) => r.recoveryMs);
    const sum = (k: keyof Failover) => runs.reduce((n, r) => n + r[k], 0);
    rows.push({
      bench: sessions ? "SIGKILL to all new sessions working" : "SIGKILL to all stateless calls working",
      figure: `${fmt.ms(median(recovery))} (max ${fmt.ms(Math.max(...recovery))})`,
      baseline: `${fmt.ms(oneCall)} one call`,
      ratio: median(recovery) / oneCall,
    });
    counts.push(
      `${sessions ? "sessions" : "stateless"}: ${sum("failedInFlight")} in-flight ${sessions ? "sessions" : "calls"} failed, ` +
        `${sum("failedAfter")} of ${sum("callsAfter")} begun after the kill failed (${ROUNDS} kills)`,
    );
  }
  printRows("Serving a team: deploy/cluster, 2 replicas behind nginx", rows, [
    `hop: ${BLOCKS * BLOCK} sequential server_status calls each way in alternating blocks on the same replica;`,
    `failover: ${IN_FLIGHT} clients calling for ${RUN_MS} ms, r1 SIGKILLed at ${KILL_AT_MS} ms, ${ROUNDS} rounds (median, max); sessions: initialize + call + DELETE per attempt`,
    ...counts,
  ]);
}
