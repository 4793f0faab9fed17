/**
 * How market-cli's commands receive their input from commander: the positional arguments and
 * the command's options merged with the global ones (-w, --endpoints, --config, --timeout).
 */
import type { Command } from "commander";
import type { GlobalOptions } from "./cli-session.js";

export type Options = GlobalOptions & Record<string, unknown>;

/**
 * Wraps an action: commander passes the positional arguments, then the options, then the
 * command; the action gets the positionals and the options merged with the global ones.
 */
export function action(run: (options: Options, ...positionals: string[]) => Promise<void>) {
  return async (...args: unknown[]): Promise<void> => {
    const command = args[args.length - 1] as Command;
    const positionals = args.slice(0, -2).map((value) => value as string);
    await run(command.optsWithGlobals<Options>(), ...positionals);
  };
}
