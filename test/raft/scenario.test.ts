/**
 * Scenario tests: every file in test/raft/testdata/ is a script of commands against a
 * simulated cluster with the exact output each must print — the messages sent, role changes,
 * and status lines (see scenario-runner.ts for the format). A file is a specification, read
 * line by line against the Raft rules; any change in behaviour shows up as a diff here.
 * `REWRITE=1 npm test` writes the outputs the code now produces back into the files; review
 * that diff like code before keeping it (etcd's own rule for its testdata).
 */
import { expect } from "chai";
import { readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runScenarioFile } from "./scenario-runner.js";

const testdataDir = join(dirname(fileURLToPath(import.meta.url)), "testdata");
const rewrite = process.env["REWRITE"] === "1";

describe("raft scenarios (test/raft/testdata)", () => {
  const files = readdirSync(testdataDir).filter((name) => name.endsWith(".txt")).sort();

  it("has scenario files to run", () => {
    expect(files.length).to.be.at.least(1);
  });

  for (const file of files) {
    it(file, () => {
      const path = join(testdataDir, file);
      const result = runScenarioFile(path);
      if (rewrite) {
        writeFileSync(path, result.actual);
        return;
      }
      expect(result.actual, `first difference at ${result.firstMismatch}`)
        .to.equal(result.expected);
    });
  }
});
