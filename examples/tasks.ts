/**
 * Long work as MCP tasks: start a tool call as a task, watch its status while it runs, take its result, then read
 * the run records. It starts lam-mcp over stdio (the built dist/cli.js) with this process's environment.
 *
 *   npx tsx examples/tasks.ts daily_digest '{"topic": "llamas"}'      # a workflow (needs search: SEARXNG_URL)
 *   npx tsx examples/tasks.ts generate '{"prompt": "Once upon a time", "max_tokens": 64}'
 */
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { CallToolResultSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";

const name = process.argv[2] ?? "generate";
const args = JSON.parse(process.argv[3] ?? '{"prompt": "Once upon a time", "max_tokens": 64}') as Record<string, unknown>;
const server = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

const client = new Client({ name: "tasks-example", version: "1.0.0" });
await client.connect(new StdioClientTransport({ command: process.execPath, args: [server], env: process.env as Record<string, string>, stderr: "inherit" }));

// The SDK asks for a task only for a tool that tools/list says may run as one (execution.taskSupport).
const tools = (await client.listTools()).tools;
const tool = tools.find((t) => t.name === name);
if (!tool) {
  console.error(`No tool ${name}; the tools are: ${tools.map((t) => t.name).join(", ")}`);
  process.exit(1);
}
console.log(`${name}: task support ${tool.execution?.taskSupport ?? "forbidden"}`);

let taskId: string | undefined;
let result: CallToolResult | undefined;
for await (const message of client.experimental.tasks.callToolStream({ name, arguments: args }, CallToolResultSchema)) {
  if (message.type === "taskCreated") {
    taskId = message.task.taskId;
    console.log(`task ${taskId} created (polled every ${message.task.pollInterval ?? "?"} ms)`);
  } else if (message.type === "taskStatus") console.log(`task ${message.task.taskId}: ${message.task.status}`);
  else if (message.type === "result") result = message.result as CallToolResult;
  else if (message.type === "error") console.log(`task ended with an error: ${message.error.message}`);
}
// A failed task still has its result (the tool's error): tasks/result gives it.
if (!result && taskId) result = (await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)) as CallToolResult;
const text = result?.content.map((c) => (c.type === "text" ? c.text : "")).join("\n") ?? "(no result)";
console.log(`\nResult${result?.isError ? " (error)" : ""}:\n${text}`);

// Workflow runs are recorded, whoever started them (a client, or a schedule).
const runs = JSON.parse(((await client.readResource({ uri: "lam://runs" })).contents[0] as { text: string }).text) as {
  runs: Array<{ id: string; workflow: string; trigger: string; status: string }>;
};
console.log(`\nRecent runs:${runs.runs.length ? "" : " none"}`);
for (const r of runs.runs.slice(0, 5)) console.log(`- ${r.id} ${r.workflow} (${r.trigger}): ${r.status}`);
await client.close();
process.exit(result?.isError ? 1 : 0);
