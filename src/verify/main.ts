/**
 * The entry point of `npm run verify -- FILE` (see verify-cli.ts and `--help`). The exit
 * status is set, not forced, so that a long verdict on a pipe is written out in full.
 */
import { runVerifyCli } from "./verify-cli.js";

process.exitCode = runVerifyCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  error: (text) => process.stderr.write(text),
});
