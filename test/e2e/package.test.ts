/**
 * The installable package: `npm pack`, then a global install into a temporary prefix gives a working `lam-mcp` on PATH.
 * Tests reach no network, so the tarball's dependencies come from npm's cache (filled by the `npm ci` of this
 * checkout) through the repository's lockfile, and the global install links the unpacked package: what `npm install
 * -g lam-mcp-X.tgz` does, with the resolution step made offline.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { expect, inject, test } from "vitest";
import { cleanEnv } from "../helpers/spawn.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("npm pack, then npm install -g of the tarball: lam-mcp --version, --help and a tools/list", async () => {
  const work = mkdtempSync(join(tmpdir(), "lam-package-"));
  try {
    const npm = (args: string[], cwd: string) => execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, env: cleanEnv(), encoding: "utf8", timeout: 180_000 });
    // --ignore-scripts: `prepare` would rebuild dist/ under the other tests' feet (npm test built it already).
    const packed = JSON.parse(npm(["pack", "--json", "--ignore-scripts", "--pack-destination", work], ROOT)) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = packed[0]!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(["dist/cli.js", "README.md", "mcp.json", "tools/word_count.yaml", "package.json"]));
    expect(files.some((f) => f.startsWith("src/") || f.startsWith("test/"))).toBe(false);
    execFileSync("tar", ["-xzf", join(work, packed[0]!.filename), "-C", work]);
    const pkg = join(work, "package");
    cpSync(join(ROOT, "package-lock.json"), join(pkg, "package-lock.json"));
    npm(["ci", "--omit=dev", "--offline", "--ignore-scripts"], pkg);
    const prefix = join(work, "prefix");
    npm(["install", "-g", "--prefix", prefix, "--offline", "--ignore-scripts", pkg], work);
    const bin = join(prefix, "bin", "lam-mcp");
    const env = cleanEnv({ PATH: `${join(prefix, "bin")}:${process.env.PATH ?? ""}` });
    const version = execFileSync("lam-mcp", ["--version"], { env, encoding: "utf8" });
    expect(version).toBe(`${(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version}\n`);
    expect(execFileSync("lam-mcp", ["--help"], { env, encoding: "utf8" })).toMatch(/--model PATH\|URI\|URL/);
    const client = new Client({ name: "t", version: "0" });
    await client.connect(new StdioClientTransport({ command: bin, args: ["--model", inject("modelPath"), "--threads", "1", "--gpu", "false", "--log-level", "error"], env, cwd: work }));
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(["tokenize", "generate", "run_task", "score"]));
      const counted = await client.callTool({ name: "count_tokens", arguments: { texts: ["Hello world"] } });
      expect((counted.structuredContent as { total: number }).total).toBe(2);
    } finally {
      await client.close();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}, 240_000);
