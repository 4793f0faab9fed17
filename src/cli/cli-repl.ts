/**
 * `market-cli repl`: reads command lines and runs each like a market-cli invocation (same
 * commands, same output), keeping one client, so its leader knowledge and circuit breakers
 * carry from line to line. An error is printed and the repl goes on; `help` prints the
 * commands, `exit`, `quit` or end of input leaves. On a terminal, Tab completes command names
 * and options (and the values of options that have a fixed set, like -w), from the same
 * commander program that parses the lines.
 */
import readline from "node:readline";
import { Writable } from "node:stream";
import type { Command, Option } from "commander";
import type { CliSession, GlobalOptions } from "./cli-session.js";

/** Words only the repl knows, completed at the start of a line (`repl` itself is not one). */
const replWords = ["exit", "help", "quit"];

/**
 * Tab completion for `line` (the text before the cursor), as node:readline's completer wants
 * it: the candidates for the word being typed, and that word. The command is found by walking
 * the earlier words through `program`'s subcommands; a word starting with "-" completes the
 * options of that command and of its parents (the global ones), the word after an option with
 * choices completes the choices, and any other word the subcommands. A single candidate gets
 * a trailing space, so that the next Tab goes on to the next word.
 */
export function completeLine(program: Command, line: string): [string[], string] {
  const words = splitWords(line);
  const current = line === "" || /\s$/.test(line) ? "" : words.pop() ?? "";
  let command = program;
  let pendingOption: Option | null = null;
  for (const word of words) {
    if (pendingOption !== null) {
      pendingOption = null;
    } else if (word.startsWith("-")) {
      const option = findOption(command, word);
      if (option !== undefined && !option.isBoolean() && !word.includes("=")) {
        pendingOption = option;
      }
    } else {
      command = command.commands.find((sub) => sub.name() === word) ?? command;
    }
  }
  let candidates: string[];
  if (pendingOption !== null) {
    candidates = pendingOption.argChoices ?? [];
  } else if (current.startsWith("-")) {
    candidates = [...ancestry(command).flatMap((level) => level.options)
      .flatMap((option) => [option.long, option.short]), "--help"]
      .filter((name): name is string => name !== undefined);
  } else {
    candidates = command.commands.map((sub) => sub.name())
      .filter((name) => !(command === program && name === "repl"))
      .concat(command === program && words.length === 0 ? replWords : []);
  }
  const hits = [...new Set(candidates)].filter((name) => name.startsWith(current)).sort();
  return [hits.length === 1 ? [`${hits[0]} `] : hits, current];
}

/** `command` and its parents, nearest first. */
function ancestry(command: Command): Command[] {
  const levels: Command[] = [];
  for (let level: Command | null = command; level !== null; level = level.parent) {
    levels.push(level);
  }
  return levels;
}

function findOption(command: Command, word: string): Option | undefined {
  const name = word.split("=")[0];
  return ancestry(command).flatMap((level) => level.options)
    .find((option) => option.long === name || option.short === name);
}

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
  runLine: (argv: readonly string[]) => Promise<number>, program: () => Command):
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
  const completionProgram = program();
  const lines = readline.createInterface({ input: io.stdin, output, terminal: io.stdinIsTTY,
    completer: (line: string) => completeLine(completionProgram, line) });
  // Ctrl-C stops a command that runs until stopped (cluster watch), else leaves the repl.
  lines.on("SIGINT", () => {
    if (!session.interrupt()) lines.close();
  });
  if (prompt !== "") io.stdout(prompt);
  try {
    for await (const line of lines) {
      const words = splitWords(line);
      const first = words[0];
      if (first === "exit" || first === "quit") break;
      if (first === "help") {
        io.stdout(`${program().helpInformation()}\n  help, exit: in the repl only\n`);
      } else if (first === "repl") {
        io.stderr("error: already in the repl\n");
      } else if (first !== undefined) {
        await runLine([...inheritedFlags(globals), ...words]);
      }
      if (prompt !== "") io.stdout(prompt);
    }
  } finally {
    lines.close();
  }
}
