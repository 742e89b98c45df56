/**
 * User actions with real child processes and real HTTP servers on 127.0.0.1: injection, traversal, secrets,
 * timeouts that kill process groups, capped output, previews, confirmation through elicitation, hot reload.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ElicitRequestSchema, ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, test } from "vitest";
import { createLogger, type LogRecord } from "../../src/log.js";
import { connect } from "../helpers/harness.js";
import { startFixture } from "../helpers/http-fixture.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/", import.meta.url));
const NODE = process.execPath;
const SECRET = "s3cr3t-token-value-98765";
const baseEnv = { PATH: `${dirname(NODE)}:/usr/bin:/bin`, SECRET_TOKEN: SECRET };

function toolsDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "lam-actions-"));
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), typeof body === "string" ? body : JSON.stringify(body, null, 2));
  return dir;
}

/** An HTTP server that records every request (method, raw url, headers, body) and answers with handler's reply. */
async function recorder(reply: (req: IncomingMessage, body: string) => { status?: number; type?: string; body: string } = () => ({ body: "{}" })) {
  const seen: Array<{ method: string; url: string; headers: IncomingMessage["headers"]; body: string }> = [];
  const server = await startFixture({}, async (req, res) => {
    let body = "";
    for await (const chunk of req) body += (chunk as Buffer).toString();
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
    const r = reply(req, body);
    res.writeHead(r.status ?? 200, { "content-type": r.type ?? "application/json" }).end(r.body);
  });
  return Object.assign(server, { seen });
}

const echoArgv = (props: Record<string, unknown>, argv: string[]) => ({
  name: "echo_argv",
  description: "Prints its argv as JSON.",
  input: { type: "object", properties: props },
  command: { argv: [NODE, join(FIXTURES, "print-argv.mjs"), ...argv] },
});

describe("commands: no shell, ever", () => {
  test("shell metacharacters, newlines and option-like values reach the program literally", async () => {
    const canary = join(mkdtempSync(join(tmpdir(), "lam-canary-")), "x");
    writeFileSync(canary, "still here");
    const dir = toolsDir({ "echo.json": echoArgv({ a: { type: "string" }, list: { type: "array", items: { type: "string" } } }, ["{{a}}", "--flag={{a}}", "{{list}}"]) });
    await using h = await connect({ toolsDir: dir }, { env: baseEnv });
    const nasty = [`; rm -rf ${canary}`, "$(id)", "`id`", "a && b || c", "line1\nline2", "--option=evil", "*", `'"\\`, "$HOME"];
    for (const value of nasty) {
      const out = await h.ok<{ stdout: string }>("echo_argv", { a: value, list: ["x y", "-rf", "$(id)"] });
      expect(JSON.parse(out.stdout)).toEqual([value, `--flag=${value}`, "x y", "-rf", "$(id)"]);
    }
    expect(readFileSync(canary, "utf8")).toBe("still here");
    // An absent optional argument drops its argv elements.
    const none = await h.ok<{ stdout: string }>("echo_argv", {});
    expect(JSON.parse(none.stdout)).toEqual([]);
  });

  test("a timeout kills the whole process group: child and grandchild", async () => {
    const pids = join(mkdtempSync(join(tmpdir(), "lam-pids-")), "pids.json");
    const dir = toolsDir({
      "sleepy.json": { name: "sleepy", description: "Sleeps with a grandchild.", timeout_ms: 700, command: { argv: [NODE, join(FIXTURES, "spawn-sleeper.mjs"), pids] } },
    });
    await using h = await connect({ toolsDir: dir }, { env: baseEnv });
    const text = await h.fails("sleepy", {});
    expect(text).toMatch(/ran longer than 700 ms; it and every process it started were killed/);
    const { child, grandchild } = JSON.parse(readFileSync(pids, "utf8")) as { child: number; grandchild: number };
    // Gone, or a zombie waiting for a reaper (this container's PID 1 may not reap orphans): not running.
    const alive = (pid: number) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return !/^\d+ \(.*\) Z/.test(stat);
      } catch {
        return false;
      }
    };
    await expect.poll(() => alive(child) || alive(grandchild)).toBe(false);
  });

  test("a 100 MB output is capped without the server's memory growing with it", async () => {
    const dir = toolsDir({
      "flood.json": { name: "flood", description: "Writes a lot.", timeout_ms: 60_000, command: { argv: [NODE, join(FIXTURES, "flood.mjs"), "100"], max_output_bytes: 65536 } },
    });
    await using h = await connect({ toolsDir: dir }, { env: baseEnv });
    const before = process.memoryUsage().rss;
    const out = await h.ok<{ stdout: string; stderr: string; truncated: { stdout: boolean; stderr: boolean } }>("flood", {});
    expect(out.stdout.length).toBe(65536);
    expect(out.truncated).toEqual({ stdout: true, stderr: false });
    expect(out.stderr).toBe("flood done\n");
    // Kept whole, 100 MB of output would cost at least 100 MB (and twice that as a string); streamed 64 KB at a time
    // through pipes, RSS moves by tens of MB on this machine (freed chunks the allocator keeps), never by 100.
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
  });

  test("a non-zero exit is an error with the exit code and the end of stderr; a missing program says so", async () => {
    const dir = toolsDir({
      "fails.json": { name: "fails", description: "Exits with 3.", command: { argv: [NODE, join(FIXTURES, "flood.mjs"), "0", "3"] } },
      "missing.json": { name: "missing", description: "No such program.", command: { argv: ["lam-no-such-program-xyz"] } },
    });
    await using h = await connect({ toolsDir: dir }, { env: baseEnv });
    const text = await h.fails("fails", {});
    expect(text).toMatch(/exited with 3:\nflood done/);
    expect(await h.fails("missing", {})).toMatch(/The program lam-no-such-program-xyz was not found/);
  });
});

describe("http actions", () => {
  test("path segments are encoded, never traverse; . and .. are refused", async () => {
    await using api = await recorder();
    const dir = toolsDir({
      "files.json": {
        name: "get_file",
        description: "Gets a file.",
        input: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
        http: { url: `${api.url}/files/{{name}}/meta?v={{name}}` },
      },
    });
    await using h = await connect({ toolsDir: dir }, { env: baseEnv });
    await h.ok("get_file", { name: "../../etc/passwd" });
    await h.ok("get_file", { name: "a/b c" });
    expect(api.seen.map((r) => r.url)).toEqual([
      "/files/..%2F..%2Fetc%2Fpasswd/meta?v=..%2F..%2Fetc%2Fpasswd",
      "/files/a%2Fb%20c/meta?v=a%2Fb%20c",
    ]);
    expect(await h.fails("get_file", { name: ".." })).toMatch(/climbs the path; refused/);
    expect(await h.fails("get_file", { name: "." })).toMatch(/climbs the path; refused/);
    expect(api.seen).toHaveLength(2);
  });

  test("a header value with CR/LF is refused before any request", async () => {
    await using api = await recorder();
    const dir = toolsDir({
      "hdr.json": {
        name: "with_header",
        description: "Sends a header.",
        input: { type: "object", properties: { who: { type: "string" } } },
        http: { url: `${api.url}/hello`, headers: { "X-Who": "{{who}}" } },
      },
    });
    await using h = await connect({ toolsDir: dir }, { env: baseEnv });
    expect(await h.fails("with_header", { who: "me\r\nX-Admin: yes" })).toMatch(/header X-Who contains a line break, which would inject headers; refused/);
    for (const who of ["a\rb", "a\nb", "\n"]) expect(await h.fails("with_header", { who })).toMatch(/contains a line break/);
    // Characters a header cannot carry get the real reason, not a network failure.
    const refused: Array<[string, string]> = [["a\u2028b", "2028"], ["\u2029", "2029"], ["nul\u0000", "0000"], ["\u007f", "007F"], ["smile 🙂", "D83D"], ["€", "20AC"]];
    for (const [who, code] of refused) {
      expect(await h.fails("with_header", { who })).toMatch(new RegExp(`header X-Who contains U\\+${code}, which an HTTP header value cannot carry; refused[\\s\\S]*Hint: .*percent-encode`));
    }
    expect(api.seen).toHaveLength(0);
    await h.ok("with_header", { who: "tab\there, latin-1 é" });
    expect(api.seen[0]!.headers["x-who"]).toBe("tab\there, latin-1 é");
    api.seen.length = 0;
    await h.ok("with_header", { who: "me" });
    await h.ok("with_header", {});
    expect(api.seen[0]!.headers["x-who"]).toBe("me");
    expect(api.seen[1]!.headers["x-who"]).toBeUndefined();
  });

  test("JSON bodies keep argument types; absent optional values drop their key, query key and header", async () => {
    await using api = await recorder();
    const dir = toolsDir({
      "post.yaml": [
        "name: post_it",
        "description: Posts JSON.",
        "input:",
        "  type: object",
        "  properties:",
        "    n: { type: integer, default: 5 }",
        "    tags: { type: array, items: { type: string } }",
        "    flag: { type: boolean }",
        "    maybe: { type: string }",
        "http:",
        "  method: POST",
        `  url: "${api.url}/items"`,
        "  query: { page: 1, filter: '{{maybe}}' }",
        "  headers: { X-Maybe: '{{maybe}}' }",
        "  json: { count: '{{n}}', tags: '{{tags}}', ok: '{{flag}}', label: 'n={{n}}', opt: '{{maybe}}', list: ['{{maybe}}', 'x'] }",
        "  expect_status: [201]",
      ].join("\n"),
    });
    const api2 = api;
    await using h = await connect({ toolsDir: dir }, { env: baseEnv });
    api2.seen.length = 0;
    // The recorder answers 200, which this action does not expect.
    const text = await h.fails("post_it", { tags: ["a", "b"], flag: false });
    expect(text).toMatch(/POST .*\/items\?page=1 answered 200: \{\}[\s\S]*counts 201 as success/);
    const req = api.seen[0]!;
    expect(JSON.parse(req.body)).toEqual({ count: 5, tags: ["a", "b"], ok: false, label: "n=5", list: ["x"] });
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.headers["x-maybe"]).toBeUndefined();
    expect(req.url).toBe("/items?page=1");
  });

  test("pick selects part of the JSON response; a failing status is an error with the status and a trimmed body", async () => {
    await using api = await recorder((req) =>
      req.url!.startsWith("/bad") ? { status: 503, type: "text/plain", body: "down for maintenance" } : { body: JSON.stringify({ current: { t: 21.5 }, other: 1 }) },
    );
    const dir = toolsDir({
      "ok.json": { name: "pick_ok", description: "Picks.", http: { url: `${api.url}/ok`, pick: "/current" } },
      "miss.json": { name: "pick_missing", description: "Picks nothing.", http: { url: `${api.url}/ok`, pick: "/nope/0" } },
      "bad.json": { name: "bad_status", description: "Fails.", http: { url: `${api.url}/bad` } },
      "big.json": { name: "big", description: "Big.", http: { url: `${api.url}/ok`, max_response_bytes: 10 } },
    });
    await using h = await connect({ toolsDir: dir }, { env: baseEnv });
    const ok = await h.ok<{ status: number; result: unknown }>("pick_ok", {});
    expect(ok).toMatchObject({ status: 200, result: { t: 21.5 } });
    expect(await h.fails("pick_missing", {})).toMatch(/pick \/nope\/0 found nothing in the response \(it has: current, other\)/);
    const bad = await h.fails("bad_status", {});
    expect(bad).toMatch(/GET .*\/bad answered 503: down for maintenance/);
    expect(bad).toMatch(/Hint: The service is unavailable right now; the arguments are not the problem: retry later/);
    expect(bad).not.toMatch(/check the arguments/);
    const big = await h.ok<{ truncated: boolean; result: unknown }>("big", {});
    expect(big.truncated).toBe(true);
  });

  test("arguments are validated against the input schema before anything runs, naming the field", async () => {
    await using api = await recorder();
    const dir = toolsDir({
      "v.json": {
        name: "validated",
        description: "Validates.",
        input: {
          type: "object",
          properties: { count: { type: "integer", minimum: 1, maximum: 5 }, unit: { enum: ["c", "f"] }, city: { type: "string", pattern: "^[A-Z]" } },
          required: ["city"],
        },
        http: { url: `${api.url}/v`, query: { city: "{{city}}" } },
      },
    });
    await using h = await connect({ toolsDir: dir }, { env: baseEnv });
    expect(await h.fails("validated", {})).toMatch(/city: .*expected string, received undefined/);
    const many = await h.fails("validated", { city: "paris", count: 9, unit: "k" });
    expect(many).toMatch(/count: .*<=5/);
    expect(many).toMatch(/unit: .*"c"\|"f"/);
    expect(many).toMatch(/city: .*pattern/);
    expect(api.seen).toHaveLength(0);
    await h.ok("validated", { city: "Paris" });
    expect(api.seen[0]!.url).toBe("/v?city=Paris");
  });
});

describe("secrets", () => {
  test("${env:...} values are used but never shown: not in results, previews, errors, tools/list or logs", async () => {
    await using api = await recorder((req) =>
      req.url!.startsWith("/fail")
        ? { status: 500, type: "text/plain", body: `rejected ${String(req.headers.authorization)}` }
        : { body: JSON.stringify({ youSent: req.headers.authorization }) },
    );
    const dir = toolsDir({
      "s.json": { name: "secret_http", description: "Uses a token.", http: { url: `${api.url}/ok`, headers: { Authorization: "Bearer ${env:SECRET_TOKEN}" } } },
      "f.json": { name: "secret_fail", description: "Fails with the token.", http: { url: `${api.url}/fail`, headers: { Authorization: "Bearer ${env:SECRET_TOKEN}" } } },
      "c.json": { name: "secret_cmd", description: "Prints the token.", command: { argv: [NODE, join(FIXTURES, "print-argv.mjs"), "${env:SECRET_TOKEN}"] } },
      "m.json": { name: "needs_env", description: "Needs an unset variable.", http: { url: `${api.url}/ok`, headers: { "X-Key": "${env:LAM_TEST_UNSET_VAR}" } } },
    });
    const records: LogRecord[] = [];
    const log = createLogger({ level: "debug", format: "json", write: (line) => records.push(JSON.parse(line) as LogRecord) });
    await using h = await connect({ toolsDir: dir }, { env: baseEnv, log });
    const outputs: string[] = [];
    const ok = await h.call("secret_http", {});
    outputs.push(JSON.stringify(ok));
    expect(api.seen[0]!.headers.authorization).toBe(`Bearer ${SECRET}`); // it was really sent
    expect((ok.structuredContent as { result: { youSent: string } }).result.youSent).toBe("Bearer ***");
    outputs.push(await h.fails("secret_fail", {}));
    expect(outputs.at(-1)).toMatch(/answered 500: rejected Bearer \*\*\*/);
    const cmd = await h.call("secret_cmd", {});
    outputs.push(JSON.stringify(cmd));
    expect(JSON.parse((cmd.structuredContent as { stdout: string }).stdout)).toEqual(["***"]);
    const preview = await h.call("preview_action", { name: "secret_http" });
    outputs.push(JSON.stringify(preview));
    expect((preview.structuredContent as { plan: { headers: Record<string, string> } }).plan.headers.authorization).toBe("Bearer ***");
    outputs.push(JSON.stringify(await h.client.listTools()));
    outputs.push(JSON.stringify(await h.client.readResource({ uri: "lam://actions" })));
    expect(await h.fails("needs_env", {})).toMatch(/needs the environment variable LAM_TEST_UNSET_VAR \(in the header X-Key\), which is not set/);
    for (const o of outputs) expect(o).not.toContain(SECRET);
    expect(records.length).toBeGreaterThan(0);
    for (const r of records) expect(JSON.stringify(r)).not.toContain(SECRET);
  });
});

/**
 * Whether a text carries the secret in any encoding, decoded independently of the masking code: as written,
 * percent- or form-decoded, JSON-unescaped, or inside a base64 run (standard or URL-safe).
 */
function leaks(text: string, secret: string): string | undefined {
  const decoded: Array<[string, string]> = [["as written", text]];
  const tryDecode = (name: string, fn: () => string) => {
    try {
      decoded.push([name, fn()]);
    } catch {
      // not decodable as a whole: its parts are checked below
    }
  };
  tryDecode("percent", () => decodeURIComponent(text));
  tryDecode("form", () => decodeURIComponent(text.replace(/\+/g, " ")));
  for (const m of text.matchAll(/(?:%[0-9A-Fa-f]{2}|[^%\s"]){4,}/g)) tryDecode("percent run", () => decodeURIComponent(m[0].replace(/\+/g, " ")));
  for (const m of text.matchAll(/"(?:[^"\\]|\\.)*"/g)) tryDecode("JSON string", () => JSON.parse(m[0]) as string);
  for (const m of text.matchAll(/[A-Za-z0-9+/_-]{6,}={0,2}/g)) {
    for (let skip = 0; skip < 4; skip++) decoded.push(["base64", Buffer.from(m[0].slice(skip).replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8")]);
  }
  for (const [name, value] of decoded) {
    if (value.includes(secret)) return name;
    for (const [inner, v] of [["percent", value]] as const) {
      try {
        if (decodeURIComponent(v).includes(secret)) return `${name} then ${inner}`;
      } catch {
        // fine
      }
    }
  }
  return undefined;
}

describe("failing statuses say whose move it is", () => {
  test("each class of status gets its own hint, with Retry-After when the service sent one", async () => {
    await using server = await startFixture({}, (req, res) => {
      const status = Number(/\/(\d{3})/.exec(req.url!)![1]);
      res.writeHead(status, { "content-type": "text/plain", ...(status === 429 || status === 503 ? { "retry-after": "7" } : {}) }).end("nope");
    });
    const dir = toolsDir({
      "s.json": {
        name: "status_of",
        description: "Answers the status asked for.",
        input: { type: "object", properties: { code: { type: "integer" } }, required: ["code"] },
        http: { url: `${server.url}/{{code}}` },
      },
    });
    await using h = await connect({ toolsDir: dir }, { env: baseEnv });
    const hints: Array<[number, RegExp]> = [
      [400, /refused the request as malformed: check the arguments/],
      [401, /refused the credentials: check the environment variables/],
      [403, /refused the credentials/],
      [404, /nothing at that address: check the arguments that form the URL/],
      [422, /malformed: check the arguments/],
      [429, /rate-limiting these calls: retry later \(it asks to wait 7 s\)/],
      [500, /failed while handling the call; the arguments are probably not the problem/],
      [502, /unavailable right now; the arguments are not the problem/],
      [503, /unavailable right now; the arguments are not the problem: retry later \(it asks to wait 7 s\)/],
      [504, /timed out: retry later/],
    ];
    for (const [code, hint] of hints) {
      const text = await h.fails("status_of", { code });
      expect(text).toMatch(new RegExp(`answered ${code}: nope`));
      expect([code, /Hint: (.*)/.exec(text)?.[1]]).toEqual([code, expect.stringMatching(hint)]);
    }
  });
});

describe("secrets in every encoding", () => {
  const SECRETS = ["p@ss w+rd/&=?#%", 'q"uote\\back\\slash', "unicodé-ключ-🔑-sec", "plain-Secret-123456", "a+b/c=d e&f"];

  test.each(SECRETS)("%j never leaves: not in URLs, forms, JSON, basic auth, echoes, errors, previews or logs", async (secret) => {
    await using api = await recorder((req, body) => ({
      status: req.url!.includes("fail") ? 503 : 200,
      body: JSON.stringify({ url: req.url, authorization: req.headers.authorization ?? null, xkey: req.headers["x-key"] ?? null, body }),
    }));
    const port = new URL(api.url).port;
    const asciiHeader = /^[\x20-\x7e]*$/.test(secret) ? { "X-Key": "k ${env:S}" } : {};
    const dir = toolsDir({
      "q.json": { name: "in_query", description: "x", http: { url: `${api.url}/q`, query: { key: "${env:S}" }, headers: asciiHeader } },
      "p.json": { name: "in_path", description: "x", http: { url: `${api.url}/p/\${env:S}/end` } },
      "f.json": { name: "in_form", description: "x", http: { method: "POST", url: `${api.url}/f`, form: { key: "${env:S}", other: "1" } } },
      "j.json": { name: "in_json", description: "x", http: { method: "POST", url: `${api.url}/j`, json: { key: "${env:S}", nested: ["x ${env:S} y"] } } },
      "b.json": { name: "in_basic", description: "x", http: { url: `http://user:\${env:SU}@127.0.0.1:${port}/b` } },
      "e.json": { name: "in_error", description: "x", http: { method: "POST", url: `${api.url}/fail`, json: { key: "${env:S}" } } },
      "c.json": { name: "in_env", description: "x", command: { argv: [NODE, join(FIXTURES, "print-env.mjs"), "PASSED"], env: ["PASSED"] } },
    });
    const env = { ...baseEnv, S: secret, SU: encodeURIComponent(secret), PASSED: secret };
    const records: string[] = [];
    const log = createLogger({ level: "debug", format: "json", write: (line) => records.push(line) });
    await using h = await connect({ toolsDir: dir }, { env, log });
    const outputs: string[] = [];
    for (const name of ["in_query", "in_path", "in_form", "in_json", "in_basic", "in_env"]) {
      const result = await h.call(name, {});
      expect([name, result.isError ?? false]).toEqual([name, false]);
      outputs.push(JSON.stringify(result));
      outputs.push(JSON.stringify(await h.call("preview_action", { name })));
    }
    outputs.push(JSON.stringify(await h.call("in_error", {})));
    // The secret really was sent, in each encoding.
    // (A raw secret in a URL path cannot carry ?, # or \\: the URL parser reads them as syntax.)
    const sent = api.seen.filter((r) => !r.url.startsWith("/p/") || !/[?#\\]/.test(secret));
    expect(sent.length).toBeGreaterThanOrEqual(5);
    for (const r of sent) expect([r.url, leaks(`${r.url} ${String(r.headers.authorization)} ${String(r.headers["x-key"])} ${r.body}`, secret)]).not.toEqual([r.url, undefined]);
    expect(api.seen.find((r) => r.url === "/b")!.headers.authorization).toBe(`Basic ${Buffer.from(`user:${secret}`).toString("base64")}`);
    for (const text of [...outputs, ...records]) expect([leaks(text, secret), text]).toEqual([undefined, text]);
  });
});

describe("preview_action", () => {
  test("shows exactly what would run, runs nothing, and checks the arguments", async () => {
    await using api = await recorder();
    const canary = join(mkdtempSync(join(tmpdir(), "lam-prev-")), "made");
    const dir = toolsDir({
      "h.json": {
        name: "create_item",
        description: "Creates.",
        input: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
        annotations: { destructiveHint: true },
        http: { method: "POST", url: `${api.url}/items/{{name}}`, json: { name: "{{name}}" } },
      },
      "c.json": { name: "touch_it", description: "Touches.", command: { argv: ["touch", canary], env: ["HOME", "LAM_NOT_SET"] } },
    });
    await using h = await connect({ toolsDir: dir }, { env: { ...baseEnv, HOME: "/home/test" } });
    const http = await h.ok<{ needs_confirmation: boolean; plan: Record<string, unknown> }>("preview_action", { name: "create_item", arguments: { name: "a b" } });
    expect(http.needs_confirmation).toBe(true);
    expect(http.plan).toEqual({
      kind: "http",
      method: "POST",
      url: `${api.url}/items/a%20b`,
      headers: { "user-agent": "lam-mcp actions", "content-type": "application/json" },
      body: { type: "json", text: '{"name":"a b"}' },
    });
    const cmd = await h.ok<{ plan: Record<string, unknown> }>("preview_action", { name: "touch_it" });
    expect(cmd.plan).toEqual({ kind: "command", argv: ["touch", canary], cwd: process.cwd(), env_names: ["PATH", "HOME"] });
    expect(api.seen).toHaveLength(0);
    expect(existsSync(canary)).toBe(false);
    expect(await h.fails("preview_action", { name: "create_item", arguments: {} })).toMatch(/would be refused by create_item:\n- name:/);
    expect(await h.fails("preview_action", { name: "nope" })).toMatch(/No action is named nope[\s\S]*The actions are: (create_item, touch_it|touch_it, create_item)\./);
  });
});

describe("confirmation through elicitation", () => {
  const noteDir = () =>
    toolsDir({ "append_note.yaml": readFileSync(fileURLToPath(new URL("../../tools/append_note.yaml", import.meta.url)), "utf8") });

  test("accept runs the action; decline and cancel do not", async () => {
    const dir = noteDir();
    let answer: { action: "accept" | "decline" | "cancel"; content?: Record<string, unknown> } = { action: "accept", content: { confirm: true } };
    const asked: string[] = [];
    await using h = await connect({ toolsDir: dir }, { env: baseEnv, clientCapabilities: { elicitation: {} } });
    h.client.setRequestHandler(ElicitRequestSchema, (request) => {
      asked.push(request.params.message);
      return answer;
    });
    const ran = await h.ok<{ stdout: string }>("append_note", { note: "first note" });
    expect(ran.stdout).toBe("first note\n");
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("first note\n");
    expect(asked[0]).toMatch(/^Allow "Append a note" to run\?\nrun "tee" "-a" "notes.txt" in /);
    answer = { action: "decline" };
    expect(await h.fails("append_note", { note: "second" })).toMatch(/The user did not confirm append_note \(decline\); nothing ran/);
    answer = { action: "cancel" };
    expect(await h.fails("append_note", { note: "third" })).toMatch(/\(cancel\); nothing ran/);
    answer = { action: "accept", content: { confirm: false } };
    expect(await h.fails("append_note", { note: "fourth" })).toMatch(/did not confirm/);
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("first note\n");
  });

  test("a client's malformed answer is refused as the client's, and nothing runs", async () => {
    const dir = noteDir();
    let answer: unknown;
    await using h = await connect({ toolsDir: dir }, { env: baseEnv, clientCapabilities: { elicitation: {} } });
    h.client.setRequestHandler(ElicitRequestSchema, () => answer as never);
    const cases: Array<[unknown, RegExp]> = [
      [{ action: "accept" }, /accepted the confirmation of append_note without the confirm field it asks for; nothing ran/],
      [{ action: "accept", content: {} }, /answer to the confirmation does not fit the form it was sent .*; nothing ran/],
      [{ action: "accept", content: { confirm: "yes" } }, /does not fit the form/],
      [{ action: "accept", content: { other: true } }, /does not fit the form/],
    ];
    for (const [reply, expected] of cases) {
      answer = reply;
      const text = await h.fails("append_note", { note: "never" });
      expect(text).toMatch(expected);
      expect(text).not.toMatch(/internal error|This is a bug/);
    }
    expect(existsSync(join(dir, "notes.txt"))).toBe(false);
  });

  test("without elicitation support it refuses and names --allow-unconfirmed; with that setting it runs", async () => {
    const dir = noteDir();
    await using h = await connect({ toolsDir: dir }, { env: baseEnv });
    expect(await h.fails("append_note", { note: "x" })).toMatch(/cannot ask \(it does not support elicitation\)[\s\S]*--allow-unconfirmed/);
    expect(existsSync(join(dir, "notes.txt"))).toBe(false);
    await using allowed = await connect({ toolsDir: dir, allowUnconfirmed: "true" }, { env: baseEnv });
    await allowed.ok("append_note", { note: "allowed" });
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("allowed\n");
  });
});

describe("loading and hot reload", () => {
  test("a bad file disables only its action; each problem names the file and the field", async () => {
    const good = { name: "good_one", description: "Fine.", command: { argv: ["true"] } };
    const dir = toolsDir({
      "a_good.json": good,
      "dup.json": { ...good, description: "Same name." },
      "builtin.json": { ...good, name: "tokenize" },
      "broken.json": "{ not json",
      "broken.yaml": "name: [unclosed",
      "unknown_field.json": { ...good, name: "unknown_field", colour: "red" },
      "two_runners.json": { ...good, name: "two_runners", http: { url: "http://127.0.0.1:9/" } },
      "undeclared.json": { name: "undeclared", description: "x", http: { url: "http://127.0.0.1:9/{{who}}" } },
      "in_host.json": { name: "in_host", description: "x", input: { type: "object", properties: { h: { type: "string" } } }, http: { url: "http://{{h}}.example/" } },
      "program.json": { name: "program", description: "x", input: { type: "object", properties: { p: { type: "string" } } }, command: { argv: ["{{p}}"] } },
      "bad_name.json": { ...good, name: "Bad-Name" },
      "bad_schema.json": { ...good, name: "bad_schema", input: { type: "object", properties: { a: { type: "strange" } } } },
      "notes.txt": "ignored",
    });
    await using h = await connect({ toolsDir: dir }, { env: baseEnv });
    const names = (await h.client.listTools()).tools.map((t) => t.name);
    expect(names).toContain("good_one");
    for (const n of ["unknown_field", "two_runners", "undeclared", "in_host", "program", "bad_schema"]) expect(names).not.toContain(n);
    const resource = await h.client.readResource({ uri: "lam://actions" });
    const { actions } = JSON.parse((resource.contents[0] as { text: string }).text) as {
      actions: Array<{ file: string; status: string; problems: Array<{ field: string; message: string }> }>;
    };
    const problem = (file: string) => actions.find((a) => a.file.endsWith(file))!;
    expect(problem("a_good.json").status).toBe("loaded");
    expect(problem("dup.json").problems).toEqual([{ field: "name", message: "good_one is already used by a_good.json" }]);
    expect(problem("builtin.json").problems[0]!.message).toBe("tokenize is a built-in tool's name");
    expect(problem("broken.json").problems[0]!.message).toMatch(/^not valid JSON/);
    expect(problem("broken.yaml").problems[0]!.message).toMatch(/^not valid YAML/);
    expect(problem("unknown_field.json").problems[0]).toEqual({ field: "(file)", message: 'unknown field(s) "colour"' });
    expect(problem("two_runners.json").problems[0]).toEqual({ field: "command", message: "give exactly one runner: http, command or steps (this file has http and command)" });
    expect(problem("undeclared.json").problems[0]).toEqual({ field: "http.url", message: "{{who}} is not a property of input" });
    expect(problem("in_host.json").problems[0]!.message).toMatch(/may not appear in the scheme or host/);
    expect(problem("program.json").problems[0]).toEqual({ field: "command.argv.0", message: "the program itself may not come from an argument" });
    expect(problem("bad_name.json").problems[0]!.field).toBe("name");
    expect(problem("bad_schema.json").problems[0]!.field).toBe("input");
    expect(actions.some((a) => a.file.endsWith("notes.txt"))).toBe(false);
  });

  test("add, break, fix and delete a file while connected: tools/list follows and list_changed arrives each time", async () => {
    const dir = toolsDir({});
    await using h = await connect({ toolsDir: dir }, { env: baseEnv });
    await h.client.listTools(); // the server has loaded the (empty) directory
    let changes = 0;
    h.client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes++);
    const names = async () => (await h.client.listTools()).tools.map((t) => t.name);
    const file = join(dir, "hello.json");
    const action = { name: "hello", description: "Says hello.", command: { argv: [NODE, join(FIXTURES, "print-argv.mjs"), "hello"] } };

    writeFileSync(file, JSON.stringify(action));
    await expect.poll(() => changes, { timeout: 5000 }).toBe(1);
    expect(await names()).toContain("hello");
    expect(JSON.parse((await h.ok<{ stdout: string }>("hello", {})).stdout)).toEqual(["hello"]);

    writeFileSync(file, JSON.stringify({ ...action, command: { argv: [] } }));
    await expect.poll(() => changes, { timeout: 5000 }).toBe(2);
    expect(await names()).not.toContain("hello");
    const { actions } = JSON.parse(((await h.client.readResource({ uri: "lam://actions" })).contents[0] as { text: string }).text) as {
      actions: Array<{ status: string; problems: Array<{ field: string }> }>;
    };
    expect(actions[0]).toMatchObject({ status: "disabled", problems: [{ field: "command.argv" }] });

    writeFileSync(file, JSON.stringify({ ...action, description: "Says hello again." }));
    await expect.poll(() => changes, { timeout: 5000 }).toBe(3);
    expect((await h.client.listTools()).tools.find((t) => t.name === "hello")?.description).toBe("Says hello again.");

    rmSync(file);
    await expect.poll(() => changes, { timeout: 5000 }).toBe(4);
    expect(await names()).not.toContain("hello");
  });
});
