/**
 * extract_entities: named entities by grammar-constrained generation (llama.cpp has no token-classification head
 * for GGUF models): the model lists each entity's exact text and label as JSON (the labels an enum, so no other
 * label can appear), and each is then placed in the text (entities.ts), and the model's tokens of the text tagged
 * B-/I-/O.
 */
import { z } from "zod";
import { ToolError } from "../errors.js";
import { callOptions } from "../progress.js";
import { checkInputChars, defineTool } from "../tool.js";
import { READ_ONLY, type InsightToolDeps } from "./deps.js";
import { iobTags, placeEntities, tokenRanges } from "./entities.js";
import { renderBytes } from "../llm/engine.js";

const LABEL = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

export const extractEntities = (deps: InsightToolDeps) =>
  defineTool({
    name: "extract_entities",
    title: "Extract named entities (with IOB tags)",
    description:
      "Finds named entities of the labels you give (PERSON, ORG, PLACE, ...) in a text, by having the model list them " +
      "under a grammar (only your labels can appear). Each entity comes with its character offsets (text.slice(start, " +
      "end) is the entity) and the model's tokens of the text are tagged B-LABEL, I-LABEL or O. Entities the model names " +
      "that are not in the text are dropped and listed. Quality depends on the model: an instruct model does well.",
    input: z.strictObject({
      text: z.string().min(1).max(20_000).describe("The text"),
      labels: z.array(z.string().regex(LABEL, "a label: a letter, then letters, digits or _, 32 at most")).min(1).max(20).describe("Entity types, like PERSON, ORG, PLACE"),
      max_entities: z.number().int().min(1).max(200).default(50),
      temperature: z.number().min(0).max(2).default(0),
    }),
    output: z.object({
      model: z.string(),
      backend: z.string(),
      entities: z.array(z.object({ text: z.string(), label: z.string(), start: z.number().int(), end: z.number().int() })),
      tokens: z.array(z.object({ id: z.number().int(), piece: z.string(), bytes: z.string().optional(), tag: z.string() })),
      dropped: z.array(z.object({ text: z.string(), label: z.string(), why: z.string() })).describe("What the model named that could not be placed in the text"),
    }),
    annotations: READ_ONLY,
    longRunning: true,
    async run(args, ctx) {
      checkInputChars("text", args.text.length, deps.maxInputChars);
      const labels = [...new Set(args.labels)];
      const engine = deps.engine;
      if (!(await engine.capabilities(callOptions(ctx))).jsonSchema) throw new ToolError("extract_entities needs output constrained by a JSON Schema, which this backend cannot do.", { code: "unsupported" });
      const schema = {
        type: "object",
        properties: {
          entities: {
            type: "array",
            maxItems: args.max_entities,
            items: { type: "object", properties: { text: { type: "string", minLength: 1, maxLength: 200 }, label: { enum: labels } }, required: ["text", "label"] },
          },
        },
        required: ["entities"],
      };
      const result = await engine.chat(
        {
          messages: [
            {
              role: "system",
              content:
                `You find named entities in a text. The entity types: ${labels.join(", ")}. List every entity of these types in ` +
                "the order it appears, each with its exact text as written in the text (copy it, do not change it) and its type. Answer with JSON only.",
            },
            { role: "user", content: args.text },
          ],
          sampling: { temperature: args.temperature, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1, frequencyPenalty: 0, presencePenalty: 0, seed: args.temperature === 0 ? null : 1 },
          maxTokens: Math.min(4096, 32 + args.max_entities * 48),
          stop: [],
          constraint: { kind: "json_schema", schema },
        },
        callOptions(ctx),
      );
      let named: Array<{ text: string; label: string }> = [];
      try {
        const parsed = JSON.parse(result.text) as { entities?: Array<{ text?: unknown; label?: unknown }> };
        named = (parsed.entities ?? []).filter((e): e is { text: string; label: string } => typeof e.text === "string" && typeof e.label === "string" && labels.includes(e.label));
      } catch {
        throw new ToolError(`The model's answer was cut off before its JSON was complete (finish_reason ${result.finishReason}).`, { hint: "Lower max_entities or shorten the text.", code: "incomplete" });
      }
      const { spans, dropped } = placeEntities(args.text, named);
      const tokenizer = await engine.tokenizer(callOptions(ctx));
      const { ids } = await tokenizer.tokenize(args.text, { special: false });
      const pieces = await tokenizer.tokenBytes(ids);
      const ranges = tokenRanges(args.text, pieces);
      if (!ranges) throw new ToolError("The model's tokens do not add up to the text, so they cannot be tagged.", { code: "internal" });
      const tags = iobTags(ranges, spans);
      const tokens = ids.map((id, i) => ({ id, ...renderBytes(pieces[i]!), tag: tags[i]! }));
      return {
        structured: { model: result.model.name, backend: result.backend, entities: spans, tokens, dropped },
        text:
          (spans.length ? spans.map((s) => `${s.label}: ${s.text} [${s.start}, ${s.end})`).join("\n") : "No entities found.") +
          (dropped.length ? `\nDropped (not placed in the text): ${dropped.map((d) => `${JSON.stringify(d.text)} (${d.why})`).join(", ")}` : ""),
      };
    },
  });
