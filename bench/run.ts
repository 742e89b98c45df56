/**
 * npm run bench [-- SUITE ...] [--model PATH]
 * Suites: tokenize, cold-start, threads, generate, remote, insight, search, actions, noop, cluster (default: all). Figures are printed with their same-run baselines.
 */
import { cpus } from "node:os";
import { benchActions } from "./actions.js";
import { benchCluster } from "./cluster.js";
import { benchColdStart } from "./cold-start.js";
import { benchGenerate } from "./generate.js";
import { benchInsight } from "./insight.js";
import { benchNoop } from "./noop.js";
import { benchRemote } from "./remote.js";
import { benchSearch } from "./search.js";
import { parseArgv, quietClientListenerWarnings } from "./lib.js";
import { mediumModel, tinyModel } from "./models.js";
import { benchThreads } from "./threads.js";
import { benchTokenize } from "./tokenize.js";
import { benchTokenizerVocabs } from "./tokenizer-vocabs.js";

quietClientListenerWarnings();
const { flags, words } = parseArgv(process.argv.slice(2));
const suites = words.length > 0 ? words : ["tokenize", "cold-start", "threads", "generate", "remote", "insight", "search", "actions", "noop", "cluster"];
const model = flags.model ?? tinyModel();
process.stdout.write(`# lam-mcp benchmarks (${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores: ${cpus()[0]?.model})\n`);

for (const suite of suites) {
  switch (suite) {
    case "tokenize":
      await benchTokenize(model);
      await benchTokenizerVocabs();
      break;
    case "cold-start":
      await benchColdStart(model);
      break;
    case "threads":
      await benchThreads(flags.model ?? mediumModel());
      break;
    case "generate":
      await benchGenerate(flags.model ?? mediumModel());
      break;
    case "remote":
      await benchRemote(flags.model ?? mediumModel());
      break;
    case "insight":
      await benchInsight(flags.model ?? mediumModel());
      break;
    case "search":
      await benchSearch(model);
      break;
    case "actions":
      await benchActions(model);
      break;
    case "noop":
      await benchNoop(model);
      break;
    case "cluster":
      await benchCluster(model);
      break;
    default:
      throw new Error(`unknown suite ${suite}: tokenize, cold-start, threads, generate, remote, insight, search, actions, noop, cluster`);
  }
}
