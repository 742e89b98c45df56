/**
 * lam-mcp's own tokenizer on real vocabularies: count_tokens over stdio (a spawned server, `--model` one of llama.cpp's
 * test vocabularies: GPT-2, Llama 3, Qwen2, Llama 2; Falcon and DeepSeek LLM for the general regex path) against node-llama-cpp's `model.tokenize` on the same text in the same
 * run, counts compared; gpt-tokenizer (r50k_base, GPT-2's encoding) as the pure-JavaScript reference; and what the
 * server's memory grows by with lam-mcp's tokenizer against `--tokenizer llama.cpp`.
 *
 * Each run tokenizes a different ~1 MB text (another seed of the same mix), so nothing is timed on a text seen before.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { encode } from "gpt-tokenizer/encoding/r50k_base";
import { getLlama } from "node-llama-cpp";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { ModelInfo } from "../src/llm/engine.js";
import { LocalTokenizer } from "../src/llm/local/tokens.js";
import { llamaSource } from "../test/helpers/llama-source.js";
import { fmt, LineClient, median, printRows, ROOT, type Row } from "./lib.js";
import { mixedText } from "./text.js";

const RUNS = 7;
/** [file, label, whether the issue's >= 3x target applies]: the regex families (general path) are shown, untargeted. */
const VOCABS = [
  ["gpt-2", "GPT-2", true],
  ["llama-bpe", "Llama 3", true],
  ["qwen2", "Qwen2", true],
  ["llama-spm", "Llama 2 (SentencePiece)", true],
  ["falcon", "Falcon (regex pre-tokenizer)", false],
  ["deepseek-llm", "DeepSeek LLM (regex pre-tokenizer)", false],
] as const;

async function server(model: string, tokenizer: "auto" | "llama.cpp") {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(ROOT, "dist/cli.js"), "--model", model, "--tokenizer", tokenizer, "--threads", "1", "--gpu", "false", "--log-level", "warn"],
    // A vocabulary-only GGUF makes llama.cpp log a missing tensor before it loads the vocabulary alone.
    stderr: "ignore",
  });
  const client = new Client({ name: "bench", version: "0" });
  await client.connect(transport);
  const count = async (text: string) => {
    const r = await client.callTool({ name: "count_tokens", arguments: { texts: [text] } });
    if (r.isError) throw new Error(JSON.stringify(r.content));
    return (r.structuredContent as { total: number }).total;
  };
  const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${transport.pid}/status`, "utf8"))?.[1]);
  const engine = async () => ((await client.callTool({ name: "vocabulary", arguments: { limit: 0 } })).structuredContent as { tokenizer: { engine: string } }).tokenizer.engine;
  return { client, count, rssKb, engine };
}

/**
 * The memory that lam-mcp's tokenizer holds for a vocabulary (JavaScript heap and typed arrays' buffers): built,
 * then after counting the texts (its word memo filled, and its scratch space kept).
 */
async function heldHeap(model: ConstructorParameters<typeof LocalTokenizer>[0], texts: string[]): Promise<{ built: number; filled: number; buildMs: number }> {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  // Typed arrays' buffers are released after the collection that finds them dead, on a later turn: collect, let them
  // go, and measure then.
  const held = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = await held();
  const t0 = performance.now();
  const tokenizer = new LocalTokenizer(model, { name: "bench" } as ModelInfo, "auto");
  const buildMs = performance.now() - t0;
  const built = (await held()) - before;
  for (const text of texts) await tokenizer.count(text, false);
  const filled = (await held()) - before;
  if (tokenizer.implementation.engine !== "lam-mcp") throw new Error("not lam-mcp's tokenizer");
  return { built, filled, buildMs };
}

export async function benchTokenizerVocabs(): Promise<void> {
  const models = join(llamaSource(), "models");
  const texts = Array.from({ length: RUNS + 1 }, (_, i) => mixedText(1 << 20, 777 + i));
  const bytes = Buffer.byteLength(texts[1]!);
  const llama = await getLlama({ gpu: false, maxThreads: 1, build: "never", logLevel: "error" as never, logger: () => undefined });
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const [file, label, targeted] of VOCABS) {
    const path = join(models, `ggml-vocab-${file}.gguf`);
    const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
    const own = await server(path, "auto");
    const theirs = await server(path, "llama.cpp");
    if ((await own.engine()) !== "lam-mcp" || (await theirs.engine()) !== "llama.cpp") throw new Error(`${file}: not the tokenizers meant`);
    // The same server as `own`, spoken to by a client that costs next to nothing (lines written as they are): what
    // is left of the figure above once the SDK client's own work is out.
    const bare = await LineClient.start([join(ROOT, "dist/cli.js"), "--model", path, "--threads", "1", "--gpu", "false", "--log-level", "warn"]);
    const bareCount = async (text: string) =>
      (JSON.parse(await bare.call("count_tokens", { texts: [text] })) as { result: { structuredContent: { total: number } } }).result.structuredContent.total;
    await own.count(texts[0]!); // the first call loads the vocabulary; not timed
    await theirs.count(texts[0]!);
    await bareCount(texts[0]!);
    const times = { own: [] as number[], theirs: [] as number[], direct: [] as number[], gpt: [] as number[], bare: [] as number[] };
    let tokens = 0;
    for (let i = 1; i <= RUNS; i++) {
      const text = texts[i]!;
      let t = performance.now();
      const direct = model.tokenize(text).length;
      times.direct.push(performance.now() - t);
      t = performance.now();
      const counted = await own.count(text);
      times.own.push(performance.now() - t);
      t = performance.now();
      const counted2 = await theirs.count(text);
      times.theirs.push(performance.now() - t);
      t = performance.now();
      const counted3 = await bareCount(text);
      times.bare.push(performance.now() - t);
      if (counted !== direct || counted2 !== direct || counted3 !== direct) {
        throw new Error(`${file}: count_tokens said ${counted} (lam-mcp) / ${counted2} (llama.cpp) / ${counted3} (bare client), model.tokenize ${direct}`);
      }
      if (file === "gpt-2") {
        t = performance.now();
        const gpt = encode(text).length;
        times.gpt.push(performance.now() - t);
        if (gpt !== direct) notes.push(`gpt-tokenizer counted ${gpt} tokens where llama.cpp counted ${direct} (seed ${777 + i})`);
      }
      tokens += direct;
    }
    const ownMs = median(times.own);
    const directMs = median(times.direct);
    // Each text's three timings are taken back to back: the ratio is the median of the per-text ratios, so that
    // this machine's drifts in speed (2x within seconds) fall on both sides of each.
    const paired = (side: number[]) => median(times.direct.map((d, i) => d / side[i]!));
    const ownRatio = paired(times.own);
    rows.push({
      bench: `count_tokens stdio, ${label} (lam-mcp tokenizer)`,
      figure: `${fmt.rate(bytes / ownMs / 1000, "MB")} (${fmt.ms(ownMs)})`,
      baseline: `model.tokenize ${fmt.ms(directMs)}`,
      ratio: ownRatio,
      ...(targeted ? { target: ">= 3.00x", ok: ownRatio >= 3 } : {}),
    });
    rows.push({
      bench: `count_tokens stdio, ${label} (lam-mcp tokenizer, bare client)`,
      figure: `${fmt.rate(bytes / median(times.bare) / 1000, "MB")} (${fmt.ms(median(times.bare))})`,
      baseline: `model.tokenize ${fmt.ms(directMs)}`,
      ratio: paired(times.bare),
    });
    rows.push({
      bench: `count_tokens stdio, ${label} (--tokenizer llama.cpp)`,
      figure: `${fmt.rate(bytes / median(times.theirs) / 1000, "MB")} (${fmt.ms(median(times.theirs))})`,
      baseline: `model.tokenize ${fmt.ms(directMs)}`,
      ratio: paired(times.theirs),
    });
    if (times.gpt.length > 0) {
      const gptMs = median(times.gpt);
      const gptRatio = median(times.own.map((o, i) => o / times.gpt[i]!));
      rows.push({
        bench: "count_tokens stdio, GPT-2 vs gpt-tokenizer",
        figure: fmt.ms(ownMs),
        baseline: `gpt-tokenizer encode ${fmt.ms(gptMs)}`,
        ratio: gptRatio,
        target: "<= 1.20x",
        ok: gptRatio <= 1.2,
      });
    }
    const rss = (own.rssKb() - theirs.rssKb()) * 1024;
    const heap = await heldHeap(model, texts.slice(1));
    notes.push(
      `${label}: ${model.fileInfo.metadata.tokenizer.ggml.tokens.length} tokens, ${model.fileInfo.metadata.tokenizer.ggml.merges?.length ?? 0} merges, ` +
        `${Math.round(tokens / RUNS)} tokens per text; lam-mcp's tokenizer built in ${fmt.ms(heap.buildMs)}, holds ${fmt.mb(heap.built)} (heap and typed arrays) ` +
        `(${fmt.mb(heap.filled)} with its word memo filled and its scratch space kept); server RSS ${fmt.mb(own.rssKb() * 1024)} vs ${fmt.mb(theirs.rssKb() * 1024)} with --tokenizer llama.cpp (${rss >= 0 ? "+" : ""}${fmt.mb(rss)})`,
    );
    await own.client.close();
    await theirs.client.close();
    bare.close();
    await model.dispose();
  }
  await llama.dispose();
  printRows("lam-mcp's tokenizer on real vocabularies (llama.cpp's test GGUFs)", rows, [
    `${RUNS} texts of ${fmt.mb(bytes)} mixed (prose, code, JSON, CJK, emoji), each new to both; median; counts checked identical every run`,
    "ratio: the median of the per-text ratios (each text timed on every side back to back) of baseline time / figure time, except against gpt-tokenizer (figure time / its time: lower is better)",
    ...notes,
  ]);
}
