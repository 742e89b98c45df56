/**
 * The download path of hf: URIs, through node-llama-cpp's own resolver, against a fake Hugging Face endpoint
 * served on 127.0.0.1 (manifest + file), and the offline failure.
 */
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { buildTinyModel } from "../helpers/tiny-model.js";
import { closedPort, startFixture } from "../helpers/http-fixture.js";
import { connect } from "../helpers/harness.js";

const model = buildTinyModel({ name: "lam-tiny-download" });

async function fakeHuggingFace() {
  return startFixture({
    "/v2/lam/tiny-GGUF/manifests/Q8_0": (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ggufFile: { rfilename: "tiny-Q8_0.gguf" } }));
    },
    "/lam/tiny-GGUF/resolve/main/tiny-Q8_0.gguf": (req, res) => {
      const headers = { "content-type": "application/octet-stream", "content-length": String(model.length), "accept-ranges": "none" };
      if (req.method === "HEAD") res.writeHead(200, headers).end();
      else {
        // Sent in chunks with short pauses, so progress has several steps to report.
        res.writeHead(200, headers);
        let offset = 0;
        const step = 64 * 1024;
        const next = () => {
          if (offset >= model.length) return res.end();
          res.write(model.subarray(offset, offset + step));
          offset += step;
          setTimeout(next, 20);
        };
        next();
      }
    },
  });
}

test("an hf: URI is downloaded once into the models dir, with MCP progress, then used", async () => {
  await using hf = await fakeHuggingFace();
  const modelsDir = mkdtempSync(join(tmpdir(), "lam-models-"));
  const settings = { model: "hf:lam/tiny-GGUF:Q8_0", modelsDir, hfEndpoint: `${hf.url}/` };
  {
    await using h = await connect(settings);
    const progress: Array<{ progress: number; total?: number; message?: string }> = [];
    const result = await h.client.callTool({ name: "count_tokens", arguments: { texts: ["Hello world"] } }, undefined, {
      onprogress: (p) => progress.push(p),
    });
    expect(result.isError).toBeFalsy();
    expect((result.structuredContent as { total: number }).total).toBe(2);
    expect((result.structuredContent as { model: string }).model).toBe("lam-tiny-download");
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)!.progress).toBe(model.length);
    expect(progress.at(-1)!.total).toBe(model.length);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.progress).toBeGreaterThanOrEqual(progress[i - 1]!.progress);
    expect(progress[0]!.message).toMatch(/downloading the model/);
  }
  const files = readdirSync(modelsDir).filter((f) => f.endsWith(".gguf"));
  expect(files).toHaveLength(1);
  const downloads = hf.requests.filter((r) => r.path.includes("/resolve/") && r.method === "GET").length;
  expect(downloads).toBeGreaterThanOrEqual(1);
  {
    // A new server finds the cached file: no second download.
    await using h = await connect(settings);
    expect((await h.ok<{ total: number }>("count_tokens", { texts: ["Hello world"] })).total).toBe(2);
  }
  expect(hf.requests.filter((r) => r.path.includes("/resolve/") && r.method === "GET").length).toBe(downloads);
  expect(existsSync(join(modelsDir, files[0]!))).toBe(true);
});

test("offline: the call fails with what happened and how to use a local file; the server keeps serving", async () => {
  const port = await closedPort();
  const modelsDir = mkdtempSync(join(tmpdir(), "lam-models-"));
  await using h = await connect({ model: "hf:lam/tiny-GGUF:Q8_0", modelsDir, hfEndpoint: `http://127.0.0.1:${port}/` });
  const text = await h.fails("tokenize", { text: "Hello" });
  expect(text).toMatch(/Downloading the model hf:lam\/tiny-GGUF:Q8_0 failed/);
  expect(text).toMatch(/--model \/ LAM_MODEL to a local GGUF file/);
  const again = await h.fails("count_tokens", { texts: ["Hello"] });
  expect(again).toMatch(/Downloading the model/);
  expect((await h.client.listTools()).tools.length).toBeGreaterThan(0);
});
