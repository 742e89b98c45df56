/**
 * The README's generated parts, made from the code: the tool table (from the catalog: name, title, annotations,
 * call signature) and the settings tables (from SETTINGS, by group). `npm run docs` rewrites them between their
 * markers; a test fails when the README is stale. Run directly: `tsx src/docs.ts [README path]`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { GROUPS, parseConfig, SETTINGS, shownDefault } from "./config.js";
import { silentLogger } from "./log.js";
import { builtInTools } from "./services.js";
import { signatureOf, type ToolSpec } from "./tool.js";

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

function annotations(spec: ToolSpec): string {
  const a = spec.annotations;
  return [a.readOnlyHint ? "read-only" : "", a.destructiveHint ? "destructive" : "", a.idempotentHint ? "idempotent" : "", a.openWorldHint ? "open world" : ""]
    .filter(Boolean)
    .join(", ");
}

export function toolsTable(): string {
  const tools = builtInTools(parseConfig({}, {}), silentLogger);
  return [
    "| tool | title | annotations | call |",
    "| --- | --- | --- | --- |",
    ...tools.map((t) => `| \`${t.name}\` | ${cell(t.title)} | ${annotations(t)} | \`${cell(signatureOf(t))}\` |`),
  ].join("\n");
}

export function settingsTables(): string {
  return GROUPS.map((group) =>
    [
      `#### ${group}`,
      "",
      "| flag | environment | default | meaning |",
      "| --- | --- | --- | --- |",
      ...SETTINGS.filter((s) => s.group === group).map((s) => {
        const def = shownDefault(s);
        return `| \`--${s.flag}\` | \`${s.env}\` | ${def ? `\`${cell(def)}\`` : ""} | ${cell(s.help)} |`;
      }),
    ].join("\n"),
  ).join("\n\n");
}

const PARTS: Record<string, () => string> = { tools: toolsTable, settings: settingsTables };

/** The README with every generated part made again from the code. */
export function updateReadme(readme: string): string {
  let out = readme;
  for (const [name, make] of Object.entries(PARTS)) {
    const start = `<!-- generated:${name} (npm run docs) -->`;
    const end = `<!-- /generated:${name} -->`;
    const from = out.indexOf(start);
    const to = out.indexOf(end);
    if (from === -1 || to < from) throw new Error(`README.md lacks the markers ${start} ... ${end}`);
    out = `${out.slice(0, from + start.length)}\n${make()}\n${out.slice(to)}`;
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const path = process.argv[2] ?? fileURLToPath(new URL("../README.md", import.meta.url));
  const before = readFileSync(path, "utf8");
  const after = updateReadme(before);
  if (after !== before) writeFileSync(path, after);
  process.stderr.write(`${path}: ${after === before ? "up to date" : "updated"}\n`);
}
