/**
 * How temperature (and top-p) change the next token: next_token on one prompt at several settings, as a table.
 * It starts lam-mcp over stdio (the built dist/cli.js) with this process's environment (LAM_MODEL, ...).
 *
 *   npx tsx examples/sampling.ts "The capital of France is"
 */
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";

const prompt = process.argv[2] ?? "The capital of France is";
const server = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const client = new Client({ name: "sampling-example", version: "1.0.0" });
await client.connect(new StdioClientTransport({ command: process.execPath, args: [server], env: process.env as Record<string, string>, stderr: "inherit" }));

interface Candidate {
  piece: string;
  probability: number;
  after_temperature: number;
  kept: boolean;
  p_sample: number;
}
const settings = [
  { temperature: 0, top_p: 1 },
  { temperature: 0.5, top_p: 1 },
  { temperature: 1, top_p: 1 },
  { temperature: 1.5, top_p: 1 },
  { temperature: 1, top_p: 0.5 },
];
console.log(`Prompt: ${JSON.stringify(prompt)}`);
for (const s of settings) {
  const r = (await client.callTool({ name: "next_token", arguments: { prompt, n: 5, top_k: 0, min_p: 0, ...s } })) as CallToolResult;
  if (r.isError) {
    console.error(r.content.map((c) => (c.type === "text" ? c.text : "")).join("\n"));
    process.exit(1);
  }
  const { candidates, kept } = r.structuredContent as { candidates: Candidate[]; kept: number };
  console.log(`\ntemperature ${s.temperature}, top_p ${s.top_p}: ${kept} token(s) can be sampled`);
  for (const c of candidates) {
    console.log(`  ${JSON.stringify(c.piece).padEnd(14)} p ${c.probability.toFixed(4)}  after T ${c.after_temperature.toFixed(4)}  ${c.kept ? "kept" : "cut "}  sampled ${c.p_sample.toFixed(4)}`);
  }
}
await client.close();
