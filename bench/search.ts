/**
 * web_search latency on a real searx on 127.0.0.1 (the test stack: its engines answer from a loopback fixture):
 * through MCP (in-memory, and spawned stdio) against a direct HTTP GET of the same searx query, and against the
 * mcp-searxng package pointed at the same searx, in the same run; plus the cached repeat.
 * Every round uses a new query, the same for all contenders, so no cache answers; the order rotates each round.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { request } from "undici";
import { parseConfig } from "../src/config.js";
import { silentLogger } from "../src/log.js";
import { USER_AGENT } from "../src/search/searxng.js";
import { createServer } from "../src/server.js";
import { createServices } from "../src/services.js";
import { startFixture } from "../test/helpers/http-fixture.js";
import { startSearx } from "../test/helpers/searx.js";
import { cleanEnv } from "../test/helpers/spawn.js";
import { fmt, median, percentile, printRows, ROOT } from "./lib.js";

const ROUNDS = 100;

export async function benchSearch(modelPath: string): Promise<void> {
  const stack = await startSearx(mkdtempSync(join(tmpdir(), "lam-bench-searx-")));
  try {
    const settings = { model: modelPath, searxngUrl: stack.url, logLevel: "silent", searchCacheTtlMs: 0 };
    const services = createServices(parseConfig(settings, {}), silentLogger);
    const server = createServer(services);
    const memory = new Client({ name: "bench", version: "0" });
    const [a, b] = InMemoryTransport.createLinkedPair();
    await server.connect(b);
    await memory.connect(a);

    const env = { ...cleanEnv(), SEARXNG_URL: stack.url };
    const lamStdio = new Client({ name: "bench", version: "0" });
    await lamStdio.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [join(ROOT, "dist/cli.js"), "--model", modelPath, "--log-level", "warn", "--search-cache-ttl-ms", "0"],
        env,
      }),
    );
    const other = new Client({ name: "bench", version: "0" });
    await other.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [join(ROOT, "node_modules/mcp-searxng/dist/cli.js")],
        env: { ...env, SEARCH_CACHE_TTL_MS: "1", CACHE_TTL_MS: "1" },
      }),
    );

    const direct = async (q: string) => {
      const res = await request(`${stack.url}/search?q=${encodeURIComponent(q)}&format=json`, {
        // The same request lam-mcp sends: same query, same headers.
        headers: { accept: "application/json", "accept-language": "en-US,en;q=0.9", "user-agent": USER_AGENT },
      });
      const body = (await res.body.json()) as { results: unknown[] };
      if (!Array.isArray(body.results) || body.results.length === 0) throw new Error("direct: no results");
    };
    const lam = (client: Client) => async (q: string) => {
      const r = await client.callTool({ name: "web_search", arguments: { query: q } });
      if (r.isError) throw new Error(JSON.stringify(r.content));
    };
    const theirs = async (q: string) => {
      const r = await other.callTool({ name: "searxng_web_search", arguments: { query: q } });
      if (r.isError) throw new Error(JSON.stringify(r.content));
    };
    const contenders: Array<[string, (q: string) => Promise<void>]> = [
      ["direct", direct],
      ["memory", lam(memory)],
      ["stdio", lam(lamStdio)],
      ["mcp-searxng", theirs],
    ];
    const times = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
    for (let round = -3; round < ROUNDS; round++) {
      const q = `llamas round ${round + 100}`;
      for (let i = 0; i < contenders.length; i++) {
        const [name, run] = contenders[(i + round + 3) % contenders.length]!;
        const t = performance.now();
        await run(q);
        if (round >= 0) times.get(name)!.push(performance.now() - t);
      }
    }
    // Replay: searx's answer to one query, recorded, then served from a loopback server of this process, so that
    // the comparison measures lam-mcp's own overhead without searx's variance.
    const recorded = await (await request(`${stack.url}/search?q=replay&format=json`, { headers: { "user-agent": USER_AGENT } })).body.text();
    const replay = await startFixture({
      "/search": (_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end(recorded),
    });
    const replayServices = createServices(parseConfig({ ...settings, searxngUrl: replay.url }, {}), silentLogger);
    const replayServer = createServer(replayServices);
    const replayClient = new Client({ name: "bench", version: "0" });
    const [e, f] = InMemoryTransport.createLinkedPair();
    await replayServer.connect(f);
    await replayClient.connect(e);
    const replayDirect: number[] = [];
    const replayMcp: number[] = [];
    for (let i = -20; i < 300; i++) {
      const q = `replay ${i}`;
      let t = performance.now();
      const res = await request(`${replay.url}/search?q=${encodeURIComponent(q)}&format=json`, {
        headers: { accept: "application/json", "accept-language": "en-US,en;q=0.9", "user-agent": USER_AGENT },
      });
      await res.body.json();
      if (i >= 0) replayDirect.push(performance.now() - t);
      t = performance.now();
      await lam(replayClient)(q);
      if (i >= 0) replayMcp.push(performance.now() - t);
    }
    await replayClient.close();
    await replayServices.close();
    await replay.close();

    // Cached repeat: the same query again, with the cache on.
    const cachedServices = createServices(parseConfig({ ...settings, searchCacheTtlMs: 60_000 }, {}), silentLogger);
    const cachedServer = createServer(cachedServices);
    const cachedClient = new Client({ name: "bench", version: "0" });
    const [c, d] = InMemoryTransport.createLinkedPair();
    await cachedServer.connect(d);
    await cachedClient.connect(c);
    await lam(cachedClient)("llamas cached");
    const cached: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t = performance.now();
      await lam(cachedClient)("llamas cached");
      cached.push(performance.now() - t);
    }

    for (const client of [memory, lamStdio, other, cachedClient]) await client.close();
    await services.close();
    await cachedServices.close();

    const m = (name: string) => median(times.get(name)!);
    // Per-round differences cancel the searx-side variance of each query.
    const paired = (x: string, y: string) => median(times.get(x)!.map((t, i) => t - times.get(y)![i]!));
    const p99 = (name: string) => percentile(times.get(name)!, 99);
    const overhead = m("memory") - m("direct");
    printRows(
      "Search (web_search on a real searx, loopback engines)",
      [
        {
          bench: "web_search via MCP in-memory",
          figure: `${fmt.ms(m("memory"))} (p99 ${fmt.ms(p99("memory"))})`,
          baseline: `${fmt.ms(m("direct"))} direct GET`,
          ratio: m("memory") / m("direct"),
          target: `overhead ${overhead.toFixed(2)} ms (paired ${paired("memory", "direct").toFixed(2)} ms) < 2 ms`,
          ok: overhead < 2 && paired("memory", "direct") < 2,
        },
        {
          bench: "web_search via MCP, replayed searx answer",
          figure: `${fmt.ms(median(replayMcp))} (p99 ${fmt.ms(percentile(replayMcp, 99))})`,
          baseline: `${fmt.ms(median(replayDirect))} direct GET`,
          ratio: median(replayMcp) / median(replayDirect),
          target: `overhead ${(median(replayMcp) - median(replayDirect)).toFixed(2)} ms < 2 ms`,
          ok: median(replayMcp) - median(replayDirect) < 2,
        },
        {
          bench: "web_search via MCP stdio (spawned)",
          figure: `${fmt.ms(m("stdio"))} (p99 ${fmt.ms(p99("stdio"))})`,
          baseline: `${fmt.ms(m("direct"))} direct GET`,
          ratio: m("stdio") / m("direct"),
        },
        {
          bench: "lam-mcp vs mcp-searxng 1.16 (both stdio)",
          figure: fmt.ms(m("stdio")),
          baseline: `${fmt.ms(m("mcp-searxng"))} mcp-searxng`,
          ratio: m("stdio") / m("mcp-searxng"),
          target: `<= 1.00x (paired diff ${paired("stdio", "mcp-searxng").toFixed(2)} ms)`,
          ok: m("stdio") <= m("mcp-searxng"),
        },
        {
          bench: "cached repeat search (in-memory)",
          figure: `${fmt.ms(median(cached))} (p99 ${fmt.ms(percentile(cached, 99))})`,
          baseline: `${fmt.ms(m("memory"))} uncached`,
          ratio: median(cached) / m("memory"),
        },
      ],
      [
        `median of ${ROUNDS} rounds, a new query each round for every contender (no cache), order rotated; searx 1.1 on 127.0.0.1`,
        "replay: searx's recorded answer served from loopback, 300 alternating rounds (isolates lam-mcp's own overhead)",
      ],
    );
  } finally {
    await stack.stop();
  }
}

