/**
 * Spawned lam-mcp processes (the built dist/cli.js), for the tests that must see a real process:
 * stdio framing, exit behaviour, HTTP on port 0, and bad model files that could abort llama.cpp.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

export const CLI = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));

/** Settings every spawned test server gets: one thread, CPU only, quiet. */
export function baseArgs(model: string): string[] {
  return ["--model", model, "--threads", "1", "--gpu", "false", "--log-level", "warn"];
}

/** An environment without the user's LAM_ settings, so tests see only what they pass. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("LAM_") && k !== "SEARXNG_URL") env[k] = v;
  return { ...env, ...extra };
}

export interface SpawnedClient extends AsyncDisposable {
  client: Client;
  stderr: () => string;
  close(): Promise<void>;
}

export async function stdioClient(args: string[], capabilities: Record<string, unknown> = {}): Promise<SpawnedClient> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, ...args], env: cleanEnv(), stderr: "pipe" });
  let stderr = "";
  transport.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: "lam-test", version: "0.0.0" }, { capabilities });
  await client.connect(transport);
  const close = () => client.close();
  return { client, stderr: () => stderr, close, [Symbol.asyncDispose]: close };
}

export interface SpawnedHttp extends AsyncDisposable {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stderr: () => string;
  client(capabilities?: Record<string, unknown>): Promise<Client>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

export async function httpServer(args: string[], env: Record<string, string> = {}): Promise<SpawnedHttp> {
  const child = spawn(process.execPath, [CLI, "--transport", "http", "--port", "0", ...args, "--log-level", "info"], {
    env: cleanEnv({ LAM_LOG_FORMAT: "json", ...env }),
    stdio: "pipe",
  });
  let stderr = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line in 20 s:\n${stderr}`)), 20_000);
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", (code) => reject(new Error(`exited with ${code} before listening:\n${stderr}`)));
  });
  const clients: Client[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const stop = async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    if (child.exitCode === null) child.kill("SIGTERM");
    return exited;
  };
  return {
    child,
    url,
    stderr: () => stderr,
    async client(capabilities = {}) {
      const client = new Client({ name: "lam-test", version: "0.0.0" }, { capabilities });
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      clients.push(client);
      return client;
    },
    stop,
    [Symbol.asyncDispose]: async () => void (await stop()),
  };
}

/** Runs the CLI to completion and returns its exit code and output. */
export async function runCli(args: string[], env: Record<string, string> = {}, input?: string, cwd?: string) {
  const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(env), stdio: "pipe", ...(cwd ? { cwd } : {}) });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  if (input !== undefined) child.stdin.end(input);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  return { code, stdout, stderr };
}
