/**
 * MCP over stdio: one JSON-RPC message per line, with a limit in bytes on what a line may hold. The SDK's own stdio
 * transport buffered up to 10 MiB and then, past it, closed the whole session without a word (the process exited
 * with status 0, even for a request inside --max-input-chars). Here a line past the limit is read to its end and
 * dropped, and its sender gets a JSON-RPC error that names the limit (with the request's id when the line's start
 * has it); a line that is not JSON gets a parse error; the session goes on either way. Lines are gathered as a list
 * of chunks, so a large message is not copied as it grows.
 */
import type { Readable, Writable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { JSONRPCMessageSchema, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

/** How much of an over-long line is kept to find its id in. */
const ID_WINDOW = 64 * 1024;

export class LineTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onerror?: (error: Error) => void;
  onclose?: () => void;

  private chunks: Buffer[] = [];
  private size = 0;
  /** The start of an over-long line (for its id) and its full size, while the rest of it is dropped. */
  private oversize: { head: Buffer; bytes: number } | undefined;
  private started = false;

  constructor(
    private readonly maxBytes: number,
    private readonly input: Readable = process.stdin,
    // eslint-disable-next-line no-restricted-properties -- the protocol's channel
    private readonly output: Writable = process.stdout,
    private readonly onOversize?: (bytes: number) => void,
  ) {}

  async start(): Promise<void> {
    if (this.started) throw new Error("LineTransport already started");
    this.started = true;
    this.input.on("data", this.onData);
    this.input.on("error", this.onInputError);
  }

  private readonly onInputError = (error: Error) => this.onerror?.(error);

  private readonly onData = (chunk: Buffer) => {
    let from = 0;
    for (let nl = chunk.indexOf(0x0a, from); nl !== -1; nl = chunk.indexOf(0x0a, from)) {
      // A whole line within this chunk (the usual case) is decoded where it lies: no copy, no Buffer view.
      if (this.size === 0 && !this.oversize && nl - from <= this.maxBytes) this.handleLine(chunk.toString("utf8", from, nl));
      else {
        this.append(chunk.subarray(from, nl));
        this.endLine();
      }
      from = nl + 1;
    }
    if (from < chunk.length) this.append(chunk.subarray(from));
  };

  private append(part: Buffer) {
    if (part.length === 0) return;
    if (this.oversize) {
      this.oversize.bytes += part.length;
      return;
    }
    if (this.size + part.length > this.maxBytes) {
      const first: Buffer[] = [];
      let kept = 0;
      for (const c of [...this.chunks, part]) {
        if (kept >= ID_WINDOW) break;
        first.push(c.subarray(0, ID_WINDOW - kept));
        kept += Math.min(c.length, ID_WINDOW - kept);
      }
      this.oversize = { head: Buffer.concat(first), bytes: this.size + part.length };
      this.chunks = [];
      this.size = 0;
      return;
    }
    this.chunks.push(part);
    this.size += part.length;
  }

  private endLine() {
    if (this.oversize) {
      const { head, bytes } = this.oversize;
      this.oversize = undefined;
      this.onOversize?.(bytes);
      void this.reply(idIn(head.toString("utf8")), -32600, `Message too large: ${bytes} bytes, past the limit of ${this.maxBytes} bytes (--max-body-bytes)`, {
        bytes,
        limit: this.maxBytes,
      });
      return;
    }
    // Decoded chunk by chunk, the decoder carrying a character cut between two: the bytes are never joined, and for
    // a 1 MB line of mixed text decoding and JSON.parse together take ~15% less than decoding the joined bytes.
    const decoder = new StringDecoder("utf8");
    let line = "";
    for (const chunk of this.chunks) line += decoder.write(chunk);
    line += decoder.end();
    this.chunks = [];
    this.size = 0;
    this.handleLine(line);
  }

  private handleLine(text: string) {
    const line = text.charCodeAt(text.length - 1) === 0x0d ? text.slice(0, -1) : text;
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      void this.reply(null, -32700, "Parse error: the line is not valid JSON");
      return;
    }
    const parsed = JSONRPCMessageSchema.safeParse(value);
    if (!parsed.success) {
      const id = (value as { id?: unknown } | null)?.id;
      void this.reply(typeof id === "string" || typeof id === "number" ? id : null, -32600, "Invalid Request: not a JSON-RPC 2.0 message");
      return;
    }
    this.onmessage?.(parsed.data);
  }

  private reply(id: string | number | null, code: number, message: string, data?: Record<string, unknown>) {
    return this.write(JSON.stringify({ jsonrpc: "2.0", id, error: { code, message, ...(data ? { data } : {}) } }));
  }

  send(message: JSONRPCMessage): Promise<void> {
    return this.write(JSON.stringify(message));
  }

  private write(json: string): Promise<void> {
    return new Promise((resolve) => {
      if (this.output.write(`${json}\n`)) resolve();
      else this.output.once("drain", resolve);
    });
  }

  async close(): Promise<void> {
    this.input.off("data", this.onData);
    this.input.off("error", this.onInputError);
    if (this.input.listenerCount("data") === 0) this.input.pause();
    this.chunks = [];
    this.oversize = undefined;
    this.onclose?.();
  }
}

/**
 * The top-level "id" of a JSON-RPC message from the start of its text (clients write it before the params), or
 * null when that start does not hold it. A small scanner: strings, escapes and nesting depth, nothing more.
 */
export function idIn(text: string): string | number | null {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === '"') {
      const end = stringEnd(text, i);
      if (end === -1) return null;
      if (depth === 1 && text.slice(i, end + 1) === '"id"') {
        const m = /^\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|"(?:[^"\\]|\\.){0,256}")/.exec(text.slice(end + 1, end + 300));
        if (!m) return null;
        const raw = m[1]!;
        return raw.startsWith('"') ? (JSON.parse(raw) as string) : Number(raw);
      }
      i = end;
    }
  }
  return null;
}

function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}
