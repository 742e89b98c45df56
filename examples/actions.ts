/**
 * An agent step with the user's actions: list them, preview one call, then run it (only after the preview).
 * It starts lam-mcp over stdio (the built dist/cli.js) with this process's environment (LAM_TOOLS_DIR, ...).
 *
 *   npx tsx examples/actions.ts word_count '{"text": "one two three"}'
 */
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

const name = process.argv[2] ?? "git_log";
const args = JSON.parse(process.argv[3] ?? "{}") as Record<string, unknown>;
const server = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

const client = new Client({ name: "actions-example", version: "1.0.0" });
await client.connect(new StdioClientTransport({ command: process.execPath, args: [server], env: process.env as Record<string, string>, stderr: "inherit" }));

// 1. The user's actions, from the lam://actions resource.
const listing = await client.readResource({ uri: "lam://actions" });
const { actions } = JSON.parse(String((listing.contents[0] as { text: string }).text)) as {
  actions: Array<{ name: string | null; status: string; problems: Array<{ field: string; message: string }> }>;
};
console.log("Actions:");
for (const a of actions) console.log(`- ${a.name ?? "?"} (${a.status}${a.problems.length ? `: ${a.problems.map((p) => `${p.field}: ${p.message}`).join("; ")}` : ""})`);

// 2. Preview the step: exactly what would run, secrets masked.
const preview = (await client.callTool({ name: "preview_action", arguments: { name, arguments: args } })) as CallToolResult;
const previewText = preview.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");
if (preview.isError) {
  console.error(`Preview refused: ${previewText}`);
  process.exit(1);
}
console.log(`\nPreview:\n${previewText}`);

// 3. Run it.
const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
console.log(`\nResult${result.isError ? " (error)" : ""}:\n${result.content.map((c) => (c.type === "text" ? c.text : "")).join("\n")}`);
await client.close();
process.exit(result.isError ? 1 : 0);
