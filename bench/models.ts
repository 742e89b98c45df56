/** The models benchmarks run on: the generated test models (no downloads), or --model PATH for a real one. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DESIGN_VERSION, writeTinyModel } from "../test/helpers/tiny-model.js";
import { TMP } from "./lib.js";

export function tinyModel(): string {
  return writeTinyModel(join(TMP, "tiny.gguf"));
}

/**
 * A synthetic model sized for realistic compute per token (~27 M parameters, 8 blocks of width 512, F32,
 * ~110 MB), with the same designed behaviour as the tiny one, for thread and generation speed figures.
 */
export function mediumModel(): string {
  const path = join(TMP, `medium-e512-b8-v${DESIGN_VERSION}.gguf`);
  if (!existsSync(path)) writeTinyModel(path, { name: "lam-medium-bench", embeddingSize: 512, blocks: 8, feedForward: 1536 });
  return path;
}
