import { describe, expect, test } from "vitest";
import { jsonDepth, MAX_JSON_DEPTH } from "../../src/limits.js";

describe("jsonDepth", () => {
  test("counts containers, not scalars; stops at the limit", () => {
    expect(jsonDepth("x")).toBe(0);
    expect(jsonDepth(null)).toBe(0);
    expect(jsonDepth({})).toBe(1);
    expect(jsonDepth([1, [2, [3]]])).toBe(3);
    expect(jsonDepth({ a: { b: [] }, c: 1 })).toBe(3);
    const nest = (n: number) => {
      let v: unknown = 1;
      for (let i = 0; i < n; i++) v = i % 2 ? [v] : { k: v };
      return v;
    };
    expect(jsonDepth(nest(MAX_JSON_DEPTH))).toBe(MAX_JSON_DEPTH);
    expect(jsonDepth(nest(MAX_JSON_DEPTH + 1))).toBe(Infinity);
    // A million levels: no recursion, so no stack overflow, and it stops early.
    expect(jsonDepth(JSON.parse(`${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}`))).toBe(Infinity);
    expect(jsonDepth(nest(10), 5)).toBe(Infinity);
  });
});
