/**
 * `market-cli`: the command-line client of a raftmarket cluster (run `market-cli --help`).
 * This file only binds runMarketCli to the process; see market-cli-program.ts.
 */
import { CliSession, runMarketCli } from "./market-cli-program.js";

const session = new CliSession({
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
  stdoutIsTTY: process.stdout.isTTY === true,
  stdin: process.stdin,
  stdinIsTTY: process.stdin.isTTY === true,
  onInterrupt: (handler) => {
    process.on("SIGINT", handler);
    return () => void process.off("SIGINT", handler);
  },
});
const exitCode = await runMarketCli(process.argv.slice(2), session);
session.close();
process.exitCode = exitCode;
