/**
 * The MCP Bundle: built by deploy/mcpb/build.ts with the official mcpb tool (from dist/, already built), unpacked
 * with `mcpb unpack`, and run exactly as its manifest says: the command, arguments and environment a host makes of
 * it, resolved by the mcpb library's own getMcpConfigForManifest, with a user's choice of model.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { getMcpConfigForManifest } from "@anthropic-ai/mcpb";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { expect, inject, test } from "vitest";
import { buildBundle } from "../../deploy/mcpb/build.js";
import { cleanEnv } from "../helpers/spawn.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

test("the .mcpb holds a valid manifest and this platform's CPU build only (<= 70 MB), and runs as its manifest says", async () => {
  const work = mkdtempSync(join(tmpdir(), "lam-bundle-"));
  try {
    const built = buildBundle({ out: work, gpu: false });
    expect(built.file).toMatch(/lam-mcp-\d+\.\d+\.\d+\.mcpb$/);
    expect(built.bytes).toBeLessThanOrEqual(70 * 1024 * 1024);
    const dir = join(work, "unpacked");
    execFileSync(join(ROOT, "node_modules", ".bin", "mcpb"), ["unpack", built.file, dir], { stdio: "ignore" });
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as Record<string, unknown> & { server: { type: string }; compatibility: { platforms: string[] } };
    expect(manifest.server.type).toBe("node");
    expect(manifest.compatibility.platforms).toEqual([process.platform]);
    const pkg = JSON.parse(readFileSync(join(dir, "server", "package.json"), "utf8")) as Record<string, unknown>;
    expect(pkg.scripts).toBeUndefined();
    expect(existsSync(join(dir, "server", "node_modules", "@node-llama-cpp", `${process.platform}-${process.arch}`))).toBe(true);
    expect(existsSync(join(dir, "server", "node_modules", "@node-llama-cpp", `${process.platform}-${process.arch}-cuda`))).toBe(false);

    const config = (await getMcpConfigForManifest({
      manifest: manifest as never,
      extensionPath: dir,
      systemDirs: { HOME: homedir() },
      userConfig: { model: inject("modelPath") },
      pathSeparator: "/",
    }))!;
    expect(config.command).toBe("node");
    expect(config.args).toEqual([join(dir, "server", "dist", "cli.js")]);
    expect(config.env).toMatchObject({ LAM_MODEL: inject("modelPath"), SEARXNG_URL: "", LAM_LLM_URL: "" });
    const client = new Client({ name: "t", version: "0" });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: config.args ?? [],
        env: cleanEnv({ ...config.env, LAM_THREADS: "1", LAM_GPU: "false", LAM_STATE_DIR: join(work, "state") }),
        cwd: work,
      }),
    );
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      for (const t of (manifest.tools as Array<{ name: string }>)) expect(names).toContain(t.name);
      // The bundled node-llama-cpp, with only its CPU binaries, loads and runs the model.
      const out = await client.callTool({ name: "generate", arguments: { prompt: "Hello", temperature: 0 } });
      expect((out.structuredContent as { text: string }).text).toBe(" world!");
    } finally {
      await client.close();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}, 240_000);
