/**
 * Runs the scenario files in test/raft/testdata/ (etcd's datadriven testdata and
 * rafttest/interaction_env_handler.go). A file is a list of cases; each is a command line, a
 * `----` line, and the output that command must print, up to a blank line:
 *
 *   # Comments start with '#' and belong to the case below them.
 *   propose n1 x
 *   ----
 *   n1 accepted 1/2:x
 *
 * The commands share one simulated cluster (test/raft/scenario/env.ts) and each has its
 * handler in test/raft/scenario/handlers/. A command that prints nothing prints `ok`. The
 * runner re-renders a file from its cases with the outputs it got, so comparing that text with
 * the file checks every output, and writing it back is how REWRITE=1 regenerates them.
 */
import { readFileSync } from "node:fs";
import { parseCommand } from "./scenario/command.js";
import { ScenarioEnv, ScenarioError } from "./scenario/env.js";
import { handlers } from "./scenario/handlers/index.js";

export interface ScenarioCase {
  readonly comments: readonly string[];
  readonly commandLine: string;
  /** 1-based line of the command in the file. */
  readonly lineNumber: number;
  readonly output: readonly string[];
}

export interface Scenario {
  readonly cases: readonly ScenarioCase[];
  /** Comment lines after the last case. */
  readonly trailingComments: readonly string[];
}

const separator = "----";

export function parseScenario(text: string, path: string): Scenario {
  const lines = text.split("\n");
  const cases: ScenarioCase[] = [];
  let comments: string[] = [];
  let k = 0;
  while (k < lines.length) {
    const line = lines[k]!.trimEnd();
    if (line === "" || line.startsWith("#")) {
      if (line !== "") comments.push(line);
      k++;
      continue;
    }
    const lineNumber = k + 1;
    if (lines[k + 1]?.trimEnd() !== separator) {
      throw new ScenarioError(`${path}:${lineNumber + 1}: expected "${separator}" after "${line}"`);
    }
    k += 2;
    const output: string[] = [];
    while (k < lines.length && lines[k]!.trimEnd() !== "") output.push(lines[k++]!.trimEnd());
    cases.push({ comments, commandLine: line, lineNumber, output });
    comments = [];
  }
  return { cases, trailingComments: comments };
}

export function renderScenario(scenario: Scenario): string {
  const blocks = scenario.cases.map((c) =>
    [...c.comments, c.commandLine, separator, ...c.output].join("\n"));
  if (scenario.trailingComments.length > 0) blocks.push(scenario.trailingComments.join("\n"));
  return `${blocks.join("\n\n")}\n`;
}

/** Runs every case in order on a fresh environment; returns the cases with actual outputs. */
export function runScenario(scenario: Scenario, path: string): Scenario {
  const env = new ScenarioEnv();
  const cases = scenario.cases.map((c): ScenarioCase => {
    const command = parseCommand(c.commandLine, c.lineNumber);
    const handler = handlers[command.name];
    if (handler === undefined) {
      throw new ScenarioError(`${path}:${c.lineNumber}: unknown command "${command.name}"`);
    }
    try {
      handler(env, command);
    } catch (error) {
      if (error instanceof Error) error.message = `${path}:${c.lineNumber}: ${error.message}`;
      throw error;
    }
    const output = env.takeOutput();
    return { ...c, output: output.length === 0 ? ["ok"] : output };
  });
  return { cases, trailingComments: scenario.trailingComments };
}

export interface ScenarioResult {
  /** The file as it is, normalized by a parse and render. */
  readonly expected: string;
  /** The file as it would be with the outputs the run produced. */
  readonly actual: string;
  /** "path:line: command" of the first case whose output differs, or null. */
  readonly firstMismatch: string | null;
}

export function runScenarioFile(path: string): ScenarioResult {
  const scenario = parseScenario(readFileSync(path, "utf8"), path);
  const ran = runScenario(scenario, path);
  const mismatch = ran.cases.find((c, k) =>
    c.output.join("\n") !== scenario.cases[k]!.output.join("\n"));
  return {
    expected: renderScenario(scenario),
    actual: renderScenario(ran),
    firstMismatch: mismatch === undefined ? null
      : `${path}:${mismatch.lineNumber}: ${mismatch.commandLine}`,
  };
}
