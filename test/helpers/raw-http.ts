/** Raw JSON-RPC over HTTP, for the tests that look at status codes and headers rather than through a Client. */
export const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
};

export const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
