/**
 * Tokenization throughput: count_tokens through MCP (in-memory and spawned stdio) against node-llama-cpp's
 * model.tokenize called directly on the same model and text in the same run; gpt-tokenizer as a reference.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { encode } from "gpt-tokenizer";
import { getLlama } from "node-llama-cpp";
import { join } from "node:path";
import { parseConfig } from "../src/config.js";
import { silentLogger } from "../src/log.js";
import { createServer } from "../src/server.js";
import { createServices } from "../src/services.js";
import { fmt, median, printRows, ROOT, timeRuns, type Row } from "./lib.js";
import { mixedText } from "./text.js";

export async function benchTokenize(modelPath: string, runs = 10): Promise<void> {
  const text = mixedText();
  const bytes = Buffer.byteLength(text);

  // Direct: node-llama-cpp, a vocabulary-only load like the server's tokenizer path.
  const llama = await getLlama({ gpu: false, maxThreads: 1, build: "never" });
  const model = await llama.loadModel({ modelPath, vocabOnly: true });
  const tokens = model.tokenize(text).length;
  const direct = median(await timeRuns(() => model.tokenize(text), runs));

  // Through MCP, in-memory.
  const services = createServices(parseConfig({ model: modelPath, threads: 1, gpu: "false", logLevel: "silent" }, {}), silentLogger);
  const server = createServer(services);
  const client = new Client({ name: "bench", version: "0" });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(b);
  await client.connect(a);
  const viaMcp = async (c: Client) => {
    const r = await c.callTool({ name: "count_tokens", arguments: { texts: [text] } });
    const total = (r.structuredContent as { total: number } | undefined)?.total;
    if (total !== tokens) throw new Error(`count_tokens said ${total}, direct ${tokens}`);
  };
  const inMemory = median(await timeRuns(() => viaMcp(client), runs));
  await client.close();
  await services.close();

  // Through MCP, a spawned stdio process (JSON encoding and a pipe each way).
  const stdio = new Client({ name: "bench", version: "0" });
  await stdio.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [join(ROOT, "dist/cli.js"), "--model", modelPath, "--threads", "1", "--gpu", "false", "--log-level", "warn"],
    }),
  );
  const overStdio = median(await timeRuns(() => viaMcp(stdio), runs));
  await stdio.close();

  // Reference: gpt-tokenizer (pure JS, o200k) on the same text; its own token count.
  const gptTokens = encode(text).length;
  const gpt = median(await timeRuns(() => encode(text), runs));

  await model.dispose();
  await llama.dispose();

  const rate = (ms: number, n = tokens) => (n / ms) * 1000;
  const rows: Row[] = [
    {
      bench: "count_tokens via MCP in-memory",
      figure: `${fmt.rate(rate(inMemory), "tok")} (${fmt.ms(inMemory)})`,
      baseline: `${fmt.rate(rate(direct), "tok")} direct`,
      ratio: direct / inMemory,
      target: ">= 0.90x",
      ok: direct / inMemory >= 0.9,
    },
    {
      bench: "count_tokens via MCP stdio (spawned)",
      figure: `${fmt.rate(rate(overStdio), "tok")} (${fmt.ms(overStdio)})`,
      baseline: `${fmt.rate(rate(direct), "tok")} direct`,
      ratio: direct / overStdio,
    },
    {
      bench: "gpt-tokenizer encode (reference, o200k)",
      figure: `${fmt.rate(rate(gpt, gptTokens), "tok")} (${fmt.ms(gpt)})`,
      baseline: `${fmt.rate(rate(direct), "tok")} direct`,
      ratio: direct / gpt,
    },
  ];
  printRows("Tokenization throughput", rows, [
    `text: ${fmt.mb(bytes)} mixed (prose, code, JSON, CJK, emoji); model ${modelPath.split("/").pop()}: ${tokens} tokens; ` +
      `gpt-tokenizer: ${gptTokens} tokens; median of ${runs} runs`,
    "ratio = baseline time / figure time (1.00x = as fast as calling node-llama-cpp directly)",
  ]);
}
