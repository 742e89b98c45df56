/**
 * The stdio line transport reads the same messages and answers the same errors however the bytes are cut into
 * chunks: whole lines in one chunk take a short path, lines across chunks the general one.
 */
import { PassThrough, Writable } from "node:stream";
import { expect, test } from "vitest";
import { LineTransport } from "../../src/transports/stdio-lines.js";
import { prng } from "../helpers/prng.js";

const LIMIT = 300;

/** Feeds `chunks` through a transport and returns what it handed on and what it answered, in order. */
async function readAll(chunks: Buffer[]): Promise<{ messages: unknown[]; replies: unknown[] }> {
  const input = new PassThrough();
  const replies: unknown[] = [];
  const output = new Writable({
    write(data: Buffer, _encoding, done) {
      for (const line of data.toString("utf8").split("\n").filter(Boolean)) replies.push(JSON.parse(line));
      done();
    },
  });
  const transport = new LineTransport(LIMIT, input, output);
  const messages: unknown[] = [];
  transport.onmessage = (m) => void messages.push(m);
  await transport.start();
  for (const chunk of chunks) {
    input.write(chunk);
    await new Promise((r) => setImmediate(r));
  }
  await transport.close();
  return { messages, replies };
}

test("the same messages and errors for every way of cutting the input into chunks (seeded)", async () => {
  const random = prng(4_12_2026);
  const lines = [
    JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    `${JSON.stringify({ jsonrpc: "2.0", id: "é-2", method: "tools/call", params: { name: "count_tokens", arguments: { texts: ["héllo 👋🏽 世界"] } } })}\r`,
    "",
    "\r",
    "{not json",
    JSON.stringify({ hello: "world", id: 7 }),
    JSON.stringify({ jsonrpc: "2.0", id: 8, method: "x", params: { text: "ü".repeat(200) } }), // past the limit in bytes
    JSON.stringify({ jsonrpc: "2.0", id: 9, method: "x", params: { text: "y".repeat(LIMIT - 60) } }), // just within it
    JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  ];
  // Bytes that are not UTF-8 inside a string (a lone lead byte, a cut sequence, 0xFF, a cut 4-byte one): each
  // becomes U+FFFD however the line is cut.
  const broken = Buffer.concat([
    Buffer.from('{"jsonrpc":"2.0","id":10,"method":"x","params":{"t":"a'),
    Buffer.from([0xc3, 0x28, 0xe2, 0x82, 0x62, 0xff, 0xf0, 0x9f, 0x98, 0x63, 0xed, 0xa0, 0x80]),
    Buffer.from('z"}}\n'),
  ]);
  const bytes = Buffer.concat([Buffer.from(`${lines.join("\n")}\n`, "utf8"), broken]);
  const whole = await readAll([bytes]);
  // What one whole chunk gives is itself right: 4 messages, and an error for each bad line, in order.
  expect(whole.messages.map((m) => (m as { id?: unknown }).id)).toEqual([1, "é-2", 9, undefined, 10]);
  expect((whole.messages[4] as { params: { t: string } }).params.t).toBe("a\ufffd(\ufffdb\ufffd\ufffdc\ufffd\ufffd\ufffdz");
  expect(whole.replies.map((r) => [(r as { id: unknown }).id, (r as { error: { code: number } }).error.code])).toEqual([
    [null, -32700],
    [7, -32600],
    [8, -32600],
  ]);
  for (let round = 0; round < 60; round++) {
    const cuts = new Set<number>();
    const count = 1 + Math.floor(random() * 12);
    for (let i = 0; i < count; i++) cuts.add(1 + Math.floor(random() * (bytes.length - 1)));
    // Some rounds cut a byte at a time around the multi-byte characters and the line ends.
    if (round % 10 === 0) for (let i = 60; i < 140; i++) cuts.add(i);
    // And some through the bytes that are not UTF-8.
    if (round % 10 === 5) for (let i = bytes.length - 20; i < bytes.length - 4; i++) cuts.add(i);
    const points = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
    const chunks = points.slice(1).map((end, i) => bytes.subarray(points[i], end));
    expect(await readAll(chunks)).toEqual(whole);
  }
});
