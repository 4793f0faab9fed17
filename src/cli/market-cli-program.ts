/**
 * market-cli as a function: runMarketCli(argv, io) parses one command line, runs it against
 * the cluster and returns the exit code, with all input and output going through `io`. The
 * entry point (market-cli.ts) and the tests call it; the repl calls it once per line.
 *
 * Exit codes: 0 success; 1 the cluster answered with an error (a rejection such as
 * insufficient_stock or not_found, or an unexpected answer); 2 the cluster could not serve the
 * request (no node reachable, no leader, overloaded, or timed out: try again later); 128 bad
 * usage (an unknown command or option, a bad value, an unreadable cluster file). `cluster
 * status` has its own: 1 every node answered but none knows a leader, 2 a node did not answer.
 *
 * When the cluster cannot serve a call, the error says what market-cli saw (cli-diagnosis.ts):
 * it asks every node for its status, within what is left of --timeout, and names the nodes that
 * did not answer and why. Under `-w json` every error is one JSON line on stderr,
 * `{"error":{"code","message",...}}`, in the shape of the API's errors.
 */
import { Command, CommanderError, Option } from "commander";
import { marketClientDefaults, MarketClientError } from "../client/index.js";
import { UsageError } from "./cli-endpoints.js";
import { diagnose, diagnosisJson } from "./cli-diagnosis.js";
import { describeClientError, type OutputFormat } from "./cli-output.js";
import {
  CliFailure,
  durationMs,
  exitCodes,
  idOfEndpoint,
  type CliSession,
  type GlobalOptions,
} from "./cli-session.js";
import { registerCommands } from "./market-cli-commands.js";

// The session lives in cli-session.ts with what the commands share; the entry point and the
// tests take it from here, with the program.
export { CliSession, type CliIo } from "./cli-session.js";

/** Codes meaning "the cluster could not serve this now", as opposed to a rejection. */
const unavailableCodes: ReadonlySet<string> =
  new Set(["unreachable", "no_leader", "unavailable", "timeout"]);

export function buildProgram(session: CliSession,
  format: OutputFormat = session.defaultOutput): Command {
  const program = new Command()
    .name("market-cli")
    .description("Buy, search and manage a raftmarket cluster from the command line.")
    .addOption(new Option("-w, --output <format>", "output format").choices(["table", "json"]))
    .option("--endpoints <urls>", "comma-separated node URLs (default: MARKET_ENDPOINTS, the " +
      "nodes of ./cluster.config.json, or http://127.0.0.1:7001,7002,7003)")
    .option("--config <file>", "cluster file to read the nodes from")
    .option("--cacert <file>", "CA certificate (PEM) to trust for https:// endpoints (default: " +
      "MARKET_CACERT, or the cluster file's tls.ca)")
    .option("--timeout <duration>", "give up on a command after this long, retries included: " +
      `500ms, 2s, or a number of milliseconds (default: ${marketClientDefaults.retryBudgetMs /
        1000}s)`, durationMs)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => session.io.stdout(text),
      writeErr: (text) => session.io.stderr(text),
      outputError: (text, write) => write(format === "json"
        ? `${JSON.stringify({ error: { code: "usage", message: usageMessage(text) } })}\n`
        : text),
    })
    .showSuggestionAfterError();
  // Under -w json an error is one JSON line and nothing else.
  if (format !== "json") program.showHelpAfterError("(run with --help for usage)");
  registerCommands(program, session, {
    run: (argv) => runMarketCli(argv, session),
    build: () => buildProgram(session),
  });
  checkRequiredOptionsLast(program);
  return program;
}

/** Commander's error text as one line without its "error: " prefix. */
function usageMessage(text: string): string {
  return text.trim().replace(/^error: /, "").replace(/\s*\n\s*/g, " ");
}

/**
 * Commander checks required options before it looks for unknown ones, so `buy --itme x` would
 * blame a missing --item rather than the misspelt option. The required options are therefore
 * checked in a preAction hook, which commander calls once unknown options and bad arguments
 * have been refused, with commander's own message.
 */
function checkRequiredOptionsLast(program: Command): void {
  const required = new Map<Command, Option[]>();
  const pending: Command[] = [program];
  while (pending.length > 0) {
    const command = pending.pop()!;
    const options = command.options.filter((option) => option.mandatory);
    for (const option of options) option.mandatory = false;
    if (options.length > 0) required.set(command, options);
    pending.push(...command.commands);
  }
  program.hook("preAction", (_program, actionCommand) => {
    for (const option of required.get(actionCommand) ?? []) {
      if (actionCommand.getOptionValue(option.attributeName()) === undefined) {
        actionCommand.error(`error: required option '${option.flags}' not specified`,
          { code: "commander.missingMandatoryOptionValue" });
      }
    }
  });
}

/**
 * The output format a command line asks for (-w/--output), read before commander parses it, so
 * that commander's own errors can be JSON too. A bad value is commander's to refuse.
 */
export function outputFormatOf(argv: readonly string[], fallback: OutputFormat): OutputFormat {
  let format = fallback;
  for (const [k, word] of argv.entries()) {
    if (word === "--") break;
    const value = word === "-w" || word === "--output" ? argv[k + 1]
      : word.startsWith("--output=") ? word.slice("--output=".length)
        : word.startsWith("-w") && word.length > 2 ? word.slice(2).replace(/^=/, "") : undefined;
    if (value === "json" || value === "table") format = value;
  }
  return format;
}

/** Runs one command line; never throws, never exits the process. */
export async function runMarketCli(argv: readonly string[], session: CliSession):
  Promise<number> {
  session.requestId = undefined;
  const format = outputFormatOf(argv, session.defaultOutput);
  const program = buildProgram(session, format);
  // Until --timeout is parsed, the default budget; the preAction hook sets the real deadline.
  session.deadlineMs = Date.now() + marketClientDefaults.retryBudgetMs;
  program.hook("preAction", (_program, actionCommand) => {
    const { timeout } = actionCommand.optsWithGlobals<GlobalOptions>();
    if (timeout !== undefined) session.deadlineMs = Date.now() + timeout;
  });
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCodes.ok;
  } catch (error) {
    return await reportError(error, session, format);
  }
}

interface Reported {
  readonly exitCode: number;
  readonly code: string;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
}

/** Prints an error as one line (JSON under -w json) and returns the exit code. */
export async function reportError(error: unknown, session: CliSession,
  format: OutputFormat): Promise<number> {
  if (error instanceof CommanderError) {
    // Commander has printed its message (or the help) already.
    return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
  }
  const reported = await describeError(error, session);
  session.io.stderr(format === "json"
    ? `${JSON.stringify({ error: { code: reported.code, message: reported.message,
      ...reported.details } })}\n`
    : `error: ${reported.message}\n`);
  return reported.exitCode;
}

async function describeError(error: unknown, session: CliSession): Promise<Reported> {
  if (error instanceof CliFailure) {
    return { exitCode: error.exitCode, code: error.code, message: error.message,
      details: error.details };
  }
  if (error instanceof UsageError) {
    return { exitCode: exitCodes.usage, code: "usage", message: error.message, details: {} };
  }
  if (error instanceof MarketClientError) {
    const details = { ...error.details, status: error.status };
    const unavailable = unavailableCodes.has(error.code);
    const message = describeClientError(error, session.requestId);
    if (!unavailable) return { exitCode: exitCodes.error, code: error.code, message, details };
    const explained = await explainUnavailable(error, message, session);
    return { exitCode: exitCodes.unavailable, code: error.code, message: explained.message,
      details: { ...details, ...explained.details } };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { exitCode: exitCodes.error, code: "error", message, details: {} };
}

/**
 * A call the cluster could not serve: asks every node for its status, within what is left of
 * the deadline, and says what it saw. An unreachable cluster or a missing leader is explained
 * by the diagnosis alone; a timeout keeps its own message (it may say the outcome is unknown),
 * with the diagnosis after it when something is wrong.
 */
async function explainUnavailable(error: MarketClientError, message: string,
  session: CliSession): Promise<{ message: string; details: Record<string, unknown> }> {
  const remainingMs = session.remainingMs();
  const connected = session.connected();
  if (connected === null || remainingMs < 1) return { message, details: {} };
  const { client, choice } = connected;
  const rows = await client.clusterStatus({ timeoutMs: remainingMs });
  const diagnosis = diagnose(rows, (endpoint) => idOfEndpoint(choice, endpoint), choice.source);
  const details = { diagnosis: diagnosisJson(diagnosis) };
  if (error.code === "unreachable" || error.code === "no_leader") {
    return { message: diagnosis.health === "healthy"
      ? `${message}; asked again: ${diagnosis.message}, so try again` : diagnosis.message,
    details };
  }
  return { message: diagnosis.health === "healthy" ? message
    : `${message}; ${diagnosis.message}`, details };
}
