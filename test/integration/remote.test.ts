/**
 * The remote backend against a real llama-server (llama.cpp's own server, built from the release node-llama-cpp
 * ships) on 127.0.0.1, serving the tiny test models: every answer is compared with what the server itself answers
 * when asked directly, or with the local backend on the same GGUF. The OpenAI-compatible path is tested against the
 * same server's /v1 (forced with --llm-api openai). Failures are made by a small proxy in front of the real server
 * (a refused connection, a key, a busy answer, a hang, a malformed answer), because a real server cannot be made to
 * misbehave on cue.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { createLogger, silentLogger, type LogRecord } from "../../src/log.js";
import { createServices } from "../../src/services.js";
import { serveHttp } from "../../src/transports/http.js";
import { connect, sharedServices, testConfig, textOf } from "../helpers/harness.js";
import { closedPort } from "../helpers/http-fixture.js";
import { startLlamaServer, type LlamaServer } from "../helpers/llama-server.js";
import { prng } from "../helpers/prng.js";
import { hangUpMidGeneration, MCP_HEADERS } from "../helpers/raw-http.js";
import { NUMBER_WORDS } from "../helpers/tiny-model.js";

interface Generated {
  text: string;
  finish_reason: string;
  json?: unknown;
  json_errors?: string[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  receipt: { backend: string; model: { name: string }; max_tokens_applied: number; context_size: number; not_applied?: string[]; chat_format?: { wrapper: string } };
  prompt?: string;
}
interface Tokenized {
  count: number;
  tokens: Array<{ id: number; piece: string; bytes?: string }>;
  bos_added: boolean;
}

const KEY = "sk-remote-test-0123456789abcdef";
let bpe: LlamaServer;
let spm: LlamaServer;
const shared = sharedServices();

beforeAll(async () => {
  // -c 16384 over 2 slots: 8192 tokens each (the model's training context), room for the long-generation tests.
  [bpe, spm] = await Promise.all([
    startLlamaServer(inject("modelPath"), { slots: 2, context: 16384, extra: ["--metrics"] }),
    startLlamaServer(inject("spmModelPath"), { slots: 1, context: 2048 }),
  ]);
});
afterAll(async () => {
  await shared.close();
  await Promise.all([bpe?.stop(), spm?.stop()]);
});

/** lam-mcp on the inference server(s), with no local model (nothing is loaded or downloaded). */
const remote = (llmUrl: string | string[], settings: Record<string, unknown> = {}) =>
  shared.connect({ model: undefined, llmUrl: Array.isArray(llmUrl) ? llmUrl.join(",") : llmUrl, maxTokensLimit: 8192, ...settings });

async function direct<T = Record<string, unknown>>(server: { url: string }, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const res = await request(`${server.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  if (res.statusCode >= 400) throw new Error(`${path} answered ${res.statusCode}: ${text}`);
  return JSON.parse(text) as T;
}

/** llama-server's own counter of decode calls (its /metrics). */
async function decodes(server: LlamaServer): Promise<number> {
  const text = await (await request(`${server.url}/metrics`)).body.text();
  return Number(/^llamacpp:n_decode_total (\d+)/m.exec(text)?.[1] ?? NaN);
}

describe("llama-server: the same answers as the server itself", () => {
  test("greedy generate returns exactly what /completion returns, leading spaces included (BPE and SentencePiece)", async () => {
    const cases: Array<[LlamaServer, string]> = [
      [bpe, "Hello"],
      [bpe, " one"],
      [bpe, " one two"],
      [bpe, " la la"],
      [bpe, "\n"],
      [spm, " Once"],
      [spm, "Once upon"],
      [spm, " a time,"],
      [spm, "\n"],
    ];
    for (const [server, prompt] of cases) {
      await using h = await remote(server.url);
      const ours = await h.ok<Generated>("generate", { prompt, temperature: 0, max_tokens: 24 });
      const theirs = await direct<{ content: string; tokens_predicted: number; stop_type: string }>(server, "/completion", { prompt, n_predict: 24, temperature: 0 });
      expect(ours.text, `${server === bpe ? "bpe" : "spm"} ${JSON.stringify(prompt)}`).toBe(theirs.content);
      expect(ours.usage.completion_tokens).toBe(theirs.tokens_predicted);
      expect(ours.finish_reason).toBe(theirs.stop_type === "limit" ? "length" : "stop");
      expect(ours.receipt.backend).toBe(server.url);
    }
    // Every answer names where it ran.
    await using h = await remote(bpe.url);
    for (const [tool, args] of [
      ["tokenize", { text: "Hello" }],
      ["count_tokens", { texts: ["Hello"] }],
      ["detokenize", { ids: [1] }],
      ["embed", { texts: ["Hello"] }],
      ["similarity", { query: "Hello", texts: ["one"] }],
    ] as const) {
      expect((await h.ok<{ backend: string }>(tool, args)).backend, tool).toBe(bpe.url);
    }
  });

  test("the designed chains come out whole: numbers to the end, the SentencePiece sentence with its spaces", async () => {
    await using h = await remote(bpe.url);
    expect((await h.ok<Generated>("generate", { prompt: " one", temperature: 0 })).text).toBe(`${NUMBER_WORDS.slice(1).join("")}.`);
    await using s = await remote(spm.url);
    const once = await s.ok<Generated>("generate", { prompt: " Once", temperature: 0 });
    expect(once.text).toBe(" upon a time, there lived.");
    expect(once.finish_reason).toBe("stop");
  });

  test("every sampling field is sent: a seeded sample equals the server's own with the same settings", async () => {
    await using h = await remote(bpe.url);
    const settings = { temperature: 1.7, top_k: 0, top_p: 1, min_p: 0, repeat_penalty: 1.1, frequency_penalty: 0.3, presence_penalty: 0.2 };
    let same = 0;
    // Seeds and lengths vary, so some samples end inside a UTF-8 character (by EOS or by max_tokens).
    const cases = Array.from({ length: 24 }, (_, i) => [i + 1, 2 + ((i + 1) % 19)] as const);
    let cutInsideACharacter = 0;
    for (const [seed, maxTokens] of [...cases, [3, 20] as const]) {
      const ours = await h.call("generate", { prompt: " one", max_tokens: maxTokens, seed, ...settings });
      const theirs = await direct<{ content: string }>(bpe, "/completion", { prompt: " one", n_predict: maxTokens, seed, repeat_last_n: 64, ...settings }).catch((e: Error) => e);
      if (theirs instanceof Error) {
        // This llama-server refuses some sampled outputs ("does not match the expected Content-only format"):
        // then lam-mcp passes on the same refusal.
        const why = /"message":"([^"]+)"/.exec(theirs.message)![1]!;
        expect(ours.isError, `seed ${seed}`).toBe(true);
        expect(textOf(ours)).toContain(why);
        continue;
      }
      expect(ours.isError, textOf(ours)).toBeFalsy();
      const out = ours.structuredContent as unknown as Generated;
      expect(out.text, `seed ${seed}`).toBe(theirs.content);
      if (theirs.content.endsWith("\uFFFD")) cutInsideACharacter++;
      expect(out.receipt.not_applied).toBeUndefined();
      same++;
    }
    expect(same).toBeGreaterThanOrEqual(12);
    expect(cutInsideACharacter).toBeGreaterThanOrEqual(1);
    const again = await h.ok<Generated>("generate", { prompt: " one", max_tokens: 20, seed: 12345, ...settings });
    const other = await h.ok<Generated>("generate", { prompt: " one", max_tokens: 20, seed: 1, ...settings });
    expect(again.text).not.toBe(other.text);
  });

  test("stop strings end the text before them; grammar and json_schema constrain it", async () => {
    await using h = await remote(bpe.url);
    const stopped = await h.ok<Generated>("generate", { prompt: " one", temperature: 0, stop: [" five"] });
    expect(stopped.text).toBe(" two three four");
    expect(stopped.finish_reason).toBe("stop_sequence");
    const grammar = await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0, grammar: 'root ::= (" red" | " blue") " la"' });
    expect([" red la", " blue la"]).toContain(grammar.text);
    const schema = { type: "object", properties: { colour: { enum: ["red", "green"] }, n: { type: "integer" } }, required: ["colour", "n"], additionalProperties: false };
    const json = await h.ok<Generated>("generate", { prompt: " one", temperature: 0, max_tokens: 60, json_schema: schema });
    expect(json.json_errors).toBeUndefined();
    expect(["red", "green"]).toContain((json.json as { colour: string }).colour);
  });

  test("chat equals /v1/chat/completions; echo_prompt is the server's own template output", async () => {
    await using h = await remote(bpe.url);
    const messages = [
      { role: "system", content: "Count." },
      { role: "user", content: "one two" },
    ];
    const ours = await h.ok<Generated>("chat", { messages, temperature: 0, max_tokens: 12, echo_prompt: true });
    const theirs = await direct<{ choices: Array<{ message: { content: string } }> }>(bpe, "/v1/chat/completions", { messages, temperature: 0, max_tokens: 12 });
    expect(ours.text).toBe(theirs.choices[0]!.message.content);
    const template = await direct<{ prompt: string }>(bpe, "/apply-template", { messages });
    expect(ours.prompt).toBe(template.prompt);
    expect(ours.prompt).toContain("<|im_start|>user\none two<|im_end|>");
    expect(ours.receipt.chat_format?.wrapper).toBe("server");
    const structured = await h.ok<Generated>("chat", {
      messages: [{ role: "user", content: "colour?" }],
      temperature: 0,
      max_tokens: 40,
      json_schema: { type: "object", properties: { colour: { enum: ["red", "blue"] } }, required: ["colour"] },
    });
    expect(["red", "blue"]).toContain((structured.json as { colour: string }).colour);
  });

  test("embed equals /v1/embeddings; similarity ranks by those vectors", async () => {
    await using h = await remote(bpe.url);
    const texts = ["one two three", " red green blue", "Hello world"];
    const ours = await h.ok<{ vectors: number[][]; dimensions: number }>("embed", { texts });
    const theirs = await direct<{ data: Array<{ embedding: number[] }> }>(bpe, "/v1/embeddings", { input: texts });
    expect(ours.dimensions).toBe(64);
    for (const [i, v] of ours.vectors.entries()) {
      const w = theirs.data[i]!.embedding;
      const norm = Math.hypot(...w);
      v.forEach((x, j) => expect(x).toBeCloseTo(w[j]! / norm, 6));
    }
    const ranked = await h.ok<{ results: Array<{ index: number }> }>("similarity", { query: " one two", texts });
    expect(ranked.results[0]!.index).toBe(0);
    // A text longer than the server embeds at once is the request's fault, said as such; the server stays healthy.
    expect(await h.fails("embed", { texts: ["one", " la".repeat(600)] })).toMatch(/too large to process[\s\S]*Hint: The input is longer than the model server takes at once/);
    expect((await h.ok<{ backend: { servers: Array<{ healthy: boolean }> } }>("server_status")).backend.servers[0]!.healthy).toBe(true);
  });

  test("search_context ranks with the server's embeddings and counts its budget with the server's tokenizer", async () => {
    await using h = await remote(bpe.url, { searxngUrl: inject("searxUrl"), fetchAllow: "127.0.0.1" });
    await h.ok("generate", { prompt: "Hello", max_tokens: 1 }); // the server known: embeddings are used from now on
    const ctx = await h.ok<{ relevance: string; used_tokens: number; text: string; passages: unknown[] }>("search_context", { query: "llama wool fibre", max_tokens: 1200 });
    expect(ctx.relevance).toBe(`embeddings (${inject("modelPath")}), cosine similarity`);
    expect(ctx.passages.length).toBeGreaterThan(0);
    const { total } = await h.ok<{ total: number }>("count_tokens", { texts: [ctx.text] });
    expect(ctx.used_tokens).toBe(total);
    expect(total).toBeLessThanOrEqual(1200);
  });

  test("a server without embeddings (501): embed says how to turn them on, and search_context falls back to BM25", async () => {
    await using noEmbeddings = await proxy(bpe.url, (path, _n, res) => {
      if (path !== "/v1/embeddings") return false;
      res.writeHead(501, { "content-type": "application/json" }).end('{"error":{"code":501,"message":"This server does not support embeddings. Start it with `--embeddings`"}}');
      return true;
    });
    await using h = await remote(noEmbeddings.url, { searxngUrl: inject("searxUrl"), fetchAllow: "127.0.0.1" });
    expect(await h.fails("embed", { texts: ["one"] })).toMatch(/answered 501[\s\S]*--embeddings/);
    expect(await h.fails("similarity", { query: "one", texts: ["two"] })).toMatch(/does not compute embeddings[\s\S]*--embeddings --pooling mean/);
    const ctx = await h.ok<{ relevance: string }>("search_context", { query: "llama wool fibre", max_tokens: 600 });
    expect(ctx.relevance).toBe("lexical (BM25)");
    expect(noEmbeddings.seen.filter((s) => s.path === "/v1/embeddings")).toHaveLength(1);
  });

  test("a prompt past the slot's context is refused before generating; max_tokens is capped to the room left", async () => {
    await using h = await remote(bpe.url);
    const tooLong = await h.fails("generate", { prompt: " la".repeat(8200), temperature: 0 });
    expect(tooLong).toMatch(/The prompt is 8200 tokens; the model server's context holds 8192/);
    const capped = await h.ok<Generated>("generate", { prompt: " la".repeat(8000), temperature: 0, max_tokens: 1000 });
    expect(capped.receipt.max_tokens_applied).toBe(192);
    expect(capped.receipt.context_size).toBe(8192);
    expect(capped.usage.completion_tokens).toBe(192);
    expect(capped.finish_reason).toBe("length");
  });
});

describe("llama-server: the tokenizer tools use the server's own tokenizer", () => {
  const ALPHABET = ["Hello", " world", " one", " la", " ", "  ", "\n", "\t", "é", "ß", "日本", "🦙", "👩‍💻", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<", "|", "x", "0", "\u00a0", "\u200b"];
  const textFor = (seed: number) => {
    const random = prng(seed);
    return Array.from({ length: 1 + Math.floor(random() * 12) }, () => ALPHABET[Math.floor(random() * ALPHABET.length)]).join("");
  };

  test("seeded texts: the same ids, pieces, bytes and counts as the local tokenizer of the same GGUF", async () => {
    await using server = await remote(bpe.url);
    await using local = await shared.connect({});
    for (let seed = 1; seed <= 40; seed++) {
      const text = textFor(seed);
      for (const special of [false, true]) {
        const theirs = await server.ok<Tokenized>("tokenize", { text, special });
        const ours = await local.ok<Tokenized>("tokenize", { text, special });
        expect(theirs.tokens, `seed ${seed} special ${special}: ${JSON.stringify(text)}`).toEqual(ours.tokens);
        const counts = await server.ok<{ counts: number[] }>("count_tokens", { texts: [text], special });
        expect(counts.counts[0]).toBe(ours.count);
        const ids = ours.tokens.map((t) => t.id);
        for (const detokenizeSpecial of [true, false]) {
          const a = await server.ok<{ text: string }>("detokenize", { ids, special: detokenizeSpecial });
          const b = await local.ok<{ text: string }>("detokenize", { ids, special: detokenizeSpecial });
          expect(a.text, `detokenize special ${detokenizeSpecial} of seed ${seed}`).toBe(b.text);
        }
      }
    }
  });

  test("pieces are exact bytes: a token that is part of a character comes back as <0xNN> with its hex bytes", async () => {
    await using h = await remote(bpe.url);
    const out = await h.ok<Tokenized>("tokenize", { text: "🦙" });
    expect(out.tokens.map((t) => t.bytes).join(" ")).toBe("f0 9f a6 99");
    expect(out.tokens.every((t) => /^(<0x[0-9A-F]{2}>)+$/.test(t.piece))).toBe(true);
    const direct_ = await direct<{ tokens: number[] }>(bpe, "/tokenize", { content: "🦙" });
    expect(out.tokens.map((t) => t.id)).toEqual(direct_.tokens);
  });

  test("SentencePiece: ids and pieces equal the server's own /tokenize, BOS and leading space included", async () => {
    await using h = await remote(spm.url);
    const text = " Once upon a time";
    const out = await h.ok<Tokenized>("tokenize", { text, add_bos: true });
    const theirs = await direct<{ tokens: Array<{ id: number; piece: string }> }>(spm, "/tokenize", { content: text, add_special: true, with_pieces: true });
    expect(out.tokens.map((t) => [t.id, t.piece])).toEqual(theirs.tokens.map((t) => [t.id, t.piece]));
    expect(out.bos_added).toBe(true);
    expect(out.tokens[0]!.piece).toBe("<s>");
  });

  test("unknown ids are named before anything is sent; the vocabulary tool says to pass --model", async () => {
    await using h = await remote(bpe.url);
    expect(await h.fails("detokenize", { ids: [1, 99999, -1] })).toMatch(/Unknown token ids: 99999, -1[\s\S]*run from 0 to 441/);
    expect(await h.fails("vocabulary", {})).toMatch(/does not expose[\s\S]*--model/);
  });

  test("--model given as well wins: the tokenizer tools (and the vocabulary) come from the local GGUF, generation from the server", async () => {
    await using h = await remote(bpe.url, { model: inject("modelPath") });
    const vocabulary = await h.ok<{ size: number }>("vocabulary", {});
    expect(vocabulary.size).toBe(442);
    const generated = await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0 });
    expect(generated.text).toBe(" world!");
    expect(generated.receipt.backend).toBe(bpe.url);
  });
});

describe("the OpenAI-compatible API (llama-server's /v1, forced)", () => {
  test("generate and chat give the llama-server path's greedy text; what /v1 cannot take is listed, not dropped", async () => {
    await using h = await remote(bpe.url, { llmApi: "openai" });
    await using native = await remote(bpe.url);
    for (const prompt of ["Hello", " one", " la"]) {
      const a = await h.ok<Generated>("generate", { prompt, temperature: 0, max_tokens: 16 });
      const b = await native.ok<Generated>("generate", { prompt, temperature: 0, max_tokens: 16 });
      expect(a.text, prompt).toBe(b.text);
      expect(a.receipt.not_applied).toEqual(["top_k 40: not part of the OpenAI API", "min_p 0.05: not part of the OpenAI API"]);
    }
    const off = await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0, top_k: 0, min_p: 0, repeat_penalty: 1.2 });
    expect(off.receipt.not_applied).toEqual(["repeat_penalty 1.2: not part of the OpenAI API"]);
    const chat = await h.ok<Generated>("chat", { messages: [{ role: "user", content: "one two" }], temperature: 0, max_tokens: 8, echo_prompt: true });
    expect(chat.text).toBe((await native.ok<Generated>("chat", { messages: [{ role: "user", content: "one two" }], temperature: 0, max_tokens: 8 })).text);
    expect(chat.prompt).toBeUndefined();
    expect(chat.receipt.not_applied).toContain("echo_prompt: this server does not show the prompt its chat template makes");
    const embedded = await h.ok<{ vectors: number[][] }>("embed", { texts: ["one"] });
    expect(embedded.vectors[0]).toHaveLength(64);
  });

  test("lam://model and lam://config describe the server's model and its context, not a local one", async () => {
    await using h = await remote(bpe.url, { llmApi: "openai" });
    const read = async (uri: string) => JSON.parse(((await h.client.readResource({ uri })).contents[0] as { text: string }).text) as Record<string, unknown>;
    const model = await read("lam://model");
    expect(model).toMatchObject({ loaded: "on the model server", backend: bpe.url, name: inject("modelPath"), vocabularySize: 442, trainContextSize: 8192 });
    const config = await read("lam://config");
    expect(config).toMatchObject({ llmUrl: [bpe.url], llmApi: "openai" });
    expect(config.model).toBeUndefined();
    expect((config.applied as { contextSize: { applied: number; note: string } }).contextSize).toMatchObject({ applied: 8192, note: expect.stringMatching(/model server/) as unknown });
  });

  test("a base URL given with its /v1 (as Ollama's is usually written) works the same", async () => {
    await using h = await remote(`${bpe.url}/v1/`, { llmApi: "openai" });
    const out = await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0 });
    expect(out.text).toBe(" world!");
    expect(out.receipt.backend).toBe(bpe.url);
  });

  test("grammar is a clear error; the tokenizer tools say to pass --model", async () => {
    await using h = await remote(bpe.url, { llmApi: "openai" });
    expect(await h.fails("generate", { prompt: "Hello", grammar: 'root ::= "x"' })).toMatch(/takes no GBNF grammar[\s\S]*json_schema/);
    for (const [tool, args] of [
      ["tokenize", { text: "Hello" }],
      ["count_tokens", { texts: ["Hello"] }],
      ["detokenize", { ids: [1] }],
    ] as const) {
      expect(await h.fails(tool, args)).toMatch(/no tokenizer lam-mcp can use[\s\S]*--model/);
    }
  });

  test("a server with vLLM's /tokenize and /detokenize: the tokenizer tools use them (auto-detected as OpenAI-compatible)", async () => {
    // vLLM cannot run here: this stand-in answers vLLM's tokenizer API from the real llama-server's tokenizer, and
    // has no /props (as vLLM), so lam-mcp finds an OpenAI-compatible server with a vLLM-style tokenizer.
    await using vllm = await proxy(bpe.url, async (path, _n, res, body) => {
      if (path === "/props") {
        res.writeHead(404).end();
        return true;
      }
      if (path === "/tokenize") {
        const { prompt, add_special_tokens } = JSON.parse(body) as { prompt: string; add_special_tokens?: boolean };
        const { tokens } = await direct<{ tokens: number[] }>(bpe, "/tokenize", { content: prompt, add_special: add_special_tokens ?? true });
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ count: tokens.length, max_model_len: 8192, tokens }));
        return true;
      }
      if (path === "/detokenize") {
        const { tokens } = JSON.parse(body) as { tokens: number[] };
        const { content } = await direct<{ content: string }>(bpe, "/detokenize", { tokens });
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ prompt: content }));
        return true;
      }
      return false;
    });
    await using h = await remote(vllm.url);
    const text = "Hello world one two";
    const out = await h.ok<Tokenized>("tokenize", { text });
    const theirs = await direct<{ tokens: Array<{ id: number; piece: string }> }>(bpe, "/tokenize", { content: text, with_pieces: true });
    expect(out.tokens.map((t) => [t.id, t.piece])).toEqual(theirs.tokens.map((t) => [t.id, t.piece]));
    expect((await h.ok<{ counts: number[] }>("count_tokens", { texts: [text, ""] })).counts).toEqual([theirs.tokens.length, 0]);
    expect((await h.ok<{ text: string }>("detokenize", { ids: out.tokens.map((t) => t.id) })).text).toBe(text);
    expect((await h.ok<{ backend: { api?: string } }>("server_status")).backend.api).toBe("openai");
    expect(vllm.seen.some((s) => s.path === "/v1/models")).toBe(true);
  });

  test("score and next_token say the server cannot give the whole distribution, and what would", async () => {
    await using h = await remote(bpe.url);
    for (const [tool, args] of [
      ["score", { text: "Hello" }],
      ["next_token", { prompt: "Hello" }],
    ] as const) {
      expect(await h.fails(tool, args)).toMatch(/needs the model's whole next-token distribution[\s\S]*Hint: Run lam-mcp with the local model/);
    }
  });

  test("an unknown --llm-model is refused, naming the models the server lists", async () => {
    await using h = await remote(bpe.url, { llmApi: "openai", llmModel: "no-such-model" });
    const error = await h.fails("generate", { prompt: "Hello" });
    expect(error).toContain('no model named "no-such-model"');
    expect(error).toContain(inject("modelPath"));
    expect(error).toMatch(/--llm-model/);
  });
});

describe("progress and cancellation", () => {
  test("progress notifications carry growing counts and the text so far", async () => {
    await using h = await remote(bpe.url);
    const progress: Array<{ progress: number; total?: number; message?: string }> = [];
    const result = await h.client.callTool({ name: "generate", arguments: { prompt: " la", temperature: 0, max_tokens: 100 } }, undefined, {
      onprogress: (p) => progress.push(p),
    });
    expect(result.isError).toBeFalsy();
    const counted = progress.filter((p) => p.progress >= 1);
    expect(counted.length).toBeGreaterThanOrEqual(100 / 16 - 1);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.progress).toBeGreaterThan(progress[i - 1]!.progress);
    for (const p of counted) expect(p.message).toMatch(new RegExp(`^${p.progress} tokens: ( la)+$`));
  });

  test("cancelling the call aborts the server's request: its slots go idle and decoding stops long before max_tokens", async () => {
    await using h = await remote(bpe.url);
    const before = await decodes(bpe);
    const controller = new AbortController();
    const call = h.client.callTool({ name: "generate", arguments: { prompt: " la", temperature: 0, max_tokens: 8000 } }, undefined, {
      signal: controller.signal,
      onprogress: () => controller.abort("enough"),
    });
    await expect(call).rejects.toThrow();
    await expect.poll(async () => (await direct<Array<{ is_processing: boolean }>>(bpe, "/slots")).some((s) => s.is_processing), { timeout: 5000 }).toBe(false);
    const after = await decodes(bpe);
    expect(after - before).toBeLessThan(4000);
    // Nothing is left running: the counter stands still.
    await new Promise((r) => setTimeout(r, 300));
    expect(await decodes(bpe)).toBe(after);
    await expect.poll(() => h.services.engine.stats()!.busy).toBe(0);
    expect((await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0 })).text).toBe(" world!");
  });
});

describe("the per-URL limit", () => {
  test("past --llm-max-concurrent, requests wait their turn (shown in server_status), then run", async () => {
    await using h = await remote(bpe.url, { llmMaxConcurrent: 1 });
    await h.ok("generate", { prompt: "Hello", max_tokens: 1 }); // the server known, the tokenizer ready
    const controller = new AbortController();
    const long = h.client
      .callTool({ name: "generate", arguments: { prompt: " la", temperature: 0, max_tokens: 8000 } }, undefined, { signal: controller.signal })
      .catch(() => "aborted");
    await expect.poll(() => h.services.engine.backend().servers![0]!.inFlight).toBe(1);
    const short = h.ok<Generated>("generate", { prompt: "Hello", temperature: 0 });
    await expect.poll(() => h.services.engine.backend().servers![0]!.waiting).toBe(1);
    const status = await h.ok<{ backend: { servers: Array<{ in_flight: number; waiting: number }> }; generation: { busy: number; queued: number } }>("server_status");
    expect(status.backend.servers[0]).toMatchObject({ in_flight: 1, waiting: 1 });
    expect(status.generation).toMatchObject({ busy: 1, queued: 1 });
    controller.abort();
    expect(await long).toBe("aborted");
    expect((await short).text).toBe(" world!");
    expect(h.services.engine.backend().servers![0]).toMatchObject({ inFlight: 0, waiting: 0 });
  });
});

describe("over HTTP", () => {
  test("an HTTP client that hangs up mid-generation aborts the server's request too", async () => {
    await using services = createServices(testConfig({ model: undefined, llmUrl: bpe.url, transport: "http", port: 0, stateless: true, maxTokensLimit: 8192 }), silentLogger);
    const http = await serveHttp(services);
    try {
      await direct(bpe, "/completion", { prompt: "Hello", n_predict: 1 }); // the server warm
      const before = await decodes(bpe);
      await hangUpMidGeneration(http.url, MCP_HEADERS);
      await expect.poll(async () => (await direct<Array<{ is_processing: boolean }>>(bpe, "/slots")).some((s) => s.is_processing), { timeout: 5000 }).toBe(false);
      const after = await decodes(bpe);
      expect(after - before).toBeLessThan(4000);
      await new Promise((r) => setTimeout(r, 300));
      expect(await decodes(bpe)).toBe(after);
      await expect.poll(() => services.engine.stats()!.busy).toBe(0);
    } finally {
      await http.close(0);
    }
  });
});

/** A proxy in front of a real server that misbehaves on the requests `fault` picks (by path and count). */
interface Proxy extends AsyncDisposable {
  url: string;
  seen: Array<{ path: string; at: number; authorization?: string }>;
}
type Fault = (path: string, n: number, res: ServerResponse, body: string) => boolean | Promise<boolean>;

async function proxy(target: string, fault: Fault = () => false): Promise<Proxy> {
  const seen: Proxy["seen"] = [];
  const counts = new Map<string, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const n = (counts.get(path) ?? 0) + 1;
    counts.set(path, n);
    seen.push({ path, at: performance.now(), ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        if (await fault(path, n, res, Buffer.concat(chunks).toString("utf8"))) return;
        const upstream = await fetch(`${target}${req.url ?? "/"}`, {
          method: req.method ?? "GET",
          headers: { "content-type": "application/json", ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) },
          ...(req.method === "POST" ? { body: Buffer.concat(chunks) } : {}),
        });
        res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
        if (upstream.body) Readable.fromWeb(upstream.body as never).pipe(res);
        else res.end();
      })().catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("failures: each an error that names the URL and the fix; nothing crashes", () => {
  test("a URL that is down hands the request to the next; server_status, /healthz and /metrics show each URL's health", async () => {
    const down = `http://127.0.0.1:${await closedPort()}`;
    await using services = createServices(testConfig({ model: undefined, llmUrl: `${down},${bpe.url}`, transport: "http", port: 0 }), silentLogger);
    await using h = await connect({}, { services });
    const out = await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0 });
    expect(out.text).toBe(" world!");
    expect(out.receipt.backend).toBe(bpe.url);
    const status = await h.ok<{ backend: { kind: string; api: string; servers: Array<{ url: string; healthy: boolean; last_error: string | null }> } }>("server_status");
    expect(status.backend).toMatchObject({ kind: "remote", api: "llama-server" });
    expect(status.backend.servers.map((s) => [s.url, s.healthy])).toEqual([
      [down, false],
      [bpe.url, true],
    ]);
    expect(status.backend.servers[0]!.last_error).toMatch(/refused the connection/);
    expect(status.backend.servers[1]!.last_error).toBeNull();
    const http = await serveHttp(services);
    try {
      const health = (await (await request(`http://127.0.0.1:${http.port}/healthz`)).body.json()) as { status: string; llm: Array<{ url: string; healthy: boolean }> };
      expect(health.status).toBe("ok");
      expect(health.llm.map((s) => [s.url, s.healthy])).toEqual([
        [down, false],
        [bpe.url, true],
      ]);
      const metrics = await (await request(`http://127.0.0.1:${http.port}/metrics`)).body.text();
      expect(metrics).toContain(`lam_llm_up{url="${down}"} 0`);
      expect(metrics).toContain(`lam_llm_up{url="${bpe.url}"} 1`);
      expect(metrics).toContain(`lam_llm_requests_in_flight{url="${bpe.url}"} 0`);
    } finally {
      await http.close(0);
    }
  });

  test("read_url works with the model server down or without a tokenizer: pages are counted in characters, and the note says why", async () => {
    await using down = await remote(`http://127.0.0.1:${await closedPort()}`, { fetchAllow: "127.0.0.1" });
    const read = await down.ok<{ unit: string; unit_note: string; content: string }>("read_url", { url: `${inject("webUrl")}/pages/long.html`, max_tokens: 100 });
    expect(read.unit).toBe("characters");
    expect(read.unit_note).toMatch(/refused the connection/);
    expect(read.content.length).toBe(400);
    await using openai = await remote(bpe.url, { llmApi: "openai", fetchAllow: "127.0.0.1" });
    const viaOpenai = await openai.ok<{ unit: string; unit_note: string }>("read_url", { url: `${inject("webUrl")}/pages/long.html`, max_tokens: 100 });
    expect(viaOpenai.unit).toBe("characters");
    expect(viaOpenai.unit_note).toMatch(/no tokenizer/);
  });

  test("every URL down: one error naming each, with what to check", async () => {
    const urls = [`http://127.0.0.1:${await closedPort()}`, `http://127.0.0.1:${await closedPort()}`];
    await using h = await remote(urls);
    for (const tool of ["generate", "chat", "embed", "tokenize"] as const) {
      const args = { generate: { prompt: "x" }, chat: { messages: [{ role: "user", content: "x" }] }, embed: { texts: ["x"] }, tokenize: { text: "x" } }[tool];
      const error = await h.fails(tool, args);
      expect(error).toMatch(/Every model server failed/);
      for (const url of urls) expect(error).toContain(`${url}/props refused the connection`);
      expect(error).toMatch(/Hint: Check that the server runs/);
    }
  });

  test("a key: refused without it (401, the fix named), accepted with it, never shown in any answer or log", async () => {
    const keyed = await startLlamaServer(inject("modelPath"), { slots: 1, context: 1024, extra: ["--api-key", KEY] });
    try {
      await using without = await remote(keyed.url);
      const refused = await without.fails("generate", { prompt: "Hello", temperature: 0 });
      expect(refused).toMatch(/answered 401[\s\S]*--llm-api-key/);
      await using wrong = await remote(keyed.url, { llmApiKey: "sk-wrong-key-not-this-one-000000" });
      expect(await wrong.fails("generate", { prompt: "Hello" })).toMatch(/answered 401/);

      const records: LogRecord[] = [];
      const log = createLogger({ level: "debug", format: "json" });
      log.subscribe((r) => records.push(r));
      await using services = createServices(testConfig({ model: undefined, llmUrl: keyed.url, llmApiKey: KEY, logLevel: "debug" }), log);
      await using h = await connect({}, { services });
      const texts: string[] = [];
      const out = await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0 });
      expect(out.text).toBe(" world!");
      texts.push(JSON.stringify(out));
      texts.push(JSON.stringify(await h.ok("server_status")));
      texts.push(JSON.stringify(await h.ok("tokenize", { text: "Hello" })));
      texts.push(await h.fails("generate", { prompt: "Hello", grammar: "root ::= nonsense(" }));
      texts.push(JSON.stringify(await h.client.readResource({ uri: "lam://config" })));
      texts.push(JSON.stringify(records));
      const all = texts.join("\n");
      for (const form of [KEY, Buffer.from(KEY).toString("base64"), encodeURIComponent(KEY), KEY.slice(3, 20)]) expect(all).not.toContain(form);
    } finally {
      await keyed.stop();
    }
  });

  test("credentials in the URL are sent as basic auth and never shown", async () => {
    await using p = await proxy(bpe.url);
    const withUser = p.url.replace("http://", "http://agent:s3cret-pass@");
    await using h = await remote(withUser);
    const out = await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0 });
    expect(out.receipt.backend).toBe(p.url);
    expect(p.seen[0]!.authorization).toBe(`Basic ${Buffer.from("agent:s3cret-pass").toString("base64")}`);
    const status = JSON.stringify(await h.ok("server_status"));
    expect(status).not.toContain("s3cret");
  });

  test("429 and 503 are retried, honouring Retry-After, at most 3 times; then the next URL", async () => {
    await using busyOnce = await proxy(bpe.url, (path, n, res) => {
      if (path !== "/completion" || n > 2) return false;
      res.writeHead(n === 1 ? 429 : 503, { "retry-after": "0.3", "content-type": "application/json" }).end('{"error":{"message":"busy"}}');
      return true;
    });
    await using h = await remote(busyOnce.url);
    expect((await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0 })).text).toBe(" world!");
    const attempts = busyOnce.seen.filter((s) => s.path === "/completion");
    expect(attempts).toHaveLength(3);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(290);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(290);

    await using alwaysBusy = await proxy(bpe.url, (path, _n, res) => {
      if (path !== "/completion") return false;
      res.writeHead(503, { "retry-after": "0" }).end("loading model");
      return true;
    });
    await using alone = await remote(alwaysBusy.url);
    const error = await alone.fails("generate", { prompt: "Hello" });
    expect(error).toMatch(/answered 503: loading model[\s\S]*busy/);
    expect(alwaysBusy.seen.filter((s) => s.path === "/completion")).toHaveLength(3);
    await using fallback = await remote([alwaysBusy.url, bpe.url]);
    expect((await fallback.ok<Generated>("generate", { prompt: "Hello", temperature: 0 })).receipt.backend).toBe(bpe.url);
  });

  test("a server that stops answering (before or during the stream) times out with --llm-timeout-ms", async () => {
    const hang: Fault = (path, _n, res) => {
      if (path !== "/completion") return false;
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(`data: ${JSON.stringify({ content: " world", tokens: [1], stop: false })}\n\n`);
      return true; // and nothing more
    };
    await using midStream = await proxy(bpe.url, hang);
    await using h = await remote(midStream.url, { llmTimeoutMs: 400 });
    expect(await h.fails("generate", { prompt: "Hello" })).toMatch(/did not answer within 400 ms/);
    await using silent = await proxy(bpe.url, (path) => path === "/completion");
    await using s = await remote(silent.url, { llmTimeoutMs: 400 });
    expect(await s.fails("generate", { prompt: "Hello" })).toMatch(/\/completion did not answer within 400 ms/);
    expect((await s.ok("server_status")) as object).toMatchObject({ backend: { servers: [{ healthy: false }] } });
  });

  test("seeded malformed answers: each an error naming the URL; the next call works", async () => {
    const garbage = (seed: number): { status: number; type: string; body: Buffer } => {
      const random = prng(seed);
      const bytes = Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)));
      const kinds = [
        { status: 200, type: "text/event-stream", body: Buffer.concat([Buffer.from("data: "), bytes, Buffer.from("\n\n")]) },
        { status: 200, type: "text/event-stream", body: Buffer.from(`data: {"content": "x", "tok\n\n`) },
        { status: 200, type: "text/event-stream", body: Buffer.from(`data: {"error": {"message": "slot ${seed} crashed"}}\n\n`) },
        { status: 500, type: "text/html", body: Buffer.concat([Buffer.from("<html>"), bytes]) },
        { status: 400, type: "application/json", body: Buffer.from(`{"error":{"message":"bad request ${seed}"}}`) },
        { status: 200, type: "text/event-stream", body: bytes },
      ];
      return kinds[seed % kinds.length]!;
    };
    let seed = 0;
    await using p = await proxy(bpe.url, (path, _n, res) => {
      if (path !== "/completion" || seed === 0) return false;
      const answer = garbage(seed);
      res.writeHead(answer.status, { "content-type": answer.type }).end(answer.body);
      return true;
    });
    await using h = await remote(p.url);
    for (seed = 1; seed <= 24; seed++) {
      const error = await h.fails("generate", { prompt: "Hello", temperature: 0, max_tokens: 4 });
      expect(error, `seed ${seed}`).toContain(`${p.url}/completion`);
    }
    seed = 0;
    expect((await h.ok<Generated>("generate", { prompt: "Hello", temperature: 0 })).text).toBe(" world!");
  });

  test("a server that is not an inference server (HTML at /props) is named as such", async () => {
    await using p = await proxy(bpe.url, (path, _n, res) => {
      res.writeHead(200, { "content-type": "text/html" }).end("<html><body>Sign in</body></html>");
      return true;
    });
    await using h = await remote(p.url);
    expect(await h.fails("generate", { prompt: "Hello" })).toMatch(/\/props answered something that is not JSON[\s\S]*points at the inference server/);
  });
});
