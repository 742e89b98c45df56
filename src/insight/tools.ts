/** The look-inside family: what the model does, made visible (on the engine's interface only). */
import type { ToolSpec } from "../tool.js";
import type { InsightToolDeps } from "./deps.js";
import { extractEntities } from "./extract-entities.js";
import { judge } from "./judge.js";
import { nextToken } from "./next-token.js";
import { rerank } from "./rerank.js";
import { score } from "./score.js";

export type { InsightToolDeps } from "./deps.js";

export function insightTools(deps: InsightToolDeps): ToolSpec[] {
  return [score(deps), nextToken(deps), extractEntities(deps), judge(deps), rerank(deps)];
}
