/**
 * node-llama-cpp takes ~0.4 s to import: it is loaded on first need, never at start-up, so initialize and
 * tools/list answer at once. Only type imports of it appear elsewhere.
 */
let module: Promise<typeof import("node-llama-cpp")> | undefined;

export function llamaCpp(): Promise<typeof import("node-llama-cpp")> {
  module ??= import("node-llama-cpp");
  return module;
}
