/**
 * Goal: the live view's frame interval is taken within the watcher's bounds, the same way by
 * `npm run cluster -- --dashboard-frame-ms` and by `npm run bench -- dashboard --frame-ms`,
 * and anything else is refused with a message, never passed on to throw later. Method: the
 * shared parsers directly, and the benchmark's command line in a child process (it refuses
 * before starting anything).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { InvalidArgumentError } from "commander";
import { clusterWatcherDefaults } from "../../src/dashboard/cluster-watcher.js";
import { parseFrameMs, parsePort } from "../../src/launcher/launcher-options.js";

describe("launcher options", () => {
  it("takes whole milliseconds within the watcher's bounds as the frame interval", () => {
    const { intervalMsMin, intervalMsMax } = clusterWatcherDefaults;
    for (const ms of [intervalMsMin, 200, 333, 500, intervalMsMax]) {
      expect(parseFrameMs(String(ms))).to.equal(ms);
    }
    for (const text of [String(intervalMsMin - 1), String(intervalMsMax + 1), "0", "-200",
      "200.5", "1e3", " 200", "0x100", "", "fast", "999999"]) {
      expect(() => parseFrameMs(text), text).to.throw(InvalidArgumentError,
        `whole milliseconds from ${intervalMsMin} to ${intervalMsMax}`);
    }
  });

  it("takes a port from 0 to 65535", () => {
    expect(parsePort("0")).to.equal(0);
    expect(parsePort("7080")).to.equal(7080);
    expect(parsePort("65535")).to.equal(65_535);
    for (const text of ["65536", "-1", "80.5", "", "http"]) {
      expect(() => parsePort(text), text).to.throw(InvalidArgumentError, "port number");
    }
  });

  it("npm run bench -- dashboard refuses --frame-ms outside the bounds, with no stack trace",
    () => {
      const bench = fileURLToPath(new URL("../../scripts/bench.ts", import.meta.url));
      const result = spawnSync(process.execPath, ["--import", "tsx", bench, "dashboard",
        "--frame-ms", "50"], { encoding: "utf8", timeout: 30_000 });
      expect(result.status).to.equal(1);
      expect(result.stderr).to.include("'--frame-ms <ms>' argument '50' is invalid");
      expect(result.stderr).to.include("must be whole milliseconds from 100 to 5000");
      expect(result.stderr).to.not.match(/\n\s+at /);
    });
});
