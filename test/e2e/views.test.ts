/**
 * The MCP Apps views in a real browser (chromium, playwright-core), in a host page made with the extension's own
 * AppBridge: each view is read from the server (resources/read), handed a real tool result, and what it shows is
 * checked; a screenshot of each is kept in test-artifacts/views/.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type Harness } from "../helpers/harness.js";
import { viewHost, type ViewHost } from "../helpers/browser.js";

const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/views/", import.meta.url));
mkdirSync(ARTIFACTS, { recursive: true });

let h: Harness;
let host: ViewHost;
const tools = mkdtempSync(join(tmpdir(), "lam-views-"));
writeFileSync(join(tools, "wc.json"), JSON.stringify({ name: "word_count", description: "Counts words.", input: { type: "object", properties: { text: { type: "string" } }, required: ["text"] }, command: { argv: ["wc", "-w"], stdin: "{{text}}" } }));
writeFileSync(join(tools, "count_both.yaml"), 'name: count_both\ndescription: words, then tokens\ninput: { type: object, properties: { text: { type: string } }, required: [text] }\nsteps:\n  - { id: words, tool: word_count, arguments: { text: "{{input.text}}" } }\n  - { id: tokens, tool: count_tokens, arguments: { texts: ["{{input.text}}"] } }\n');

beforeAll(async () => {
  h = await connect({ toolsDir: tools }, { env: { PATH: "/usr/bin:/bin" } });
  host = await viewHost((params) => h.client.callTool(params));
}, 120_000);
afterAll(async () => {
  await host?.[Symbol.asyncDispose]();
  await h?.close();
});

async function viewOf(tool: string): Promise<string> {
  const listed = (await h.client.listTools()).tools.find((t) => t.name === tool)!;
  const uri = (listed._meta as { ui: { resourceUri: string } }).ui.resourceUri;
  expect((listed._meta as Record<string, unknown>)["ui/resourceUri"]).toBe(uri);
  const read = await h.client.readResource({ uri });
  const content = read.contents[0] as { text: string; mimeType: string };
  expect(content.mimeType).toBe("text/html;profile=mcp-app");
  // Self-contained: no external script, style, image or font.
  expect(content.text).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
  return content.text;
}

async function show(tool: string, args: Record<string, unknown>, theme: "light" | "dark" = "light"): Promise<CallToolResult> {
  const result = (await h.client.callTool({ name: tool, arguments: args })) as CallToolResult;
  await host.show(await viewOf(tool), args, result, theme);
  return result;
}

const frame = () => host.page.frameLocator("#view");

describe("MCP Apps views", () => {
  test("tokenize: the text with its token boundaries, each token's id and bytes on hover and focus", async () => {
    const text = "Hello world! 🦙 one two";
    const result = await show("tokenize", { text });
    const tokens = (result.structuredContent as { tokens: Array<{ id: number; piece: string; bytes?: string }> }).tokens;
    await expect.poll(() => frame().locator(".tok").count()).toBe(tokens.length);
    await expect.poll(() => frame().locator("#summary").textContent()).toMatch(new RegExp(`^${tokens.length} tokens`));
    expect(await frame().locator(".tok").first().getAttribute("title")).toBe(`id ${tokens[0]!.id} · "Hello"`);
    const byteToken = tokens.findIndex((t) => t.bytes);
    expect(await frame().locator(".tok").nth(byteToken).getAttribute("title")).toBe(`id ${tokens[byteToken]!.id} · bytes ${tokens[byteToken]!.bytes}`);
    await frame().locator(".tok").nth(1).focus();
    await expect.poll(() => frame().locator("#detail").textContent()).toBe(`token 2 · id ${tokens[1]!.id} · " world"`);
    // The boundaries are the text: its pieces, in order, make it up.
    expect((await frame().locator(".tok").allTextContents()).filter((_, i) => !tokens[i]!.bytes).join("")).toBe(tokens.filter((t) => !t.bytes).map((t) => t.piece).join(""));
    await host.page.screenshot({ path: join(ARTIFACTS, "tokenize.png") });
    await show("tokenize", { text }, "dark");
    await expect.poll(() => frame().locator(".tok").count()).toBe(tokens.length);
    expect(await frame().locator("html").getAttribute("data-theme")).toBe("dark");
    await host.page.screenshot({ path: join(ARTIFACTS, "tokenize-dark.png") });
  });

  test("vocabulary: its categories as bars", async () => {
    const result = await show("vocabulary", {});
    const stats = (result.structuredContent as { stats: Record<string, number>; size: number }).stats;
    const numeric = Object.entries(stats).filter(([, v]) => typeof v === "number");
    await expect.poll(() => frame().locator("#stats tr").count()).toBe(numeric.length);
    const [key, value] = numeric[0]!;
    expect(await frame().locator("#stats .bar").first().getAttribute("aria-label")).toBe(`${key}: ${value}`);
    await host.page.screenshot({ path: join(ARTIFACTS, "vocabulary.png") });
  });

  test("next_token: bars before and after temperature, cut or kept; a slider asks the tool again through the host", async () => {
    const args = { prompt: " pick", temperature: 1, top_k: 0, top_p: 0.45, min_p: 0, n: 10 };
    const result = await show("next_token", args);
    const s = result.structuredContent as { kept: number; candidates: Array<{ kept: boolean }> };
    await expect.poll(() => frame().locator("#candidates tr").count()).toBe(s.candidates.length + 1);
    expect(await frame().locator("#candidates tr.cut").count()).toBe(s.candidates.filter((c) => !c.kept).length);
    await expect.poll(() => frame().locator("#summary").textContent()).toMatch(new RegExp(`^${s.kept} tokens can be sampled`));
    await host.page.screenshot({ path: join(ARTIFACTS, "next-token.png") });
    // top_p to 1 (with top_k and min_p off): nothing is cut any more.
    await frame().locator("#top_p").fill("1");
    await frame().locator("#top_p").dispatchEvent("change");
    await expect.poll(() => host.calls.length).toBe(1);
    expect(host.calls[0]).toEqual({ name: "next_token", arguments: { ...args, top_p: 1 } });
    await expect.poll(() => frame().locator("#summary").textContent()).toMatch(/^442 tokens can be sampled/); // the whole vocabulary
    expect(await frame().locator("#candidates tr.cut").count()).toBe(0);
  });

  test("preview_action and a workflow run: what would run, what ran, each step's outcome", async () => {
    await show("preview_action", { name: "word_count", arguments: { text: "a b" } });
    await expect.poll(() => frame().locator("#plan tr").count()).toBe(4);
    expect(await frame().locator("#plan tr").first().textContent()).toBe('program"wc" "-w"');
    expect(await frame().locator("#plan tr").last().textContent()).toBe("stdina b");
    expect(await frame().locator("#summary").textContent()).toBe("One command call · nothing has run");
    await host.page.screenshot({ path: join(ARTIFACTS, "preview-action.png") });
    await show("count_both", { text: "one two three" });
    await expect.poll(() => frame().locator("#plan tr").count()).toBe(3);
    expect(await frame().locator("#plan td.ok").count()).toBe(2);
    expect(await frame().locator("#summary").textContent()).toMatch(/^2 step calls · all succeeded · run \d{8}T/);
    expect(await frame().locator("#output").textContent()).toContain('"tokens"');
    await host.page.screenshot({ path: join(ARTIFACTS, "workflow-run.png") });
  });
});
