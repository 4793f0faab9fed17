import { Readable } from "node:stream";
import { CliSession, runMarketCli } from "../../src/cli/market-cli-program.js";

/** Shared by the tests that run market-cli in-process: one command line, output captured. */

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly stdin?: string[];
  readonly tty?: boolean;
  readonly cwd: string;
  /** Whether stdin is a terminal (the repl then edits lines and completes on Tab). */
  readonly stdinTty?: boolean;
  /** Ctrl-C: given the handler market-cli installs for it, e.g. to call it after a while. */
  readonly onInterrupt?: (handler: () => void) => () => void;
}

/** Runs one command line through runMarketCli, with fast client backoff; never throws. */
export async function runInProcess(argv: readonly string[], options: RunOptions):
  Promise<Run> {
  let stdout = "";
  let stderr = "";
  const session = new CliSession({
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env: options.env ?? {},
    cwd: options.cwd,
    stdoutIsTTY: options.tty ?? false,
    stdin: Readable.from(options.stdin ?? []),
    stdinIsTTY: options.stdinTty ?? false,
    clientOptions: { backoffBaseMs: 1, backoffCapMs: 5 },
    ...(options.onInterrupt === undefined ? {} : { onInterrupt: options.onInterrupt }),
  });
  try {
    const code = await runMarketCli(argv, session);
    return { code, stdout, stderr };
  } finally {
    session.close();
  }
}
