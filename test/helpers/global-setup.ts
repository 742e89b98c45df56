/**
 * Runs once before all test files: writes the tiny test models into a fresh temp dir and hands their paths to the
 * tests through vitest's provide/inject. Nothing is downloaded.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { writeTinyModel } from "./tiny-model.js";

declare module "vitest" {
  export interface ProvidedContext {
    modelPath: string;
    plainModelPath: string;
    fixturesDir: string;
  }
}

export default function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), "lam-test-"));
  project.provide("fixturesDir", dir);
  project.provide("modelPath", writeTinyModel(join(dir, "tiny.gguf")));
  project.provide("plainModelPath", writeTinyModel(join(dir, "tiny-plain.gguf"), { chatTemplate: false, name: "lam-tiny-plain" }));
  return () => rmSync(dir, { recursive: true, force: true });
}
