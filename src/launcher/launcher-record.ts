/**
 * What `npm run cluster` remembers of the nodes it added from its page (member-add), so that
 * the next `npm run cluster` starts them again: without it, a learner promoted to voter would
 * stay down after a restart of the launcher, and the cluster would miss a voter with no hint
 * why. The record is `launcher-nodes.json` in the folder that holds the cluster file's nodes'
 * data folders (where the added nodes' folders go too: data/n1 and data/n4 give
 * data/launcher-nodes.json), so that deleting that folder to start afresh forgets them too.
 *
 * An entry is written when the launcher adds the node, and dropped once the node is removed
 * from the cluster (its folder fenced), whether the launcher sees that while it runs or finds
 * it at its next start. A node whose folder is missing is skipped at start but kept: the
 * folder may come back (a disk mounted later), and the entry costs nothing.
 *
 * The file is written whole to a temporary file and renamed into place, so a crash leaves the
 * old record or the new one, never half of one. A file that does not parse as this record
 * (damaged, or some other file of that name) is reported in one line and ignored; the next
 * node added replaces it.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync,
  writeSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { nodeIdPattern } from "../raft/index.js";
import type { NodeConfig } from "../cluster/cluster-config.js";
import {
  addedNodesParent,
  fenceOf,
  type AddedNodes,
  type JoiningNode,
} from "./launcher-processes.js";

export const launcherRecordFileName = "launcher-nodes.json";
/** Names the file's format, so that another JSON file of the same name is not taken for it. */
const recordKind = "raftmarket-launcher-nodes";

/** Bounds on what a record may hold: the page adds nodes one by one, up to 9 members. */
const recordedNodesMax = 100;
const joinUrlsMax = 16;

const urlSchema = z.string().max(200).refine((text) => {
  try {
    return ["http:", "https:"].includes(new URL(text).protocol);
  } catch {
    return false;
  }
}, "must be an http(s) URL");

const recordedNodeSchema = z.object({
  id: z.string().regex(nodeIdPattern, "ids are 1-32 letters, digits, _ or -"),
  peerUrl: urlSchema,
  clientUrl: urlSchema,
  dataDir: z.string().min(1).max(4096).refine(path.isAbsolute, "must be an absolute path"),
  joinUrls: z.array(urlSchema).min(1).max(joinUrlsMax),
}).strict();

const recordSchema = z.object({
  kind: z.literal(recordKind),
  version: z.literal(1),
  nodes: z.array(recordedNodeSchema).max(recordedNodesMax),
}).strict().superRefine((record, context) => {
  for (const field of ["id", "dataDir"] as const) {
    const values = record.nodes.map((node) => node[field]);
    const twice = values.find((value, k) => values.indexOf(value) !== k);
    if (twice !== undefined) {
      context.addIssue({ code: "custom", path: ["nodes"], message: `two nodes have ${field} ` +
        `${JSON.stringify(twice)}` });
    }
  }
});

/** What the record needs of the cluster file: its nodes' ids and (absolute) data folders. */
type RecordConfig = { readonly nodes: readonly Pick<NodeConfig, "id" | "dataDir">[] };

/** Reading the record: there is none yet, it holds these nodes, or it is not a record. */
export type LauncherRecordRead =
  | { kind: "missing" }
  | { kind: "read"; nodes: JoiningNode[] }
  | { kind: "damaged"; problem: string };

/** Where the launcher of `config` keeps its record: beside its nodes' data folders. */
export function launcherRecordPath(config: RecordConfig): string {
  return path.join(addedNodesParent(config), launcherRecordFileName);
}

/** Reads the record in `file`; never throws: a problem is a one-line sentence. */
export function readLauncherRecord(file: string): LauncherRecordRead {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { kind: "missing" };
    return { kind: "damaged", problem: `cannot be read (${code ?? (error as Error).message})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: "damaged", problem: "is not valid JSON" };
  }
  const parsed = recordSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length === 0 ? "" : `${issue.path.join(".")}: `;
    const what = issue.path[0] === "kind"
      ? `is not a launcher record (its kind is not "${recordKind}")`
      : `is not a valid launcher record (${where}${issue.message})`;
    return { kind: "damaged", problem: what.replace(/\s+/g, " ") };
  }
  return { kind: "read", nodes: parsed.data.nodes };
}

/** Writes `nodes` as the record in `file`: temporary file, fsync, rename, fsync the folder. */
export function writeLauncherRecord(file: string, nodes: readonly JoiningNode[]): void {
  const folder = path.dirname(file);
  mkdirSync(folder, { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  const text = JSON.stringify({ kind: recordKind, version: 1, nodes: nodes.map((node) =>
    ({ id: node.id, peerUrl: node.peerUrl, clientUrl: node.clientUrl, dataDir: node.dataDir,
      joinUrls: node.joinUrls })) }, null, 2) + "\n";
  const fd = openSync(temporary, "w");
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
  // The rename is durable once the folder's entry is.
  const folderFd = openSync(folder, "r");
  try {
    fsyncSync(folderFd);
  } finally {
    closeSync(folderFd);
  }
}

/**
 * The record as the launcher keeps it while it runs: every change is written at once. A write
 * that fails is said in one line (`report`) and does not stop the launcher: only the next
 * launcher run loses that node.
 */
export class LauncherRecord implements AddedNodes {
  private readonly entries: Map<string, JoiningNode>;

  constructor(readonly file: string, nodes: readonly JoiningNode[],
    private readonly report: (line: string) => void) {
    this.entries = new Map(nodes.map((node) => [node.id, node]));
  }

  nodes(): JoiningNode[] {
    return [...this.entries.values()];
  }

  add(node: JoiningNode): void {
    this.entries.set(node.id, node);
    this.save(`could not record ${node.id} in ${this.file}`, `the next npm run cluster will ` +
      `not start ${node.id}`);
  }

  forget(id: string): void {
    if (!this.entries.delete(id)) return;
    this.save(`could not drop ${id} from ${this.file}`, `the next npm run cluster will skip it`);
  }

  private save(failed: string, consequence: string): void {
    try {
      writeLauncherRecord(this.file, this.nodes());
    } catch (error) {
      this.report(`${failed} (${(error as Error).message}): ${consequence}`);
    }
  }
}

/**
 * The record of `config`'s launcher, read at its start. A damaged record is said in one line
 * and ignored: the launcher then starts the cluster file's nodes only.
 */
export function openLauncherRecord(config: RecordConfig,
  report: (line: string) => void): LauncherRecord {
  const file = launcherRecordPath(config);
  const read = readLauncherRecord(file);
  if (read.kind === "damaged") {
    report(`ignored ${file}: it ${read.problem}; the nodes added from the page in earlier ` +
      "runs are not started, and the next node added replaces the file");
  }
  return new LauncherRecord(file, read.kind === "read" ? read.nodes : [], report);
}

/** What the launcher does at start with one recorded node, and why. */
export type RecordedNodePlan =
  | { kind: "start"; node: JoiningNode }
  | { kind: "skip"; node: JoiningNode; reason: string; forget: boolean };

/**
 * Which recorded nodes to start: those whose folder exists and is not fenced, and that the
 * cluster file does not now name itself. With `newCluster` (every file node's folder empty),
 * the recorded nodes belong to the cluster that was there before: none starts.
 */
export function planRecordedNodes(config: RecordConfig,
  nodes: readonly JoiningNode[], newCluster: boolean): RecordedNodePlan[] {
  return nodes.map((node): RecordedNodePlan => {
    const skip = (reason: string, forget: boolean): RecordedNodePlan =>
      ({ kind: "skip", node, reason, forget });
    if (newCluster) {
      return skip("the cluster file's folders are empty, so a new cluster is created, and it " +
        "belonged to the old one; forgotten", true);
    }
    if (config.nodes.some((each) => each.id === node.id || each.dataDir === node.dataDir)) {
      return skip("the cluster file now names it (or its folder); forgotten", true);
    }
    if (!existsSync(node.dataDir)) {
      return skip(`its data folder ${node.dataDir} is missing; kept in the record, in case ` +
        "the folder comes back", false);
    }
    const fence = fenceOf(node.dataDir);
    if (fence !== null) return skip(`its data folder is fenced (${fence}); forgotten`, true);
    return { kind: "start", node };
  });
}
