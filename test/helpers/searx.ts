/**
 * A real searx (Debian's python3-searx 1.1, SearXNG's predecessor with the same JSON API) on 127.0.0.1, whose
 * generic engines point at a fixture web server of the tests' own, also on 127.0.0.1. A search then runs
 * through the real searx pipeline: merging, scoring, paging, language, time range, safesearch, timeouts.
 *
 * Engines: fixturejson (json_engine) and fixturehtml (xpath) in "general"; fixtureslow (times out) in its own
 * "slow" category, so other searches never wait for it; fixturefail (HTTP 500) in its own "broken" category.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { closedPort, startFixture, type Fixture } from "./http-fixture.js";
import { fixtureRoutes } from "./web-fixture.js";

export const SEARX_PACKAGE_DIR = "/usr/lib/python3/dist-packages/searx";

/** Installs Debian's python3-searx when it is missing (needs root and the Debian mirror). */
export function ensureSearxInstalled(): void {
  if (existsSync(SEARX_PACKAGE_DIR)) return;
  const run = (args: string[]) => spawnSync("apt-get", args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  let result = run(["install", "-y", "--no-install-recommends", "python3-searx"]);
  if (result.status !== 0) {
    run(["update"]);
    result = run(["install", "-y", "--no-install-recommends", "python3-searx"]);
  }
  if (result.status !== 0 || !existsSync(SEARX_PACKAGE_DIR)) {
    throw new Error("python3-searx is not installed and apt-get could not install it: run `apt-get install -y python3-searx` as root");
  }
}

export interface SearxStack {
  /** The searx instance, e.g. http://127.0.0.1:40123 */
  url: string;
  /** The fixture web server that serves the engines' answers and the pages. */
  web: Fixture;
  process: ChildProcess;
  /** searx's own stderr, for diagnosing a failed start. */
  log(): string;
  stop(): Promise<void>;
}

function settingsYaml(port: number, web: string): string {
  const engine = (lines: string[]) => lines.map((l, i) => (i === 0 ? `  - ${l}` : `    ${l}`)).join("\n");
  return `
general:
  debug: false
  instance_name: "lam-test-searx"
  enable_stats: false
search:
  safe_search: 0
  autocomplete: ""
  default_lang: ""
  ban_time_on_fail: 0
  max_ban_time_on_fail: 0
  formats: [html, json]
server:
  port: ${port}
  bind_address: "127.0.0.1"
  secret_key: "lam-test-not-a-secret-${port}"
  base_url: false
  image_proxy: false
  http_protocol_version: "1.0"
  method: "GET"
  default_http_headers:
    X-Content-Type-Options: nosniff
ui:
  static_path: "/usr/share/python3-searx/static"
  templates_path: "/usr/share/python3-searx/templates"
  default_theme: oscar
  default_locale: ""
  theme_args:
    oscar_style: logicodev
result_proxy:
  url: ""
  key: ""
outgoing:
  request_timeout: 2.0
  max_request_timeout: 10.0
  useragent_suffix: ""
  pool_connections: 20
  pool_maxsize: 20
  enable_http2: false
engines:
${engine([
  "name: fixturejson",
  "engine: json_engine",
  "shortcut: fj",
  "categories: general",
  `search_url: "${web}/engine/json?q={query}&page={pageno}"`,
  "results_query: results",
  "url_query: url",
  "title_query: title",
  "content_query: content",
  "paging: true",
  "enable_http: true",
  "timeout: 3.0",
])}
${engine([
  "name: fixturehtml",
  "engine: xpath",
  "shortcut: fh",
  "categories: general",
  `search_url: "${web}/engine/html?q={query}&lang={lang}&page={pageno}{time_range}{safe_search}"`,
  "results_xpath: //div[@class=\"result\"]",
  "url_xpath: ./a/@href",
  "title_xpath: ./a",
  "content_xpath: ./p",
  "paging: true",
  "time_range_support: true",
  'time_range_url: "&tr={time_range_val}"',
  "time_range_map: {day: day, week: week, month: month, year: year}",
  "safesearch: true",
  'safe_search_map: {0: "&safe=0", 1: "&safe=1", 2: "&safe=2"}',
  "enable_http: true",
  "timeout: 3.0",
])}
${engine([
  "name: fixtureslow",
  "engine: json_engine",
  "shortcut: fs",
  "categories: slow",
  `search_url: "${web}/engine/slow?q={query}"`,
  "results_query: results",
  "url_query: url",
  "title_query: title",
  "content_query: content",
  "enable_http: true",
  "timeout: 0.5",
])}
${engine([
  "name: fixturefail",
  "engine: json_engine",
  "shortcut: ff",
  "categories: broken",
  `search_url: "${web}/engine/fail?q={query}"`,
  "results_query: results",
  "url_query: url",
  "title_query: title",
  "content_query: content",
  "enable_http: true",
  "timeout: 2.0",
])}
locales:
  en: English
  fr: Français
doi_resolvers:
  oadoi.org: "https://oadoi.org/"
default_doi_resolver: "oadoi.org"
`;
}

export async function startSearx(dir: string): Promise<SearxStack> {
  ensureSearxInstalled();
  const web = await startFixture(fixtureRoutes());
  const port = await closedPort();
  mkdirSync(dir, { recursive: true });
  const settings = join(dir, "settings.yml");
  writeFileSync(settings, settingsYaml(port, web.url));
  const child = spawn("/usr/bin/python3", ["-m", "searx.webapp"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SEARX_SETTINGS_PATH: settings, LANG: "C.UTF-8", HOME: dir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout!.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await web.close();
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await web.close();
      throw new Error(`searx exited with ${child.exitCode} before it was ready:\n${log}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`searx did not answer /healthz in 30 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, web, process: child, log: () => log, stop };
}
