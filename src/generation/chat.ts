/** chat: a conversation answered with the model's own chat template. */
import { z } from "zod";
import { checkInputChars, defineTool } from "../tool.js";
import { generationProgress } from "./progress.js";
import { engineSampling, resolveSampler, samplingFields, type SamplingArgs } from "./sampling.js";
import { constraintOf, GENERATES, tracedGeneration, GenerationOutput, generationOutput, logGeneration, renderGeneration, type GenerationToolDeps } from "./shared.js";

const Message = z.strictObject({
  role: z.enum(["system", "user", "assistant"]),
  content: z.string(),
});

export const chat = (deps: GenerationToolDeps) =>
  defineTool({
    name: "chat",
    title: "Chat with the model",
    description:
      "Answers a conversation with the model, formatted with its own chat template (locally node-llama-cpp's chat " +
      "wrappers, where a model without a template gets a plain '### System / ### Human / ### Assistant' format and " +
      "the receipt says so; with an inference server, the server's template). Same sampling controls and json_schema as generate.",
    input: z
      .strictObject({
        messages: z.array(Message).min(1).max(1000).describe("The conversation; ending with an assistant message continues that message (a prefill)"),
        ...samplingFields(deps.defaults.maxTokensLimit),
        echo_prompt: z.boolean().default(false).describe("Also return the exact prompt text the chat template produced"),
      })
      .refine((v) => v.messages.some((m) => m.role !== "system"), { message: "messages needs at least one user or assistant message" }),
    output: GenerationOutput.extend({ prompt: z.string().optional().describe("The templated prompt (echo_prompt)") }),
    annotations: GENERATES,
    longRunning: true,
    async run(args, ctx) {
      checkInputChars("the messages together", args.messages.reduce((n, m) => n + m.content.length, 0), deps.maxInputChars);
      const sampler = resolveSampler(args as SamplingArgs, deps.defaults);
      const constraint = await constraintOf(deps.engine, args.json_schema, undefined);
      const progress = generationProgress(ctx);
      try {
        const result = await tracedGeneration("chat", () =>
          deps.engine.chat(
            { messages: args.messages, echoPrompt: args.echo_prompt, sampling: engineSampling(sampler), maxTokens: sampler.max_tokens, stop: sampler.stop, constraint: constraint.constraint },
            progress.options,
          ),
        );
        const out = generationOutput(result, sampler, constraint);
        out.receipt.chat_format = result.format;
        logGeneration(ctx, out, deps.telemetry);
        return renderGeneration(args.echo_prompt && result.prompt !== null ? { ...out, prompt: result.prompt } : out);
      } finally {
        progress.stop();
      }
    },
  });
