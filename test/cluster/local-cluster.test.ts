/**
 * LocalCluster's promise that no node outlives the process that started it: a script that ends
 * on an unhandled rejection, before its `finally` could stop its cluster, still takes its
 * nodes and their folder with it.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { runTsScript, waitFor } from "./helpers.js";

const fixture = fileURLToPath(new URL("./fixtures/owner-that-crashes.ts", import.meta.url));

/** Whether `pid` still runs (a zombie, exited and not yet reaped, does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

describe("LocalCluster: no node outlives its owner", function () {
  this.timeout(60_000);

  it("kills the nodes and removes the folder when the owner exits without stop()", async () => {
    // Bounded: a fixture that hung would be killed, not left running with its node.
    const run = await runTsScript(fixture, [], 30_000);
    let started: { pids?: number[]; root?: string } = {};
    try {
      expect(run.code, run.stderr).to.equal(1);
      expect(run.stderr).to.include("the owner failed before stopping its cluster");
      started = JSON.parse(run.stdout.trim().split("\n")[0] || "{}") as typeof started;
      expect(started.pids).to.have.length(1);
      await waitFor(async () => started.pids!.every((pid) => !running(pid)) ? true : undefined,
        "the node to exit", 10_000);
      expect(existsSync(started.root!)).to.equal(false);
    } finally {
      // Whatever the outcome, nothing of the fixture's is left running.
      for (const pid of started.pids ?? []) {
        if (running(pid)) process.kill(pid, "SIGKILL");
      }
      if (started.root !== undefined) rmSync(started.root, { recursive: true, force: true });
    }
  });
});
