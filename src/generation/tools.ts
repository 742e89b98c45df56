/**
 * The generation family: generate (raw completion), chat (the model's own chat template), embed and similarity.
 * Generation calls share the model through the engine's pool of context sequences.
 */
import type { ToolSpec } from "../tool.js";
import { chat } from "./chat.js";
import { embed } from "./embed.js";
import { generate } from "./generate.js";
import type { GenerationToolDeps } from "./shared.js";
import { similarity } from "./similarity.js";

export type { GenerationToolDeps } from "./shared.js";

export function generationTools(deps: GenerationToolDeps): ToolSpec[] {
  return [generate, chat, embed, similarity].map((define) => define(deps));
}
