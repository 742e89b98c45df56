import { describe, expect, test } from "vitest";
import { homedir } from "node:os";
import { join } from "node:path";
import { ConfigError, DEFAULT_MODEL, describeConfig, envOf, flagOf, GROUPS, helpText, nearestFlag, parseConfig, SETTINGS, unknownEnvironment } from "../../src/config.js";

function problemsOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("config", () => {
  test("defaults are what the README documents", () => {
    const c = parseConfig({}, {});
    expect(c.model).toBe(DEFAULT_MODEL);
    expect(c.transport).toBe("stdio");
    expect(c.host).toBe("127.0.0.1");
    expect(c.gpu).toBe("auto");
    expect(Object.isFrozen(c)).toBe(true);
  });

  test("with an inference server (--llm-url), no model is set unless given: nothing would be downloaded", () => {
    const remote = parseConfig({}, { LAM_LLM_URL: "http://127.0.0.1:8080, http://127.0.0.1:8081/" });
    expect(remote.llmUrl).toEqual(["http://127.0.0.1:8080", "http://127.0.0.1:8081/"]);
    expect(remote.model).toBeUndefined();
    expect(remote.llmApi).toBe("auto");
    expect(parseConfig({ llmUrl: "http://127.0.0.1:8080", model: "/m.gguf" }, {}).model).toBe("/m.gguf");
    for (const bad of ["127.0.0.1:8080", "ftp://h", "http://", "not a url"]) {
      expect(problemsOf(() => parseConfig({ llmUrl: bad }, {}))).toMatch(/--llm-url/);
    }
    expect(problemsOf(() => parseConfig({}, { LAM_LLM_API: "vllm" }))).toMatch(/LAM_LLM_API[\s\S]*auto|llama-server|openai/);
    expect(problemsOf(() => parseConfig({ llmTimeoutMs: "5" }, {}))).toMatch(/--llm-timeout-ms/);
    expect(problemsOf(() => parseConfig({ llmMaxConcurrent: 0 }, {}))).toMatch(/--llm-max-concurrent/);
  });

  test("the environment overrides defaults, and a flag overrides the environment", () => {
    const env = { LAM_THREADS: "3", LAM_MODEL: "/env.gguf", LAM_ALLOWED_HOSTS: "a.test:1, b.test:2" };
    const fromEnv = parseConfig({}, env);
    expect(fromEnv.threads).toBe(3);
    expect(fromEnv.model).toBe("/env.gguf");
    expect(fromEnv.allowedHosts).toEqual(["a.test:1", "b.test:2"]);
    const fromCli = parseConfig({ threads: "2" }, env);
    expect(fromCli.threads).toBe(2);
    expect(fromCli.model).toBe("/env.gguf");
  });

  test("every problem is listed at once, naming where the value came from", () => {
    let error: unknown;
    try {
      parseConfig({ threads: "-1", gpu: "metal" }, { LAM_PORT: "x", LAM_LOG_LEVEL: "loud" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.join("\n")).toMatch(/--threads/);
    expect(problems.join("\n")).toMatch(/--gpu/);
    expect(problems.join("\n")).toMatch(/LAM_PORT/);
    expect(problems.join("\n")).toMatch(/LAM_LOG_LEVEL/);
  });

  test("a bad secret is never shown, in any of its spellings or sources", () => {
    const secrets = ["short", "tok-\u2028x", "a b", '"quoted"', "x".repeat(15)];
    for (const secret of secrets) {
      for (const text of [problemsOf(() => parseConfig({ authToken: secret }, {})), problemsOf(() => parseConfig({}, { LAM_AUTH_TOKEN: secret }))]) {
        expect(text).toMatch(/auth.token|AUTH_TOKEN/i);
        expect(text).toMatch(/at least 16 characters/);
        expect(text).not.toContain(secret);
        expect(text).not.toContain(JSON.stringify(secret).slice(1, -1));
        expect(text).not.toMatch(new RegExp(`\\b${secret.length}\\b`));
      }
    }
    // search headers are secret too: a malformed JSON with a key inside is not echoed.
    const headers = '{"X-Api-Key": "sk-live-123456789"';
    const text = problemsOf(() => parseConfig({}, { LAM_SEARCH_HEADERS: headers }));
    expect(text).toMatch(/LAM_SEARCH_HEADERS/);
    expect(text).not.toContain("sk-live");
    // The inference server's key is a secret too.
    const key = "sk-llm-key-0123456789";
    expect(JSON.stringify(describeConfig(parseConfig({ llmUrl: "http://u:hunter2-pass@h:1", llmApiKey: key }, {})))).not.toMatch(/hunter2|sk-llm/);
    expect(problemsOf(() => parseConfig({ llmUrl: "ftp://u:hunter2-pass@h" }, {}))).not.toContain("hunter2");
    // And a URL with credentials is shown without them.
    const url = problemsOf(() => parseConfig({ searxngUrl: "ftp://user:hunter2-pass@host" }, {}));
    expect(url).not.toContain("hunter2");
    expect(describeConfig(parseConfig({ authToken: "y".repeat(20), searxngUrl: "http://u:hunter2-pass@h:1" }, {}))).toMatchObject({ authToken: "***" });
    expect(JSON.stringify(describeConfig(parseConfig({ searxngUrl: "http://u:hunter2-pass@h:1" }, {})))).not.toContain("hunter2");
  });

  test("~ in a path setting is the home directory, from the command line or the environment", () => {
    const home = homedir();
    expect(parseConfig({ model: "~/models/m.gguf" }, {}).model).toBe(join(home, "models/m.gguf"));
    expect(parseConfig({}, { LAM_MODEL: "~/m.gguf" }).model).toBe(join(home, "m.gguf"));
    expect(parseConfig({ toolsDir: "~" }, {}).toolsDir).toBe(home);
    expect(parseConfig({ modelsDir: "~/cache" }, {}).modelsDir).toBe(join(home, "cache"));
    expect(parseConfig({ embeddingModel: "~/e.gguf" }, {}).embeddingModel).toBe(join(home, "e.gguf"));
    // Only a leading ~ alone or before a slash: ~user, a ~ inside and URIs stay as written.
    expect(parseConfig({ model: "~other/m.gguf" }, {}).model).toBe("~other/m.gguf");
    expect(parseConfig({ model: "hf:user/repo~x:Q4" }, {}).model).toBe("hf:user/repo~x:Q4");
    expect(parseConfig({ model: "./a~/m.gguf" }, {}).model).toBe("./a~/m.gguf");
  });

  test("a mistyped flag or LAM_ variable gets the nearest setting, a far one gets none", () => {
    const cases: Array<[string, string | undefined]> = [
      ["--modle", "model"],
      ["--mdoel", "model"],
      ["--model-dir", "models-dir"],
      ["--thread", "threads"],
      ["--tools_dir", "tools-dir"],
      ["--Transport", "transport"],
      ["--searxng", "searxng-url"],
      ["--zzzzzzzz", undefined],
      ["--x", undefined],
    ];
    for (const [typed, expected] of cases) expect([typed, nearestFlag(typed)]).toEqual([typed, expected]);
    expect(unknownEnvironment({ LAM_MODLE: "x", LAM_MODEL: "y", HOME: "/h", LAM_ZZZZZZZZZZZ: "1" })).toEqual([
      "LAM_MODLE is not a lam-mcp setting; did you mean LAM_MODEL?",
      "LAM_ZZZZZZZZZZZ is not a lam-mcp setting",
    ]);
  });

  test("flags and environment twins derive from the key by one rule, with two stated exceptions", () => {
    expect([flagOf("contextSize"), envOf("contextSize")]).toEqual(["context-size", "LAM_CONTEXT_SIZE"]);
    expect([flagOf("maxConcurrentPerClient"), envOf("maxConcurrentPerClient")]).toEqual(["max-concurrent-per-client", "LAM_MAX_CONCURRENT_PER_CLIENT"]);
    expect([flagOf("model"), envOf("model")]).toEqual(["model", "LAM_MODEL"]);
    const exceptions = SETTINGS.filter((s) => s.env !== `LAM_${s.flag.replace(/-/g, "_").toUpperCase()}`).map((s) => `${s.key}=${s.env}`);
    expect(exceptions).toEqual(["hfEndpoint=HF_ENDPOINT", "searxngUrl=SEARXNG_URL"]);
    for (const s of SETTINGS) expect(s.flag).toBe(s.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
    // --help lists the settings by group, every group with its settings in it.
    const help = helpText("0.0.0");
    let at = 0;
    for (const group of GROUPS) {
      const next = help.indexOf(`\n${group}:\n`, at);
      expect([group, next]).not.toEqual([group, -1]);
      at = next;
    }
  });

  test("every setting has a flag, an environment twin and help", () => {
    const flags = new Set(SETTINGS.map((s) => s.flag));
    const envs = new Set(SETTINGS.map((s) => s.env));
    expect(flags.size).toBe(SETTINGS.length);
    expect(envs.size).toBe(SETTINGS.length);
    for (const s of SETTINGS) expect(s.help.length).toBeGreaterThan(10);
  });
});

describe("threads", () => {
  test("auto leaves a core free, within 1..8; 0 defers to node-llama-cpp; a number is used as is", async () => {
    const { resolveThreads } = await import("../../src/llm/local/engine.js");
    expect(resolveThreads("auto", 1)).toBe(1);
    expect(resolveThreads("auto", 2)).toBe(1);
    expect(resolveThreads("auto", 6)).toBe(5);
    expect(resolveThreads("auto", 64)).toBe(8);
    expect(resolveThreads(0, 8)).toBeUndefined();
    expect(resolveThreads(3, 8)).toBe(3);
    expect(parseConfig({}, {}).threads).toBe("auto");
    expect(parseConfig({ threads: "auto" }, {}).threads).toBe("auto");
    expect(parseConfig({ threads: "2" }, {}).threads).toBe(2);
  });
});
