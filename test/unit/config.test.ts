import { describe, expect, test } from "vitest";
import { ConfigError, DEFAULT_MODEL, parseConfig, SETTINGS } from "../../src/config.js";

describe("config", () => {
  test("defaults are what the README documents", () => {
    const c = parseConfig({}, {});
    expect(c.model).toBe(DEFAULT_MODEL);
    expect(c.transport).toBe("stdio");
    expect(c.host).toBe("127.0.0.1");
    expect(c.gpu).toBe("auto");
    expect(Object.isFrozen(c)).toBe(true);
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
    const { resolveThreads } = await import("../../src/llm/engine.js");
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
