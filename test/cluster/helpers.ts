import { execFile } from "node:child_process";
import type { LocalCluster } from "../../src/cluster/local-cluster.js";

/** Shared by the real-process tests: polling for a condition with a generous bound. */

/** Polls `probe` every 50 ms until it returns a value; throws after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, what: string,
  timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until every node of `cluster` answers with one appliedIndex and one stateHash. */
export async function waitForConvergence(cluster: LocalCluster, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => {
    const statuses = [...(await cluster.statuses()).values()];
    if (statuses.length !== cluster.nodes.length) return undefined;
    const states = new Set(statuses.map((status) => `${status.appliedIndex}/${status.stateHash}`));
    return states.size === 1 ? true : undefined;
  }, `${cluster.nodes.length} replicas at one appliedIndex with one stateHash`, timeoutMs);
}

export interface ScriptRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a TypeScript script as a user would (node with tsx), bounded; never rejects. */
export function runTsScript(script: string, args: readonly string[], timeoutMs = 30_000):
  Promise<ScriptRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", script, ...args], { timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      });
  });
}
