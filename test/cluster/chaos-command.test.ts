/**
 * The command that reproduces a chaos run (chaos-command.ts). Goal: it always names the seed,
 * the duration, the clients and the nemesis, and every other option only when it differs from
 * the command line's default; it quotes what a shell would split; it says which options it
 * cannot express; and every option it writes is one `npm run chaos` knows. Method: build
 * commands from options; for the last point, read `scripts/chaos.ts --help` once (a child
 * process of about a second).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect } from "chai";
import { chaosCommandDefaults, reproduceCommand } from "../../src/cluster/chaos-command.js";

const base = { durationMs: 30_000, clients: 4, nemesis: ["partition", "kill"], seed: 42 };

describe("chaos report: the command that reproduces the run", () => {
  it("names the seed, the duration, the clients and the nemesis, and no default", () => {
    expect(reproduceCommand({ ...base, rotateMs: 15_000, skusPerGeneration: 3,
      requestTimeoutMs: 2000, strict: false, tls: false })).to.deep.equal({
      command: "npm run chaos -- --duration 30 --clients 4 --nemesis partition,kill --seed 42",
      note: null });
    expect(reproduceCommand({ ...base, nemesis: [] }).command).to.contain("--nemesis none");
  });

  it("adds every option that differs from its default", () => {
    const { command, note } = reproduceCommand({ ...base, strict: true, ambiguous503: true,
      tls: true, rotateMs: 8000, skusPerGeneration: 5, requestTimeoutMs: 500 });
    expect(command).to.equal("npm run chaos -- --duration 30 --clients 4 --nemesis " +
      "partition,kill --seed 42 --tls --strict --ambiguous-503 --rotate 8 --skus 5 --timeout 500");
    expect(note).to.equal(null);
  });

  it("attaches with the cluster file, quoted when a shell would split it", () => {
    const { command } = reproduceCommand({ ...base, nemesis: ["partition"], tls: true,
      attachConfig: "my clusters/it's.json" });
    expect(command).to.match(/--seed 42 --attach --config 'my clusters\/it'\\''s\.json'$/);
  });

  it("names the options the command line cannot express", () => {
    const { command, note } = reproduceCommand({ ...base, durationMs: 1500, rotateMs: 8000,
      thinkMs: [5, 10], faultHoldMs: [100, 200] });
    expect(command).to.not.contain("--duration");
    expect(command).to.contain("--rotate 8");
    expect(note).to.equal("also set, with no command-line option: duration 1500 ms, " +
      "faultHoldMs [100,200], thinkMs [5,10]");
  });

  it("writes only options that npm run chaos knows, with its defaults", async function () {
    this.timeout(30_000);
    const { stdout } = await promisify(execFile)(process.execPath,
      ["--import", "tsx", "scripts/chaos.ts", "--help"], { timeout: 20_000 });
    const { command } = reproduceCommand({ ...base, strict: true, ambiguous503: true, tls: true,
      rotateMs: 8000, skusPerGeneration: 5, requestTimeoutMs: 500, attachConfig: "c.json" });
    for (const option of command.match(/--[\w-]+/g) ?? []) {
      expect(stdout, option).to.match(new RegExp(`^\\s+${option}\\b`, "m"));
    }
    expect(stdout).to.contain(`(default: ${chaosCommandDefaults.durationSeconds})`);
    expect(stdout).to.contain(`(default: ${chaosCommandDefaults.timeoutMs})`);
  });
});
