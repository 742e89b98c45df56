#!/usr/bin/env node
/**
 * The lam-mcp command: argv + environment -> settings -> a transport. The only process.exit in src/.
 * Exit status: 0 after a clean shutdown, 2 for bad settings or usage, 1 when start-up fails.
 */
import { Console } from "node:console";
import { parseArgs } from "node:util";
import { actionsCommand } from "./actions/cli.js";
import { ConfigError, SETTINGS, helpText, nearestFlag, otelSettings, parseConfig, processEnv, unknownEnvironment, type Config } from "./config.js";
import { messageOf } from "./errors.js";
import { createLogger, type Logger } from "./log.js";
import { builtInToolNames, createServices, toolRunner, type Services } from "./services.js";
import { VERSION } from "./version.js";

const INSPECTOR = "npx -y @modelcontextprotocol/inspector@0.17.2";

function parseCli(argv: string[]) {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "V" },
  };
  for (const s of SETTINGS) options[s.flag] = { type: "boolean" in s && s.boolean ? "boolean" : "string", ...("repeatable" in s && s.repeatable ? { multiple: true } : {}) };
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  const settings: Record<string, unknown> = {};
  for (const s of SETTINGS) if (values[s.flag] !== undefined) settings[s.key] = values[s.flag];
  return { settings, help: values.help === true, version: values.version === true, positionals };
}

function banner(config: Config, services: Services): string {
  return [
    `lam-mcp ${VERSION}: an MCP server (tokenizer, generation, search and action tools), speaking MCP over stdio.`,
    config.llmUrl.length > 0
      ? `Model server: ${services.engine.describeSource()} (asked on the first call that needs it).`
      : `Model: ${services.engine.describeSource()} (loaded on the first call that needs it).`,
    "It waits for an MCP client on stdin; this terminal is not one. Try it with the inspector:",
    `  ${INSPECTOR} --cli node ${process.argv[1] ?? "dist/cli.js"} ${config.llmUrl.length > 0 ? `--llm-url ${JSON.stringify(services.engine.describeSource())}` : `--model ${JSON.stringify(config.model)}`} --method tools/list`,
    "or plug it into Claude Desktop (see README.md). Ctrl-D or Ctrl-C ends it.",
    "",
  ].join("\n");
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`lam-mcp: ${usageProblem(error)}\nRun lam-mcp --help for the settings.\n`);
    return 2;
  }
  // --help and --version answer on stdout, as command-line tools do: no server runs, so stdout is not the protocol's.
  if (parsed.help) {
    // eslint-disable-next-line no-restricted-properties
    process.stdout.write(helpText(VERSION));
    return 0;
  }
  if (parsed.version) {
    // eslint-disable-next-line no-restricted-properties
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const subcommand = parsed.positionals[0];
  if (subcommand !== undefined && subcommand !== "actions") {
    process.stderr.write(`lam-mcp: unexpected argument ${JSON.stringify(subcommand)}\nRun lam-mcp --help for usage.\n`);
    return 2;
  }
  let config: Config;
  try {
    config = parseConfig(parsed.settings, processEnv());
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`lam-mcp: ${error.message}\nRun lam-mcp --help for the settings.\n`);
      return 2;
    }
    throw error;
  }
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  for (const warning of unknownEnvironment(processEnv())) log.warn(warning);
  if (subcommand === "actions") {
    // A command-line run, not an MCP session: its result goes to stdout.
    // eslint-disable-next-line no-restricted-properties
    const out = (text: string) => process.stdout.write(text);
    return actionsCommand(parsed.positionals.slice(1), {
      config,
      env: processEnv(),
      log,
      io: { out, err: (text) => process.stderr.write(text) },
      reserved: builtInToolNames(config, log),
      openTools: () => toolRunner(config, log, processEnv()),
    });
  }
  const services = createServices(config, log, { env: processEnv(), tracing: otelSettings(processEnv()) });
  // Said now, not at the first call an hour later; nothing is loaded to say it.
  for (const engine of new Set([services.engine, services.embeddingEngine])) {
    const problem = await engine.sourceProblem();
    if (problem) log.warn(problem);
  }
  return config.transport === "http" ? runHttp(services, log) : runStdio(config, services, log);
}

/** parseArgs' complaint, with the nearest setting for an unknown flag (--modle: did you mean --model?). */
function usageProblem(error: unknown): string {
  const message = messageOf(error);
  if ((error as { code?: string }).code !== "ERR_PARSE_ARGS_UNKNOWN_OPTION") return message;
  const typed = /'(-[^'=\s]+)/.exec(message)?.[1] ?? "";
  const near = nearestFlag(typed);
  return `unknown option ${typed}${near ? `; did you mean --${near}?` : ""}`;
}

async function runStdio(config: Config, services: Services, log: Logger): Promise<number> {
  // stdout is the protocol's channel: a library that prints with console.log or console.info (node-llama-cpp does
  // while waiting out a Hugging Face rate limit) would corrupt it, so the console writes to stderr.
  globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
  if (process.stdin.isTTY) process.stderr.write(banner(config, services));
  const { serveStdio } = await import("./transports/stdio.js");
  const running = await serveStdio(services);
  const stop = () => void running.close();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  await running.ended;
  log.debug("stdio session ended");
  await services.close();
  return 0;
}

async function runHttp(services: Services, log: Logger): Promise<number> {
  const { serveHttp, StartupError } = await import("./transports/http.js");
  let running: Awaited<ReturnType<typeof serveHttp>>;
  try {
    running = await serveHttp(services);
  } catch (error) {
    await services.close();
    if (error instanceof StartupError) {
      process.stderr.write(`lam-mcp: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  log.info(`lam-mcp ${VERSION} listening on ${running.url}`, { url: running.url });
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  log.info(`${signal}: shutting down`, { in_flight: running.inflight(), sessions: running.sessions() });
  await running.close();
  await services.close();
  log.info("stopped");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`lam-mcp: ${messageOf(error)}\n`);
    process.exit(1);
  },
);
