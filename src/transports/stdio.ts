/** Serves one MCP session over stdin/stdout. Resolves when the client goes away (stdin EOF) or close() is called. */
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createServer, type Services } from "../server.js";

export interface RunningStdio {
  /** Resolves once the session has ended. */
  ended: Promise<void>;
  close(): Promise<void>;
}

export async function serveStdio(services: Services): Promise<RunningStdio> {
  const mcp = createServer(services);
  const transport = new StdioServerTransport();
  let endSession!: () => void;
  const ended = new Promise<void>((resolve) => (endSession = resolve));
  transport.onclose = () => endSession();
  await mcp.connect(transport);
  const close = async () => {
    await mcp.close().catch(() => undefined);
    endSession();
  };
  process.stdin.once("end", () => void close());
  process.stdin.once("close", () => void close());
  return { ended, close };
}
