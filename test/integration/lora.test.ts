/**
 * LoRA adapters (--lora) on the real llama.cpp: an adapter GGUF the tests write for their own model, which turns
 * "Hello" -> " world" into "Hello" -> " red" at scale 1 (its delta, 3, beats the designed 2) but not at 0.5.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, inject, test } from "vitest";
import { parseConfig } from "../../src/config.js";
import { connect } from "../helpers/harness.js";
import { baseArgs, stdioClient } from "../helpers/spawn.js";
import { buildTinyLora } from "../helpers/tiny-model.js";

const dir = mkdtempSync(join(tmpdir(), "lam-lora-"));
const adapter = join(dir, "red.lora.gguf");
writeFileSync(adapter, buildTinyLora({ from: "Hello", to: " red", delta: 3 }));

interface Generated {
  text: string;
  receipt: { model: { lora?: Array<{ file: string; scale: number }> } };
}

describe("--lora", () => {
  test("an adapter changes greedy output at scale 1, not at 0.5; the receipt and lam://model list it", async () => {
    await using plain = await connect();
    expect((await plain.ok<Generated>("generate", { prompt: "Hello", temperature: 0 })).text).toBe(" world!");
    await using full = await connect({ lora: [adapter] });
    const out = await full.ok<Generated>("generate", { prompt: "Hello", temperature: 0, max_tokens: 3 });
    expect(out.text).toBe(" red red red");
    expect(out.receipt.model.lora).toEqual([{ file: adapter, scale: 1 }]);
    const chat = await full.ok<Generated>("chat", { messages: [{ role: "user", content: "Hi" }], temperature: 0, max_tokens: 4 });
    expect(chat.receipt.model.lora).toEqual([{ file: adapter, scale: 1 }]);
    const model = JSON.parse(((await full.client.readResource({ uri: "lam://model" })).contents[0] as { text: string }).text) as { adapters: unknown };
    expect(model.adapters).toEqual([{ file: adapter, scale: 1 }]);
    await using half = await connect({ lora: [`${adapter}:0.5`] });
    const weak = await half.ok<Generated>("generate", { prompt: "Hello", temperature: 0 });
    expect(weak.text).toBe(" world!");
    expect(weak.receipt.model.lora).toEqual([{ file: adapter, scale: 0.5 }]);
  });

  test("an adapter llama.cpp would refuse is named with why: missing, not an adapter, another architecture", async () => {
    const model = join(dir, "not-an-adapter.gguf");
    writeFileSync(model, (await import("../helpers/tiny-model.js")).buildTinyModel());
    const other = join(dir, "qwen3.lora.gguf");
    writeFileSync(other, buildTinyLora({ from: "Hello", to: " red", delta: 3, arch: "qwen3" }));
    for (const [path, expected] of [
      [join(dir, "missing.gguf"), /The LoRA adapter .*missing\.gguf cannot be read/],
      [model, /not-an-adapter\.gguf is not a LoRA adapter \(its general\.type is null, adapter\.type null\)/],
      [other, /The LoRA adapter .*qwen3\.lora\.gguf is for qwen3; the model is llama/],
    ] as const) {
      await using h = await connect({ lora: [path] });
      expect(await h.fails("generate", { prompt: "Hello" })).toMatch(expected);
      // The tokenizer tools do not need the generation context: they still work.
      expect((await h.ok<{ total: number }>("count_tokens", { texts: ["Hello"] })).total).toBe(1);
    }
  });

  test("PATH[:SCALE], repeated on the command line or comma-separated in the environment; not with --llm-url", async () => {
    expect(parseConfig({}, { LAM_LORA: "a.gguf,b.gguf:0.25" }).lora).toEqual(["a.gguf", "b.gguf:0.25"]);
    expect(() => parseConfig({ lora: ["a.gguf"], llmUrl: "http://127.0.0.1:1" }, {})).toThrow(/LoRA adapters apply to the local model.*llama-server --lora/);
    const second = join(dir, "second.lora.gguf");
    writeFileSync(second, buildTinyLora({ from: "Hello", to: " blue", delta: 0.5 }));
    await using s = await stdioClient([...baseArgs(inject("modelPath")), "--lora", adapter, "--lora", `${second}:2`]);
    const config = JSON.parse(((await s.client.readResource({ uri: "lam://config" })).contents[0] as { text: string }).text) as { lora: string[] };
    expect(config.lora).toEqual([adapter, `${second}:2`]);
    const out = (await s.client.callTool({ name: "generate", arguments: { prompt: "Hello", temperature: 0, max_tokens: 1 } })).structuredContent as unknown as Generated;
    expect(out.receipt.model.lora).toEqual([
      { file: adapter, scale: 1 },
      { file: second, scale: 2 },
    ]);
  });
});
