/**
 * Telemetry events from the tool families, for whoever listens (the HTTP transport's /metrics). Nothing here
 * depends on a metrics library: families emit, and emitting with no listener costs next to nothing.
 */
export type TelemetryEvent =
  | { type: "tool_call"; tool: string; outcome: string; ms: number }
  | { type: "generation"; tool: string; promptTokens: number; completionTokens: number; tokensPerSecond: number }
  | { type: "search"; outcome: "ok" | "cached" | "error"; ms: number }
  | { type: "action_failure"; action: string; code: string }
  | { type: "model_load"; vocabOnly: boolean; ms: number };

export class Telemetry {
  private readonly listeners = new Set<(event: TelemetryEvent) => void>();

  /** Whether anyone listens (an emitter with nothing to say to no one need not build the event). */
  get listened(): boolean {
    return this.listeners.size > 0;
  }

  emit(event: TelemetryEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // a listener's failure is not the caller's
      }
    }
  }

  on(listener: (event: TelemetryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
