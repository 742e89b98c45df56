/**
 * judge: an LLM-as-judge in the Prometheus 2 format (prometheus-eval): the task description, the instruction, the
 * response (or responses A and B), the reference answer, the score rubric, then "Feedback: ... [RESULT] n". The
 * result is forced by a grammar, so it always parses; the expected score weighs the five score tokens by the model's
 * probability of each at that position. Any instruct model can judge; a Prometheus model judges best.
 */
import { z } from "zod";
import { ToolError } from "../errors.js";
import { callOptions } from "../progress.js";
import { checkInputChars, defineTool } from "../tool.js";
import { READ_ONLY, type InsightToolDeps } from "./deps.js";

const Rubric = z.strictObject({
  criteria: z.string().min(1).max(2000).describe("What is judged, as a question"),
  score1: z.string().min(1).max(1000),
  score2: z.string().min(1).max(1000),
  score3: z.string().min(1).max(1000),
  score4: z.string().min(1).max(1000),
  score5: z.string().min(1).max(1000),
});

const FEEDBACK_CHARS = 1000;

/** The absolute (one response, a 1-5 score) and relative (A or B) prompts, in Prometheus 2's layout. */
export function judgePrompt(a: { instruction: string; response: string; responseB?: string; reference?: string; rubric: z.output<typeof Rubric> }): string {
  const relative = a.responseB !== undefined;
  const task = relative
    ? "An instruction, two responses to it (A and B), a reference answer, and a score rubric are given. Write detailed feedback that compares " +
      "the two responses strictly by the rubric, without a general assessment, then say which is better: A or B. Write " +
      '"Feedback: (your feedback) [RESULT] (A or B)", and nothing else.'
    : "An instruction, a response to it, a reference answer that would score 5, and a score rubric are given. Write detailed feedback that " +
      "assesses the response strictly by the rubric, without a general assessment, then give it a score from 1 to 5 by the rubric. Write " +
      '"Feedback: (your feedback) [RESULT] (a number from 1 to 5)", and nothing else.';
  const rubric = `[${a.rubric.criteria}]\nScore 1: ${a.rubric.score1}\nScore 2: ${a.rubric.score2}\nScore 3: ${a.rubric.score3}\nScore 4: ${a.rubric.score4}\nScore 5: ${a.rubric.score5}`;
  return [
    `###Task Description:\n${task}`,
    `###The instruction to evaluate:\n${a.instruction}`,
    relative ? `###Response A:\n${a.response}\n\n###Response B:\n${a.responseB}` : `###Response to evaluate:\n${a.response}`,
    `###Reference Answer${relative ? "" : " (Score 5)"}:\n${a.reference ?? "(none given)"}`,
    `###Score Rubrics:\n${rubric}`,
    "###Feedback: ",
  ].join("\n\n");
}

export const judge = (deps: InsightToolDeps) =>
  defineTool({
    name: "judge",
    title: "Judge a response (LLM-as-judge, Prometheus 2 format)",
    description:
      "Has the model grade a response to an instruction by your rubric (criteria and what scores 1 to 5 mean), in the " +
      "Prometheus 2 format: feedback, then a score forced by a grammar, with expected_score weighing the five scores " +
      "by the model's probabilities. With response_b, it compares the two and says which is better (A or B). Any " +
      "instruct model can judge; a Prometheus 2 model (prometheus-eval) was trained for exactly this.",
    input: z.strictObject({
      instruction: z.string().min(1).max(20_000),
      response: z.string().min(1).max(20_000).describe("The response to judge (response A when response_b is given)"),
      rubric: Rubric,
      reference_answer: z.string().min(1).max(20_000).optional().describe("An answer that would score 5"),
      response_b: z.string().min(1).max(20_000).optional().describe("A second response: the judge then says which is better"),
      temperature: z.number().min(0).max(2).default(0),
    }),
    output: z.object({
      model: z.string(),
      backend: z.string(),
      feedback: z.string(),
      score: z.number().int().min(1).max(5).optional().describe("The judge's score (absolute mode)"),
      expected_score: z.number().nullable().optional().describe("Sum of score x its probability at the score's position; null when the backend gives no probabilities"),
      probabilities: z.record(z.string(), z.number()).optional().describe("The probability of each score 1..5 at that position, renormalised over the five"),
      winner: z.enum(["A", "B"]).optional().describe("The better response (relative mode)"),
    }),
    annotations: READ_ONLY,
    longRunning: true,
    async run(args, ctx) {
      checkInputChars("the texts together", args.instruction.length + args.response.length + (args.response_b?.length ?? 0) + (args.reference_answer?.length ?? 0), deps.maxInputChars);
      const engine = deps.engine;
      const caps = await engine.capabilities(callOptions(ctx));
      if (!caps.grammar || !caps.probabilities) {
        throw new ToolError(`judge forces its result with a grammar in the chat and reads the scores' probabilities, which this backend (${engine.describeSource()}) cannot do.`, {
          hint: "Run lam-mcp with the local model (--model, without --llm-url), a Prometheus 2 GGUF ideally.",
          code: "unsupported",
        });
      }
      const relative = args.response_b !== undefined;
      const prompt = judgePrompt({ instruction: args.instruction, response: args.response, responseB: args.response_b, reference: args.reference_answer, rubric: args.rubric });
      const verdict = relative ? '"A" | "B"' : "[1-5]";
      // The feedback is one paragraph without "[" (so "[RESULT]" cannot appear early), then the verdict.
      const gbnf = `root ::= feedback " [RESULT] " verdict\nfeedback ::= [^\\[\\n] feedback-rest\nfeedback-rest ::= [^\\[\\n]{0,${FEEDBACK_CHARS}}\nverdict ::= ${verdict}`;
      const result = await engine.chat(
        {
          messages: [{ role: "user", content: prompt }],
          sampling: { temperature: args.temperature, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1, frequencyPenalty: 0, presencePenalty: 0, seed: args.temperature === 0 ? null : 1 },
          // Room for the longest feedback the grammar allows, whatever the tokenizer (a character can take four byte tokens).
          maxTokens: FEEDBACK_CHARS * 4 + 16,
          stop: [],
          constraint: { kind: "grammar", gbnf },
        },
        callOptions(ctx),
      );
      const m = /^([\s\S]*?) \[RESULT\] (A|B|[1-5])$/.exec(result.text.trim());
      if (!m) throw new ToolError(`The judge's answer was cut off before its result (finish_reason ${result.finishReason}).`, { hint: "Shorten the texts; the feedback is capped, the prompt is not.", code: "incomplete" });
      const feedback = m[1]!.replace(/^Feedback:\s*/, "").trim();
      const base = { model: result.model.name, backend: result.backend, feedback };
      if (relative) return { structured: { ...base, winner: m[2] as "A" | "B" }, text: `Better: ${m[2]}\n${feedback}` };
      const score = Number(m[2]);
      // The distribution at the score's position: the templated prompt and the text up to "[RESULT] ".
      let expected: number | null = null;
      let probabilities: Record<string, number> | undefined;
      if (result.prompt !== null) {
        const upTo = result.text.slice(0, result.text.lastIndexOf("[RESULT] ") + "[RESULT] ".length);
        const dist = await engine.nextTokens(result.prompt + upTo, { special: true, ...callOptions(ctx) });
        const tokenizer = await engine.tokenizer(callOptions(ctx));
        const digitIds = await Promise.all(["1", "2", "3", "4", "5"].map(async (d) => (await tokenizer.tokenize(d, { special: false })).ids));
        if (digitIds.every((ids) => ids.length === 1)) {
          const p = digitIds.map(([id]) => dist.probabilities.find((x) => x.id === id)?.probability ?? 0);
          const total = p.reduce((a, b) => a + b, 0);
          if (total > 0) {
            probabilities = Object.fromEntries(p.map((x, i) => [String(i + 1), round(x / total)]));
            expected = round(p.reduce((a, x, i) => a + (i + 1) * x, 0) / total);
          }
        }
      }
      return {
        structured: { ...base, score, expected_score: expected, ...(probabilities ? { probabilities } : {}) },
        text: `Score: ${score}${expected !== null ? ` (expected ${expected})` : ""}\n${feedback}`,
      };
    },
  });

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
