/** Serves one MCP session over stdin/stdout. Resolves when the client goes away (stdin EOF) or close() is called. */
import { createServer } from "../server.js";
import type { Services } from "../services.js";
import { LineTransport } from "./stdio-lines.js";

export interface RunningStdio {
  /** Resolves once the session has ended. */
  ended: Promise<void>;
  close(): Promise<void>;
}

export async function serveStdio(services: Services): Promise<RunningStdio> {
  const mcp = createServer(services);
  const { config, log } = services;
  const transport = new LineTransport(config.maxBodyBytes, process.stdin, undefined, (bytes) =>
    log.warn("refused a message past --max-body-bytes", { bytes, limit: config.maxBodyBytes }),
  );
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
