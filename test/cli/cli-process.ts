import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Shared by the tests that run market-cli as a user does: the bin, as a child process. */

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs bin/market-cli.js with `argv` (in the package root, no MARKET_ENDPOINTS, no color),
 * bounded by `timeoutMs`; never rejects. A run killed at the bound has code -1.
 */
export function spawnCli(argv: readonly string[], timeoutMs = 30_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(packageRoot, "bin/market-cli.js"), ...argv],
      { cwd: packageRoot, env: { ...process.env, MARKET_ENDPOINTS: "", NO_COLOR: "1" },
        timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      });
  });
}
