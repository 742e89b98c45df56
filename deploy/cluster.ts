/**
 * deploy/cluster: lam-mcp replicas behind one nginx, on loopback, for a team.
 *
 *   deploy/cluster up --replicas N --port P [--prometheus PORT] [--run-dir DIR] [-- LAM-MCP FLAGS...]
 *   deploy/cluster status --port P [--run-dir DIR]
 *   deploy/cluster down --port P [--run-dir DIR] [--timeout-s S]
 *
 * `up` starts N replicas (`lam-mcp --transport http --replica-id rI` on free loopback ports), renders
 * deploy/nginx.conf (and deploy/prometheus.yml) into the run directory, starts nginx on 127.0.0.1:P (and Prometheus
 * when asked), waits until every replica and the proxy answer, prints URL=, REPLICAS=, NGINX=, RUN_DIR= (and
 * PROMETHEUS=) on stdout, and exits: the processes run on, detached, their pids recorded in RUN_DIR/cluster.json.
 * `down` stops those pids (a replica drains its calls first) and nothing else: a pid that is no longer the process
 * recorded (it ended and the number was reused) is left alone. Everything else it says goes to stderr.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "..");
const CLI = join(ROOT, "dist", "cli.js");
/** Flags the cluster sets on every replica itself. */
const OWNED_FLAGS = ["--transport", "--host", "--port", "--replica-id"];

interface Recorded {
  role: "replica" | "nginx" | "prometheus";
  pid: number;
  /** Strings its command line contains: what tells this process from another that got the same pid later. */
  marks: string[];
  name?: string;
  port?: number;
  log?: string;
}

interface ClusterFile {
  port: number;
  url: string;
  started_at: string;
  processes: Recorded[];
}

class UsageError extends Error {}

const USAGE = `usage:
  deploy/cluster up --replicas N --port P [--prometheus PORT] [--scrape-interval 15s] [--run-dir DIR] [--wait-s 60] [-- LAM-MCP FLAGS...]
  deploy/cluster status --port P [--run-dir DIR]
  deploy/cluster down --port P [--run-dir DIR] [--timeout-s 40]`;

function say(line: string) {
  process.stderr.write(`cluster: ${line}\n`);
}

/** The options before `--` (as name -> value), and the lam-mcp flags after it. */
function parse(argv: string[]): { command: string; options: Map<string, string>; rest: string[] } {
  const [command = "", ...tail] = argv;
  const split = tail.indexOf("--");
  const mine = split === -1 ? tail : tail.slice(0, split);
  const rest = split === -1 ? [] : tail.slice(split + 1);
  const options = new Map<string, string>();
  for (let i = 0; i < mine.length; i++) {
    const arg = mine[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new UsageError(`unexpected argument ${JSON.stringify(arg)} (lam-mcp's own flags go after --)`);
    const value = m[2] ?? mine[++i];
    if (value === undefined) throw new UsageError(`--${m[1]} needs a value`);
    options.set(m[1]!, value);
  }
  return { command, options, rest };
}

function intOption(options: Map<string, string>, name: string, min: number, max: number, fallback?: number): number {
  const raw = options.get(name);
  if (raw === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required`);
    return fallback;
  }
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(raw)}`);
  return n;
}

function checkOptions(options: Map<string, string>, allowed: string[]) {
  for (const name of options.keys()) if (!allowed.includes(name)) throw new UsageError(`unknown option --${name} (allowed: ${allowed.map((a) => `--${a}`).join(", ")})`);
}

function runDirOf(options: Map<string, string>, port: number): string {
  return resolve(options.get("run-dir") ?? join(tmpdir(), `lam-mcp-cluster-${port}`));
}

// ---------------------------------------------------------------------------------------------------------- processes

/** Whether pid is still the process recorded: running (not a zombie) and its command line carries the marks. */
function isOurs(p: Pick<Recorded, "pid" | "marks">): boolean {
  let cmdline: string;
  try {
    const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
    if (/^\d+ \(.*\) [ZX]/s.test(stat)) return false;
    cmdline = readFileSync(`/proc/${p.pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    const ps = spawnSync("ps", ["-o", "args=", "-p", String(p.pid)], { encoding: "utf8" });
    if (ps.status !== 0) return false;
    cmdline = ps.stdout;
  }
  return p.marks.every((m) => cmdline.includes(m));
}

function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"];
  for (const dir of dirs) if (dir && existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

/** The binary, installed from Debian's package when it is missing (as root; otherwise the command to run is said). */
function ensureBinary(name: string, pkg: string): string {
  const found = findBinary(name);
  if (found) return found;
  if (process.getuid?.() !== 0) throw new Error(`${name} is not installed: run \`sudo apt-get install -y ${pkg}\` (Debian's ${pkg} package)`);
  say(`${name} is missing: installing Debian's ${pkg} package`);
  const apt = (args: string[]) => spawnSync("apt-get", args, { stdio: ["ignore", 2, 2], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }).status;
  if (apt(["install", "-y", "--no-install-recommends", pkg]) !== 0) {
    apt(["update"]);
    if (apt(["install", "-y", "--no-install-recommends", pkg]) !== 0) throw new Error(`apt-get could not install ${pkg}`);
  }
  const installed = findBinary(name);
  if (!installed) throw new Error(`${pkg} is installed but ${name} is not on the PATH`);
  return installed;
}

/** Free loopback ports, distinct (each held until all are found). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((ok, fail) => {
      const s = createServer();
      s.once("error", fail);
      s.listen(0, "127.0.0.1", () => ok(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  return ports;
}

/** Starts a detached process with its output in a log file (its stdio away from ours, so `up` can exit). */
function startDetached(command: string, args: string[], log: string, cwd = process.cwd()): ChildProcess {
  const fd = openSync(log, "a");
  try {
    return spawn(command, args, { cwd, detached: true, stdio: ["ignore", fd, fd] });
  } finally {
    closeSync(fd);
  }
}

/** Waits until url answers 200, the process exits, or the deadline passes; says which. */
async function answers(url: string, child: ChildProcess, deadline: number): Promise<"ok" | "exited" | "timeout"> {
  let exited = child.exitCode !== null || child.signalCode !== null;
  child.once("exit", () => (exited = true));
  while (Date.now() < deadline) {
    if (exited) return "exited";
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return "ok";
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return exited ? "exited" : "timeout";
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

// ----------------------------------------------------------------------------------------------------------------- up

/** The value of a lam-mcp flag among the user's flags (--name VALUE or --name=VALUE), the last one winning. */
function flagValue(flags: string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < flags.length; i++) {
    if (flags[i] === name) value = flags[i + 1];
    else if (flags[i]!.startsWith(`${name}=`)) value = flags[i]!.slice(name.length + 1);
  }
  return value;
}

/** The user's flags without --allowed-hosts (merged into the cluster's own). */
function withoutFlag(flags: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    if (flags[i] === name) i++;
    else if (!flags[i]!.startsWith(`${name}=`)) out.push(flags[i]!);
  }
  return out;
}

function render(template: string, values: Record<string, string>): string {
  return template.replace(/@([A-Z_]+)@/g, (whole, key: string) => {
    if (!(key in values)) throw new Error(`template marker ${whole} has no value`);
    return values[key]!;
  });
}

async function up(options: Map<string, string>, userFlags: string[]): Promise<void> {
  checkOptions(options, ["replicas", "port", "prometheus", "scrape-interval", "run-dir", "wait-s"]);
  const replicas = intOption(options, "replicas", 1, 64, 2);
  const port = intOption(options, "port", 1, 65535);
  const promPort = options.has("prometheus") ? intOption(options, "prometheus", 1, 65535) : undefined;
  const scrapeInterval = options.get("scrape-interval") ?? "15s";
  if (!/^\d+(ms|s|m|h)$/.test(scrapeInterval)) throw new UsageError(`--scrape-interval is a Prometheus duration like 15s or 1m, not ${JSON.stringify(scrapeInterval)}`);
  const waitMs = intOption(options, "wait-s", 1, 3600, 60) * 1000;
  for (const owned of OWNED_FLAGS) {
    if (flagValue(userFlags, owned) !== undefined) throw new UsageError(`${owned} is set by the cluster for each replica; leave it out of the flags after --`);
  }
  const maxBody = flagValue(userFlags, "--max-body-bytes") ?? String(16 * 1024 * 1024);
  if (!/^\d+$/.test(maxBody)) throw new UsageError(`--max-body-bytes must be a number of bytes, not ${JSON.stringify(maxBody)}`);
  const allowed = [`127.0.0.1:${port}`, `localhost:${port}`, flagValue(userFlags, "--allowed-hosts")].filter(Boolean).join(",");
  const flags = withoutFlag(userFlags, "--allowed-hosts");

  const runDir = runDirOf(options, port);
  const record = join(runDir, "cluster.json");
  if (existsSync(record)) {
    const old = JSON.parse(readFileSync(record, "utf8")) as ClusterFile;
    const running = old.processes.filter(isOurs);
    if (running.length > 0) throw new Error(`a cluster already runs on port ${port} (pids ${running.map((p) => p.pid).join(", ")}): run \`deploy/cluster down --port ${port}\` first`);
  }
  mkdirSync(join(runDir, "temp"), { recursive: true, mode: 0o755 });
  const nginx = ensureBinary("nginx", "nginx");
  const prometheus = promPort === undefined ? undefined : ensureBinary("prometheus", "prometheus");
  if (!existsSync(CLI)) {
    say("dist/cli.js is missing: building it (npm run build)");
    if (spawnSync("npm", ["run", "build"], { cwd: ROOT, stdio: ["ignore", 2, 2] }).status !== 0) throw new Error("npm run build failed");
  }

  const cluster: ClusterFile = { port, url: `http://127.0.0.1:${port}/mcp`, started_at: new Date().toISOString(), processes: [] };
  const save = () => writeFileSync(record, `${JSON.stringify(cluster, null, 2)}\n`);
  const children: ChildProcess[] = [];
  const deadline = Date.now() + waitMs;
  try {
    // The replicas, each on a free port; one that lost its port to another process meanwhile gets another.
    const ports = await freePorts(replicas);
    await Promise.all(
      ports.map(async (first, i) => {
        const name = `r${i + 1}`;
        const log = join(runDir, `replica-${name}.log`);
        let replicaPort = first;
        for (let attempt = 0; ; attempt++) {
          const args = [CLI, "--transport", "http", "--host", "127.0.0.1", "--port", String(replicaPort), "--replica-id", name, "--allowed-hosts", allowed, ...flags];
          const child = startDetached(process.execPath, args, log);
          children.push(child);
          const entry: Recorded = { role: "replica", pid: child.pid!, marks: [CLI, "--replica-id", name], name, port: replicaPort, log };
          cluster.processes.push(entry);
          save();
          const state = await answers(`http://127.0.0.1:${replicaPort}/healthz`, child, deadline);
          if (state === "ok") return;
          cluster.processes.splice(cluster.processes.indexOf(entry), 1);
          if (state === "exited" && /EADDRINUSE|address already in use/i.test(tail(log, 5)) && attempt < 3) {
            replicaPort = (await freePorts(1))[0]!;
            continue;
          }
          if (state === "timeout") child.kill("SIGKILL");
          throw new Error(`replica ${name} ${state === "exited" ? "exited" : `did not answer in ${waitMs / 1000} s`}; its log (${log}) ends:\n${tail(log)}`);
        }
      }),
    );

    const replicaEntries = cluster.processes.filter((p) => p.role === "replica");
    const upstreams = replicaEntries.map((r) => `  upstream lam_${r.name} {\n    server 127.0.0.1:${r.port};\n  }`);
    upstreams.push(`  upstream lam_any {\n    zone lam_any 64k;\n${replicaEntries.map((r) => `    server 127.0.0.1:${r.port};`).join("\n")}\n  }`);
    const conf = join(runDir, "nginx.conf");
    writeFileSync(
      conf,
      render(readFileSync(join(HERE, "nginx.conf"), "utf8"), {
        RUN_DIR: runDir,
        LISTEN: `127.0.0.1:${port}`,
        UPSTREAMS: upstreams.join("\n"),
        SESSION_MAP: replicaEntries.map((r) => `    "~^${r.name}\\." lam_${r.name};`).join("\n"),
        MAX_BODY: maxBody,
      }),
    );
    const errorLog = join(runDir, "nginx-error.log");
    const nginxArgs = ["-p", runDir, "-c", conf, "-e", errorLog];
    const check = spawnSync(nginx, ["-t", "-q", ...nginxArgs], { encoding: "utf8" });
    if (check.status !== 0) throw new Error(`nginx refused ${conf}:\n${check.stderr}${tail(errorLog, 5)}`);
    const proxy = startDetached(nginx, nginxArgs, join(runDir, "nginx.out"));
    children.push(proxy);
    cluster.processes.push({ role: "nginx", pid: proxy.pid!, marks: ["nginx", conf] });
    save();
    const proxied = await answers(`http://127.0.0.1:${port}/healthz`, proxy, deadline);
    if (proxied !== "ok") throw new Error(`nginx ${proxied === "exited" ? "exited" : "did not answer"} on 127.0.0.1:${port}:\n${tail(errorLog, 5)}`);

    // The scrape config is always written, so Prometheus can be started by hand later.
    writeFileSync(join(runDir, "replicas.json"), `${JSON.stringify(replicaEntries.map((r) => ({ targets: [`127.0.0.1:${r.port}`], labels: { replica: r.name } })), null, 2)}\n`);
    writeFileSync(join(runDir, "prometheus.yml"), render(readFileSync(join(HERE, "prometheus.yml"), "utf8"), { SCRAPE_INTERVAL: scrapeInterval }));
    if (prometheus && promPort !== undefined) {
      const config = join(runDir, "prometheus.yml");
      const args = [`--config.file=${config}`, `--storage.tsdb.path=${join(runDir, "prometheus-data")}`, `--web.listen-address=127.0.0.1:${promPort}`];
      const log = join(runDir, "prometheus.log");
      const child = startDetached(prometheus, args, log);
      children.push(child);
      cluster.processes.push({ role: "prometheus", pid: child.pid!, marks: ["prometheus", config], port: promPort, log });
      save();
      const ready = await answers(`http://127.0.0.1:${promPort}/-/ready`, child, deadline);
      if (ready !== "ok") throw new Error(`prometheus ${ready === "exited" ? "exited" : "was not ready"}; its log ends:\n${tail(log)}`);
    }
  } catch (error) {
    say("starting failed: stopping what was started");
    await stopAll(cluster.processes, 5000);
    rmSync(record, { force: true });
    throw error;
  }
  for (const child of children) child.unref();

  for (const r of cluster.processes) say(`${r.role}${r.name ? ` ${r.name}` : ""}: pid ${r.pid}${r.port ? `, 127.0.0.1:${r.port}` : ""}${r.log ? `, log ${r.log}` : ""}`);
  const out = [
    `URL=${cluster.url}`,
    `REPLICAS=${cluster.processes.filter((p) => p.role === "replica").map((p) => p.pid).join(",")}`,
    `NGINX=${cluster.processes.find((p) => p.role === "nginx")!.pid}`,
    ...(promPort !== undefined ? [`PROMETHEUS=http://127.0.0.1:${promPort}`] : []),
    `RUN_DIR=${runDir}`,
  ];
  process.stdout.write(`${out.join("\n")}\n`);
}

// ------------------------------------------------------------------------------------------------------- status, down

function readCluster(options: Map<string, string>): { file: string; cluster: ClusterFile | undefined } {
  const port = intOption(options, "port", 1, 65535);
  const file = join(runDirOf(options, port), "cluster.json");
  if (!existsSync(file)) return { file, cluster: undefined };
  return { file, cluster: JSON.parse(readFileSync(file, "utf8")) as ClusterFile };
}

async function status(options: Map<string, string>): Promise<number> {
  checkOptions(options, ["port", "run-dir"]);
  const { file, cluster } = readCluster(options);
  if (!cluster) {
    say(`no cluster recorded in ${file}`);
    return 1;
  }
  let healthy = true;
  const lines = [`URL=${cluster.url}`];
  for (const p of cluster.processes) {
    const alive = isOurs(p);
    let health = alive ? "running" : "gone";
    if (alive && p.role === "replica") {
      try {
        const res = await fetch(`http://127.0.0.1:${p.port}/healthz`, { signal: AbortSignal.timeout(3000) });
        health = ((await res.json()) as { status: string }).status;
      } catch (error) {
        health = `not answering (${(error as Error).message})`;
      }
    }
    if (health !== "ok" && health !== "running") healthy = false;
    lines.push(`${p.role.toUpperCase()}${p.name ? `_${p.name}` : ""}=${p.pid} ${health}${p.port ? ` 127.0.0.1:${p.port}` : ""}`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return healthy ? 0 : 1;
}

/** Signals each recorded process that is still the one recorded, waits for them, and kills the ones left at the deadline. */
async function stopAll(processes: Recorded[], timeoutMs: number): Promise<number[]> {
  const ours = processes.filter(isOurs);
  for (const p of ours) {
    // nginx: SIGQUIT is its graceful stop (open requests finish); a replica drains on SIGTERM.
    try {
      process.kill(p.pid, p.role === "nginx" ? "SIGQUIT" : "SIGTERM");
    } catch {
      // ended meanwhile
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (ours.some(isOurs) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const p of ours.filter(isOurs)) {
    say(`${p.role} ${p.name ?? ""} (pid ${p.pid}) still runs after ${timeoutMs / 1000} s: killing it`);
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // ended meanwhile
    }
  }
  return ours.map((p) => p.pid);
}

async function down(options: Map<string, string>): Promise<void> {
  checkOptions(options, ["port", "run-dir", "timeout-s"]);
  const timeoutMs = intOption(options, "timeout-s", 1, 3600, 40) * 1000;
  const { file, cluster } = readCluster(options);
  if (!cluster) {
    say(`no cluster recorded in ${file}: nothing to stop`);
    process.stdout.write("STOPPED=\n");
    return;
  }
  const stopped = await stopAll(cluster.processes, timeoutMs);
  rmSync(file, { force: true });
  process.stdout.write(`STOPPED=${stopped.join(",")}\n`);
}

// --------------------------------------------------------------------------------------------------------------- main

async function main(): Promise<number> {
  const { command, options, rest } = parse(process.argv.slice(2));
  if (command !== "up" && rest.length > 0) throw new UsageError(`only up takes lam-mcp flags after --`);
  switch (command) {
    case "up":
      await up(options, rest);
      return 0;
    case "status":
      return status(options);
    case "down":
      await down(options);
      return 0;
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      throw new UsageError(command ? `unknown command ${JSON.stringify(command)}` : "no command");
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`cluster: ${(error as Error).message}\n`);
    if (error instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
