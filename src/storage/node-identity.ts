/**
 * The identity a data folder records (`IDENTITY`, JSON, written atomically): which cluster it
 * belongs to, which node it is, and which incarnation of that node made it. etcd keeps the same
 * facts in its WAL metadata (cluster id, member id), and refuses a folder of another cluster or
 * member.
 *
 * The incarnation is a random id drawn when the folder is first bootstrapped. A node publishes
 * `(id, incarnation)` in the replicated state once it runs (src/node/members.ts); a node that
 * comes back with an empty folder has a new incarnation, and its peers can tell it was here
 * before and lost its log and vote (issue 9, Raft's durability assumption, §5.1/Figure 2).
 *
 * `fence` is set by `--repair` when the repair dropped records the node may have acknowledged:
 * such a node must never vote or acknowledge as its old self again, so it refuses to start
 * until its folder is restored or it is replaced as a new member.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { nodeIdPattern } from "../raft/index.js";
import { fsyncDirectory } from "./wal-segment.js";
import { StorageError } from "./storage.js";

export const identityFileName = "IDENTITY";

/** Why a node may no longer take part as a voter under its id. */
export interface IdentityFence {
  readonly reason: string;
  /** When the fence was set, ISO 8601, for the person reading the file. */
  readonly at: string;
}

export interface NodeIdentity {
  readonly format: 1;
  readonly clusterId: string;
  readonly nodeId: string;
  readonly incarnation: string;
  /**
   * "bootstrap": made when the cluster file's node first started; "adopted": the folder held a
   * log from before identities existed; "joined": made by `market-node --join`, with `join`.
   */
  readonly origin: "bootstrap" | "adopted" | "joined";
  readonly fence: IdentityFence | null;
  /**
   * The configuration the cluster was bootstrapped with: the one its log replays from, entry 1
   * on. Recorded once (from the cluster file at bootstrap, or from the cluster by --join), so
   * that a later edit of the cluster file cannot change what a replay reaches. Absent in
   * folders made before it existed: recorded at their next start.
   */
  readonly bootstrap?: BootstrapRecord;
  /** A node that joined a running cluster: the members' addresses when it joined. */
  readonly join?: JoinRecord;
}

export interface AddressRecord {
  readonly id: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
}

export interface BootstrapRecord {
  readonly voters: readonly string[];
  /** Where the bootstrap voters listen: the first entries of the replicated address book. */
  readonly addresses: readonly AddressRecord[];
}

/**
 * What a joining node learned of the members when it joined: their addresses, so that it
 * accepts the current leader's messages before it has applied the change that names it.
 */
export interface JoinRecord {
  readonly addresses: readonly AddressRecord[];
}

/** A fresh incarnation id: 64 random bits, hex. */
export function newIncarnation(): string {
  return randomBytes(8).toString("hex");
}

/** The identity in `dataDir`, or null when there is none. Throws StorageError when unreadable. */
export function readIdentity(dataDir: string): NodeIdentity | null {
  const file = path.join(dataDir, identityFileName);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new StorageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const identity = parseIdentity(text);
  if (identity === null) {
    throw new StorageError(`${file} is not a valid identity file; restore it from a backup ` +
      "(it names the cluster and node this folder belongs to)");
  }
  return identity;
}

function parseIdentity(text: string): NodeIdentity | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const fields = value as Record<string, unknown>;
  const isText = (key: string): boolean =>
    typeof fields[key] === "string" && (fields[key] as string).length > 0;
  // The cluster id goes on the wire in a header: printable ASCII, as the transport requires.
  if (fields.format !== 1 || !/^[\x21-\x7e]{1,128}$/.test(String(fields.clusterId)) ||
    !isText("clusterId") || !isText("nodeId") ||
    !isText("incarnation") || (fields.origin !== "bootstrap" && fields.origin !== "adopted" &&
      fields.origin !== "joined")) {
    return null;
  }
  if (fields.join !== undefined && !isAddressList((fields.join as JoinRecord | null)?.addresses)) {
    return null;
  }
  if (fields.bootstrap !== undefined && !isBootstrapRecord(fields.bootstrap)) return null;
  const fence = fields.fence;
  if (fence !== null && (typeof fence !== "object" || fence === undefined ||
    typeof (fence as Record<string, unknown>).reason !== "string" ||
    typeof (fence as Record<string, unknown>).at !== "string")) {
    return null;
  }
  return value as NodeIdentity;
}

const isId = (id: unknown): boolean => typeof id === "string" && nodeIdPattern.test(id);

/** The shape only: the node checks each URL again before it uses one (member-addresses.ts). */
function isAddressList(value: unknown): value is AddressRecord[] {
  return Array.isArray(value) && value.length <= 1024 && value.every((address: unknown) =>
    typeof address === "object" && address !== null &&
    isId((address as Record<string, unknown>).id) &&
    typeof (address as Record<string, unknown>).peerUrl === "string" &&
    typeof (address as Record<string, unknown>).clientUrl === "string");
}

function isBootstrapRecord(value: unknown): value is BootstrapRecord {
  if (typeof value !== "object" || value === null) return false;
  const { voters, addresses } = value as Record<string, unknown>;
  return Array.isArray(voters) && voters.length > 0 && voters.length <= 1024 &&
    voters.every(isId) && isAddressList(addresses);
}

/**
 * Writes `identity` to `dataDir` atomically and durably: a private temporary file, fsynced,
 * renamed over the old one, and the folder fsynced. A crash leaves the old file or the new one.
 */
export function writeIdentity(dataDir: string, identity: NodeIdentity): void {
  const file = path.join(dataDir, identityFileName);
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(dataDir, { recursive: true });
    const fd = fs.openSync(temporary, "w");
    try {
      fs.writeSync(fd, JSON.stringify(identity, null, 2) + "\n");
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, file);
    fsyncDirectory(dataDir);
  } catch (error) {
    throw new StorageError(`cannot write ${file}: ${(error as Error).message}`);
  }
}

/** Sets the fence on the identity in `dataDir`, making one from `fallback` if there is none. */
export function fenceIdentity(dataDir: string, fence: IdentityFence,
  fallback: Omit<NodeIdentity, "fence" | "format">): NodeIdentity {
  const current = readIdentity(dataDir) ?? { format: 1 as const, ...fallback, fence: null };
  const fenced: NodeIdentity = { ...current, fence };
  writeIdentity(dataDir, fenced);
  return fenced;
}

/**
 * Whether `dataDir` holds nothing a node wrote: no identity, no log segment, no snapshot. The
 * launcher creates a cluster (market-node --new-cluster) only when every folder is like this.
 */
export function dataDirIsPristine(dataDir: string): boolean {
  const has = (folder: string, pattern: RegExp): boolean => {
    try {
      return fs.readdirSync(path.join(dataDir, folder)).some((name) => pattern.test(name));
    } catch {
      return false;
    }
  };
  return !has(".", new RegExp(`^${identityFileName}$`)) && !has("wal", /\.log$/) &&
    !has("snapshots", /\.snap$/);
}
