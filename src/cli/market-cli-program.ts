/**
 * market-cli as a function: runMarketCli(argv, io) parses one command line, runs it against
 * the cluster and returns the exit code, with all input and output going through `io`. The
 * entry point (market-cli.ts) and the tests call it; the repl calls it once per line.
 *
 * Exit codes: 0 success; 1 the cluster answered with an error (a rejection such as
 * insufficient_stock or not_found, or an unexpected answer); 2 the cluster could not serve the
 * request (no node reachable, no leader, overloaded, or timed out: try again later); 128 bad
 * usage (an unknown command or option, a bad value, an unreadable cluster file).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import {
  MarketClient,
  MarketClientError,
  type MarketClientOptions,
} from "../client/index.js";
import { resolveEndpoints, UsageError, type EndpointChoice } from "./cli-endpoints.js";
import { colorAllowed, describeClientError, type OutputFormat, type Style } from "./cli-output.js";
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
}

export interface GlobalOptions {
  readonly output?: OutputFormat;
  readonly endpoints?: string;
  readonly config?: string;
  readonly cacert?: string;
  readonly timeout?: number;
}

/** State that outlives one command line: the client (and its breakers) for the repl. */
export class CliSession {
  private cached: { key: string; client: MarketClient; choice: EndpointChoice } | null = null;
  /** The requestId of the write in progress, so that an unknown outcome can name it. */
  requestId: string | undefined;
  /** Output format when a line gives none (the repl inherits its own -w). */
  defaultOutput: OutputFormat = "table";

  constructor(readonly io: CliIo) {}

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
        ...(choice.ca === null ? {} : { ca: choice.ca }),
        ...(globals.timeout !== undefined ? { retryBudgetMs: globals.timeout } : {}),
        ...this.io.clientOptions,
      });
      this.cached = { key, client, choice };
    }
    return { client: this.cached.client, choice: this.cached.choice };
  }

  format(globals: GlobalOptions): OutputFormat {
    return globals.output ?? this.defaultOutput;
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

export function buildProgram(session: CliSession): Command {
  const program = new Command()
    .name("market-cli")
    .description("Buy, search and manage a raftmarket cluster from the command line.")
    .addOption(new Option("-w, --output <format>", "output format").choices(["table", "json"]))
    .option("--endpoints <urls>", "comma-separated node URLs (default: MARKET_ENDPOINTS, the " +
      "nodes of ./cluster.config.json, or http://127.0.0.1:7001,7002,7003)")
    .option("--config <file>", "cluster file to read the nodes from")
    .option("--cacert <file>", "CA certificate (PEM) to trust for https:// endpoints (default: " +
      "MARKET_CACERT, or the cluster file's tls.ca)")
    .option("--timeout <ms>", "give up on a call after this many milliseconds, retries included",
      positiveInteger)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => session.io.stdout(text),
      writeErr: (text) => session.io.stderr(text),
    })
    .showHelpAfterError("(run with --help for usage)")
    .showSuggestionAfterError();
  registerCommands(program, session);
  return program;
}

/** Runs one command line; never throws, never exits the process. */
export async function runMarketCli(argv: readonly string[], session: CliSession):
  Promise<number> {
  session.requestId = undefined;
  try {
    await buildProgram(session).parseAsync([...argv], { from: "user" });
    return exitCodes.ok;
  } catch (error) {
    return reportError(error, session);
  }
}

export function reportError(error: unknown, session: CliSession): number {
  if (error instanceof CommanderError) {
    // Commander has printed its message (or the help) already.
    return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
  }
  if (error instanceof UsageError) {
    session.io.stderr(`error: ${error.message}\n`);
    return exitCodes.usage;
  }
  if (error instanceof MarketClientError) {
    session.io.stderr(`error: ${describeClientError(error, session.requestId)}\n`);
    return unavailableCodes.has(error.code) ? exitCodes.unavailable : exitCodes.error;
  }
  const message = error instanceof Error ? error.message : String(error);
  session.io.stderr(`error: ${message}\n`);
  return exitCodes.error;
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
