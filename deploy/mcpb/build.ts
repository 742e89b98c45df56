/**
 * npm run bundle: lam-mcp as an MCP Bundle (.mcpb) for this platform, made with the official @anthropic-ai/mcpb tool.
 *
 *   tsx deploy/mcpb/build.ts [--out DIR] [--gpu]
 *
 * The built server (dist/), the shipped actions (tools/) and the production dependencies go under server/ beside a
 * manifest.json (server.type node; mcp_config runs the bundled server; user_config for the model, the SearXNG URL,
 * the tools directory and the inference server). Dependencies come from the lockfile and npm's cache (no network:
 * `npm ci` of the checkout filled it). node-llama-cpp's native binaries are per platform: only this platform's CPU
 * build is kept (the CUDA and Vulkan ones weigh ~600 MB on linux-x64), unless --gpu, and llama.cpp's source bundle
 * (for building from source) is left out. The staged package.json has no scripts (a `prepare` would rebuild).
 * dist/ must be built already (npm run bundle builds it first).
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_MODEL, parseConfig } from "../../src/config.js";
import { silentLogger } from "../../src/log.js";
import { builtInTools } from "../../src/services.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface Options {
  out: string;
  gpu: boolean;
}

function parseArgs(argv: string[]): Options {
  const out = argv.includes("--out") ? argv[argv.indexOf("--out") + 1] : undefined;
  return { out: resolve(out ?? ROOT), gpu: argv.includes("--gpu") };
}

/** The manifest (MCPB manifest 0.3). */
export function manifest(version: string, platform: NodeJS.Platform): Record<string, unknown> {
  const config = parseConfig({ model: DEFAULT_MODEL, toolsDir: "/nonexistent" }, {});
  const tools = builtInTools(config, silentLogger).map((t) => ({ name: t.name, description: t.description.split(". ")[0]!.slice(0, 200) }));
  return {
    manifest_version: "0.3",
    name: "lam-mcp",
    display_name: "lam-mcp",
    version,
    description: "Tokenizer, generation, web context and your own actions and workflows, on a local model (llama.cpp) or the model server you run.",
    long_description:
      "lam-mcp gives a client tools it can plan with: a real model's tokenizer, generation with every sampling control and " +
      "constrained output, embeddings, a look inside the model (scores, the sampler's stages, entities, a judge), SearXNG " +
      "search with pages read and cited passages packed into a token budget, and actions and workflows declared in files.",
    author: { name: "lam-mcp authors" },
    license: "MIT",
    keywords: ["llama.cpp", "tokenizer", "searxng", "agents", "workflows"],
    server: {
      type: "node",
      entry_point: "server/dist/cli.js",
      mcp_config: {
        command: "node",
        args: ["${__dirname}/server/dist/cli.js"],
        env: {
          LAM_MODEL: "${user_config.model}",
          SEARXNG_URL: "${user_config.searxng_url}",
          LAM_TOOLS_DIR: "${user_config.tools_dir}",
          LAM_LLM_URL: "${user_config.llm_url}",
        },
      },
    },
    user_config: {
      model: {
        type: "string",
        title: "Model",
        description: "A GGUF model: a file path, or an hf:user/repo:QUANT URI (downloaded on first use). Leave it empty with an inference server.",
        default: DEFAULT_MODEL,
        required: false,
      },
      searxng_url: { type: "string", title: "SearXNG URL", description: "Your SearXNG instance, for web_search and search_context (empty: no search).", default: "", required: false },
      tools_dir: {
        type: "directory",
        title: "Tools directory",
        description: "Your action and workflow files (the bundle's examples are in its server/tools folder). Empty: none.",
        default: "",
        required: false,
      },
      llm_url: {
        type: "string",
        title: "Inference server URL",
        description: "A llama-server, vLLM, Ollama (http://127.0.0.1:11434/v1) or other OpenAI-compatible server that generates instead of the local model (empty: the local model).",
        default: "",
        required: false,
      },
    },
    tools,
    tools_generated: true,
    prompts_generated: true,
    compatibility: { platforms: [platform], runtimes: { node: ">=20.18" } },
  };
}

function copyServer(server: string): void {
  mkdirSync(server, { recursive: true });
  cpSync(join(ROOT, "dist"), join(server, "dist"), { recursive: true });
  cpSync(join(ROOT, "tools"), join(server, "tools"), { recursive: true, filter: (src) => !/(notes\.txt|digests\.md|\.gitignore)$/.test(src) });
  cpSync(join(ROOT, "README.md"), join(server, "README.md"));
  cpSync(join(ROOT, "package-lock.json"), join(server, "package-lock.json"));
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as Record<string, unknown>;
  delete pkg.scripts;
  writeFileSync(join(server, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
}

/** Keeps only this platform's node-llama-cpp binaries (its CPU build, or every variant with --gpu) and no llama.cpp source. */
function prune(server: string, gpu: boolean): string[] {
  const removed: string[] = [];
  const scoped = join(server, "node_modules", "@node-llama-cpp");
  const mine = `${process.platform}-${process.arch}`;
  for (const name of existsSync(scoped) ? readdirSync(scoped) : []) {
    const keep = gpu ? name === mine || name.startsWith(`${mine}-`) : name === mine;
    if (!keep) {
      rmSync(join(scoped, name), { recursive: true, force: true });
      removed.push(`@node-llama-cpp/${name}`);
    }
  }
  for (const source of ["llama/gitRelease.bundle", "llama/llama.cpp"]) {
    const path = join(server, "node_modules", "node-llama-cpp", source);
    if (existsSync(path)) {
      rmSync(path, { recursive: true, force: true });
      removed.push(`node-llama-cpp/${source}`);
    }
  }
  return removed;
}

export function buildBundle(options: Options): { file: string; bytes: number; removed: string[] } {
  const version = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
  if (!existsSync(join(ROOT, "dist", "cli.js"))) throw new Error("dist/ is not built: run npm run build first (npm run bundle does)");
  const stage = mkdtempSync(join(tmpdir(), "lam-mcpb-"));
  try {
    const server = join(stage, "server");
    copyServer(server);
    const npm = (args: string[]) => execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd: server, stdio: ["ignore", "ignore", "inherit"] });
    npm(["ci", "--omit=dev", "--offline", "--ignore-scripts"]);
    const pkg = JSON.parse(readFileSync(join(server, "package.json"), "utf8")) as Record<string, unknown>;
    delete pkg.devDependencies;
    writeFileSync(join(server, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
    rmSync(join(server, "package-lock.json"));
    const removed = prune(server, options.gpu);
    writeFileSync(join(stage, "manifest.json"), `${JSON.stringify(manifest(version, process.platform), null, 2)}\n`);
    const mcpb = join(ROOT, "node_modules", ".bin", "mcpb");
    execFileSync(mcpb, ["validate", join(stage, "manifest.json")], { stdio: ["ignore", "ignore", "inherit"] });
    mkdirSync(options.out, { recursive: true });
    const file = join(options.out, `lam-mcp-${version}${options.gpu ? "-gpu" : ""}.mcpb`);
    rmSync(file, { force: true });
    execFileSync(mcpb, ["pack", stage, file], { stdio: ["ignore", "ignore", "inherit"] });
    return { file, bytes: statSync(file).size, removed };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = buildBundle(parseArgs(process.argv.slice(2)));
  process.stdout.write(`${built.file}: ${(built.bytes / 1048576).toFixed(1)} MB (left out: ${built.removed.join(", ") || "nothing"})\n`);
}
