/**
 * The walls of DESIGN.md, as `npm run lint` keeps them: each forbidden import is refused by the project's own ESLint
 * configuration, and each allowed one passes. (The probes are linted as text under a file name in the folder;
 * nothing is written to src/.)
 */
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import { describe, expect, test } from "vitest";

const eslint = new ESLint({
  cwd: new URL("../..", import.meta.url).pathname,
  // The walls need no type information; the probes are not files of the TypeScript project.
  overrideConfig: [{ files: ["**/*.ts"], ...tseslint.configs.disableTypeChecked }],
});

async function refused(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${source}\nexport {};\n`, { filePath: file });
  return result!.messages.filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message);
}

describe("lint keeps the walls", () => {
  const forbidden: Array<[string, string]> = [
    ["src/tokens/probe.ts", 'import { generate } from "../generation/generate.js";'],
    ["src/tokens/probe.ts", 'import { LocalEngine } from "../llm/local/engine.js";'],
    ["src/search/probe.ts", 'import type { LlamaModel } from "node-llama-cpp";'],
    ["src/search/probe.ts", 'import { createServer } from "../server.js";'],
    ["src/generation/probe.ts", 'import { ActionRegistry } from "../actions/registry.js";'],
    ["src/generation/probe.ts", 'import { serveHttp } from "../transports/http.js";'],
    ["src/generation/probe.ts", 'import { parseConfig } from "../config.js";'],
    ["src/llm/probe.ts", 'import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";'],
    ["src/llm/local/probe.ts", 'import { defineTool } from "../../tool.js";'],
    ["src/llm/local/probe.ts", 'import { tokenTools } from "../../tokens/tools.js";'],
    ["src/actions/probe.ts", 'import { tokenize } from "../tokens/tokenize.js";'],
    ["src/actions/probe.ts", 'import type { Engine } from "../llm/engine.js";'],
    ["src/actions/probe.ts", 'import { serveStdio } from "../transports/stdio.js";'],
  ];
  test.each(forbidden)("%s: %s is refused", async (file, source) => {
    expect(await refused(file, source)).toHaveLength(1);
  });

  const allowed: Array<[string, string]> = [
    ["src/tokens/probe.ts", 'import type { Engine } from "../llm/engine.js";\nimport { defineTool } from "../tool.js";\nimport { ToolError } from "../errors.js";'],
    ["src/search/probe.ts", 'import { callOptions } from "../progress.js";\nimport { TtlCache } from "../cache.js";\nimport { jsonDepth } from "../limits.js";'],
    ["src/llm/local/probe.ts", 'import { ToolError } from "../../errors.js";\nimport type { Engine } from "../engine.js";\nimport type { LlamaModel } from "node-llama-cpp";'],
    ["src/actions/probe.ts", 'import { defineTool } from "../tool.js";\nimport { jsonDepth } from "../limits.js";'],
    ["src/transports/probe.ts", 'import { createServer } from "../server.js";\nimport type { Services } from "../services.js";'],
  ];
  test.each(allowed)("%s: allowed imports pass", async (file, source) => {
    expect(await refused(file, source)).toEqual([]);
  });
});
