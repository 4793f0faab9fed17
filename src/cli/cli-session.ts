/**
 * What every market-cli command shares, apart from the program that registers them
 * (market-cli-program.ts): the exit codes, the I/O seam, the session that outlives one command
 * line (its client, output format and deadline), the failures market-cli diagnoses itself, and
 * the argument parsers. The commands import this module, and the program imports the commands,
 * so that no import goes back up.
 */
import { InvalidArgumentError } from "commander";
import {
  MarketClient,
  type EndpointStatus,
  type MarketClientOptions,
} from "../client/index.js";
import { parseDurationMs, PartitionError } from "../cluster/partitions.js";
import { resolveEndpoints, type EndpointChoice } from "./cli-endpoints.js";
import { diagnose, diagnosisJson, type Diagnosis } from "./cli-diagnosis.js";
import { colorAllowed, type OutputFormat, type Style } from "./cli-output.js";

export const exitCodes = { ok: 0, error: 1, unavailable: 2, usage: 128 } as const;

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
