import { createHash } from "node:crypto";
import { expect, test } from "vitest";
import { buildTinyModel, buildVocabulary, WORDS } from "../helpers/tiny-model.js";

test("the generated test model is byte-identical on every build and small", () => {
  const a = buildTinyModel();
  const b = buildTinyModel();
  expect(createHash("sha256").update(a).digest("hex")).toBe(createHash("sha256").update(b).digest("hex"));
  expect(a.subarray(0, 4).toString("ascii")).toBe("GGUF");
  expect(a.readUInt32LE(4)).toBe(3);
  expect(a.length).toBeLessThan(1024 * 1024);
});

test("every designed word has its own token", () => {
  const vocab = buildVocabulary();
  const ids = WORDS.map((w) => vocab.idOf(w));
  expect(new Set(ids).size).toBe(WORDS.length);
});
