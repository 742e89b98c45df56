/**
 * A real llama-server (llama.cpp's own HTTP server) on 127.0.0.1, for the remote-backend tests.
 *
 * The source is the llama.cpp release node-llama-cpp ships as a git bundle; the binary is built from it once with
 * the machine's cmake and g++ (about 10 minutes on 2 cores) and cached outside the repository, keyed by that
 * release, with its shared libraries beside it. Nothing is downloaded.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { closedPort } from "./http-fixture.js";

const LLAMA_DIR = fileURLToPath(new URL("../../node_modules/node-llama-cpp/llama/", import.meta.url));

/** The llama.cpp release node-llama-cpp 3.21.1 ships (its tag and the bundle's commit). */
export function llamaRelease(): string {
  const info = JSON.parse(readFileSync(join(LLAMA_DIR, "llama.cpp.info.json"), "utf8")) as { tag: string };
  const heads = spawnSync("git", ["bundle", "list-heads", join(LLAMA_DIR, "gitRelease.bundle")], { encoding: "utf8" });
  const commit = /^([0-9a-f]{40})/m.exec(heads.stdout)?.[1]?.slice(0, 12) ?? "unknown";
  return `${info.tag}-${commit}`;
}

/** Where the built binary is cached: $LAM_LLAMA_SERVER_CACHE, or ~/.cache/lam-mcp/llama-server/<release>. */
export function llamaServerDir(): string {
  const base = process.env.LAM_LLAMA_SERVER_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "lam-mcp", "llama-server");
  return join(base, llamaRelease());
}

/** The llama-server binary, built and cached on first need. */
export function ensureLlamaServer(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  const dir = llamaServerDir();
  const binary = join(dir, "llama-server");
  if (existsSync(binary) && runs(binary)) return binary;
  const work = mkdtempSync(join(tmpdir(), "lam-llama-build-"));
  try {
    log(`building llama-server ${llamaRelease()} from node-llama-cpp's bundled source into ${dir} (about 10 minutes on 2 cores, once)`);
    const run = (cmd: string, args: string[], cwd?: string) => {
      const r = spawnSync(cmd, args, { cwd, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${(r.stderr ?? "").slice(-4000)}`);
    };
    const src = join(work, "llama.cpp");
    run("git", ["clone", "--quiet", join(LLAMA_DIR, "gitRelease.bundle"), src]);
    run(
      "cmake",
      ["-B", "build", "-DLLAMA_OPENSSL=OFF", "-DGGML_NATIVE=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DCMAKE_BUILD_TYPE=Release"],
      src,
    );
    run("cmake", ["--build", "build", "--target", "llama-server", "-j", String(Math.max(1, Math.min(8, availableParallelism())))], src);
    // The binary and its shared libraries, together; moved into place at once so a half copy is never used.
    const staged = `${dir}.partial-${process.pid}`;
    rmSync(staged, { recursive: true, force: true });
    mkdirSync(dirname(dir), { recursive: true });
    // The libraries' version links stay relative (cpSync would point them back into the build tree, which is deleted).
    cpSync(join(src, "build", "bin"), staged, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(staged, "RELEASE"), `${llamaRelease()}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(staged, dir);
    log(`llama-server built: ${binary}`);
    return binary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Whether a cached binary starts (a cache copied half-way, or from another machine, is rebuilt). */
function runs(binary: string): boolean {
  const r = spawnSync(binary, ["--version"], { env: { LD_LIBRARY_PATH: dirname(binary) }, stdio: "ignore", timeout: 10_000 });
  return r.status === 0;
}

export interface LlamaServer {
  url: string;
  process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts llama-server on 127.0.0.1 with a model: one thread unless told, `slots` parallel slots of `context / slots` tokens,
 * embeddings with mean pooling (so one server answers completions and embeddings).
 */
export async function startLlamaServer(model: string, options: { slots?: number; context?: number; threads?: number; extra?: string[] } = {}): Promise<LlamaServer> {
  const binary = ensureLlamaServer();
  const port = await closedPort();
  const args = ["-m", model, "--host", "127.0.0.1", "--port", String(port), "-t", String(options.threads ?? 1), "-c", String(options.context ?? 4096), "-np", String(options.slots ?? 2), "--embeddings", "--pooling", "mean", ...(options.extra ?? [])];
  const child = spawn(binary, args, {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LD_LIBRARY_PATH: dirname(binary) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  child.stderr!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`llama-server exited with ${child.exitCode} before it was ready:\n${log}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`llama-server did not answer /health in 60 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, process: child, log: () => log, stop };
}
