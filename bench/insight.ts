/**
 * score through MCP against node-llama-cpp's own evaluation of the same text with the same work (every position's
 * next-token probabilities, controlledEvaluate), on the same model, in the same run: tokens scored per second.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { getLlama, type Token } from "node-llama-cpp";
import { parseConfig } from "../src/config.js";
import { resolveThreads } from "../src/llm/local/engine.js";
import { silentLogger } from "../src/log.js";
import { createServer } from "../src/server.js";
import { createServices } from "../src/services.js";
import { fmt, median, printRows, TMP, type Row } from "./lib.js";
import { mixedText } from "./text.js";

const RUNS = 5;

export async function benchInsight(modelPath: string): Promise<void> {
  const threads = resolveThreads("auto")!;
  const contextSize = 2048;

  // Direct: the same evaluation node-llama-cpp does for score, on one sequence: BOS + the text, probabilities after every position.
  const llama = await getLlama({ gpu: false, build: "never", maxThreads: threads });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const text = (() => {
    const source = mixedText();
    let end = 0;
    while (model.tokenize(source.slice(0, end + 200)).length < 1000 && end < source.length) end += 200;
    return source.slice(0, end);
  })();
  const tokens = model.tokenize(text);
  const context = await model.createContext({ contextSize, sequences: 1 });
  const sequence = context.getSequence();
  const input = [model.tokens.bos!, ...tokens];
  const direct: number[] = [];
  for (let i = 0; i < RUNS + 1; i++) {
    await sequence.clearHistory();
    const t0 = performance.now();
    const items = input.map((t, j) => (j < input.length - 1 ? ([t, { generateNext: { probabilities: true } }] as [Token, { generateNext: { probabilities: true } }]) : t));
    const out = await sequence.controlledEvaluate(items);
    let sum = 0;
    for (let j = 0; j < tokens.length; j++) sum += Math.log(out[j]!.next.probabilities!.get(tokens[j]!) ?? Number.MIN_VALUE);
    if (sum > 0) throw new Error("impossible");
    if (i > 0) direct.push(performance.now() - t0);
  }
  await context.dispose();
  await model.dispose();
  await llama.dispose();

  const services = createServices(
    parseConfig({ model: modelPath, threads, gpu: "false", logLevel: "silent", sequences: 1, contextSize, scoreMaxTokens: 4096, toolsDir: `${TMP}no-tools`, stateDir: `${TMP}state` }, {}),
    silentLogger,
  );
  const server = createServer(services);
  const client = new Client({ name: "bench", version: "0" });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(b);
  await client.connect(a);
  const viaMcp: number[] = [];
  for (let i = 0; i < RUNS + 1; i++) {
    const t0 = performance.now();
    const r = await client.callTool({ name: "score", arguments: { text, top_n: 0 } });
    if (r.isError) throw new Error(JSON.stringify(r.content));
    const n = (r.structuredContent as { tokens: unknown[] }).tokens.length;
    if (n !== tokens.length) throw new Error(`score gave ${n} tokens, the direct evaluation ${tokens.length}`);
    if (i > 0) viaMcp.push(performance.now() - t0);
  }
  await client.close();
  await services.close();

  const rate = (ms: number) => (tokens.length / ms) * 1000;
  const ratio = rate(median(viaMcp)) / rate(median(direct));
  const rows: Row[] = [
    {
      bench: `score via MCP (${tokens.length} tokens, top_n 0)`,
      figure: fmt.rate(rate(median(viaMcp)), "tok"),
      baseline: `${fmt.rate(rate(median(direct)), "tok")} controlledEvaluate`,
      ratio,
      target: ">= 0.90x",
      ok: ratio >= 0.9,
    },
  ];
  printRows("Look inside", rows, [
    `model ${modelPath.split("/").pop()}; ${threads} thread(s); the text's probabilities at every position, median of ${RUNS} runs; the baseline is node-llama-cpp's controlledEvaluate of BOS + the same tokens`,
  ]);
}
