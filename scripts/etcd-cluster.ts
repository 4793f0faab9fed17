/**
 * A 3-member etcd cluster on 127.0.0.1 for the side-by-side benchmark (bench-vs-etcd.ts): free
 * ports, a temporary data folder per member, the given heartbeat and election timing. stop()
 * SIGKILLs every member it started, by PID, and removes the temporary folder. It uses the etcd
 * binary on PATH and never installs it.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../src/cluster/local-cluster.js";
import { requestJson } from "./bench-load.js";

/** The etcd version line when `etcd` runs from PATH, else null. */
export function etcdVersion(): string | null {
  const result = spawnSync("etcd", ["--version"], { encoding: "utf8", timeout: 10_000 });
  if (result.error !== undefined || result.status !== 0) return null;
  return result.stdout.split("\n")[0]?.trim() ?? "etcd";
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly logPath: string;
  process: ChildProcess | null;
}

export interface EtcdClusterOptions {
  readonly memberCount?: number;
  readonly heartbeatIntervalMs: number;
  readonly electionTimeoutMs: number;
}

/** The fields of etcd's maintenance status this script reads (JSON gateway spellings). */
interface EtcdStatus {
  readonly raft_term?: unknown;
  readonly raftTerm?: unknown;
  readonly leader?: unknown;
  readonly header?: { readonly member_id?: unknown };
}

export class EtcdCluster {
  /** A keep-alive agent for the members' client ports (HTTP/JSON gateway at /v3/). */
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private stopped = false;

  private constructor(readonly members: EtcdMember[], private readonly root: string) {}

  static async start(options: EtcdClusterOptions): Promise<EtcdCluster> {
    const root = mkdtempSync(path.join(tmpdir(), "raftmarket-etcd-"));
    const specs = [];
    for (let k = 1; k <= (options.memberCount ?? 3); k++) {
      specs.push({ name: `m${k}`, clientPort: await freePort(), peerPort: await freePort() });
    }
    const initialCluster = specs
      .map((spec) => `${spec.name}=http://127.0.0.1:${spec.peerPort}`).join(",");
    const members: EtcdMember[] = specs.map((spec) => ({ name: spec.name,
      clientUrl: `http://127.0.0.1:${spec.clientPort}`,
      logPath: path.join(root, `${spec.name}.log`), process: null }));
    const cluster = new EtcdCluster(members, root);
    specs.forEach((spec, k) => {
      const member = members[k]!;
      const peerUrl = `http://127.0.0.1:${spec.peerPort}`;
      const log = openSync(member.logPath, "a");
      const child = spawn("etcd", ["--name", spec.name,
        "--data-dir", path.join(root, spec.name),
        "--listen-client-urls", member.clientUrl, "--advertise-client-urls", member.clientUrl,
        "--listen-peer-urls", peerUrl, "--initial-advertise-peer-urls", peerUrl,
        "--initial-cluster", initialCluster, "--initial-cluster-state", "new",
        "--initial-cluster-token", path.basename(root),
        "--heartbeat-interval", String(options.heartbeatIntervalMs),
        "--election-timeout", String(options.electionTimeoutMs),
        "--logger", "zap", "--log-level", "warn"],
      { stdio: ["ignore", log, log] });
      closeSync(log);
      member.process = child;
      // A failed spawn (etcd removed meanwhile) is reported by waitHealthy, not thrown here.
      child.on("error", () => undefined);
      child.on("exit", () => {
        if (member.process === child) member.process = null;
      });
    });
    return cluster;
  }

  /** Waits until every member answers /health with true; on timeout throws with log tails. */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const answers = await Promise.all(this.members.map((member) =>
        requestJson(this.agent, "GET", `${member.clientUrl}/health`)));
      if (answers.every((answer) => (answer as { health?: unknown } | null)?.health === "true")) {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const tails = this.members.map((member) => `--- ${member.name} ---\n` +
      readFileSync(member.logPath, "utf8").split("\n").slice(-10).join("\n"));
    throw new Error(`etcd did not become healthy within ${timeoutMs} ms\n${tails.join("\n")}`);
  }

  /**
   * The highest Raft term any member reports (POST /v3/maintenance/status), or null when none
   * answers. Every election raises the term, so its change over a run counts leader changes.
   */
  async termMax(): Promise<number | null> {
    const terms = (await this.statuses()).map((status) =>
      Number(status?.raft_term ?? status?.raftTerm ?? NaN)).filter((term) => Number.isFinite(term));
    return terms.length === 0 ? null : Math.max(...terms);
  }

  /**
   * The position in `members` of the member the first answering member names as leader
   * (its own member id and the leader's, in the same status answer), or null.
   */
  async leaderPosition(): Promise<number | null> {
    const statuses = await this.statuses();
    const leader = statuses.find((status) => status?.leader !== undefined)?.leader;
    if (leader === undefined) return null;
    const position = statuses.findIndex((status) =>
      status?.header?.member_id !== undefined && String(status.header.member_id) === String(leader));
    return position < 0 ? null : position;
  }

  /** Every member's POST /v3/maintenance/status answer, in `members` order (null: none). */
  private async statuses(): Promise<(EtcdStatus | null)[]> {
    const answers = await Promise.all(this.members.map((member) =>
      requestJson(this.agent, "POST", `${member.clientUrl}/v3/maintenance/status`, {})));
    return answers.map((answer) => answer as EtcdStatus | null);
  }

  /** SIGKILLs every member (by PID) and removes the temporary folder. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.members.map(async (member) => {
      const child = member.process;
      if (child === null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGKILL");
      await exited;
    }));
    this.agent.destroy();
    rmSync(this.root, { recursive: true, force: true });
  }
}
