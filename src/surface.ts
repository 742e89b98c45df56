/**
 * The MCP surface beyond tools: resources (lam://model, lam://vocabulary, lam://actions, lam://actions/{name},
 * lam://config), prompts (research, plan_actions, explain_tokens) with argument completion, and the logging
 * capability (logging/setLevel, log records sent to the client as notifications/message).
 * Resource failures are protocol errors, as the specification asks.
 */
import { completable } from "@modelcontextprotocol/sdk/server/completable.js";
import { ResourceTemplate, type McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  CompleteRequestSchema,
  ErrorCode,
  McpError,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type LoggingLevel,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { RESOURCE_MIME_TYPE } from "@modelcontextprotocol/ext-apps/server";
import { VIEWS } from "./apps/views.js";
import { describeConfig } from "./config.js";
import { ToolError, messageOf } from "./errors.js";
import { LOG_SCOPE, type LogRecord } from "./log.js";
import type { Services } from "./services.js";
import { renderBytes } from "./llm/engine.js";
import { describeVocabulary } from "./tokens/tools.js";

const JSON_TYPE = "application/json";

function asProtocolError(error: unknown): McpError {
  if (error instanceof McpError) return error;
  if (error instanceof ToolError) return new McpError(ErrorCode.InternalError, error.render());
  return new McpError(ErrorCode.InternalError, messageOf(error));
}

async function json(uri: URL, make: () => Promise<unknown>) {
  try {
    return { contents: [{ uri: uri.href, mimeType: JSON_TYPE, text: JSON.stringify(await make(), null, 2) }] };
  } catch (error) {
    throw asProtocolError(error);
  }
}

async function actionNames(services: Services): Promise<string[]> {
  return (await services.actions.loaded()).map((a) => a.action.name);
}

export function registerResources(mcp: McpServer, services: Services): void {
  const { engine, config, actions } = services;

  mcp.registerResource(
    "model",
    "lam://model",
    {
      title: "The model",
      description:
        "The model's metadata: name, file, size, architecture, quantization, context, vocabulary, and where it runs. " +
        "Loads its tokenizer if needed (with an inference server, asks the server).",
      mimeType: JSON_TYPE,
    },
    (uri) =>
      json(uri, async () => {
        if (engine.backend().kind === "remote") {
          await engine.capabilities(); // the server is asked what it serves
          const tokenizer = await engine.tokenizer().then(
            (t) => t.implementation,
            (error: unknown) => ({ engine: "none", detail: messageOf(error) }),
          );
          return { loaded: "on the model server", backend: engine.describeSource(), ...engine.loadedInfo(), tokenizer, contextSize: engine.contextSizes() };
        }
        const tokenizer = await engine.tokenizer();
        return {
          loaded: engine.state === "full" ? "full" : "vocabulary only",
          backend: "local",
          load_ms: engine.loadMs ?? null,
          ...tokenizer.info,
          tokenizer: tokenizer.implementation,
          contextSize: engine.contextSizes(),
        };
      }),
  );

  mcp.registerResource(
    "vocabulary",
    "lam://vocabulary",
    { title: "The vocabulary", description: "The tokenizer described, as the vocabulary tool does (size, special tokens, analysis).", mimeType: JSON_TYPE },
    (uri) =>
      json(uri, async () => {
        const tokenizer = await engine.tokenizer();
        if (!tokenizer.vocabulary) throw new McpError(ErrorCode.InvalidRequest, "The model server does not expose its vocabulary; start lam-mcp with --model set to a local GGUF of the same model.");
        return (await describeVocabulary(tokenizer.info.name, tokenizer.vocabulary, tokenizer.implementation, undefined, 0)).structured;
      }),
  );

  mcp.registerResource(
    "actions",
    "lam://actions",
    {
      title: "User actions",
      description:
        "Every action file of the tools directory: its action, whether it is loaded, and why not (file, field, message); " +
        "and every workflow schedule: whether it fires, why not, and when next.",
      mimeType: JSON_TYPE,
    },
    (uri) => json(uri, async () => ({ ...(await actions.describe()), schedules: services.schedules() })),
  );

  mcp.registerResource(
    "action",
    new ResourceTemplate("lam://actions/{name}", {
      list: async () => ({
        resources: (await actions.loaded()).map((a) => ({ uri: `lam://actions/${a.action.name}`, name: a.action.name, description: a.action.description, mimeType: JSON_TYPE })),
      }),
      complete: { name: async (value) => (await actionNames(services)).filter((n) => n.startsWith(value)) },
    }),
    { title: "One action", description: "One loaded action: its file and its declaration.", mimeType: JSON_TYPE },
    (uri, { name }) =>
      json(uri, async () => {
        const found = (await actions.loaded()).find((a) => a.action.name === name);
        if (!found) throw new McpError(ErrorCode.InvalidParams, `No action named ${String(name)}; see lam://actions.`);
        return { file: found.file, action: found.action };
      }),
  );

  // MCP Apps views (ui://): HTML the host renders beside the answers of the tools that link them.
  for (const view of VIEWS) {
    mcp.registerResource(view.name, view.uri, { title: view.title, description: view.description, mimeType: RESOURCE_MIME_TYPE }, (uri) => ({
      contents: [{ uri: uri.href, mimeType: RESOURCE_MIME_TYPE, text: view.html }],
    }));
  }

  mcp.registerResource(
    "runs",
    "lam://runs",
    {
      title: "Workflow runs",
      description:
        "The latest workflow runs, newest first (at most 100): id, workflow, trigger (call or schedule), status " +
        "(running, completed, failed, cancelled, skipped, interrupted), started_at, ended_at (null while running). " +
        "Subscribe to hear when a run ends.",
      mimeType: JSON_TYPE,
    },
    (uri) => json(uri, async () => ({ runs: await services.runs().list(100) })),
  );

  mcp.registerResource(
    "run",
    new ResourceTemplate("lam://runs/{id}", {
      list: async () => ({
        resources: (await services.runs().list(100)).map((r) => ({ uri: `lam://runs/${r.id}`, name: `${r.workflow} ${r.started_at}`, description: `${r.trigger}, ${r.status}`, mimeType: JSON_TYPE })),
      }),
      complete: { id: async (value) => (await services.runs().list(100)).map((r) => r.id).filter((id) => id.startsWith(value)) },
    }),
    { title: "One workflow run", description: "One run with its arguments, every step (tool, arguments, outcome, time, summary) and its output or error.", mimeType: JSON_TYPE },
    (uri, { id }) =>
      json(uri, async () => {
        const run = await services.runs().get(String(id));
        if (!run) throw new McpError(ErrorCode.InvalidParams, `No run ${String(id)}; lam://runs lists them.`);
        return run;
      }),
  );

  mcp.registerResource(
    "config",
    "lam://config",
    {
      title: "Effective settings",
      description: "Every setting as the server runs with it (secrets masked), and under `applied` what the loaded model changes (the context size its training caps).",
      mimeType: JSON_TYPE,
    },
    (uri) => json(uri, async () => ({ ...describeConfig(config), applied: { contextSize: engine.contextSizes() } })),
  );
}

/**
 * resources/subscribe: a subscriber hears `notifications/resources/updated` when what it subscribed to changes:
 * lam://actions (and lam://actions/{name}) when the tools directory reloads, lam://model and lam://vocabulary when
 * a model loads, lam://runs and lam://runs/{id} when a run ends. Any URI may be subscribed to (one that does not
 * change is never notified), at most 1000 per session. Returns the unsubscribe function.
 */
export function registerSubscriptions(mcp: McpServer, services: Services): () => void {
  const server = mcp.server;
  server.registerCapabilities({ resources: { subscribe: true } });
  const subscribed = new Set<string>();
  server.setRequestHandler(SubscribeRequestSchema, (request) => {
    const { uri } = request.params;
    if (!subscribed.has(uri) && subscribed.size >= MAX_SUBSCRIPTIONS) {
      throw new McpError(ErrorCode.InvalidParams, `This session has ${MAX_SUBSCRIPTIONS} subscriptions already; unsubscribe from some first.`);
    }
    subscribed.add(uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    subscribed.delete(request.params.uri);
    return {};
  });
  const notify = (uris: string[]) => {
    if (!server.transport) return;
    for (const uri of uris) if (subscribed.has(uri)) void server.sendResourceUpdated({ uri }).catch(() => undefined);
  };
  const offs: Array<() => void> = [];
  let closed = false;
  offs.push(
    services.actions.onChange((tools) => notify(["lam://actions", ...tools.map((t) => `lam://actions/${t.name}`)])),
    services.telemetry.on((event) => {
      if (event.type === "model_load") notify(["lam://model", "lam://vocabulary"]);
    }),
  );
  // The run store is opened by whoever needs it first; the subscription waits for nothing.
  void Promise.resolve().then(() => {
    if (!closed) offs.push(services.runs().onEnded((run) => notify(["lam://runs", `lam://runs/${run.id}`])));
  });
  return () => {
    closed = true;
    for (const off of offs) off();
  };
}

const MAX_SUBSCRIPTIONS = 1000;

/** A prompt result of one user message. */
function userMessage(text: string) {
  return { messages: [{ role: "user" as const, content: { type: "text" as const, text } }] };
}

export function registerPrompts(mcp: McpServer, services: Services): void {
  registerResearch(mcp);
  registerPlanActions(mcp, services);
  registerExplainTokens(mcp, services);
  registerExplainSampling(mcp);
}

function registerResearch(mcp: McpServer): void {
  mcp.registerPrompt(
    "research",
    {
      title: "Research a question on the web",
      description: "Answer a question from fresh web sources, with citations.",
      argsSchema: { question: z.string().describe("The question to research") },
    },
    ({ question }) =>
      userMessage(
        [
          `Research this question and answer it with citations: ${question}`,
          "",
          "1. Call search_context with the question and max_tokens around 3000: it returns numbered passages [n] with their sources.",
          "2. If a source needs a closer look, call read_url on it (pass next_offset back to read on).",
          "3. If the passages do not answer it, call web_search with other words, then search_context again.",
          "4. Answer in a few paragraphs. Cite every claim as [n], and end with the list of sources: [n] title — URL.",
          "Say plainly what the sources do not tell.",
        ].join("\n"),
      ),
  );
}

function registerPlanActions(mcp: McpServer, services: Services): void {
  mcp.registerPrompt(
    "plan_actions",
    {
      title: "Plan with the user's actions",
      description: "Lay out a step-by-step plan that reaches a goal with the available actions, previewing each step before running it.",
      argsSchema: {
        goal: z.string().describe("What to achieve"),
        action: completable(z.string().optional().describe("An action the plan should center on"), async (value) =>
          (await actionNames(services)).filter((n) => n.startsWith(value ?? "")),
        ),
      },
    },
    async ({ goal, action }) => {
      const loaded = await services.actions.loaded();
      const list = loaded.length
        ? loaded
            .map((a) => {
              const ann = a.action.annotations ?? {};
              const flags = [ann.readOnlyHint ? "read-only" : "", ann.destructiveHint ? "destructive" : "", a.action.confirm ? "asks the user" : ""].filter(Boolean);
              return `- ${a.action.name}: ${a.action.description}${flags.length ? ` (${flags.join(", ")})` : ""}`;
            })
            .join("\n")
        : "(no actions are loaded: say so, and suggest which action files would be needed)";
      return userMessage(
        [
          `Goal: ${goal}`,
          action ? `Center the plan on the action ${action}.` : "",
          "",
          "The actions available:",
          list,
          "",
          "Lay out a numbered plan that reaches the goal with these actions only. For each step give the action and its arguments.",
          "Before running any step, call preview_action with the same name and arguments and check that what it would run is what you intend.",
          "Run read-only steps freely; before a destructive step, say what it will change. Stop and report if a step fails.",
        ]
          .filter((l, i, all) => l !== "" || all[i - 1] !== "")
          .join("\n"),
      );
    },
  );
}

function registerExplainTokens(mcp: McpServer, services: Services): void {
  mcp.registerPrompt(
    "explain_tokens",
    {
      title: "Explain how the model reads a text",
      description: "Shows how the model's tokenizer splits a text, and asks for an explanation of what that means for prompts.",
      argsSchema: { text: z.string().describe("The text to look at") },
    },
    async ({ text }) => {
      let listing: string;
      try {
        const tokenizer = await services.engine.tokenizer();
        const { ids } = await tokenizer.tokenize(text, { special: false });
        const bytes = await tokenizer.tokenBytes(ids.slice(0, 500));
        const pieces = ids.map((id, i) => ({ id, ...(bytes[i] ? renderBytes(bytes[i]) : { piece: "" }) }));
        listing =
          `${tokenizer.info.name} splits it into ${pieces.length} tokens:\n` +
          pieces.slice(0, 500).map((p) => `${p.id}:${JSON.stringify(p.piece)}`).join(" ") +
          (pieces.length > 500 ? ` … (+${pieces.length - 500} more)` : "");
      } catch (error) {
        listing = `(the tokenizer is not available: ${messageOf(error).split("\n")[0]}; call the tokenize tool to see the tokens)`;
      }
      return userMessage(
        [
          `Text: ${JSON.stringify(text)}`,
          "",
          listing,
          "",
          "Explain how the model reads this text: where words are split, which pieces carry a leading space, how numbers,",
          "punctuation and non-English characters are handled, and what that means for token budgets and prompt wording.",
        ].join("\n"),
      );
    },
  );
}

function registerExplainSampling(mcp: McpServer): void {
  mcp.registerPrompt(
    "explain_sampling",
    {
      title: "Explain how temperature and top-k/top-p change the next token",
      description: "Asks for next_token at several temperatures on a prompt, then an explanation of what each setting does to the choice.",
      argsSchema: { prompt: z.string().describe("The text whose next token to look at") },
    },
    ({ prompt }) =>
      userMessage(
        [
          `Prompt: ${JSON.stringify(prompt)}`,
          "",
          "Call next_token on this prompt four times: with temperature 0, 0.5, 1 and 1.5 (n 8, and top_k 0, top_p 1, min_p 0 so that only",
          "temperature acts), then once more at temperature 1 with top_p 0.5. For each, read probability, after_temperature, kept",
          "and p_sample. Then explain, with the numbers: what temperature does to the distribution, why 0 always picks the top",
          "token, and what top_p cut and why. End with which settings you would use to make this text's continuation predictable,",
          "and which to make it varied.",
        ].join("\n"),
      ),
  );
}

/**
 * completion/complete, answered here rather than by the SDK: action names for plan_actions' `action` and for the
 * lam://actions/{name} template; any other argument (or an unknown prompt or template) gets no suggestions
 * instead of an error, as the protocol allows.
 */
export function registerCompletion(mcp: McpServer, services: Services): void {
  mcp.server.setRequestHandler(CompleteRequestSchema, async (request) => {
    const { ref, argument } = request.params;
    const wantsActions =
      (ref.type === "ref/prompt" && ref.name === "plan_actions" && argument.name === "action") ||
      (ref.type === "ref/resource" && ref.uri === "lam://actions/{name}" && argument.name === "name");
    const values = wantsActions ? (await actionNames(services)).filter((n) => n.startsWith(argument.value)).slice(0, 100) : [];
    return { completion: { values, total: values.length, hasMore: false } };
  });
}

const SEVERITY: Record<LoggingLevel, number> = { debug: 0, info: 1, notice: 2, warning: 3, error: 4, critical: 5, alert: 6, emergency: 7 };
const FROM_LOG: Record<LogRecord["level"], LoggingLevel> = { debug: "debug", info: "info", warn: "warning", error: "error" };

/**
 * logging/setLevel, and the server's log records sent to the client at or above the level it chose (warning and
 * above until it chooses): its own session's records and the server-wide ones, never another session's.
 * Returns the unsubscribe function.
 */
export function forwardLogs(mcp: McpServer, services: Services, scope: symbol): () => void {
  const server = mcp.server;
  let level: LoggingLevel = "warning";
  let initialized = false;
  const subscription = services.log.subscribe((record) => {
    const mapped = FROM_LOG[record.level];
    if (!initialized || !server.transport || SEVERITY[mapped] < SEVERITY[level]) return;
    // Another session's records stay with that session.
    const owner = record[LOG_SCOPE];
    if (owner !== undefined && owner !== scope) return;
    const { level: _l, msg, time, ...fields } = record;
    void server
      .notification({ method: "notifications/message", params: { level: mapped, logger: "lam-mcp", data: { message: msg, time, ...fields } } })
      .catch(() => undefined);
  }, "warn");
  server.setRequestHandler(SetLevelRequestSchema, (request) => {
    level = request.params.level;
    // Only records this client may want are built at all.
    subscription.setLevel(SEVERITY[level] <= SEVERITY.debug ? "debug" : SEVERITY[level] <= SEVERITY.info ? "info" : SEVERITY[level] <= SEVERITY.warning ? "warn" : "error");
    return {};
  });
  const previous = server.oninitialized;
  server.oninitialized = () => {
    initialized = true;
    previous?.();
  };
  return subscription;
}
