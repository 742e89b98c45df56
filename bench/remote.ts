/**
 * The remote backend against a real llama-server on 127.0.0.1 (built from node-llama-cpp's bundled llama.cpp):
 * generation through MCP against the same server's /completion streamed directly, same prompt, length and server,
 * runs interleaved; tokenization through MCP (the server's /tokenize behind it) against /tokenize called directly.
 * Both sides are timed end to end by the client, so what lam-mcp adds (the prompt's tokenization, the MCP call,
 * the SSE parsing) is in the figure.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { request } from "undici";
import { parseConfig } from "../src/config.js";
import { resolveThreads } from "../src/llm/local/engine.js";
import { silentLogger } from "../src/log.js";
import { createServer } from "../src/server.js";
import { createServices } from "../src/services.js";
import { startLlamaServer } from "../test/helpers/llama-server.js";
import { fmt, median, printRows, type Row } from "./lib.js";
import { mixedText } from "./text.js";

const PROMPT = " la".repeat(256);
const GEN_TOKENS = 128;
const RUNS = 8;

/** One streamed /completion, read event by event like lam-mcp does; tokens and wall time. */
async function streamed(url: string): Promise<{ tokens: number; ms: number }> {
  const t0 = performance.now();
  const res = await request(`${url}/completion`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: PROMPT, n_predict: GEN_TOKENS, temperature: 0, stream: true, cache_prompt: true }),
  });
  let tokens = 0;
  let buffer = "";
  for await (const chunk of res.body) {
    buffer += (chunk as Buffer).toString("utf8");
    let nl: number;
    while ((nl = buffer.indexOf("\n")) !== -1) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!line.startsWith("data: ")) continue;
      const event = JSON.parse(line.slice(6)) as { tokens?: number[]; stop?: boolean };
      tokens += event.tokens?.length ?? 0;
    }
  }
  return { tokens, ms: performance.now() - t0 };
}

export async function benchRemote(modelPath: string): Promise<void> {
  const threads = resolveThreads("auto")!;
  const server = await startLlamaServer(modelPath, { slots: 1, context: 4096, threads });
  try {
    const services = createServices(parseConfig({ llmUrl: server.url, logLevel: "silent", maxTokensLimit: 4096, toolsDir: "/nonexistent-lam-bench-tools" }, {}), silentLogger);
    const mcp = createServer(services);
    const client = new Client({ name: "bench", version: "0" });
    const [a, b] = InMemoryTransport.createLinkedPair();
    await mcp.connect(b);
    await client.connect(a);
    const viaMcp = async () => {
      const t0 = performance.now();
      const r = await client.callTool({ name: "generate", arguments: { prompt: PROMPT, temperature: 0, max_tokens: GEN_TOKENS } });
      if (r.isError) throw new Error(JSON.stringify(r.content));
      const out = r.structuredContent as { usage: { completion_tokens: number } };
      return { tokens: out.usage.completion_tokens, ms: performance.now() - t0 };
    };

    // Warm both paths (the prompt cached in the slot, connections open), then interleave.
    await viaMcp();
    await streamed(server.url);
    const mcpRates: number[] = [];
    const directRates: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const [run, rates] of (i % 2 ? [[viaMcp, mcpRates], [() => streamed(server.url), directRates]] : [[() => streamed(server.url), directRates], [viaMcp, mcpRates]]) as Array<
        [() => Promise<{ tokens: number; ms: number }>, number[]]
      >) {
        const r = await run();
        rates.push((r.tokens / r.ms) * 1000);
      }
    }

    // Tokenization of a mixed text: count_tokens against /tokenize (ids), tokenize against /tokenize with pieces.
    // 96 KB: its tokens fit one page of the tokenize tool (100 000), so both sides return every piece.
    const text = mixedText().slice(0, 96 * 1024);
    const post = async (body: Record<string, unknown>) => {
      const res = await request(`${server.url}/tokenize`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return ((await res.body.json()) as { tokens: unknown[] }).tokens.length;
    };
    const tool = async (name: string, args: Record<string, unknown>) => {
      const r = await client.callTool({ name, arguments: args });
      if (r.isError) throw new Error(JSON.stringify(r.content));
      return r.structuredContent as { total?: number; count?: number };
    };
    const pairs = {
      count: { direct: () => post({ content: text }), mcp: async () => (await tool("count_tokens", { texts: [text] })).total! },
      pieces: { direct: () => post({ content: text, with_pieces: true }), mcp: async () => (await tool("tokenize", { text, limit: 100_000 })).count! },
    };
    const times: Record<keyof typeof pairs, { direct: number[]; mcp: number[] }> = { count: { direct: [], mcp: [] }, pieces: { direct: [], mcp: [] } };
    let tokens = 0;
    for (const [name, pair] of Object.entries(pairs) as Array<[keyof typeof pairs, (typeof pairs)["count"]]>) {
      await pair.direct();
      await pair.mcp();
      for (let i = 0; i < RUNS; i++) {
        let t0 = performance.now();
        const d = await pair.direct();
        times[name].direct.push(performance.now() - t0);
        t0 = performance.now();
        const m = await pair.mcp();
        times[name].mcp.push(performance.now() - t0);
        if (d !== m) throw new Error(`${name}: lam-mcp said ${m} tokens, /tokenize ${d}`);
        tokens = d;
      }
    }
    // The same tokenize call on the local backend (the same GGUF, vocabulary-only): what the tool's output costs
    // whatever the backend.
    const localServices = createServices(parseConfig({ model: modelPath, threads: 1, gpu: "false", logLevel: "silent", toolsDir: "/nonexistent-lam-bench-tools" }, {}), silentLogger);
    const localServer = createServer(localServices);
    const localClient = new Client({ name: "bench", version: "0" });
    const [la, lb] = InMemoryTransport.createLinkedPair();
    await localServer.connect(lb);
    await localClient.connect(la);
    const localTimes: number[] = [];
    for (let i = 0; i < RUNS + 1; i++) {
      const t0 = performance.now();
      const r = await localClient.callTool({ name: "tokenize", arguments: { text, limit: 100_000 } });
      if ((r.structuredContent as { count: number }).count !== tokens) throw new Error("local tokenize disagrees with the server");
      if (i > 0) localTimes.push(performance.now() - t0);
    }
    await localClient.close();
    await localServices.close();
    await client.close();
    await services.close();

    const genRatio = median(mcpRates) / median(directRates);
    const rows: Row[] = [
      {
        bench: "remote generate via MCP (end to end)",
        figure: fmt.rate(median(mcpRates), "tok"),
        baseline: `${fmt.rate(median(directRates), "tok")} /completion`,
        ratio: genRatio,
        target: ">= 0.95x",
        ok: genRatio >= 0.95,
      },
      ...(["count", "pieces"] as const).map((name) => ({
        bench: name === "count" ? `remote count_tokens (${tokens} tok)` : `remote tokenize with pieces (${tokens} tok)`,
        figure: fmt.ms(median(times[name].mcp)),
        baseline: `${fmt.ms(median(times[name].direct))} /tokenize${name === "pieces" ? " with_pieces" : ""}`,
        ratio: median(times[name].direct) / median(times[name].mcp),
      })),
      {
        bench: `remote tokenize with pieces vs local backend`,
        figure: fmt.ms(median(times.pieces.mcp)),
        baseline: `${fmt.ms(median(localTimes))} local tokenize tool`,
        ratio: median(localTimes) / median(times.pieces.mcp),
      },
    ];
    printRows("Remote inference (llama-server)", rows, [
      `model ${modelPath.split("/").pop()}; llama-server -t ${threads} -np 1; greedy; prompt 256 tokens (cached in the slot), ${GEN_TOKENS} generated; ` +
        `median of ${RUNS} interleaved runs, both streamed and timed by the client; ratio = via MCP / direct (tokenize: direct time / MCP time); text ${Math.round(Buffer.byteLength(text) / 1024)} KB`,
      `the tokenize tool's own cost (${tokens} pieces checked against its output schema and sent as JSON) is the same on either backend: compare the last row`,
    ]);
  } finally {
    await server.stop();
  }
}
