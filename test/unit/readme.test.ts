/** The README documents every setting and every tool; this keeps it from drifting. */
import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { SETTINGS } from "../../src/config.js";
import { updateReadme } from "../../src/docs.js";
import { createServices } from "../../src/services.js";
import { silentLogger } from "../../src/log.js";
import { parseConfig } from "../../src/config.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

test("README documents every setting, flag and environment twin", () => {
  for (const s of SETTINGS) {
    expect(readme, `--${s.flag}`).toContain(`\`--${s.flag}\``);
    expect(readme, s.env).toContain(`\`${s.env}\``);
  }
});

test("README documents every built-in tool", () => {
  const services = createServices(parseConfig({}, {}), silentLogger);
  for (const spec of services.catalog.list()) expect(readme, spec.name).toContain(`### \`${spec.name}\``);
});

test("README opens with the two commands", () => {
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)![1]!;
  expect(firstBlock).toContain("npm ci && npm start");
  expect(firstBlock).toContain("npm ci && npm test");
});

test("README's generated parts (tools, settings) match the code: run npm run docs after changing either", () => {
  expect(updateReadme(readme)).toBe(readme);
});
