/**
 * ToolError: an expected failure that the model calling the tool should read and act on.
 * It renders itself as an isError tool result: what went wrong, then how to fix it, plus structured data.
 * Anything else thrown by a tool is unexpected and becomes "internal error in <tool> (ref <id>)".
 */
export interface ToolErrorOptions {
  /** What the caller can do about it ("pass ids between 0 and 49151"). */
  hint?: string;
  /** Structured details for programs (limits, offending values, ...). */
  data?: Record<string, unknown>;
  /** A machine-readable code ("busy", "model_unavailable", ...). */
  code?: string;
  cause?: unknown;
}

export class ToolError extends Error {
  readonly hint: string | undefined;
  readonly data: Record<string, unknown> | undefined;
  readonly code: string;

  constructor(message: string, options: ToolErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ToolError";
    this.hint = options.hint;
    this.data = options.data;
    this.code = options.code ?? "invalid_request";
  }

  /** The text a model reads. */
  render(): string {
    return this.hint ? `${this.message}\nHint: ${this.hint}` : this.message;
  }
}

/** The message of anything thrown, for logs and wrapped errors. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Hides URL credentials (userinfo) and token-like query values in a text meant for messages or display. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, "$1***@").replace(/([?&](?:token|key|access_token|sig)=)[^&\s"]+/gi, "$1***");
}

/** A response body made short enough for an error message: tags dropped, white space folded, cut at max. */
export function bodySnippet(body: string, max: number): string {
  const text = body.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** True for host names and addresses of this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}
