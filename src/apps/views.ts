/**
 * MCP Apps views: self-contained HTML pages (no network: styles and scripts inline, no external resource) that a
 * host renders beside a tool's answer. Each reads the tool result the host hands it and draws it; the text and
 * structured answers stay for hosts without the extension. Readable in light and dark hosts (the host's theme and
 * style variables win over the page's own), usable by keyboard and screen reader (every token and bar has a label).
 *
 * - tokens: tokenize (the text with its token boundaries, id and bytes of each) and vocabulary (its categories);
 * - next-token: next_token's candidates as bars before and after temperature, cut or kept, with sliders that call
 *   the tool again through the host;
 * - actions: preview_action (what would run) and workflow runs (each step's outcome).
 */
import { BRIDGE_JS } from "./bridge.js";

export interface View {
  uri: string;
  name: string;
  title: string;
  description: string;
  html: string;
}

const STYLE = `
:root { color-scheme: light dark; --lam-bg: #ffffff; --lam-fg: #1b1f24; --lam-muted: #57606a; --lam-line: #d0d7de;
  --lam-accent: #0a58ca; --lam-good: #1a7f37; --lam-bad: #cf222e;
  --lam-t0: #dbeafe; --lam-t1: #fde68a; --lam-t2: #d1fae5; --lam-t3: #fbcfe8; --lam-t4: #e9d5ff; --lam-t5: #fed7aa; }
@media (prefers-color-scheme: dark) { :root:not([data-theme="light"]) { --lam-bg: #0d1117; --lam-fg: #e6edf3; --lam-muted: #9da7b3; --lam-line: #30363d;
  --lam-accent: #79b8ff; --lam-good: #56d364; --lam-bad: #ff7b72;
  --lam-t0: #1e3a5f; --lam-t1: #5c4a12; --lam-t2: #14532d; --lam-t3: #5b2145; --lam-t4: #3b2a5c; --lam-t5: #5c3312; } }
:root[data-theme="dark"] { --lam-bg: #0d1117; --lam-fg: #e6edf3; --lam-muted: #9da7b3; --lam-line: #30363d; --lam-accent: #79b8ff;
  --lam-good: #56d364; --lam-bad: #ff7b72; --lam-t0: #1e3a5f; --lam-t1: #5c4a12; --lam-t2: #14532d; --lam-t3: #5b2145; --lam-t4: #3b2a5c; --lam-t5: #5c3312; }
body { margin: 0; padding: 12px; background: var(--color-background-primary, var(--lam-bg)); color: var(--color-text-primary, var(--lam-fg));
  font: 14px/1.45 var(--font-sans, system-ui, -apple-system, "Segoe UI", sans-serif); }
h1 { font-size: 15px; margin: 0 0 4px; }
p, figure { margin: 0 0 8px; }
.muted { color: var(--color-text-secondary, var(--lam-muted)); }
code, .mono { font-family: var(--font-mono, ui-monospace, SFMono-Regular, Menlo, monospace); font-size: 13px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--color-border-primary, var(--lam-line)); vertical-align: top; }
:focus-visible { outline: 2px solid var(--lam-accent); outline-offset: 1px; }
.error { color: var(--lam-bad); white-space: pre-wrap; }
`;

function page(title: string, body: string, script: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
<script>
${BRIDGE_JS}
const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, text) => { const e = Object.assign(document.createElement(tag), props); if (text !== undefined) e.textContent = text; return e; };
const showError = (result) => { const box = $("error"); box.hidden = false; box.textContent = (result.content || []).map((c) => c.text || "").join("\\n"); };
${script}
</script>
</body>
</html>
`;
}

const TOKENS = page(
  "lam-mcp tokens",
  `<main>
<h1 id="title">Tokens</h1>
<p id="summary" class="muted" aria-live="polite">Waiting for the tool's result…</p>
<p id="error" class="error" hidden></p>
<div id="tokens" class="mono" role="list" aria-label="The text, token by token" style="white-space: pre-wrap; word-break: break-all; line-height: 1.9"></div>
<p id="detail" class="mono muted" aria-live="polite"></p>
<section id="vocabulary" hidden>
  <figure><figcaption class="muted">Text tokens by category</figcaption><table id="stats"></table></figure>
  <p id="special" class="mono muted"></p>
</section>
</main>
<style>
.tok { border-radius: 3px; padding: 1px 0; cursor: default; color: var(--lam-fg); }
.t0 { background: var(--lam-t0); } .t1 { background: var(--lam-t1); } .t2 { background: var(--lam-t2); }
.t3 { background: var(--lam-t3); } .t4 { background: var(--lam-t4); } .t5 { background: var(--lam-t5); }
.tok:hover, .tok:focus { outline: 2px solid var(--lam-accent); }
.bar { height: 10px; background: var(--lam-accent); border-radius: 2px; min-width: 1px; }
</style>`,
  `
const describe = (t) => "id " + t.id + (t.bytes ? " · bytes " + t.bytes : " · " + JSON.stringify(t.piece));
function renderTokens(s) {
  $("title").textContent = "Tokens of " + s.model;
  const shown = s.tokens.length;
  $("summary").textContent = s.count + " token" + (s.count === 1 ? "" : "s") + (s.bos_added ? " (BOS added)" : "") +
    (shown < s.count ? " · showing " + s.offset + "–" + (s.offset + shown) : "") + " · hover or focus a token for its id and bytes";
  const box = $("tokens");
  box.replaceChildren();
  s.tokens.forEach((t, i) => {
    const span = el("span", { className: "tok t" + (i % 6), tabIndex: 0, title: describe(t) }, t.piece);
    span.setAttribute("role", "listitem");
    span.setAttribute("aria-label", "token " + (s.offset + i + 1) + ": " + JSON.stringify(t.piece) + ", " + describe(t));
    span.dataset.id = String(t.id);
    const show = () => { $("detail").textContent = "token " + (s.offset + i + 1) + " · " + describe(t); };
    span.addEventListener("mouseenter", show);
    span.addEventListener("focus", show);
    box.append(span);
  });
}
function renderVocabulary(s) {
  $("title").textContent = "Vocabulary of " + s.model;
  $("summary").textContent = s.size + " tokens · " + s.kind + " · " + s.special_tokens.length + " special";
  $("vocabulary").hidden = false;
  const table = $("stats");
  table.replaceChildren();
  const entries = Object.entries(s.stats).filter(([, v]) => typeof v === "number");
  const max = Math.max(1, ...entries.map(([, v]) => v));
  for (const [key, value] of entries) {
    const row = el("tr");
    const bar = el("div", { className: "bar" });
    bar.style.width = (100 * value / max).toFixed(1) + "%";
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", key + ": " + value);
    const cell = el("td");
    cell.style.width = "55%";
    cell.append(bar);
    row.append(el("th", { scope: "row" }, key.replace(/_/g, " ")), el("td", { className: "mono" }, String(value)), cell);
    table.append(row);
  }
  $("special").textContent = "Special: " + s.special_tokens.map((t) => t.piece + " (" + t.id + ")").join(", ");
}
lam.onResult((result) => {
  if (result.isError) return showError(result);
  const s = result.structuredContent || {};
  if (Array.isArray(s.tokens)) renderTokens(s);
  else if (s.stats) renderVocabulary(s);
});
`,
);

const NEXT_TOKEN = page(
  "lam-mcp next token",
  `<main>
<h1 id="title">The next token</h1>
<p id="summary" class="muted" aria-live="polite">Waiting for the tool's result…</p>
<p id="error" class="error" hidden></p>
<form id="controls" aria-label="Sampler settings" hidden>
  <label>temperature <output id="temperature-v"></output><input id="temperature" type="range" min="0" max="2" step="0.05"></label>
  <label>top_k <output id="top_k-v"></output><input id="top_k" type="range" min="0" max="100" step="1"></label>
  <label>top_p <output id="top_p-v"></output><input id="top_p" type="range" min="0" max="1" step="0.01"></label>
  <label>min_p <output id="min_p-v"></output><input id="min_p" type="range" min="0" max="1" step="0.01"></label>
</form>
<table id="candidates" aria-label="Candidates"></table>
<p class="muted">Bars, scaled to the largest shown: the model's probability (outline), after temperature alone (filled). p(sample): after top-k, top-p, min-p, then temperature.</p>
</main>
<style>
form { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 6px 12px; margin-bottom: 8px; }
label { display: flex; flex-direction: column; font-size: 12px; }
.bars { position: relative; height: 14px; min-width: 120px; }
.raw { position: absolute; top: 0; height: 6px; border: 1px solid var(--lam-accent); border-radius: 2px; box-sizing: border-box; }
.temp { position: absolute; top: 8px; height: 6px; background: var(--lam-accent); border-radius: 2px; }
tr.cut td { opacity: 0.55; }
.kept { color: var(--lam-good); } .cut { color: var(--lam-bad); }
</style>`,
  `
let input = {};
let busy = false;
const fields = ["temperature", "top_k", "top_p", "min_p"];
function render(s) {
  $("title").textContent = "The next token (" + s.model + ")";
  $("summary").textContent = s.kept + " token" + (s.kept === 1 ? "" : "s") + " can be sampled after " + s.prompt_tokens + " prompt token" + (s.prompt_tokens === 1 ? "" : "s");
  const form = $("controls");
  form.hidden = false;
  for (const f of fields) {
    $(f).value = String(s.sampler[f]);
    $(f + "-v").textContent = String(s.sampler[f]);
  }
  const table = $("candidates");
  table.replaceChildren();
  const head = el("tr");
  for (const h of ["token", "p", "after T", "", "p(sample)"]) head.append(el("th", { scope: "col" }, h));
  table.append(head);
  const top = Math.max(1e-12, ...s.candidates.map((c) => Math.max(c.probability, c.after_temperature)));
  for (const c of s.candidates) {
    const row = el("tr", { className: c.kept ? "kept-row" : "cut" });
    const bars = el("div", { className: "bars" });
    const raw = el("div", { className: "raw" });
    raw.style.width = (100 * c.probability / top).toFixed(1) + "%";
    const temp = el("div", { className: "temp" });
    temp.style.width = (100 * c.after_temperature / top).toFixed(1) + "%";
    bars.append(raw, temp);
    bars.setAttribute("role", "img");
    bars.setAttribute("aria-label", "probability " + c.probability.toFixed(4) + ", after temperature " + c.after_temperature.toFixed(4));
    const cell = el("td");
    cell.style.width = "40%";
    cell.append(bars);
    row.append(
      el("td", { className: "mono" }, JSON.stringify(c.piece)),
      el("td", { className: "mono" }, c.probability.toFixed(4)),
      el("td", { className: "mono" }, c.after_temperature.toFixed(4)),
      cell,
      el("td", { className: "mono " + (c.kept ? "kept" : "cut") }, c.kept ? c.p_sample.toFixed(4) : "cut"),
    );
    table.append(row);
  }
}
async function again() {
  if (busy || !input.prompt) return;
  busy = true;
  const args = { ...input };
  for (const f of fields) args[f] = Number($(f).value);
  $("summary").textContent = "Asking the model…";
  try {
    const result = await lam.callTool("next_token", args);
    if (result.isError) showError(result);
    else { input = args; render(result.structuredContent); }
  } catch (error) {
    $("error").hidden = false;
    $("error").textContent = String(error && error.message || error);
  } finally {
    busy = false;
  }
}
for (const f of fields) {
  $(f).addEventListener("input", () => { $(f + "-v").textContent = $(f).value; });
  $(f).addEventListener("change", () => void again());
}
lam.onInput((params) => { input = params.arguments || {}; });
lam.onResult((result) => {
  if (result.isError) return showError(result);
  if (result.structuredContent && result.structuredContent.candidates) render(result.structuredContent);
});
`,
);

const ACTIONS = page(
  "lam-mcp actions",
  `<main>
<h1 id="title">Action</h1>
<p id="summary" class="muted" aria-live="polite">Waiting for the tool's result…</p>
<p id="error" class="error" hidden></p>
<table id="plan" aria-label="What runs"></table>
<pre id="output" class="mono" hidden style="white-space: pre-wrap"></pre>
</main>
<style>
.ok { color: var(--lam-good); } .bad { color: var(--lam-bad); } .skip { color: var(--lam-muted); }
th[scope="row"] { width: 9em; color: var(--lam-muted); font-weight: normal; }
</style>`,
  `
const row = (key, value) => { const r = el("tr"); r.append(el("th", { scope: "row" }, key), el("td", { className: "mono" }, value)); return r; };
function renderPreview(s) {
  const plan = s.plan || {};
  $("title").textContent = "Preview of " + s.name;
  $("summary").textContent = (plan.kind === "workflow" ? "A workflow of " + plan.steps.length + " steps" : "One " + plan.kind + " call") +
    (s.needs_confirmation ? " · the user will be asked first" : "") + " · nothing has run";
  const table = $("plan");
  table.replaceChildren();
  if (plan.kind === "http") {
    table.append(row("request", plan.method + " " + plan.url));
    for (const [k, v] of Object.entries(plan.headers || {})) table.append(row(k, v));
    if (plan.body) table.append(row("body (" + plan.body.type + ")", plan.body.text));
  } else if (plan.kind === "command") {
    table.append(row("program", (plan.argv || []).map((a) => JSON.stringify(a)).join(" ")), row("in", plan.cwd || ""), row("environment", (plan.env_names || []).join(", ")));
    if (plan.stdin !== undefined) table.append(row("stdin", plan.stdin));
  } else if (plan.kind === "workflow") {
    const head = el("tr");
    for (const h of ["step", "tool", "arguments", ""]) head.append(el("th", { scope: "col" }, h));
    table.append(head);
    for (const step of plan.steps) {
      const r = el("tr");
      const note = [step.for_each ? "for each of " + step.for_each + " (≤ " + step.max_items + ")" : "", step.when ? "when " + JSON.stringify(step.when) : "", step.needs_confirmation ? "asks: " + step.needs_confirmation : ""].filter(Boolean).join(" · ");
      r.append(el("td", { className: "mono" }, step.id), el("td", { className: "mono" }, step.tool), el("td", { className: "mono" }, JSON.stringify(step.arguments)), el("td", { className: "muted" }, note));
      table.append(r);
    }
  }
}
function renderRun(s) {
  $("title").textContent = "Workflow run";
  const failed = s.steps.filter((x) => x.is_error).length;
  $("summary").textContent = s.steps.length + " step call" + (s.steps.length === 1 ? "" : "s") + (failed ? " · " + failed + " failed" : " · all succeeded") + " · run " + s.run_id;
  const table = $("plan");
  table.replaceChildren();
  const head = el("tr");
  for (const h of ["", "step", "tool", "ms", "answer"]) head.append(el("th", { scope: "col" }, h));
  table.append(head);
  for (const step of s.steps) {
    const r = el("tr");
    const mark = step.skipped ? el("td", { className: "skip" }, "–") : step.is_error ? el("td", { className: "bad" }, "✗") : el("td", { className: "ok" }, "✓");
    mark.setAttribute("aria-label", step.skipped ? "skipped" : step.is_error ? "failed" : "succeeded");
    r.append(mark, el("td", { className: "mono" }, step.id + (step.index !== undefined ? "[" + step.index + "]" : "")), el("td", { className: "mono" }, step.tool),
      el("td", { className: "mono" }, String(step.duration_ms)), el("td", {}, step.summary));
    table.append(r);
  }
  const out = $("output");
  out.hidden = false;
  out.textContent = typeof s.output === "string" ? s.output : JSON.stringify(s.output, null, 2);
}
lam.onResult((result) => {
  if (result.isError) return showError(result);
  const s = result.structuredContent || {};
  if (s.plan) renderPreview(s);
  else if (Array.isArray(s.steps) && s.run_id) renderRun(s);
});
`,
);

export const VIEWS: readonly View[] = [
  { uri: "ui://lam-mcp/tokens.html", name: "tokens-view", title: "Tokens", description: "tokenize and vocabulary, drawn: the text's token boundaries with each id and its bytes, the vocabulary's categories.", html: TOKENS },
  { uri: "ui://lam-mcp/next-token.html", name: "next-token-view", title: "The next token", description: "next_token, drawn: the candidates before and after temperature, cut or kept, with sliders that ask again.", html: NEXT_TOKEN },
  { uri: "ui://lam-mcp/actions.html", name: "actions-view", title: "Actions and runs", description: "preview_action and workflow runs, drawn: what would run, what ran, each step's outcome.", html: ACTIONS },
];

/** The view a tool's answers are drawn in, if any (a workflow: the actions view). */
export function viewFor(tool: string, isWorkflow: boolean): string | undefined {
  if (tool === "tokenize" || tool === "vocabulary") return VIEWS[0]!.uri;
  if (tool === "next_token") return VIEWS[1]!.uri;
  if (tool === "preview_action" || isWorkflow) return VIEWS[2]!.uri;
  return undefined;
}
