/**
 * A real browser for the MCP Apps views: Debian's chromium (installed with apt-get when missing, as the searx setup
 * does), driven by playwright-core (no browser download), and a small host page made with the extension's own
 * host-side bridge (AppBridge over postMessage). The view runs in an iframe as in a host; its tools/call requests
 * reach the test through a function the page is given.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { build } from "esbuild";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const run = (args: string[]) => spawnSync("apt-get", args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  let result = run(["install", "-y", "--no-install-recommends", "chromium"]);
  if (result.status !== 0) {
    run(["update"]);
    result = run(["install", "-y", "--no-install-recommends", "chromium"]);
  }
  if (result.status !== 0 || !existsSync(CHROMIUM)) throw new Error("chromium is not installed and apt-get could not install it: run `apt-get install -y chromium` as root");
}

const HOST = `
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";
window.showView = async (html, args, result, theme) => {
  const old = document.getElementById("view");
  if (old) old.remove();
  const iframe = document.createElement("iframe");
  iframe.id = "view";
  iframe.setAttribute("sandbox", "allow-scripts");
  iframe.style.cssText = "width: 720px; height: 200px; border: 1px solid #888";
  document.body.append(iframe);
  const bridge = new AppBridge(null, { name: "lam-test-host", version: "1" }, { serverTools: {} }, { hostContext: { theme, displayMode: "inline", platform: "web" } });
  bridge.oncalltool = (params) => window.lamCallTool(params);
  bridge.onsizechange = ({ height }) => { if (height) iframe.style.height = height + "px"; };
  const initialized = new Promise((resolve) => (bridge.oninitialized = resolve));
  // Listening before the view loads: its ui/initialize is the first thing it sends.
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  iframe.srcdoc = html;
  await initialized;
  await bridge.sendToolInput({ arguments: args });
  await bridge.sendToolResult(result);
  window.lamBridge = bridge;
};
`;

export interface ViewHost extends AsyncDisposable {
  page: Page;
  /** Loads the view's HTML in the host frame and hands it the tool's input and result. */
  show(html: string, args: unknown, result: unknown, theme?: "light" | "dark"): Promise<void>;
  /** The tools/call requests the view made through the host. */
  calls: Array<{ name: string; arguments?: Record<string, unknown> }>;
}

export async function viewHost(callTool: (params: { name: string; arguments?: Record<string, unknown> }) => Promise<unknown>): Promise<ViewHost> {
  ensureChromium();
  const script = (await build({ stdin: { contents: HOST, resolveDir: process.cwd(), loader: "js" }, bundle: true, format: "iife", platform: "browser", write: false, logLevel: "silent" })).outputFiles[0]!.text;
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"], headless: true });
  const page = await browser.newPage({ viewport: { width: 760, height: 600 } });
  // Only the page itself: a view that reached for the network would fail here.
  await page.route("**/*", (route) => (route.request().url().startsWith("about:") || route.request().url().startsWith("data:") ? route.continue() : route.abort()));
  const calls: ViewHost["calls"] = [];
  await page.exposeFunction("lamCallTool", async (params: { name: string; arguments?: Record<string, unknown> }) => {
    calls.push(params);
    return callTool(params);
  });
  await page.setContent(`<!doctype html><html><body style="margin:8px"><script>${script}</script></body></html>`);
  const close = async () => {
    await browser.close();
  };
  return {
    page,
    calls,
    async show(html, args, result, theme = "light") {
      await page.evaluate(([h, a, r, t]) => (globalThis as unknown as { showView(...x: unknown[]): Promise<void> }).showView(h, a, r, t), [html, args, result, theme] as const);
    },
    [Symbol.asyncDispose]: close,
  };
}
