/**
 * An agent loop that researches a question with lam-mcp: web_search -> read_url -> chat with the passages ->
 * an answer with citations. It starts lam-mcp over stdio (the built dist/cli.js) and passes its own environment
 * on, so LAM_MODEL, SEARXNG_URL, LAM_FETCH_ALLOW ... configure the server.
 *
 *   npx tsx examples/research.ts "How do llamas communicate?"
 */
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

const question = process.argv[2] ?? "How do llamas communicate?";
const server = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

const client = new Client({ name: "research-example", version: "1.0.0" });
await client.connect(new StdioClientTransport({ command: process.execPath, args: [server], env: process.env as Record<string, string>, stderr: "inherit" }));

async function call<T>(name: string, args: Record<string, unknown>): Promise<T> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  if (result.isError) throw new Error(`${name}: ${result.content.map((c) => (c.type === "text" ? c.text : "")).join("\n")}`);
  return result.structuredContent as T;
}

// 1. Search.
const found = await call<{ results: Array<{ title: string; url: string; snippet: string }> }>("web_search", { query: question, max_results: 5 });
if (found.results.length === 0) throw new Error("no results");

// 2. Read the top two pages (a bounded budget each); fall back to the snippet when a page cannot be read.
const sources: Array<{ title: string; url: string; text: string }> = [];
for (const result of found.results.slice(0, 2)) {
  try {
    const page = await call<{ title: string; content: string }>("read_url", { url: result.url, max_tokens: 400 });
    sources.push({ title: page.title, url: result.url, text: page.content });
  } catch {
    sources.push({ title: result.title, url: result.url, text: result.snippet });
  }
}

// 3. Ask the local model, with the passages numbered for citation.
const context = sources.map((s, i) => `[${i + 1}] ${s.title} (${s.url})\n${s.text}`).join("\n\n");
const answer = await call<{ text: string; finish_reason: string }>("chat", {
  messages: [
    { role: "system", content: "Answer only from the sources. Cite each claim as [n]. Say so when the sources do not tell." },
    { role: "user", content: `Sources:\n${context}\n\nQuestion: ${question}` },
  ],
  temperature: 0,
  max_tokens: 300,
});

// 4. The answer with its sources.
console.log(`Question: ${question}\n`);
console.log(`Answer: ${answer.text.trim()}\n`);
console.log("Sources:");
sources.forEach((s, i) => console.log(`[${i + 1}] ${s.title} — ${s.url}`));
await client.close();
