import { describe, expect, test } from "vitest";
import { jsonDepth, MAX_JSON_DEPTH } from "../../src/limits.js";
import { prng } from "../helpers/prng.js";

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

  test("agrees with a plain recursive definition on seeded random values and limits (flat objects take a short path)", () => {
    const random = prng(20261204);
    const value = (budget: number): unknown => {
      const r = random();
      if (budget <= 0 || r < 0.35) return [1, "s", null, true, 2.5][Math.floor(random() * 5)];
      const n = Math.floor(random() * 4);
      if (r < 0.65) return Array.from({ length: n }, () => value(budget - 1));
      return Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, value(budget - 1)]));
    };
    const reference = (v: unknown): number =>
      v === null || typeof v !== "object" ? 0 : 1 + Math.max(0, ...(Array.isArray(v) ? v : Object.values(v)).map(reference));
    let flat = 0;
    for (let i = 0; i < 2000; i++) {
      const v = value(Math.floor(random() * 6));
      const depth = reference(v);
      if (depth === 1 && !Array.isArray(v)) flat++;
      for (const limit of [0, 1, 2, 3, MAX_JSON_DEPTH]) expect(jsonDepth(v, limit), JSON.stringify(v)).toBe(depth > limit ? Infinity : depth);
    }
    expect(flat).toBeGreaterThan(50);
    // An object inherits nothing into the count, and a null value is a scalar.
    expect(jsonDepth(Object.assign(Object.create({ inherited: { deep: {} } }) as object, { a: 1 }))).toBe(1);
    expect(jsonDepth({ a: null, b: [] })).toBe(2);
  });
});
