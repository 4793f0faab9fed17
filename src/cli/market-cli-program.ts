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
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import {
  MarketClient,
  marketClientDefaults,
  MarketClientError,
  type EndpointStatus,
  type MarketClientOptions,
} from "../client/index.js";
import { parseDurationMs, PartitionError } from "../cluster/partitions.js";
import { resolveEndpoints, UsageError, type EndpointChoice } from "./cli-endpoints.js";
import { diagnose, diagnosisJson, type Diagnosis } from "./cli-diagnosis.js";
import {
  colorAllowed,
  describeClientError,
  type OutputFormat,
  type Style,
} from "./cli-output.js";
import { registerCommands } from "./market-cli-commands.js";

export const exitCodes = { ok: 0, error: 1, unavailable: 2, usage: 128 } as const;

/** Codes meaning "the cluster could not serve this now", as opposed to a rejection. */
const unavailableCodes: ReadonlySet<string> =
  new Set(["unreachable", "no_leader", "unavailable", "timeout"]);

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly stdoutIsTTY: boolean;
  readonly stdin: NodeJS.ReadableStream;
  readonly stdinIsTTY: boolean;
  /** Extra MarketClient options (tests inject timeouts, sleep and random). */
  readonly clientOptions?: Partial<MarketClientOptions>;
  /**
   * Calls `handler` on Ctrl-C (SIGINT) until the returned function is called; the commands
   * that run until stopped (`cluster watch`, `cluster events --follow`) stop cleanly then.
   * Without it, only the repl's Ctrl-C stops them (and --timeout).
   */
  readonly onInterrupt?: (handler: () => void) => () => void;
}

export interface GlobalOptions {
  readonly output?: OutputFormat;
  readonly endpoints?: string;
  readonly config?: string;
  readonly cacert?: string;
  readonly timeout?: number;
}

/**
 * A failure market-cli diagnosed itself, with the exit code it calls for: `cluster status`
 * finding a node down (2) or no leader (1), `leader` finding none.
 */
export class CliFailure extends Error {
  override readonly name = "CliFailure";
  constructor(readonly exitCode: number, readonly code: string, message: string,
    readonly details: Readonly<Record<string, unknown>> = {}) {
    super(message);
  }
}

/** A diagnosis as the error market-cli reports: its sentence, and itself under -w json. */
export function diagnosisFailure(diagnosis: Diagnosis, exitCode: number, code: string,
  prefix = ""): CliFailure {
  return new CliFailure(exitCode, code, `${prefix}${diagnosis.message}`,
    { diagnosis: diagnosisJson(diagnosis) });
}

/** No endpoint gave its status: the diagnosis says why, exit code 2. */
export function noNodeAnswered(rows: readonly EndpointStatus[], choice: EndpointChoice):
  CliFailure {
  return diagnosisFailure(diagnose(rows, (endpoint) => idOfEndpoint(choice, endpoint),
    choice.source), exitCodes.unavailable, "unreachable");
}

/** State that outlives one command line: the client (and its breakers) for the repl. */
export class CliSession {
  private cached: { key: string; client: MarketClient; choice: EndpointChoice } | null = null;
  /** The requestId of the write in progress, so that an unknown outcome can name it. */
  requestId: string | undefined;
  /** Output format when a line gives none (the repl inherits its own -w). */
  defaultOutput: OutputFormat = "table";
  /** When the command line in progress must be done by (--timeout, else the client's budget). */
  deadlineMs = 0;

  private readonly interruptHandlers = new Set<() => void>();

  constructor(readonly io: CliIo) {}

  /**
   * An AbortSignal aborted on Ctrl-C, from the process (io.onInterrupt) or the repl
   * (interrupt()), until `dispose` is called.
   */
  interruptSignal(): { signal: AbortSignal; dispose: () => void } {
    const controller = new AbortController();
    const handler = (): void => controller.abort();
    this.interruptHandlers.add(handler);
    const unsubscribe = this.io.onInterrupt?.(handler);
    return { signal: controller.signal, dispose: () => {
      this.interruptHandlers.delete(handler);
      unsubscribe?.();
    } };
  }

  /** Ctrl-C in the repl: stops the command that waits for it; false when none does. */
  interrupt(): boolean {
    const handlers = [...this.interruptHandlers];
    for (const handler of handlers) handler();
    return handlers.length > 0;
  }

  get style(): Style {
    return { color: colorAllowed(this.io.stdoutIsTTY, this.io.env) };
  }

  connect(globals: GlobalOptions): { client: MarketClient; choice: EndpointChoice } {
    const choice = resolveEndpoints(globals, this.io.env, this.io.cwd);
    const key = JSON.stringify([choice, globals.timeout]);
    if (this.cached?.key !== key) {
      this.cached?.client.close();
      const client = new MarketClient({
        endpoints: choice.endpoints, nodeEndpoints: choice.nodeEndpoints,
        // The endpoints are the cluster: fail at once when most refuse the connection.
        failFastWithoutMajority: true,
        ...(choice.ca === null ? {} : { ca: choice.ca }),
        ...(globals.timeout !== undefined ? { retryBudgetMs: globals.timeout } : {}),
        ...this.io.clientOptions,
      });
      this.cached = { key, client, choice };
    }
    return { client: this.cached.client, choice: this.cached.choice };
  }

  /** The client the command line in progress connected with, if it did. */
  connected(): { client: MarketClient; choice: EndpointChoice } | null {
    const cached = this.cached;
    return cached === null ? null : { client: cached.client, choice: cached.choice };
  }

  format(globals: GlobalOptions): OutputFormat {
    return globals.output ?? this.defaultOutput;
  }

  /** Milliseconds left before the deadline of the command line in progress. */
  remainingMs(): number {
    return this.deadlineMs - Date.now();
  }

  /** Prints a result as a table or as JSON, as the -w option says. */
  print(globals: GlobalOptions, table: () => string, json: unknown): void {
    const text = this.format(globals) === "json" ? JSON.stringify(json, null, 2) : table();
    this.io.stdout(`${text}\n`);
  }

  close(): void {
    this.cached?.client.close();
    this.cached = null;
  }
}

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
  registerCommands(program, session);
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

/** The node id of an endpoint from the cluster file, else the endpoint itself. */
export function idOfEndpoint(choice: EndpointChoice, endpoint: string,
  client?: { idOf(endpoint: string): string | null }): string {
  return Object.entries(choice.nodeEndpoints).find(([, url]) => url === endpoint)?.[0] ??
    client?.idOf(endpoint) ?? endpoint;
}

export function positiveInteger(text: string): number {
  if (!/^[0-9]{1,15}$/.test(text) || Number(text) < 1) {
    throw new InvalidArgumentError(`"${text}" is not a positive integer`);
  }
  return Number(text);
}

export function nonNegativeInteger(text: string): number {
  if (!/^[0-9]{1,15}$/.test(text)) {
    throw new InvalidArgumentError(`"${text}" is not a non-negative integer`);
  }
  return Number(text);
}

/** --timeout: "500ms", "2s", "1.5s", or a whole number of milliseconds; at least 1 ms. */
export function durationMs(text: string): number {
  let ms: number;
  try {
    ms = /^[0-9]{1,15}$/.test(text) ? Number(text) : parseDurationMs(text);
  } catch (error) {
    if (!(error instanceof PartitionError)) throw error;
    throw new InvalidArgumentError(`"${text}" is not a duration: write 500ms, 2s or ` +
      "a number of milliseconds");
  }
  if (ms < 1) throw new InvalidArgumentError(`"${text}" is shorter than 1 ms`);
  return Math.ceil(ms);
}
