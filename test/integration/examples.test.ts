/** The example actions shipped in tools/, exercised as shipped (weather against a loopback stand-in for Open-Meteo). */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, inject, test } from "vitest";
import { connect } from "../helpers/harness.js";
import { startFixture } from "../helpers/http-fixture.js";
import { runCli } from "../helpers/spawn.js";

const TOOLS = fileURLToPath(new URL("../../tools/", import.meta.url));
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

describe("shipped examples", () => {
  test("all load", async () => {
    await using h = await connect({ toolsDir: TOOLS }, { env });
    const names = (await h.client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["git_log", "weather", "word_count", "append_note", "append_digest", "daily_digest"]));
  });

  test("git_log lists the latest commits of this repository", async () => {
    await using h = await connect({ toolsDir: TOOLS }, { env });
    const out = await h.ok<{ stdout: string; exit_code: number }>("git_log", { count: 2 });
    const lines = out.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/^[0-9a-f]{7,} \S/);
    expect(await h.fails("git_log", { count: 500 })).toMatch(/count: .*<=50/);
    // From another working directory (Claude Desktop starts servers in /): the same log.
    const elsewhere = await runCli(["actions", "run", "git_log", '{"count": 2}', "--tools-dir", TOOLS, "--log-level", "warn"], {}, undefined, tmpdir());
    expect(elsewhere.stderr).toBe("");
    expect((JSON.parse(elsewhere.stdout) as { stdout: string }).stdout).toBe(out.stdout);
  });

  test("word_count counts what it is given on stdin", async () => {
    await using h = await connect({ toolsDir: TOOLS }, { env });
    const out = await h.ok<{ stdout: string }>("word_count", { text: "one two\nthree; $(rm -rf /)" });
    expect(out.stdout.trim().split(/\s+/).map(Number)).toEqual([1, 6, Buffer.byteLength("one two\nthree; $(rm -rf /)")]);
  });

  test("weather asks Open-Meteo (here a loopback stand-in) and picks the current conditions", async () => {
    const seen: string[] = [];
    await using api = await startFixture({
      "/v1/forecast": (req, res) => {
        seen.push(req.url!);
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({ latitude: 48.86, longitude: 2.34, current_units: { temperature_2m: "°C" }, current: { time: "2026-11-29T09:00", temperature_2m: 7.3, wind_speed_10m: 12.1 } }),
        );
      },
    });
    await using h = await connect({ toolsDir: TOOLS }, { env: { ...env, OPEN_METEO_URL: api.url } });
    const out = await h.ok<{ status: number; result: unknown }>("weather", { latitude: 48.85, longitude: 2.35 });
    expect(out.result).toEqual({ time: "2026-11-29T09:00", temperature_2m: 7.3, wind_speed_10m: 12.1 });
    expect(seen).toEqual(["/v1/forecast?latitude=48.85&longitude=2.35&current=temperature_2m%2Cwind_speed_10m"]);
    expect(await h.fails("weather", { latitude: 123, longitude: 0 })).toMatch(/latitude: .*<=90/);
  });
});

describe("daily_digest: the shipped workflow", () => {
  test("searches (real searx), reads the results, summarises with the model and appends the digest; its schedule is declared but off", async () => {
    // A copy of tools/, so the digest is written there and not into the repository.
    const copy = mkdtempSync(join(tmpdir(), "lam-digest-"));
    cpSync(TOOLS, copy, { recursive: true });
    await using h = await connect({ toolsDir: copy, searxngUrl: inject("searxUrl"), fetchAllow: "127.0.0.1", allowUnconfirmed: true }, { env });
    const out = await h.ok<{ output: { summary: string; sources: Array<{ url: string }> }; steps: Array<{ id: string; index?: number; is_error: boolean }>; run_id: string }>("daily_digest", {
      topic: "llama wool",
      pages: 2,
    });
    expect(out.steps.map((s) => [s.id, s.index])).toEqual([
      ["search", undefined],
      ["read", 0],
      ["read", 1],
      ["summary", undefined],
      ["save", undefined],
    ]);
    expect(out.output.sources).toHaveLength(2);
    const digest = readFileSync(join(copy, "digests.md"), "utf8");
    expect(digest).toBe(`\n## llama wool\n\n${out.output.summary}\n`);
    const actions = JSON.parse(((await h.client.readResource({ uri: "lam://actions" })).contents[0] as { text: string }).text) as { schedules: unknown[] };
    expect(actions.schedules).toEqual([expect.objectContaining({ workflow: "daily_digest", cron: "0 7 * * *", enabled: false, armed: false })]);
  });
});

describe("lam-mcp actions (command line)", () => {
  test("check validates every file and exits 1 with each problem's file and field", async () => {
    const ok = await runCli(["actions", "check", TOOLS]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/6 of 6 action files are valid/);
    const dir = mkdtempSync(join(tmpdir(), "lam-check-"));
    writeFileSync(join(dir, "good.json"), JSON.stringify({ name: "good", description: "x", command: { argv: ["true"] } }));
    writeFileSync(join(dir, "bad.yaml"), "name: bad\ndescription: x\ncommand:\n  argv: []\n");
    const bad = await runCli(["actions", "check", dir]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/ok {4}good {2}/);
    expect(bad.stdout).toMatch(/FAIL {2}.*bad\.yaml: command\.argv: .*>=1/);
    expect(bad.stderr).toBe("");
  });

  test("run executes one action and prints its result as JSON on stdout", async () => {
    const run = await runCli(["actions", "run", "word_count", '{"text": "a b c"}', "--tools-dir", TOOLS, "--log-level", "warn"]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ action: "word_count", kind: "command", exit_code: 0 });
    const badJson = await runCli(["actions", "run", "word_count", "{nope", "--tools-dir", TOOLS]);
    expect(badJson.code).toBe(2);
    const unknown = await runCli(["actions", "run", "nope", "--tools-dir", TOOLS, "--log-level", "warn"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no action named nope/);
    const unconfirmed = await runCli(["actions", "run", "append_note", '{"note": "x"}', "--tools-dir", TOOLS, "--log-level", "warn"]);
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.stderr).toMatch(/--allow-unconfirmed/);
  });
});
