/**
 * What a model needs to plan calls, shared by the engine (which asks the model: llm/) and run_task (which runs the
 * calls: tasks/) without either knowing the other: tools offered as functions, the conversation so far with the calls
 * made and their results, and the model's answer (text, or the calls it wants made). Types only.
 */

/** A tool offered to the model as a function. */
export interface PlanFunction {
  name: string;
  description: string;
  /** The JSON Schema of its arguments (an object schema), as the tool publishes it. */
  parameters: Record<string, unknown>;
}

export interface PlanCall {
  name: string;
  arguments: Record<string, unknown>;
}

/** One turn of the conversation; an assistant turn may hold the calls it made, each with what it returned. */
export type PlanTurn =
  | { role: "system" | "user"; content: string }
  | { role: "assistant"; content: string; calls?: Array<PlanCall & { id: string; result: string }> };

export interface PlanRequest {
  turns: readonly PlanTurn[];
  functions: readonly PlanFunction[];
  /** "required": the answer is one call of one of the functions (a grammar allows nothing else); "auto": the model chooses. */
  toolChoice: "auto" | "required";
  temperature: number;
  /** null when greedy. */
  seed: number | null;
  maxTokens: number;
}

export interface PlanResult {
  /** What the model said besides its calls (its answer, when it made none). */
  text: string;
  calls: PlanCall[];
  finishReason: "stop" | "length" | "calls" | "cancelled";
  promptTokens: number;
  completionTokens: number;
  /** Where it ran: "local", or the inference server's URL. */
  backend: string;
  model: string;
}

/** The model side of run_task: one step of planning. */
export interface Planner {
  plan(request: PlanRequest, options: { signal?: AbortSignal | undefined }): Promise<PlanResult>;
}
