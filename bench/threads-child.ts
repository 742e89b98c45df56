// One thread-count measurement, in its own process; prints one JSON line on stdout.
import { getLlama, LlamaCompletion } from "node-llama-cpp";
import { median, timeRuns } from "./lib.js";
import { mixedText } from "./text.js";

const [modelPath, threadsArg] = process.argv.slice(2) as [string, string];
const threads = threadsArg === "default" ? undefined : Number(threadsArg);
const llama = await getLlama({ gpu: false, build: "never", ...(threads === undefined ? {} : { maxThreads: threads }) });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const text = mixedText(256 * 1024);
const tokens = model.tokenize(text).length;
const tokenizeMs = median(await timeRuns(() => model.tokenize(text), 5));

const context = await model.createContext({ contextSize: 1024 });
const sequence = context.getSequence();
const completion = new LlamaCompletion({ contextSequence: sequence });
const prompt = " la".repeat(128);
const promptTokens = model.tokenize(prompt).length;
const genTokens = 32;
const promptMs: number[] = [];
const genMs: number[] = [];
for (let i = 0; i < 3; i++) {
  await sequence.clearHistory();
  let t = performance.now();
  await sequence.evaluateWithoutGeneratingNewTokens(model.tokenize(prompt));
  promptMs.push(performance.now() - t);
  await sequence.clearHistory();
  t = performance.now();
  const out = await completion.generateCompletion(" la", { maxTokens: genTokens, temperature: 0 });
  genMs.push(performance.now() - t);
  if (model.tokenize(out).length < genTokens - 1) throw new Error(`generated only ${out.length} chars`);
}
process.stdout.write(
  JSON.stringify({
    threads: threadsArg === "default" ? "default" : threads,
    resolvedThreads: llama.maxThreads,
    tokenizeTokPerS: (tokens / tokenizeMs) * 1000,
    promptTokPerS: (promptTokens / median(promptMs.slice(1))) * 1000,
    generateTokPerS: (genTokens / median(genMs.slice(1))) * 1000,
  }) + "\n",
);
await context.dispose();
await model.dispose();
await llama.dispose();
