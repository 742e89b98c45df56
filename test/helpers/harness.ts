/**
 * Test harness: a real MCP Client connected to a real lam-mcp server over an in-memory transport pair.
 * `await using h = await connect({...})` closes the client, the server and the model engine afterwards.
 */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { inject } from "vitest";
import { parseConfig, type RawSettings } from "../../src/config.js";
import { silentLogger, type Logger } from "../../src/log.js";
import { createServer } from "../../src/server.js";
import { createServices, type Services } from "../../src/services.js";

export interface Harness extends AsyncDisposable {
  client: Client;
  services: Services;
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  /** Calls a tool that must succeed and returns its structured content. */
  ok<T = Record<string, unknown>>(name: string, args?: Record<string, unknown>): Promise<T>;
  /** Calls a tool that must fail and returns its error text. */
  fails(name: string, args?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

/** Test settings: the tiny model, one thread, CPU, quiet, and no actions unless a test names a tools dir. */
export function testConfig(settings: RawSettings = {}) {
  const noTools = `${inject("fixturesDir")}/no-tools`;
  // Each set of services records its runs in a state directory of its own (never the user's).
  const stateDir = mkdtempSync(join(inject("fixturesDir"), "state-"));
  return parseConfig({ model: inject("modelPath"), threads: 1, gpu: "false", logLevel: "silent", toolsDir: noTools, stateDir, ...settings }, {});
}

export async function connect(
  settings: RawSettings = {},
  options: {
    log?: Logger;
    services?: Services;
    clientCapabilities?: Record<string, unknown>;
    /** The environment actions see (default: PATH only). */
    env?: Record<string, string>;
  } = {},
): Promise<Harness> {
  const env = options.env ?? { PATH: process.env.PATH ?? "/usr/bin:/bin" };
  const services = options.services ?? createServices(testConfig(settings), options.log ?? silentLogger, { env });
  const server = createServer(services);
  const client = new Client({ name: "lam-test", version: "0.0.0" }, { capabilities: options.clientCapabilities ?? {} });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  await client.connect(clientSide);
  // Listing the tools makes the SDK client check every structuredContent against the tool's outputSchema.
  await client.listTools();
  const call = async (name: string, args: Record<string, unknown> = {}) =>
    (await client.callTool({ name, arguments: args })) as CallToolResult;
  const close = async () => {
    await client.close();
    await server.close();
    if (!options.services) await services.close();
  };
  return {
    client,
    services,
    call,
    async ok<T>(name: string, args: Record<string, unknown> = {}) {
      const result = await call(name, args);
      if (result.isError) throw new Error(`${name} failed: ${textOf(result)}`);
      return result.structuredContent as T;
    },
    async fails(name: string, args: Record<string, unknown> = {}) {
      const result = await call(name, args);
      if (!result.isError) throw new Error(`${name} was expected to fail but returned ${textOf(result)}`);
      return textOf(result);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

export function textOf(result: CallToolResult): string {
  return result.content.map((c) => (c.type === "text" ? c.text : `[${c.type}]`)).join("\n");
}

/**
 * Services shared by the tests of one file that need the same settings: one engine and one load for all of them
 * (a load costs up to a second). `await using shared = sharedServices()` at the file's top level is not possible,
 * so the file closes them in afterAll.
 */
export function sharedServices() {
  const made = new Map<string, Services>();
  return {
    connect(settings: RawSettings = {}, options: Omit<Parameters<typeof connect>[1] & object, "services"> = {}): Promise<Harness> {
      const key = JSON.stringify(settings);
      let services = made.get(key);
      if (!services) {
        services = createServices(testConfig(settings), options.log ?? silentLogger, { env: options.env ?? { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
        made.set(key, services);
      }
      return connect(settings, { ...options, services });
    },
    async close() {
      for (const services of made.values()) await services.close();
      made.clear();
    },
  };
}
