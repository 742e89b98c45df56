/** Raw JSON-RPC over HTTP, for the tests that look at status codes and headers rather than through a Client. */
export const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
};

export const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

/**
 * Calls `generate` (a long one: " la" x 8000) as a raw POST, reads the SSE answer until the first progress
 * notification, then hangs up, as a client that goes away mid-call would. Returns the content type answered.
 */
export async function hangUpMidGeneration(url: string, headers: Record<string, string>): Promise<string> {
  const { request } = await import("undici");
  const controller = new AbortController();
  const call = {
    jsonrpc: "2.0",
    id: 7,
    method: "tools/call",
    params: { name: "generate", arguments: { prompt: " la", temperature: 0, max_tokens: 8000 }, _meta: { progressToken: "p1" } },
  };
  const stream = await request(url, { method: "POST", headers, body: JSON.stringify(call), signal: controller.signal });
  let seen = "";
  for await (const chunk of stream.body) {
    seen += (chunk as Buffer).toString();
    if (seen.includes("notifications/progress")) break;
  }
  controller.abort();
  return String(stream.headers["content-type"]);
}
