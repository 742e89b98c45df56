/**
 * One body of tests, run over the three ways a client reaches lam-mcp: in-memory, a spawned stdio process, and
 * Streamable HTTP on port 0 (a spawned process).
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpError, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { buildVocabulary } from "../helpers/tiny-model.js";
import { connect, textOf, type Harness } from "../helpers/harness.js";
import { baseArgs, httpServer, stdioClient, type SpawnedClient, type SpawnedHttp } from "../helpers/spawn.js";

const vocab = buildVocabulary();

const transports: Array<{ name: string; open: () => Promise<{ client: Client; close: () => Promise<unknown> }> }> = [
  {
    name: "in-memory",
    async open() {
      const h: Harness = await connect();
      return { client: h.client, close: () => h.close() };
    },
  },
  {
    name: "stdio",
    async open() {
      const s: SpawnedClient = await stdioClient(baseArgs(inject("modelPath")));
      return { client: s.client, close: () => s.close() };
    },
  },
  {
    name: "http",
    async open() {
      const s: SpawnedHttp = await httpServer(baseArgs(inject("modelPath")));
      const client = await s.client();
      return { client, close: () => s.stop() };
    },
  },
];

describe.each(transports)("over $name", ({ open }) => {
  let client: Client;
  let close: () => Promise<unknown>;
  beforeAll(async () => {
    ({ client, close } = await open());
  });
  afterAll(async () => close());

  test("initialize reports the server and its tool capability", () => {
    expect(client.getServerVersion()?.name).toBe("lam-mcp");
    expect(client.getServerCapabilities()?.tools?.listChanged).toBe(true);
    expect(client.getInstructions()).toMatch(/tokenize/);
  });

  test("tools/list lists the tokenizer tools", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["tokenize", "detokenize", "count_tokens", "vocabulary"]));
  });

  test("tokenize and detokenize round-trip through the real tokenizer", async () => {
    const text = "Hello world! 日本語 🦙\n{\"a\": 1}";
    const result = (await client.callTool({ name: "tokenize", arguments: { text } })) as CallToolResult;
    const tokens = (result.structuredContent as { tokens: Array<{ id: number }> }).tokens;
    expect(tokens[0]!.id).toBe(vocab.idOf("Hello"));
    expect(textOf(result)).toMatch(/^\d+ tokens \(lam-tiny-test\)/);
    const back = (await client.callTool({ name: "detokenize", arguments: { ids: tokens.map((t) => t.id) } })) as CallToolResult;
    expect((back.structuredContent as { text: string }).text).toBe(text);
  });

  test("bad arguments are an isError result with a hint, and an unknown tool a protocol error", async () => {
    const bad = (await client.callTool({ name: "count_tokens", arguments: { texts: [1, 2] } })) as CallToolResult;
    expect(bad.isError).toBe(true);
    expect(textOf(bad)).toMatch(/texts\.0: .*expected string[\s\S]*Hint:/);
    await expect(client.callTool({ name: "nope", arguments: {} })).rejects.toBeInstanceOf(McpError);
    const after = (await client.callTool({ name: "count_tokens", arguments: { texts: ["Hello"] } })) as CallToolResult;
    expect((after.structuredContent as { total: number }).total).toBe(1);
  });
});
