/**
 * Runs once before all test files: writes the tiny test models into a fresh temp dir and hands their paths to the
 * tests through vitest's provide/inject, starts searx, and builds llama-server when it is not cached. Nothing is
 * downloaded.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { llamaSource } from "./llama-source.js";
import { ensureLlamaServer } from "./llama-server.js";
import { startSearx } from "./searx.js";
import { writeTinyModel } from "./tiny-model.js";

declare module "vitest" {
  export interface ProvidedContext {
    modelPath: string;
    plainModelPath: string;
    /** The same design on a SentencePiece (llama-style) vocabulary. */
    spmModelPath: string;
    fixturesDir: string;
    /** A real searx on 127.0.0.1, its engines pointed at the fixture web. */
    searxUrl: string;
    /** The fixture web server (engine answers and pages). */
    webUrl: string;
    /** node-llama-cpp's bundled llama.cpp source, cloned (its tokenizer test vocabularies and Unicode table). */
    llamaSrc: string;
  }
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), "lam-test-"));
  project.provide("fixturesDir", dir);
  project.provide("modelPath", writeTinyModel(join(dir, "tiny.gguf")));
  project.provide("plainModelPath", writeTinyModel(join(dir, "tiny-plain.gguf"), { chatTemplate: false, name: "lam-tiny-plain" }));
  project.provide("spmModelPath", writeTinyModel(join(dir, "tiny-spm.gguf"), { vocabulary: "spm", name: "lam-tiny-spm" }));
  // The remote-backend tests run a real llama-server: built here once per llama.cpp release (cached outside the repo).
  ensureLlamaServer();
  project.provide("llamaSrc", llamaSource());
  const searx = await startSearx(join(dir, "searx"));
  project.provide("searxUrl", searx.url);
  project.provide("webUrl", searx.web.url);
  return async () => {
    await searx.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
