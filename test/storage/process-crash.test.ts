/**
 * A node killed at any moment restarts with every acknowledged write (issue 3, "Done when").
 * Method: a child process (fixtures/wal-writer.ts) appends batches, syncs, and only then prints
 * the index it acknowledges; the test SIGKILLs it at a moment drawn from a seeded PRNG, some
 * writes in flight, then reopens the directory in this process and checks that every
 * acknowledged index is there with the data that was written, and that the log is whole. Each
 * round's writer continues the previous round's WAL in a higher term, so recovery also runs on
 * segments left by earlier kills.
 */
import { expect } from "chai";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { SeededRng } from "../../src/raft/index.js";
import { FileStorage } from "../../src/storage/file-storage.js";
import { runAndKillAfterLines, TempDirs } from "./helpers.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

const writer = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures",
  "wal-writer.ts");

/** Runs the writer until it has acknowledged `acksBeforeKill` syncs, then kills it. */
function runAndKill(dir: string, term: number, acksBeforeKill: number): Promise<number> {
  return runAndKillAfterLines(writer, [dir, String(term)], acksBeforeKill, 20_000);
}

describe("FileStorage under SIGKILL", () => {
  it("restarts with every acknowledged entry after kills at random moments", async function () {
    this.timeout(30_000);
    const rng = new SeededRng(42);
    const dir = dirs.make();
    for (let term = 1; term <= 4; term++) {
      const acked = await runAndKill(dir, term, 20 + rng.nextInt(400));
      const log = FileStorage.open(dir, { segmentBytesMax: 4096 });
      expect(log.lastIndex(), `round ${term}`).to.be.at.least(acked);
      expect(log.hardState().term).to.be.within(term - 1, term);
      for (const entry of log.entries(log.firstIndex(), log.lastIndex() + 1)) {
        expect(entry.data).to.equal(`entry ${entry.index} of term ${entry.term}`);
      }
      // Compaction kept its trailing window of 100 entries.
      expect(log.lastIndex() - log.firstIndex() + 1).to.be.at.least(Math.min(100, acked));
      log.close();
    }
  });
});
