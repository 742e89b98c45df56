/**
 * Generation through MCP against node-llama-cpp's own completion loop, on the same model, threads and sampler,
 * in the same run; aggregate throughput with 1, 2 and 4 concurrent calls; peak RSS of a 4-way run against a
 * single call; and how fast a cancellation frees its sequence.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { getLlama, LlamaCompletion, type Token } from "node-llama-cpp";
import { parseConfig } from "../src/config.js";
import { resolveThreads } from "../src/llm/local/engine.js";
import { silentLogger } from "../src/log.js";
import { createServer } from "../src/server.js";
import { createServices, type Services } from "../src/services.js";
import { fmt, median, printRows, type Row } from "./lib.js";

const PROMPT = " la".repeat(256);
const GEN_TOKENS = 128;
const RUNS = 6;

interface Timed {
  promptMs: number;
  generationMs: number;
  tokens: number;
}

async function direct(modelPath: string, threads: number): Promise<Timed[]> {
  const llama = await getLlama({ gpu: false, build: "never", maxThreads: threads });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: 4096, sequences: 1 });
  const sequence = context.getSequence();
  const completion = new LlamaCompletion({ contextSequence: sequence });
  const tokens = model.tokenize(PROMPT);
  const out: Timed[] = [];
  for (let i = 0; i < RUNS + 1; i++) {
    await sequence.clearHistory();
    const t0 = performance.now();
    let first: number | undefined;
    let n = 0;
    await completion.generateCompletionWithMeta(tokens, {
      maxTokens: GEN_TOKENS,
      temperature: 0,
      disableContextShift: true,
      onToken: (t: Token[]) => {
        first ??= performance.now();
        n += t.length;
      },
    });
    const end = performance.now();
    if (i > 0) out.push({ promptMs: first! - t0, generationMs: end - first!, tokens: n });
  }
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return out;
}

async function mcpClient(services: Services): Promise<Client> {
  const server = createServer(services);
  const client = new Client({ name: "bench", version: "0" });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(b);
  await client.connect(a);
  return client;
}

interface GenOut {
  timings: { prompt_ms: number; generation_ms: number };
  usage: { completion_tokens: number };
}

async function callGenerate(client: Client, maxTokens = GEN_TOKENS): Promise<GenOut> {
  const r = await client.callTool({ name: "generate", arguments: { prompt: PROMPT, temperature: 0, max_tokens: maxTokens } });
  if (r.isError) throw new Error(JSON.stringify(r.content));
  return r.structuredContent as unknown as GenOut;
}

function peakRss(during: Promise<unknown>): Promise<number> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  return during.then(() => {
    clearInterval(timer);
    return Math.max(peak, process.memoryUsage().rss);
  });
}

export async function benchGenerate(modelPath: string): Promise<void> {
  const threads = resolveThreads("auto")!;
  const base = await direct(modelPath, threads);

  // Same model, threads, sampler and context shape as the direct loop: one sequence of 4096.
  const single = createServices(
    parseConfig({ model: modelPath, threads, gpu: "false", logLevel: "silent", sequences: 1, contextSize: 4096 }, {}),
    silentLogger,
  );
  const singleClient = await mcpClient(single);
  await callGenerate(singleClient);
  const viaMcp: Timed[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await callGenerate(singleClient);
    viaMcp.push({ promptMs: r.timings.prompt_ms, generationMs: r.timings.generation_ms, tokens: r.usage.completion_tokens });
  }
  await singleClient.close();
  await single.close();

  const services = createServices(
    parseConfig({ model: modelPath, threads, gpu: "false", logLevel: "silent", sequences: 4, contextSize: 4096 }, {}),
    silentLogger,
  );
  const client = await mcpClient(services);
  await callGenerate(client);
  const genRate = (t: Timed[]) => median(t.map((x) => ((x.tokens - 1) / x.generationMs) * 1000));
  const promptRate = (t: Timed[]) => median(t.map((x) => (256 / x.promptMs) * 1000));

  // Aggregate throughput with 1, 2, 4 calls at once (4 sequences in the pool).
  const aggregate: Array<{ n: number; rate: number; peak: number }> = [];
  for (const n of [1, 2, 4]) {
    const rates: number[] = [];
    let peak = 0;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const run = Promise.all(Array.from({ length: n }, () => callGenerate(client)));
      peak = Math.max(peak, await peakRss(run));
      const results = await run;
      const total = results.reduce((a, r) => a + r.usage.completion_tokens, 0);
      rates.push((total / (performance.now() - t0)) * 1000);
    }
    aggregate.push({ n, rate: median(rates), peak });
  }

  // Cancellation: abort after the first progress notification; time until the sequence is free again.
  const cancelMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const controller = new AbortController();
    let abortedAt = 0;
    const call = client
      .callTool({ name: "generate", arguments: { prompt: " la", temperature: 0, max_tokens: 3000 } }, undefined, {
        signal: controller.signal,
        onprogress: () => {
          if (!abortedAt) {
            abortedAt = performance.now();
            controller.abort();
          }
        },
      })
      .catch(() => undefined);
    await call;
    while (services.engine.stats()!.busy > 0) await new Promise((r) => setTimeout(r, 1));
    cancelMs.push(performance.now() - abortedAt);
  }
  await client.close();
  await services.close();

  const one = aggregate[0]!;
  const rows: Row[] = [
    {
      bench: "generate via MCP: generation",
      figure: fmt.rate(genRate(viaMcp), "tok"),
      baseline: `${fmt.rate(genRate(base), "tok")} LlamaCompletion`,
      ratio: genRate(viaMcp) / genRate(base),
      target: ">= 0.95x",
      ok: genRate(viaMcp) / genRate(base) >= 0.95,
    },
    {
      bench: "generate via MCP: prompt processing (256 tok)",
      figure: fmt.rate(promptRate(viaMcp), "tok"),
      baseline: `${fmt.rate(promptRate(base), "tok")} LlamaCompletion`,
      ratio: promptRate(viaMcp) / promptRate(base),
    },
    ...aggregate.map((a) => ({
      bench: `aggregate, ${a.n} concurrent call${a.n > 1 ? "s" : ""}`,
      figure: fmt.rate(a.rate, "tok"),
      baseline: `${fmt.rate(one.rate, "tok")} with 1 call`,
      ratio: a.rate / one.rate,
    })),
    {
      bench: "peak RSS, 4 concurrent calls",
      figure: fmt.mb(aggregate[2]!.peak),
      baseline: `${fmt.mb(one.peak)} with 1 call`,
      ratio: aggregate[2]!.peak / one.peak,
    },
    {
      bench: "cancel -> sequence free (median of 5)",
      figure: fmt.ms(median(cancelMs)),
      baseline: "target 100 ms",
      ratio: median(cancelMs) / 100,
      target: "<= 1.00x",
      ok: median(cancelMs) <= 100,
    },
  ];
  printRows("Generation", rows, [
    `model ${modelPath.split("/").pop()}; ${threads} thread(s); greedy; prompt 256 tokens, ${GEN_TOKENS} generated; median of ${RUNS} runs; ` +
      "1 sequence against the direct loop, a pool of 4 for the concurrent runs",
  ]);
}
