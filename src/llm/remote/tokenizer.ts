/**
 * llama-server's own tokenizer, over HTTP: /tokenize (ids, and each token's exact bytes with with_pieces) and
 * /detokenize. Counts and ids are then those of the model that generates. A token's bytes are asked once and kept
 * (at most one entry per vocabulary id); ids alone are asked for their pieces by sending them as a token list,
 * which the server takes as is, so a piece that is part of a UTF-8 character comes back as its bytes, not as U+FFFD.
 *
 * The server does not expose the vocabulary's token types, so `special: false` finds its control tokens the way
 * they behave: a token whose text comes back as itself only when special tokens are parsed is a control token (and
 * is dropped, as llama.cpp does); each id is asked once.
 */
import { ToolError } from "../../errors.js";
import type { ModelInfo, Tokenizer } from "../engine.js";
import { untilAborted, type RemoteClient } from "./client.js";

interface ServerToken {
  id: number;
  /** The piece as text when valid UTF-8, else its bytes. */
  piece?: string | number[];
}

export class ServerTokenizer implements Tokenizer {
  readonly vocabulary = null;
  readonly implementation = { engine: "server", detail: "llama-server's /tokenize and /detokenize" } as const;
  readonly size: number | null;
  readonly backend: string;
  private readonly pieces = new Map<number, Uint8Array>();
  /** The BOS id the server adds with add_special (null: it adds none). */
  private facts: Promise<{ addedBos: number | null }> | undefined;
  private known: { addedBos: number | null } | undefined;
  /** Whether a token is a control token, per id asked. */
  private readonly control = new Map<number, boolean>();

  constructor(
    private readonly client: RemoteClient,
    readonly info: ModelInfo,
  ) {
    this.size = info.vocabularySize > 0 ? info.vocabularySize : null;
    this.backend = client.primary;
  }

  /** Asks the server, once, which BOS it adds (shared by every caller; one that cancels stops waiting). */
  async ready(signal?: AbortSignal): Promise<void> {
    this.facts ??= this.learn().then(
      (facts) => (this.known = facts),
      (error: unknown) => {
        this.facts = undefined;
        throw error;
      },
    );
    await untilAborted(this.facts, signal);
  }

  async tokenize(text: string, { special, addBos = false }: { special: boolean; addBos?: boolean }): Promise<{ ids: number[]; bosAdded: boolean }> {
    if (text.length === 0 && !addBos) return { ids: [], bosAdded: false };
    const tokens = await this.request({ content: text, add_special: addBos, parse_special: special, with_pieces: true });
    const ids = tokens.map((t) => t.id);
    const bos = this.known?.addedBos ?? null;
    return { ids, bosAdded: addBos && bos !== null && ids[0] === bos };
  }

  async tokenBytes(ids: readonly number[]): Promise<Uint8Array[]> {
    this.checkIds(ids);
    const missing = [...new Set(ids.filter((id) => !this.pieces.has(id)))];
    if (missing.length > 0) await this.request({ content: missing, with_pieces: true });
    return ids.map((id) => {
      const bytes = this.pieces.get(id);
      if (!bytes) throw new ToolError(`The model server gave no piece for token ${id}.`, { code: "llm_bad_response" });
      return bytes;
    });
  }

  async count(text: string, special: boolean): Promise<number> {
    if (text.length === 0) return 0;
    const { value, url } = await this.client.json("POST", "/tokenize", { content: text, add_special: false, parse_special: special });
    const tokens = (value as { tokens?: unknown }).tokens;
    if (!Array.isArray(tokens)) throw badAnswer(url);
    return tokens.length;
  }

  async detokenize(ids: readonly number[], special: boolean): Promise<string> {
    this.checkIds(ids);
    const kept = special ? ids : await this.withoutControl(ids);
    if (kept.length === 0) return "";
    const { value, url } = await this.client.json("POST", "/detokenize", { tokens: kept });
    const content = (value as { content?: unknown }).content;
    if (typeof content !== "string") throw badAnswer(url, "/detokenize");
    return content;
  }

  /** /tokenize, keeping each piece's bytes. */
  private async request(body: Record<string, unknown>, signal?: AbortSignal): Promise<ServerToken[]> {
    const { value, url } = await this.client.json("POST", "/tokenize", body, signal);
    const tokens = (value as { tokens?: unknown }).tokens;
    if (!Array.isArray(tokens) || !tokens.every((t) => typeof (t as ServerToken | null)?.id === "number")) throw badAnswer(url);
    for (const token of tokens as ServerToken[]) {
      if (this.pieces.has(token.id)) continue;
      if (typeof token.piece === "string") this.pieces.set(token.id, Buffer.from(token.piece, "utf8"));
      else if (Array.isArray(token.piece)) this.pieces.set(token.id, Uint8Array.from(token.piece));
    }
    return tokens as ServerToken[];
  }

  private async learn(): Promise<{ addedBos: number | null }> {
    const added = await this.request({ content: "", add_special: true, parse_special: true, with_pieces: true });
    return { addedBos: added[0]?.id ?? null };
  }

  /**
   * The ids without control tokens. A token is a control token when its text, tokenized without parsing special
   * tokens, is not itself, but is with parsing (user-defined tokens match either way and are kept, as in llama.cpp).
   */
  private async withoutControl(ids: readonly number[]): Promise<number[]> {
    const unknown = [...new Set(ids.filter((id) => !this.control.has(id)))];
    const bytes = await this.tokenBytes(unknown);
    const strict = new TextDecoder("utf-8", { fatal: true });
    const single = async (text: string, parseSpecial: boolean) => {
      const tokens = await this.request({ content: text, add_special: false, parse_special: parseSpecial, with_pieces: true });
      return tokens.length === 1 ? tokens[0]!.id : undefined;
    };
    // A few at a time: each is a small request, and a long list would otherwise queue behind --llm-max-concurrent.
    for (let i = 0; i < unknown.length; i += 8) {
      await Promise.all(
        unknown.slice(i, i + 8).map(async (id, j) => {
          let text: string;
          try {
            text = strict.decode(bytes[i + j]!);
          } catch {
            this.control.set(id, false); // a byte piece: text, not a control token
            return;
          }
          const plain = text.length > 0 && (await single(text, false)) === id;
          this.control.set(id, !plain && text.length > 0 && (await single(text, true)) === id);
        }),
      );
    }
    return ids.filter((id) => !this.control.get(id));
  }

  /** Ids outside the vocabulary are named here, not sent (the server answers them with an internal error). */
  private checkIds(ids: readonly number[]): void {
    const size = this.size;
    if (size === null) return;
    const unknown = [...new Set(ids.filter((id) => !Number.isInteger(id) || id < 0 || id >= size))];
    if (unknown.length > 0) {
      throw new ToolError(`Unknown token ids: ${unknown.slice(0, 20).join(", ")}${unknown.length > 20 ? ", ..." : ""}.`, {
        hint: `Ids of ${this.info.name} run from 0 to ${size - 1}.`,
        data: { unknown_ids: unknown, vocabulary_size: size },
      });
    }
  }
}

function badAnswer(url: string, path = "/tokenize"): ToolError {
  return new ToolError(`${url}${path} answered without the expected fields.`, {
    code: "llm_bad_response",
    hint: "Check that --llm-url points at llama-server (or use --llm-api openai with --model for the tokenizer).",
  });
}

/**
 * vLLM's tokenizer, over its /tokenize and /detokenize (found on an OpenAI-compatible server that answers them in
 * vLLM's form). The Hugging Face tokenizer behind it always parses special-token text, and a piece is known only as
 * decoded text, so a token that is part of a UTF-8 character shows U+FFFD there.
 */
export class VllmTokenizer implements Tokenizer {
  readonly vocabulary = null;
  readonly implementation = { engine: "server", detail: "vLLM's /tokenize and /detokenize (the model's Hugging Face tokenizer)" } as const;
  readonly size: number | null;
  readonly backend: string;
  private readonly pieces = new Map<number, Uint8Array>();
  private addedBos: Promise<number | null> | undefined;

  constructor(
    private readonly client: RemoteClient,
    readonly info: ModelInfo,
    private readonly model: string,
  ) {
    this.size = info.vocabularySize > 0 ? info.vocabularySize : null;
    this.backend = client.primary;
  }

  /** Whether a server answers /tokenize the way vLLM does (one small request). */
  static async probe(client: RemoteClient, model: string, signal?: AbortSignal): Promise<boolean> {
    try {
      const { value } = await client.json("POST", "/tokenize", { model, prompt: "a", add_special_tokens: false }, signal);
      const v = value as { tokens?: unknown; count?: unknown };
      return Array.isArray(v.tokens) && v.tokens.length > 0 && v.tokens.every((t) => typeof t === "number") && typeof v.count === "number";
    } catch (error) {
      if (signal?.aborted) throw error;
      return false;
    }
  }

  async tokenize(text: string, { addBos = false }: { special: boolean; addBos?: boolean }): Promise<{ ids: number[]; bosAdded: boolean }> {
    const ids = text.length === 0 && !addBos ? [] : await this.ids(text, addBos);
    const bos = addBos ? await (this.addedBos ??= this.ids("", true).then((t) => t[0] ?? null)) : null;
    return { ids, bosAdded: bos !== null && ids[0] === bos };
  }

  async tokenBytes(ids: readonly number[]): Promise<Uint8Array[]> {
    const missing = [...new Set(ids.filter((id) => !this.pieces.has(id)))];
    for (let i = 0; i < missing.length; i += 8) {
      await Promise.all(missing.slice(i, i + 8).map(async (id) => this.pieces.set(id, Buffer.from(await this.detokenize([id]), "utf8"))));
    }
    return ids.map((id) => this.pieces.get(id)!);
  }

  async count(text: string): Promise<number> {
    return text.length === 0 ? 0 : (await this.ids(text, false)).length;
  }

  async detokenize(ids: readonly number[]): Promise<string> {
    if (ids.length === 0) return "";
    const { value, url } = await this.client.json("POST", "/detokenize", { model: this.model, tokens: ids });
    const prompt = (value as { prompt?: unknown }).prompt;
    if (typeof prompt !== "string") throw badAnswer(url, "/detokenize");
    return prompt;
  }

  private async ids(text: string, addSpecial: boolean): Promise<number[]> {
    const { value, url } = await this.client.json("POST", "/tokenize", { model: this.model, prompt: text, add_special_tokens: addSpecial });
    const tokens = (value as { tokens?: unknown }).tokens;
    if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === "number")) throw badAnswer(url);
    return tokens as number[];
  }
}
