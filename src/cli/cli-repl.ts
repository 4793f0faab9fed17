/**
 * `market-cli repl`: reads command lines and runs each like a market-cli invocation (same
 * commands, same output), keeping one client, so its leader knowledge and circuit breakers
 * carry from line to line. An error is printed and the repl goes on; `help` prints the
 * commands, `exit`, `quit` or end of input leaves.
 */
import readline from "node:readline";
import { Writable } from "node:stream";
import type { CliSession, GlobalOptions } from "./market-cli-program.js";

/** Splits a line into words; single or double quotes group words ("Fruit & Veg"). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const pattern = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const match of line.matchAll(pattern)) words.push(match[1] ?? match[2] ?? match[3] ?? "");
  return words;
}

/** The repl's own global options, passed on to every line (a line may override them). */
function inheritedFlags(globals: GlobalOptions): string[] {
  return [
    ...(globals.endpoints !== undefined ? ["--endpoints", globals.endpoints] : []),
    ...(globals.config !== undefined ? ["--config", globals.config] : []),
    ...(globals.cacert !== undefined ? ["--cacert", globals.cacert] : []),
    ...(globals.timeout !== undefined ? ["--timeout", String(globals.timeout)] : []),
  ];
}

export async function runRepl(session: CliSession, globals: GlobalOptions,
  runLine: (argv: readonly string[]) => Promise<number>, helpText: () => string):
  Promise<void> {
  const { io } = session;
  session.defaultOutput = globals.output ?? "table";
  const prompt = io.stdinIsTTY ? "market> " : "";
  // On a terminal readline edits lines and echoes them through `output`; Ctrl-C leaves.
  const output = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      io.stdout(chunk.toString());
      done();
    },
  });
  const lines = readline.createInterface({ input: io.stdin, output, terminal: io.stdinIsTTY });
  lines.on("SIGINT", () => lines.close());
  if (prompt !== "") io.stdout(prompt);
  try {
    for await (const line of lines) {
      const words = splitWords(line);
      const first = words[0];
      if (first === "exit" || first === "quit") break;
      if (first === "help") io.stdout(`${helpText()}\n  help, exit: in the repl only\n`);
      else if (first === "repl") io.stderr("error: already in the repl\n");
      else if (first !== undefined) await runLine([...inheritedFlags(globals), ...words]);
      if (prompt !== "") io.stdout(prompt);
    }
  } finally {
    lines.close();
  }
}
