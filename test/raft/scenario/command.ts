/**
 * One command line of a scenario file, split on whitespace, and the helpers handlers use to
 * read their arguments. Arguments are positional, or key=value options after them.
 */
import type { ScenarioEnv } from "./env.js";
import { ScenarioError } from "./env.js";

export interface Command {
  readonly name: string;
  readonly args: readonly string[];
  /** 1-based line in the scenario file, for error messages. */
  readonly lineNumber: number;
}

/** Runs one command against the environment; output goes through env.print(). */
export type Handler = (env: ScenarioEnv, command: Command) => void;

export function parseCommand(line: string, lineNumber: number): Command {
  const [name, ...args] = line.trim().split(/\s+/);
  return { name: name ?? "", args, lineNumber };
}

export function positionalArgs(command: Command): string[] {
  return command.args.filter((arg) => !arg.includes("="));
}

export function optionArgs(command: Command): Map<string, string> {
  const options = new Map<string, string>();
  for (const arg of command.args) {
    const at = arg.indexOf("=");
    if (at > 0) options.set(arg.slice(0, at), arg.slice(at + 1));
  }
  return options;
}

export function requireArg(command: Command, position: number, what: string): string {
  const value = positionalArgs(command)[position];
  if (value === undefined) throw new ScenarioError(`${command.name}: missing ${what}`);
  return value;
}

export function parseCount(text: string, what: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    throw new ScenarioError(`${what} must be a non-negative integer, got "${text}"`);
  }
  return value;
}
