/**
 * The tools directory as an attacker (or a careless user) fills it: FIFOs, sockets, devices and symlinks to them,
 * a symlink to a secret file, directories with action names, YAML alias bombs, deep nesting, oversized files,
 * thousands of unknown keys. Each bad entry disables only itself, never blocks the server, and no message quotes
 * what a file holds.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { loadActionFile, MAX_FILE_BYTES } from "../../src/actions/loader.js";
import { createLogger } from "../../src/log.js";
import { connect } from "../helpers/harness.js";
import { prng } from "../helpers/prng.js";
import { runCli } from "../helpers/spawn.js";

/** A secret-looking line no message may ever contain, in any of its pieces. */
const CANARY = "Zq8CanaryHashValue";
const SECRET_FILE = `root:$y$j9T$${CANARY}$abcdef:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n`;

const GOOD = { name: "good", description: "Says ok.", command: { argv: ["true"] } };

function aliasBomb(levels: number): string {
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < levels; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(",")}]`);
  }
  return `${lines.join("\n")}\n`;
}

const servers: Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

async function hostileDir(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "lam-hostile-"));
  const outside = mkdtempSync(join(tmpdir(), "lam-outside-"));
  writeFileSync(join(dir, "good.json"), JSON.stringify(GOOD));
  execFileSync("mkfifo", [join(dir, "fifo.yaml")]);
  execFileSync("mkfifo", [join(outside, "pipe")]);
  symlinkSync(join(outside, "pipe"), join(dir, "link-to-fifo.json"));
  symlinkSync("/dev/zero", join(dir, "zero.yaml"));
  symlinkSync("/dev/urandom", join(dir, "random.json"));
  const socket = createServer();
  await new Promise<void>((resolve) => socket.listen(join(dir, "socket.yml"), resolve));
  servers.push(socket);
  mkdirSync(join(dir, "directory.json"));
  writeFileSync(join(outside, "shadow"), SECRET_FILE);
  symlinkSync(join(outside, "shadow"), join(dir, "shadow.yaml"));
  symlinkSync(join(outside, "shadow"), join(dir, "shadow.json"));
  writeFileSync(join(dir, "bomb.yaml"), aliasBomb(8));
  writeFileSync(join(dir, "deep.yaml"), `${"[".repeat(5000)}${"]".repeat(5000)}\n`);
  writeFileSync(join(dir, "deep.json"), JSON.stringify({ ...GOOD, name: "deep", input: "DEEP" }).replace('"DEEP"', nestedSchemaText(3000)));
  writeFileSync(join(dir, "huge.json"), JSON.stringify({ ...GOOD, name: "huge", description: "x".repeat(MAX_FILE_BYTES) }));
  const keys = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`${CANARY}-${i}:${"$".repeat(i % 7)}`, i]));
  writeFileSync(join(dir, "keys.json"), JSON.stringify({ ...GOOD, name: "keys", ...keys }));
  writeFileSync(join(dir, "broken.json"), `{"name": "broken", "description": "${CANARY}`);
  writeFileSync(join(dir, "broken.yaml"), `name: broken2\ndescription: [${CANARY}\n  x: {`);
  return dir;
}

/** A JSON Schema nested `levels` deep, as text (JSON.stringify itself overflows the stack on such a value). */
function nestedSchemaText(levels: number): string {
  return `${'{"type":"object","properties":{"a":'.repeat(levels)}{"type":"string"}${"}}".repeat(levels)}`;
}

describe("a hostile tools directory", () => {
  test("every bad entry disables only itself, nothing blocks, and no message quotes a file's content", { timeout: 20_000 }, async () => {
    const dir = await hostileDir();
    const lines: string[] = [];
    const log = createLogger({ level: "debug", format: "json", write: (line) => lines.push(line) });
    await using h = await connect({ toolsDir: dir }, { log });
    // tools/list answers (a FIFO read blocked it forever before) and the good action is there.
    const names = (await h.client.listTools()).tools.map((t) => t.name);
    expect(names).toContain("good");
    expect(names.filter((n) => ["deep", "huge", "keys", "broken", "broken2"].includes(n))).toEqual([]);
    expect((await h.ok<{ exit_code: number }>("good")).exit_code).toBe(0);

    const text = ((await h.client.readResource({ uri: "lam://actions" })).contents[0] as { text: string }).text;
    const { actions } = JSON.parse(text) as { actions: Array<{ file: string; status: string; problems: Array<{ field: string; message: string }> }> };
    const byFile = Object.fromEntries(actions.map((a) => [a.file.slice(dir.length + 1), a]));
    const problem = (file: string) => byFile[file]!.problems.map((p) => `${p.field}: ${p.message}`).join("\n");
    expect(byFile["good.json"]!.status).toBe("loaded");
    for (const file of Object.keys(byFile).filter((f) => f !== "good.json")) expect([file, byFile[file]!.status]).toEqual([file, "disabled"]);
    expect(problem("fifo.yaml")).toMatch(/a FIFO, not a regular file/);
    expect(problem("link-to-fifo.json")).toMatch(/a FIFO, not a regular file/);
    expect(problem("zero.yaml")).toMatch(/a device, not a regular file/);
    expect(problem("random.json")).toMatch(/a device, not a regular file/);
    expect(problem("socket.yml")).toMatch(/a socket, not a regular file/);
    expect(problem("directory.json")).toMatch(/a directory, not a regular file/);
    expect(problem("bomb.yaml")).toMatch(/aliases expand past 100/);
    expect(problem("deep.yaml")).toMatch(/nested (too deeply|more than 64 levels)/);
    expect(problem("deep.json")).toMatch(/nested more than 64 levels deep/);
    expect(problem("huge.json")).toMatch(/larger than the 262144-byte limit/);
    expect(problem("keys.json")).toMatch(/unknown field\(s\) \(a key of \d+ characters\)/);
    expect(byFile["keys.json"]!.problems.length).toBeLessThanOrEqual(21);
    expect(problem("broken.json")).toMatch(/not valid JSON/);
    expect(problem("broken.yaml")).toMatch(/not valid YAML \(.* at line \d+, column \d+\)/);
    expect(problem("shadow.json")).toMatch(/not valid JSON/);
    expect(problem("shadow.yaml")).toMatch(/unknown field\(s\) \(a key of \d+ characters\)/);

    // Nothing of what the files hold, in the resource or the log.
    const everything = `${text}\n${lines.join("\n")}`;
    for (const piece of [CANARY, "19000:0:99999", "j9T", "daemon:*"]) expect(everything).not.toContain(piece);
    // Still serving everything else.
    await h.client.ping();
    expect((await h.ok<{ total: number }>("count_tokens", { texts: ["Hello world"] })).total).toBe(2);
  });

  test("a file with several problems reports all of them at once, each with its field", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lam-many-"));
    const file = join(dir, "many.json");
    writeFileSync(
      file,
      JSON.stringify({
        name: "Bad Name",
        input: { type: "object", properties: { a: { type: "string" } } },
        timeout_ms: 1,
        http: { url: "https://example.test/{{a}}/{{missing}}", headers: { "X-Bad": "a\u2028b" } },
        command: { argv: ["echo", "{{other}}"] },
      }),
    );
    const { problems } = await loadActionFile(file);
    const lines = problems.map((p) => `${p.field}: ${p.message}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^name: snake_case/),
        expect.stringMatching(/^description: /),
        expect.stringMatching(/^timeout_ms: .*>=10/),
        "command: give exactly one runner: http, command or steps (this file has http and command)",
        "http.url: {{missing}} is not a property of input",
        "http.headers.X-Bad: contains U+2028, which an HTTP header value cannot carry",
        "command.argv.1: {{other}} is not a property of input",
      ]),
    );
  });

  test("seeded fuzz: any bytes in an action file give a loaded action or problems, never an exception", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lam-fuzz-files-"));
    const seedText = [JSON.stringify(GOOD), "name: y\ndescription: d\ncommand:\n  argv: [true]\n", aliasBomb(3)];
    const alphabet = ['"', "{", "}", "[", "]", ":", ",", "&", "*", "!", "|", ">", "-", "#", "\n", " ", "\t", "\u2028", "\0", "\\", "a", "1", "é", "🙂"];
    for (let seed = 1; seed <= 300; seed++) {
      const random = prng(seed);
      const chars = [...seedText[seed % seedText.length]!];
      for (let i = 0, n = 1 + Math.floor(random() * 6); i < n; i++) {
        const at = Math.floor(random() * (chars.length + 1));
        const r = random();
        if (r < 0.4) chars.splice(at, 1);
        else if (r < 0.8) chars.splice(at, 0, alphabet[Math.floor(random() * alphabet.length)]!);
        else chars.splice(at, 0, ...chars.slice(at, at + Math.floor(random() * 20)));
      }
      const file = join(dir, `f${seed}.${seed % 2 ? "yaml" : "json"}`);
      writeFileSync(file, chars.join(""));
      const loaded = await loadActionFile(file);
      expect(loaded.input !== undefined || loaded.problems.length > 0, `seed ${seed}`).toBe(true);
      for (const p of loaded.problems) expect(p.message.length, `seed ${seed}`).toBeLessThan(300);
    }
  });
});

describe("lam-mcp actions check", () => {
  test("names a broken file and exits 1; problems go to stdout, with no log lines repeating them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lam-check-bomb-"));
    writeFileSync(join(dir, "good.json"), JSON.stringify(GOOD));
    writeFileSync(join(dir, "bomb.yaml"), aliasBomb(8));
    writeFileSync(join(dir, "many.json"), JSON.stringify({ name: "Bad Name", http: { url: "ftp://x" } }));
    writeFileSync(join(dir, "builtin.json"), JSON.stringify({ ...GOOD, name: "count_tokens" }));
    const { code, stdout, stderr } = await runCli(["actions", "check", dir]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^ok {4}good {2}\S*good\.json$/m);
    expect(stdout).toMatch(/^FAIL {2}\S*bomb\.yaml: \(file\): its YAML aliases expand past 100/m);
    expect(stdout).toMatch(/^FAIL {2}\S*many\.json: name: snake_case/m);
    expect(stdout).toMatch(/^FAIL {2}\S*many\.json: description: /m);
    expect(stdout).toMatch(/^FAIL {2}\S*many\.json: http\.url: must start with http/m);
    expect(stdout).toMatch(/^FAIL {2}\S*builtin\.json: name: count_tokens is a built-in tool's name$/m);
    expect(stdout).toMatch(/1 of 4 action files are valid/);
    expect(stderr).toBe("");

    const empty = await runCli(["actions", "check", mkdtempSync(join(tmpdir(), "lam-check-empty-"))]);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toMatch(/no action files/);
    const missing = await runCli(["actions", "check", join(dir, "nope")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/is not a directory of action files/);
  });
});
