/**
 * deploy/cluster with the real parts: lam-mcp replicas (spawned dist/cli.js) behind Debian's nginx, and Prometheus
 * scraping them. Which replica ran an action is read off the action itself: test/fixtures/mark.mjs appends the pid of
 * the process that started it (the replica) to a file, so the lines also tell whether anything ran twice.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { clusterUp, freePort, runCluster, running, until, type Cluster } from "../helpers/cluster.js";
import { prng } from "../helpers/prng.js";
import { MCP_HEADERS } from "../helpers/raw-http.js";

const MARK = fileURLToPath(new URL("../fixtures/mark.mjs", import.meta.url));
const SLEEP = fileURLToPath(new URL("../fixtures/sleep.mjs", import.meta.url));

/** A tools directory with `mark` (a non-idempotent command) and `two_marks` (a workflow of two, the second slow). */
function toolsDir(extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(inject("fixturesDir"), "cluster-tools-"));
  const files: Record<string, unknown> = {
    "mark.json": {
      name: "mark",
      description: "Appends the pid of the replica to a file, then sleeps (a test fixture).",
      input: { type: "object", properties: { file: { type: "string" }, ms: { type: "integer", minimum: 0, maximum: 20000, default: 0 } }, required: ["file"] },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      timeout_ms: 30000,
      command: { argv: [process.execPath, MARK, "{{file}}", "{{ms}}"] },
    },
    "two_marks.json": {
      name: "two_marks",
      description: "Marks twice, the second time slowly (a test fixture).",
      input: { type: "object", properties: { file: { type: "string" } }, required: ["file"] },
      steps: [
        { id: "a", tool: "mark", arguments: { file: "{{input.file}}", ms: 0 } },
        { id: "b", tool: "mark", arguments: { file: "{{input.file}}", ms: 1500 } },
      ],
    },
    ...extra,
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), JSON.stringify(body));
  return dir;
}

function baseFlags(tools: string): string[] {
  return ["--model", inject("modelPath"), "--threads", "1", "--gpu", "false", "--tools-dir", tools, "--log-level", "info"];
}

/** The pids in a marks file, one per line. */
function marks(file: string): number[] {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean).map(Number) : [];
}

interface Session {
  client: Client;
  transport: StreamableHTTPClientTransport;
  replica: string;
  pid: number;
}

async function session(url: string): Promise<Session> {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: "cluster-test", version: "0" });
  await client.connect(transport);
  const status = (await client.callTool({ name: "server_status", arguments: {} })).structuredContent as { replica: string; pid: number };
  return { client, transport, replica: status.replica, pid: status.pid };
}

/** A raw tools/call POST (optionally in a session), its response read to the end or until it breaks. */
async function rawCall(url: string, sessionId: string | undefined, name: string, args: Record<string, unknown>, onChunk?: (text: string) => void) {
  const headers: Record<string, string> = { ...MCP_HEADERS, ...(sessionId ? { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" } : {}) };
  const body = { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name, arguments: args, _meta: { progressToken: "p" } } };
  const res = await request(url, { method: "POST", headers, body: JSON.stringify(body) });
  let text = "";
  let broken: unknown;
  try {
    for await (const chunk of res.body) {
      text += (chunk as Buffer).toString();
      onChunk?.(text);
    }
  } catch (error) {
    broken = error;
  }
  return { status: res.statusCode, text, broken };
}

function text(result: unknown): string {
  return ((result as CallToolResult).content[0] as { text: string }).text;
}

describe("a stateful cluster of three", () => {
  let cluster: Cluster;
  let tools: string;
  const sessions: Session[] = [];
  const open = async () => {
    const s = await session(cluster.url);
    sessions.push(s);
    return s;
  };

  beforeAll(async () => {
    tools = toolsDir();
    cluster = await clusterUp(["--replicas", "3"], baseFlags(tools));
  });
  afterAll(async () => {
    for (const s of sessions) await s.client.close().catch(() => undefined);
    await cluster?.down();
  });

  test("up prints the URL and the pids, exits, and leaves every replica and nginx running; status says ok", async () => {
    expect(cluster.url).toBe(`http://127.0.0.1:${cluster.port}/mcp`);
    expect(cluster.replicas).toHaveLength(3);
    for (const pid of [...cluster.replicas, cluster.nginx]) expect(running(pid)).toBe(true);
    const status = await runCluster(["status", "--port", String(cluster.port), "--run-dir", cluster.runDir]);
    expect(status.code).toBe(0);
    expect(status.stdout.match(/^REPLICA_r\d=\d+ ok /gm)).toHaveLength(3);
    const health = await request(`http://127.0.0.1:${cluster.port}/healthz`);
    expect(health.statusCode).toBe(200);
    expect(((await health.body.json()) as { status: string }).status).toBe("ok");
  });

  test("new sessions spread over every replica; each session's requests all reach the replica that made it", async () => {
    const opened = [];
    for (let i = 0; i < 6; i++) opened.push(await open());
    expect(new Set(opened.map((s) => s.replica))).toEqual(new Set(["r1", "r2", "r3"]));
    for (const s of opened) {
      expect(s.transport.sessionId?.startsWith(`${s.replica}.`)).toBe(true);
      expect(cluster.replicas[Number(s.replica.slice(1)) - 1]).toBe(s.pid);
      for (let i = 0; i < 4; i++) {
        const again = (await s.client.callTool({ name: "server_status", arguments: {} })).structuredContent as { replica: string; pid: number };
        expect(again).toMatchObject({ replica: s.replica, pid: s.pid });
      }
    }
  });

  test("a session id nobody made gets lam-mcp's 404 JSON-RPC error, whatever its spelling (seeded)", async () => {
    const random = prng(1414);
    const ids = ["r1.not-a-session", "r2.", "R1.abc", "r9.abc", "r1", ".r1", "r1..x", "x".repeat(4000)];
    for (let i = 0; i < 24; i++) {
      const length = 1 + Math.floor(random() * 120);
      ids.push(Array.from({ length }, () => String.fromCharCode(0x21 + Math.floor(random() * 94))).join(""));
    }
    for (const id of ids) {
      const res = await request(cluster.url, {
        method: "POST",
        headers: { ...MCP_HEADERS, "mcp-session-id": id },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
        headersTimeout: 10_000,
      });
      const body = await res.body.text();
      expect({ id, status: res.statusCode }).toEqual({ id, status: 404 });
      expect(JSON.parse(body)).toMatchObject({ jsonrpc: "2.0", error: { code: -32001 } });
    }
  });

  test("bodies: 2 MiB passes through nginx to a replica; past lam-mcp's 16 MiB, nginx refuses with a JSON 413", async () => {
    const s = await open();
    const big = { jsonrpc: "2.0", id: 1, method: "ping", params: { pad: "a".repeat(2 * 1024 * 1024) } };
    const inSession = { ...MCP_HEADERS, "mcp-session-id": s.transport.sessionId!, "mcp-protocol-version": "2025-06-18" };
    const ok = await request(cluster.url, { method: "POST", headers: inSession, body: JSON.stringify(big) });
    expect(ok.statusCode).toBe(200);
    expect(await ok.body.text()).toMatch(/"id":1/);
    const tooBig = await request(cluster.url, { method: "POST", headers: MCP_HEADERS, body: "a".repeat(16 * 1024 * 1024 + 1) }).catch((error: unknown) => error as Error);
    // nginx answers as soon as it reads the length, and may close before the whole body is sent.
    if (!(tooBig instanceof Error)) {
      expect(tooBig.statusCode).toBe(413);
      expect(JSON.parse(await tooBig.body.text())).toMatchObject({ error: { code: -32600 } });
    } else {
      expect((tooBig as NodeJS.ErrnoException).code ?? tooBig.message).toMatch(/EPIPE|ECONNRESET|UND_ERR_SOCKET/);
    }
  });

  test("a call's progress streams through nginx as it happens (no buffering)", async () => {
    const s = await open();
    const file = join(tools, "stream.marks");
    let progressAt = 0;
    const started = Date.now();
    const res = await rawCall(cluster.url, s.transport.sessionId, "two_marks", { file }, (seen) => {
      if (!progressAt && seen.includes("step b")) progressAt = Date.now();
    });
    const endedAt = Date.now();
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/"result"/);
    expect(progressAt).toBeGreaterThan(started);
    // Step b sleeps 1.5 s after its progress was sent: a buffering proxy would deliver both together at the end.
    expect(endedAt - progressAt).toBeGreaterThanOrEqual(1000);
    expect(marks(file)).toEqual([s.pid, s.pid]);
  });

  test("SIGTERM: the replica finishes its call, new sessions go to the others, then its sessions get 404", async () => {
    const s = await open();
    const file = join(tools, "drain.marks");
    const call = s.client.callTool({ name: "mark", arguments: { file, ms: 2000 } }, undefined, { timeout: 20_000 });
    await until("the call to start", () => marks(file).length === 1);
    process.kill(s.pid, "SIGTERM");
    const during = [];
    for (let i = 0; i < 4; i++) during.push(await open());
    for (const other of during) expect(other.pid).not.toBe(s.pid);
    expect(text(await call)).toBe("marked");
    await until("the replica to exit", () => !running(s.pid), 15_000);
    const started = Date.now();
    await expect(s.client.callTool({ name: "server_status", arguments: {} }, undefined, { timeout: 10_000 })).rejects.toMatchObject({ code: 404, message: expect.stringMatching(/initialize a new session|Session not found/) as unknown });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(marks(file)).toEqual([s.pid]);
  });

  test("SIGKILL mid-call: the call's stream ends, nothing is replayed, its sessions get 404 at once, new sessions work", async () => {
    const alive = cluster.replicas.filter(running);
    expect(alive.length).toBeGreaterThanOrEqual(2);
    let s = await open();
    while (s.pid !== alive[0]) s = await open();
    const file = join(tools, "kill.marks");
    const call = rawCall(cluster.url, s.transport.sessionId, "mark", { file, ms: 5000 });
    await until("the call to start", () => marks(file).length === 1);
    process.kill(s.pid, "SIGKILL");
    const ended = await call;
    expect(ended.text).not.toMatch(/"result"/);
    const started = Date.now();
    await expect(s.client.callTool({ name: "server_status", arguments: {} }, undefined, { timeout: 10_000 })).rejects.toMatchObject({ code: 404, message: expect.stringMatching(/initialize a new session|Session not found/) as unknown });
    expect(Date.now() - started).toBeLessThan(5000);
    const after = [];
    for (let i = 0; i < 4; i++) after.push(await open());
    for (const other of after) expect(other.pid).toBe(alive[1]);
    await new Promise((r) => setTimeout(r, 500));
    expect(marks(file)).toEqual([s.pid]);
  });

  test("down stops what up recorded and nothing else, not even a process that took a recorded pid's place", async () => {
    // A process of ours recorded as if it were a replica: down must see it is not one (its command line) and spare it.
    const decoy = spawn(process.execPath, [SLEEP, "60000"], { stdio: "ignore" });
    try {
      const file = join(cluster.runDir, "cluster.json");
      const recorded = JSON.parse(readFileSync(file, "utf8")) as { processes: Array<Record<string, unknown>> };
      const cli = (recorded.processes[0]!.marks as string[])[0]!;
      recorded.processes.push({ role: "replica", pid: decoy.pid, marks: [cli, "--replica-id", "r7"], name: "r7", port: 1 });
      writeFileSync(file, JSON.stringify(recorded));
      const live = [...cluster.replicas.filter(running), cluster.nginx];
      const stopped = await cluster.down();
      expect(stopped.sort()).toEqual(live.sort());
      for (const pid of [...cluster.replicas, cluster.nginx]) expect(running(pid)).toBe(false);
      expect(running(decoy.pid!)).toBe(true);
      expect(existsSync(file)).toBe(false);
      const again = await runCluster(["down", "--port", String(cluster.port), "--run-dir", cluster.runDir]);
      expect(again).toMatchObject({ code: 0, stdout: "STOPPED=\n" });
    } finally {
      decoy.kill("SIGKILL");
    }
  });
});

describe("a stateless cluster of two", () => {
  let cluster: Cluster;
  let tools: string;

  beforeAll(async () => {
    tools = toolsDir();
    cluster = await clusterUp(["--replicas", "2"], [...baseFlags(tools), "--stateless"]);
  });
  afterAll(async () => {
    await cluster?.down();
  });

  test("calls spread round-robin, with no session ids", async () => {
    // One request per call: an SDK session sends several, and an even count would land every server_status on one.
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await rawCall(cluster.url, undefined, "server_status", {});
      expect(res.status).toBe(200);
      seen.push(/\\"replica\\":\\"(r\d)\\"|"replica":"(r\d)"/.exec(res.text)?.slice(1).find(Boolean) ?? "none");
    }
    expect(new Set(seen)).toEqual(new Set(["r1", "r2"]));
  });

  test("a second up on the same port is refused and leaves the running cluster alone", async () => {
    const again = await runCluster(["up", "--port", String(cluster.port), "--run-dir", cluster.runDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already runs on port/);
    expect(again.stdout).toBe("");
    for (const pid of [...cluster.replicas, cluster.nginx]) expect(running(pid)).toBe(true);
  });

  test("a replica killed mid-call: that call fails and is not sent again; every later call succeeds on the other", async () => {
    const file = join(tools, "stateless.marks");
    const call = rawCall(cluster.url, undefined, "mark", { file, ms: 5000 });
    const [victim] = await until("the call to start", () => (marks(file).length === 1 ? marks(file) : undefined));
    const survivor = cluster.replicas.find((p) => p !== victim)!;
    process.kill(victim!, "SIGKILL");
    const ended = await call;
    expect(ended.text).not.toMatch(/"result"/);
    for (let i = 0; i < 8; i++) {
      const res = await rawCall(cluster.url, undefined, "server_status", {});
      expect(res.status).toBe(200);
      expect(res.text).toContain(`"pid":${survivor}`);
    }
    expect(marks(file)).toEqual([victim]);
  });
});

describe("Prometheus over a cluster", () => {
  test("the sum of lam_tool_calls_total over the replicas equals the calls made through nginx", async () => {
    const promPort = await freePort();
    await using cluster = await clusterUp(["--replicas", "2", "--prometheus", String(promPort), "--scrape-interval", "1s"], baseFlags(toolsDir()));
    expect(cluster.prometheus).toBe(`http://127.0.0.1:${promPort}`);
    const made = new Map<string, number>();
    for (let i = 0; i < 5; i++) {
      const s = await session(cluster.url);
      const calls = 1 + (i % 3); // the server_status in session() is one of them
      for (let c = 1; c < calls; c++) await s.client.callTool({ name: "server_status", arguments: {} });
      made.set(s.replica, (made.get(s.replica) ?? 0) + calls);
      await s.client.close();
    }
    const total = [...made.values()].reduce((a, b) => a + b, 0);
    const query = async (q: string) => {
      const res = await request(`${cluster.prometheus}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.body.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      return body.data.result;
    };
    const sum = await until(`Prometheus to see ${total} calls`, async () => {
      const [row] = await query("sum(lam_tool_calls_total)");
      return row && Number(row.value[1]) === total ? total : undefined;
    }, 30_000);
    expect(sum).toBe(total);
    const byReplica = await query("sum by (replica) (lam_tool_calls_total)");
    expect(Object.fromEntries(byReplica.map((r) => [r.metric.replica, Number(r.value[1])]))).toEqual(Object.fromEntries(made));
    expect(await query('up{job="lam-mcp"} == 1')).toHaveLength(2);
  });
});

describe("schedules on a shared state directory", () => {
  test("only one replica runs them; when it dies, another takes over, and no occurrence runs twice", async () => {
    const state = mkdtempSync(join(inject("fixturesDir"), "cluster-state-"));
    const ticks = join(state, "ticks.marks");
    const tools = toolsDir({
      "tick.json": {
        name: "tick",
        description: "Marks every second (a test fixture).",
        steps: [{ id: "a", tool: "mark", arguments: { file: ticks, ms: 0 } }],
        schedule: "* * * * * *",
      },
    });
    await using cluster = await clusterUp(["--replicas", "2"], [...baseFlags(tools), "--state-dir", state]);
    await until("three ticks", () => marks(ticks).length >= 3, 15_000);
    const holder = marks(ticks)[0]!;
    expect(cluster.replicas).toContain(holder);
    expect(new Set(marks(ticks))).toEqual(new Set([holder]));
    expect(JSON.parse(readFileSync(join(state, "scheduler.lock"), "utf8"))).toMatchObject({ pid: holder });

    // Each replica, asked directly: the holder's schedule is armed, the other's says why not.
    const recorded = JSON.parse(readFileSync(join(cluster.runDir, "cluster.json"), "utf8")) as { processes: Array<{ pid: number; port?: number }> };
    const schedulesOf = async (pid: number) => {
      const port = recorded.processes.find((p) => p.pid === pid)!.port!;
      const client = new Client({ name: "direct", version: "0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));
      const actions = JSON.parse(((await client.readResource({ uri: "lam://actions" })).contents[0] as { text: string }).text) as { schedules: Array<{ armed: boolean; why?: string }> };
      await client.close();
      return actions.schedules;
    };
    for (const pid of cluster.replicas) {
      if (pid === holder) expect(await schedulesOf(pid)).toEqual([expect.objectContaining({ armed: true })]);
      else expect(await schedulesOf(pid)).toEqual([expect.objectContaining({ armed: false, why: expect.stringMatching(/another replica runs/) as unknown })]);
    }

    process.kill(holder, "SIGKILL");
    const other = cluster.replicas.find((p) => p !== holder)!;
    await until("the other replica to take over", () => marks(ticks).includes(other), 20_000);
    await until("two ticks of the new holder", () => marks(ticks).filter((p) => p === other).length >= 2, 10_000);
    const lines = marks(ticks);
    const firstOther = lines.indexOf(other);
    expect(lines.slice(0, firstOther).every((p) => p === holder)).toBe(true);
    expect(lines.slice(firstOther).every((p) => p === other)).toBe(true);

    // Two replicas that take a gone holder's lock at the same moment can both think they won; the file names one.
    // The one it does not name finds out before its next occurrence and stops: here the file is made to name a
    // process that is alive and no replica (this test's), and the ticks stop until the file is removed.
    const lock = join(state, "scheduler.lock");
    writeFileSync(lock, JSON.stringify({ replica: "intruder", pid: process.pid, host: hostname() }));
    const atSwap = marks(ticks).length;
    await new Promise((r) => setTimeout(r, 3000));
    expect(marks(ticks).length).toBeLessThanOrEqual(atSwap + 1); // one occurrence may have begun before the swap
    expect(await schedulesOf(other)).toEqual([expect.objectContaining({ armed: false, why: expect.stringMatching(/intruder, pid/) as unknown })]);
    expect(JSON.parse(readFileSync(lock, "utf8"))).toMatchObject({ replica: "intruder" }); // stepping down leaves it be
    unlinkSync(lock);
    const atRelease = marks(ticks).length;
    await until("the replica to take the free lock and tick again", () => marks(ticks).length >= atRelease + 2, 15_000);
    expect(marks(ticks).slice(firstOther).every((p) => p === other)).toBe(true);

    // Runs record the replica that ran them.
    const owners = new Set(readdirSync(join(state, "runs")).filter((f) => f.endsWith(".json")).map((f) => (JSON.parse(readFileSync(join(state, "runs", f), "utf8")) as { owner: { replica: string } }).owner.replica));
    expect(owners).toEqual(new Set(["r1", "r2"]));
  });
});

describe("deploy/cluster refuses bad input before starting anything", () => {
  test.each([
    [[], /no command/],
    [["launch"], /unknown command "launch"/],
    [["up"], /--port is required/],
    [["up", "--port"], /--port needs a value/],
    [["up", "--port", "abc"], /--port must be a whole number/],
    [["up", "--port", "0"], /--port must be a whole number from 1 to 65535/],
    [["up", "--port", "70000"], /--port must be a whole number/],
    [["up", "--port", "18999", "--replicas", "0"], /--replicas must be a whole number from 1 to 64/],
    [["up", "--port", "18999", "--replicas", "2.5"], /--replicas must be a whole number/],
    [["up", "--port", "18999", "--replicas", "65"], /--replicas must be/],
    [["up", "--port", "18999", "--frobnicate", "1"], /unknown option --frobnicate/],
    [["up", "--port", "18999", "stray"], /unexpected argument "stray"/],
    [["up", "--port", "18999", "--scrape-interval", "soon"], /--scrape-interval/],
    [["up", "--port", "18999", "--", "--port", "5"], /--port is set by the cluster/],
    [["up", "--port", "18999", "--", "--replica-id=x"], /--replica-id is set by the cluster/],
    [["up", "--port", "18999", "--", "--transport", "stdio"], /--transport is set by the cluster/],
    [["up", "--port", "18999", "--", "--max-body-bytes", "lots"], /--max-body-bytes must be a number/],
    [["down", "--port", "18999", "--", "--stateless"], /only up takes lam-mcp flags/],
  ])("%j", async (args, why) => {
    const run = await runCluster(args as string[]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(why);
    expect(run.stdout).toBe("");
  });

  test("status and down without a cluster: status fails, down has nothing to stop", async () => {
    const dir = mkdtempSync(join(inject("fixturesDir"), "cluster-none-"));
    const status = await runCluster(["status", "--port", "18999", "--run-dir", dir]);
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/no cluster recorded/);
    expect(await runCluster(["down", "--port", "18999", "--run-dir", dir])).toMatchObject({ code: 0, stdout: "STOPPED=\n" });
  });

  test("nginx's port taken: up fails with nginx's reason and stops the replicas it had started", async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
    const port = (holder.address() as { port: number }).port;
    const tools = toolsDir();
    const runDir = mkdtempSync(join(inject("fixturesDir"), "cluster-busy-"));
    mkdirSync(runDir, { recursive: true });
    try {
      const run = await runCluster(["up", "--port", String(port), "--replicas", "2", "--run-dir", runDir, "--", ...baseFlags(tools)]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/nginx[\s\S]*(Address already in use|bind)/);
      expect(run.stdout).toBe("");
      expect(existsSync(join(runDir, "cluster.json"))).toBe(false);
      // No process carries this test's tools directory any more.
      await until("the replicas to be stopped", () => !processesWith(tools).some(running), 10_000);
    } finally {
      holder.close();
    }
  });
});

/** Pids whose command line contains text. */
function processesWith(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) pids.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}
