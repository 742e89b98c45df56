/**
 * The tool catalog shared by every session: the built-in families plus the user's actions, which can change
 * at run time. Sessions subscribe to changes to send notifications/tools/list_changed.
 */
import type { ToolSpec } from "./tool.js";

export class ToolCatalog {
  private readonly builtIn = new Map<string, ToolSpec>();
  private dynamic = new Map<string, ToolSpec>();
  private readonly listeners = new Set<() => void>();

  constructor(builtIn: ToolSpec[]) {
    for (const spec of builtIn) {
      if (this.builtIn.has(spec.name)) throw new Error(`duplicate built-in tool ${spec.name}`);
      this.builtIn.set(spec.name, spec);
    }
  }

  get(name: string): ToolSpec | undefined {
    return this.builtIn.get(name) ?? this.dynamic.get(name);
  }

  list(): ToolSpec[] {
    return [...this.builtIn.values(), ...this.dynamic.values()];
  }

  builtInNames(): Set<string> {
    return new Set(this.builtIn.keys());
  }

  /** Replaces the dynamic tools (names of built-ins are ignored); notifies subscribers when anything changed. */
  setDynamic(specs: ToolSpec[]): void {
    const next = new Map(specs.filter((s) => !this.builtIn.has(s.name)).map((s) => [s.name, s]));
    const changed = next.size !== this.dynamic.size || [...next].some(([name, spec]) => this.dynamic.get(name) !== spec);
    this.dynamic = next;
    if (changed) for (const listener of this.listeners) listener();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
