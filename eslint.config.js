// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * The walls of the house (DESIGN.md): a tool family imports the wrapper, errors, the engine's interface and small
 * shared modules, never another family, the action layer, a transport, the server or the entry; the engine knows
 * nothing of MCP; the action layer calls the families through the catalog, never their internals.
 */
const FAMILIES = ["tokens", "generation", "search", "insight"];
const ABOVE_FAMILIES = ["actions", "tasks", "apps"];
const WIRING = ["server", "services", "surface", "cli", "config", "catalog", "status"];
const upward = (names) => names.flatMap((n) => [`../${n}.js`, `../../${n}.js`]);
const folders = (names) => names.flatMap((n) => [`../${n}/*`, `../../${n}/*`]);

function walls(folder, forbidden, message) {
  return {
    files: [`src/${folder}/**/*.ts`],
    rules: { "no-restricted-imports": ["error", { patterns: [{ group: forbidden, message }] }] },
  };
}

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", ".bench-tmp/", "**/*.mjs", ".scratch/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-unnecessary-type-assertion": "off",
    },
  },
  {
    // Nothing but protocol on stdout: src/ never uses console.
    files: ["src/**/*.ts"],
    rules: {
      "no-console": "error",
      "no-restricted-properties": ["error", { object: "process", property: "stdout", message: "stdout carries the MCP protocol only" }],
      // On Node 20 one AsyncLocalStorage (or async hook) turns on promise hooks for the whole process: ~6 us more CPU
      // on every tool call (npm run bench -- noop). Pass what a call needs in its context instead (ctx.log is scoped).
      "no-restricted-syntax": [
        "error",
        {
          selector: "ImportDeclaration[source.value=/^(node:)?async_hooks$/], ImportExpression[source.value=/^(node:)?async_hooks$/]",
          message: "async_hooks slows every promise in the process on Node 20; pass the value in the call's context instead",
        },
      ],
    },
  },
  walls(
    "llm",
    ["@modelcontextprotocol/*", ...upward(["tool", "progress", ...WIRING]), ...folders([...FAMILIES, ...ABOVE_FAMILIES, "transports"])],
    "The engine knows nothing of MCP, the tools or the wiring: it is used through its interface (src/llm/engine.ts).",
  ),
  ...FAMILIES.map((family) =>
    walls(
      family,
      [
        "@modelcontextprotocol/*",
        "node-llama-cpp",
        "../llm/local/*",
        ...upward(WIRING),
        ...folders([...FAMILIES.filter((f) => f !== family), ...ABOVE_FAMILIES, "transports"]),
      ],
      "A tool family uses the wrapper (tool.ts), errors, the engine's interface (llm/engine.ts) and small shared modules; never another family, the engine's internals, the action layer, a transport or the wiring.",
    ),
  ),
  ...ABOVE_FAMILIES.map((layer) =>
    walls(
      layer,
      ["@modelcontextprotocol/*", "node-llama-cpp", "../llm/*", ...upward(["server", "services", "surface", "cli"]), ...folders([...FAMILIES, "transports"])],
      "The action/task layer calls the families' tools through the catalog, as a client would; it never imports their internals, the engine, a transport or the entry.",
    ),
  ),
  {
    files: ["eslint.config.js"],
    ...tseslint.configs.disableTypeChecked,
  },
);
