/**
 * MCP tasks (task-augmented tools/call) driven by the SDK client's experimental tasks API: the task and its result
 * kept in the state directory, cancellation, sessions, reconnects and restarts.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, inject, test } from "vitest";
import { silentLogger } from "../../src/log.js";
import { createServices } from "../../src/services.js";
import { serveHttp } from "../../src/transports/http.js";
import { connect, testConfig } from "../helpers/harness.js";
import { baseArgs, httpServer } from "../helpers/spawn.js";

type Messages = Array<{ type: string; task?: { taskId: string; status: string }; result?: CallToolResult; error?: Error }>;

async function stream(client: Client, name: string, args: Record<string, unknown>): Promise<Messages> {
  const out: Messages = [];
  for await (const message of client.experimental.tasks.callToolStream({ name, arguments: args }, CallToolResultSchema)) out.push(message as Messages[number]);
  return out;
}

describe("MCP tasks", () => {
  test("long tools say they may run as tasks; a task-augmented generate gives its task, then the same result as a plain call", async () => {
    await using h = await connect();
    expect(h.client.getServerCapabilities()?.tasks).toEqual({ list: {}, cancel: {}, requests: { tools: { call: {} } } });
    const tools = (await h.client.listTools()).tools;
    const taskTools = tools.filter((t) => t.execution?.taskSupport === "optional").map((t) => t.name).sort();
    expect(taskTools).toEqual(["chat", "extract_entities", "generate", "judge", "run_task", "score", "search_context"]);
    const messages = await stream(h.client, "generate", { prompt: "Hello", temperature: 0 });
    expect(messages[0]!.type).toBe("taskCreated");
    const taskId = messages[0]!.task!.taskId;
    expect(taskId).toMatch(/^[0-9a-f-]{36}$/);
    const last = messages.at(-1)!;
    expect(last.type).toBe("result");
    expect((last.result!.structuredContent as { text: string }).text).toBe(" world!");
    const task = await h.client.experimental.tasks.getTask(taskId);
    expect(task).toMatchObject({ taskId, status: "completed", ttl: 3_600_000 });
    const plain = await h.ok<{ text: string }>("generate", { prompt: "Hello", temperature: 0 });
    expect(plain.text).toBe(" world!");
  });

  test("a quick tool refuses to run as a task; a failing call is a failed task with the error as its result", async () => {
    await using h = await connect();
    await expect(
      h.client.request({ method: "tools/call", params: { name: "count_tokens", arguments: { texts: ["x"] }, task: {} } }, CallToolResultSchema),
    ).rejects.toThrow(/count_tokens does not run as a task/);
    // As the 2025-11-25 protocol says: a tool call whose result has isError is a failed task; tasks/result has the error.
    const messages = await stream(h.client, "generate", { prompt: "Hello", grammar: "root ::= nonsense(" });
    const taskId = messages[0]!.task!.taskId;
    expect(messages.at(-1)!.type).toBe("error");
    expect((await h.client.experimental.tasks.getTask(taskId)).status).toBe("failed");
    const result = (await h.client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(JSON.stringify(result.content)).toMatch(/grammar/i);
  });

  test("tasks/cancel stops the work (the sequence frees) and the task stays cancelled", async () => {
    await using h = await connect({ maxTokensLimit: 8000 });
    const created = (await h.client.request(
      { method: "tools/call", params: { name: "generate", arguments: { prompt: " la", temperature: 0, max_tokens: 8000 }, task: {} } },
      (await import("@modelcontextprotocol/sdk/types.js")).CreateTaskResultSchema,
    )) as { task: { taskId: string; status: string } };
    expect(created.task.status).toBe("working");
    await expect.poll(() => h.services.engine.stats()?.busy ?? 0).toBe(1);
    const cancelled = await h.client.experimental.tasks.cancelTask(created.task.taskId);
    expect(cancelled.status).toBe("cancelled");
    await expect.poll(() => h.services.engine.stats()!.busy).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect((await h.client.experimental.tasks.getTask(created.task.taskId)).status).toBe("cancelled");
    await expect(h.client.experimental.tasks.cancelTask(created.task.taskId)).rejects.toThrow(/terminal status: cancelled/);
  });

  test("a finished task's result survives a reconnect and a restart; tasks/list shows a session its own tasks only", async () => {
    const config = testConfig({ transport: "http", port: 0 });
    const services = createServices(config, silentLogger);
    const http = await serveHttp(services);
    const client = async () => {
      const c = new Client({ name: "t", version: "0" });
      await c.connect(new StreamableHTTPClientTransport(new URL(http.url)));
      return c;
    };
    const a = await client();
    const b = await client();
    // The SDK client asks for a task only for tools its tools/list said may run as one.
    await a.listTools();
    let taskId: string;
    try {
      const messages = await stream(a, "generate", { prompt: " one", temperature: 0, max_tokens: 3 });
      taskId = messages[0]!.task!.taskId;
      expect((await a.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toEqual([taskId]);
      expect((await b.experimental.tasks.listTasks()).tasks).toEqual([]);
      await a.close();
      // Another session (a reconnect) that holds the id gets the task and its result.
      expect((await b.experimental.tasks.getTask(taskId)).status).toBe("completed");
      const result = (await b.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)) as CallToolResult;
      expect((result.structuredContent as { text: string }).text).toBe(" two three four");
    } finally {
      await b.close();
      await http.close(0);
      await services.close();
    }
    // A new server on the same state directory still has it.
    await using again = await connect({ stateDir: config.stateDir });
    expect(await again.client.experimental.tasks.getTask(taskId)).toMatchObject({ status: "completed" });
    const kept = (await again.client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)) as CallToolResult;
    expect((kept.structuredContent as { text: string }).text).toBe(" two three four");
    await expect(again.client.experimental.tasks.getTask("00000000-0000-4000-8000-000000000000")).rejects.toThrow(/not found/i);
  });

  test("a workflow runs as a task; a task a killed server left working is failed on the next start", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lam-task-tools-"));
    writeFileSync(join(dir, "long.yaml"), "name: long\ndescription: a long generation\nsteps:\n  - id: gen\n    tool: generate\n    arguments: { prompt: \" la\", temperature: 0, max_tokens: 8000 }\n");
    writeFileSync(join(dir, "short.yaml"), "name: short\ndescription: a short one\nsteps:\n  - id: c\n    tool: count_tokens\n    arguments: { texts: [hi] }\n");
    const state = mkdtempSync(join(tmpdir(), "lam-state-"));
    const server = await httpServer([...baseArgs(inject("modelPath")), "--tools-dir", dir, "--state-dir", state, "--max-tokens-limit", "8000"]);
    const client = await server.client();
    await client.listTools();
    const short = await stream(client, "short", {});
    expect(short[0]!.type).toBe("taskCreated");
    const counted = (await client.callTool({ name: "count_tokens", arguments: { texts: ["hi"] } })).structuredContent as { total: number };
    expect((short.at(-1)!.result!.structuredContent as { output: { c: { total: number } } }).output.c.total).toBe(counted.total);
    const created = (await client.request(
      { method: "tools/call", params: { name: "long", arguments: {}, task: {} } },
      (await import("@modelcontextprotocol/sdk/types.js")).CreateTaskResultSchema,
    )) as { task: { taskId: string } };
    server.child.kill("SIGKILL");
    await new Promise((resolve) => server.child.once("exit", resolve));
    await using h = await connect({ toolsDir: dir, stateDir: state });
    expect(await h.client.experimental.tasks.getTask(created.task.taskId)).toMatchObject({ status: "failed", statusMessage: "the server that ran it stopped before it ended" });
  });
});
