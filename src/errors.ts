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

export function isToolError(error: unknown): error is ToolError {
  return error instanceof ToolError;
}

/** The message of anything thrown, for logs and wrapped errors. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
