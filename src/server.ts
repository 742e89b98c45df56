/**
 * createServer(services) builds one MCP server for one connection, over the services every session shares
 * (services.ts). Nothing loads or listens at import time.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type ElicitRequestFormParams,
  type ProgressToken,
  type ServerNotification,
  type ServerRequest,
} from "@modelcontextprotocol/sdk/types.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import { RESOURCE_URI_META_KEY } from "@modelcontextprotocol/ext-apps/server";
import { viewFor } from "./apps/views.js";
import type { Services } from "./services.js";
import { ToolError, messageOf } from "./errors.js";
import type { Logger } from "./log.js";
import { callTool, type ElicitAnswer, type ElicitRequest, type Progress, type ToolContext } from "./tool.js";
import { startTask, TASK_CAPABILITIES, taskServerOptions } from "./mcp-tasks.js";
import { forwardLogs, registerCompletion, registerPrompts, registerResources, registerSubscriptions } from "./surface.js";
import { VERSION } from "./version.js";

const INSTRUCTIONS =
  "lam-mcp runs a model (local, or on an inference server): its tokenizer (tokenize, detokenize, count_tokens, vocabulary), generation " +
  "(generate for raw completion, chat with the model's template; json_schema constrains output; temperature 0 is " +
  "deterministic), embeddings (embed, similarity) and web context (web_search via SearXNG, read_url for a page as " +
  "Markdown paged by tokens, search_context for cited passages packed into a token budget), plus the user's own " +
  "actions (declared HTTP calls and commands): preview_action shows what one would run before you run it. " +
  "server_status tells what is loaded. Tool errors say what was wrong and how to fix it; read the hint and retry.";

/**
 * Asks the user through the client's form elicitation. What the client answers is the client's doing, never a bug
 * of this server: an answer that does not fit the form, a refusal to ask, or no answer at all is a ToolError that
 * says so (and whoever asked runs nothing).
 */
async function elicitForm(server: McpServer["server"], request: ElicitRequest, signal: AbortSignal): Promise<ElicitAnswer> {
  try {
    const params: ElicitRequestFormParams = { mode: "form", message: request.message, requestedSchema: request.requestedSchema as ElicitRequestFormParams["requestedSchema"] };
    return (await server.elicitInput(params, { signal })) as ElicitAnswer;
  } catch (error) {
    if (signal.aborted) throw new ToolError("The call was cancelled while waiting for the user's answer; nothing ran.", { code: "cancelled" });
    const detail = messageOf(error).replace(/^MCP error -?\d+: /, "");
    const invalid = error instanceof McpError && error.code === (ErrorCode.InvalidParams as number);
    throw new ToolError(
      invalid
        ? `The client's answer to the confirmation does not fit the form it was sent (${detail}); nothing ran.`
        : `The client could not ask the user (${detail}); nothing ran.`,
      {
        code: "confirmation_failed",
        hint: invalid
          ? "The client must answer with the form's fields (confirm: true or false); a client bug, or try another client."
          : "Retry; if the client cannot ask, start lam-mcp with --allow-unconfirmed to run such actions without asking.",
      },
    );
  }
}

/**
 * An MCP Apps view linked from a tool: `_meta.ui.resourceUri`, and the deprecated `_meta["ui/resourceUri"]` too, as
 * the extension's own registerAppTool sets both.
 */
function uiMeta(uri: string | undefined): { _meta?: Record<string, unknown> } {
  return uri ? { _meta: { ui: { resourceUri: uri }, [RESOURCE_URI_META_KEY]: uri } } : {};
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/**
 * A call's context as the server makes it, once per tools/call: a class, so that a call allocates one object and no
 * closures (server_status is the no-op of `npm run bench -- noop`). Its fields are its own, so `{ ...ctx }` copies
 * what a task's background run needs.
 */
class CallContext implements ToolContext {
  readonly signal: AbortSignal;
  readonly wantsProgress: boolean;
  readonly elicit: ToolContext["elicit"];
  trace?: ToolContext["trace"];

  constructor(
    readonly tool: string,
    private readonly extra: Extra,
    private readonly progressToken: ProgressToken | undefined,
    readonly log: Logger,
    elicitVia: McpServer["server"] | undefined,
  ) {
    this.signal = extra.signal;
    this.wantsProgress = progressToken !== undefined;
    this.elicit = elicitVia ? (req) => elicitForm(elicitVia, req, extra.signal) : undefined;
  }

  async progress(update: Progress): Promise<void> {
    if (this.progressToken === undefined || this.extra.signal.aborted) return;
    const notification: ServerNotification = { method: "notifications/progress", params: { progressToken: this.progressToken, ...update } };
    await this.extra.sendNotification(notification);
  }
}

/** The client's W3C trace context, when its request carries one in _meta (traceparent, tracestate). */
function traceOf(meta: Record<string, unknown> | undefined): ToolContext["trace"] {
  const traceparent = meta?.traceparent;
  if (typeof traceparent !== "string" || traceparent.length > 128) return undefined;
  const tracestate = meta?.tracestate;
  return typeof tracestate === "string" && tracestate.length <= 512 ? { traceparent, tracestate } : { traceparent };
}

export function createServer(services: Services): McpServer {
  const { catalog, log } = services;
  const tasks = services.tasks();
  const mcp = new McpServer(
    { name: "lam-mcp", title: "lam-mcp", version: VERSION },
    {
      instructions: INSTRUCTIONS,
      capabilities: { logging: {}, resources: {}, prompts: {}, completions: {}, ...TASK_CAPABILITIES },
      ...taskServerOptions(tasks),
    },
  );
  const server = mcp.server;
  /** This session's identity for log records (see forwardLogs), and its calls' logger, which marks them. */
  const scope = Symbol("session");
  const sessionLog = log.scoped(scope);
  server.registerCapabilities({ tools: { listChanged: true } });

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: (await services.ready.then(() => catalog.list())).map((spec) => ({
      name: spec.name,
      title: spec.title,
      description: spec.description,
      inputSchema: spec.inputSchema as { type: "object"; [key: string]: unknown },
      ...(spec.outputSchema ? { outputSchema: spec.outputSchema as { type: "object"; [key: string]: unknown } } : {}),
      annotations: { title: spec.title, ...spec.annotations },
      ...(spec.longRunning ? { execution: { taskSupport: "optional" as const } } : {}),
      ...uiMeta(viewFor(spec.name, spec.workflow === true)),
    })),
  }));

  let ready = false;
  void services.ready.then(() => (ready = true));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    if (!ready) await services.ready;
    const name = request.params.name;
    const spec = catalog.get(name);
    if (!spec) {
      const names = catalog.list().map((s) => s.name);
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}. Available tools: ${names.join(", ")}.`);
    }
    const ctx = new CallContext(name, extra, request.params._meta?.progressToken, sessionLog, server.getClientCapabilities()?.elicitation ? server : undefined);
    const trace = traceOf(request.params._meta);
    if (trace) ctx.trace = trace;
    // A task-augmented call returns its task at once and runs in the background (see tasks/mcp-tasks.ts).
    if (request.params.task) return startTask({ spec, args: request.params.arguments, ctx, extra, store: tasks, task: request.params.task, observe: services.observe });
    return callTool(spec, request.params.arguments, ctx, services.observe);
  });

  registerResources(mcp, services);
  registerPrompts(mcp, services);
  registerCompletion(mcp, services);
  const stopLogs = forwardLogs(mcp, services, scope);
  const stopSubscriptions = registerSubscriptions(mcp, services);

  // Changes after the first load of the actions are announced; the first load itself is what tools/list waits for.
  let unsubscribe: (() => void) | undefined;
  let closed = false;
  void services.ready.then(() => {
    if (closed) return;
    unsubscribe = catalog.onChange(() => {
      if (server.transport) void mcp.sendToolListChanged();
    });
  });
  const previousOnClose = server.onclose;
  server.onclose = () => {
    closed = true;
    unsubscribe?.();
    stopLogs();
    stopSubscriptions();
    previousOnClose?.();
  };
  return mcp;
}
