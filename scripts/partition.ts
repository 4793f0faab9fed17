/**
 * `npm run partition -- [--config FILE] <command>`: network partitions on a running cluster,
 * through each node's admin API (PUT /admin/faults). The plan, the validation and the sentences
 * come from src/cluster/partitions.ts; this script only reads the cluster file, asks the nodes
 * and prints. Every command sets the complete rule set of every node, so it is idempotent and
 * replaces the previous partition. Errors are one line on stderr and exit code 1. A delay whose
 * round trip reaches the cluster file's election timeout is applied with a warning on stderr
 * that shows the arithmetic; `show` prints a matrix of who reaches whom before the rules.
 */
import { Command } from "commander";
import {
  AdminCluster as Cluster, NodeRequestError, runOperatorScript, ScriptError,
} from "../src/cluster/admin-cluster.js";
import { loadClusterConfig } from "../src/cluster/cluster-config.js";
import { renderTable } from "../src/cli/cli-output.js";
import {
  connectivityMatrix,
  delayJitterFractionDefault,
  delayWarning,
  describePartition,
  describeRule,
  parseDurationMs,
  parseNodeList,
  planPartition,
  PartitionError,
  type PartitionCommand,
} from "../src/cluster/partitions.js";
import type { LinkRule } from "../src/transport/faulty-transport.js";

/**
 * PUTs every node its rules, all at once, and returns the ids that took them; throws naming
 * every node that did not, once the others are done.
 */
async function applyPlan(cluster: Cluster, plan: Map<string, LinkRule[]>):
  Promise<{ applied: string[]; failure: ScriptError | null }> {
  const outcomes = await Promise.allSettled([...plan].map(async ([id, rules]) =>
    await cluster.request(id, "PUT", "/admin/faults", { rules })));
  const ids = [...plan.keys()];
  const applied = ids.filter((_id, k) => outcomes[k]?.status === "fulfilled");
  const failures = outcomes.flatMap((outcome, k) => outcome.status === "fulfilled" ? []
    : [outcome.reason instanceof NodeRequestError ? outcome.reason
      : new NodeRequestError(ids[k] ?? "?", String(outcome.reason))]);
  if (failures.length === 0) return { applied, failure: null };
  // One reason per distinct text, so three nodes refusing the same token read as one line.
  const reasons = [...new Set(failures.map((failure) => failure.reason))];
  const failed = failures.map((failure) => failure.id);
  const reasonText = reasons.length === 1 ? reasons[0] : failures
    .map((failure) => `${failure.id} ${failure.reason}`).join("; ");
  const prefix = reasons.length === 1 ? `${failed.join(", ")} ${reasonText}` : reasonText;
  const outcome = applied.length === 0 ? "no rule was changed"
    : `the rules were set on ${applied.join(", ")} only: run the command again once every ` +
      "node answers";
  return { applied, failure: new ScriptError(`${prefix}; ${outcome}`) };
}

async function run(cluster: Cluster, command: PartitionCommand): Promise<void> {
  const plan = planPartition(command, cluster.ids);
  const sentences = describePartition(command, cluster.ids);
  const { applied, failure } = await applyPlan(cluster, plan);
  if (applied.length > 0) for (const sentence of sentences) console.log(sentence);
  if (failure !== null) throw failure;
}

/**
 * Prints who reaches whom (a matrix computed from every node's rules), then each node's rules,
 * or why it did not answer.
 */
async function show(cluster: Cluster): Promise<void> {
  const answers = await Promise.all(cluster.ids.map(async (id) => {
    try {
      const { body } = await cluster.request(id, "GET", "/admin/faults");
      return { id, rules: (body as { rules: LinkRule[] }).rules };
    } catch (error) {
      return { id, error: error instanceof NodeRequestError ? error.reason
        : (error as Error).message };
    }
  }));
  const matrix = connectivityMatrix(cluster.ids,
    new Map(answers.map((answer) => [answer.id, answer.rules ?? null])));
  console.log("Links, from each row's node to each column's (cut: dropped; ?: a node holding " +
    "the rules did not answer):");
  console.log(renderTable(["FROM \\ TO", ...cluster.ids],
    matrix.map((cells, k) => [cluster.ids[k] ?? "?", ...cells]), { color: false }));
  console.log("");
  for (const answer of answers) {
    if (answer.rules === undefined) {
      console.log(`${answer.id}: ${answer.error.replace(/^is /, "")}`);
    } else if (answer.rules.length === 0) {
      console.log(`${answer.id}: no rules`);
    } else {
      const count = answer.rules.length;
      console.log(`${answer.id}: ${count} rule${count === 1 ? "" : "s"}`);
      for (const rule of answer.rules) console.log(`  ${describeRule(rule)}`);
    }
  }
}

function program(): Command {
  const root = new Command()
    .name("npm run partition --")
    .description("Network partitions on a running raftmarket cluster, set through each node's " +
      "admin API. Every command sets the complete rules of every node: running it twice gives " +
      "the same state, and a new command replaces the previous partition.")
    .option("--config <file>", "the cluster file", "cluster.config.json");
  // The cluster file's nodes and the members added since (discover).
  const cluster = async (): Promise<Cluster> => {
    const found = new Cluster(loadClusterConfig(root.opts<{ config: string }>().config));
    await found.discover();
    return found;
  };

  root.command("isolate").argument("<node>", "the node to cut off")
    .description("cut every link to and from one node")
    .action(async (node: string) => run(await cluster(), { kind: "isolate", node }));
  root.command("split").argument("<half>", "one half, comma-separated, e.g. n1,n2")
    .argument("<other-half>", "the other half, e.g. n3; every node must be in one half")
    .description("cut the cluster in two halves that cannot reach each other")
    .action(async (half: string, otherHalf: string) => run(await cluster(),
      { kind: "split", halves: [parseNodeList(half), parseNodeList(otherHalf)] }));
  root.command("isolate-leader")
    .description("find the leader (GET /v1/cluster/status on every node) and isolate it")
    .action(async () => {
      const target = await cluster();
      const leader = await target.findLeader();
      console.log(`The leader is ${leader}.`);
      await run(target, { kind: "isolate", node: leader });
    });
  root.command("ring")
    .description("each node talks only to its two neighbours in config order (with 3 nodes " +
      "or fewer this cuts nothing)")
    .action(async () => run(await cluster(), { kind: "ring" }));
  root.command("bridge").argument("[node]", "the bridge node (default: the middle one)")
    .description("two halves that reach each other only through one bridge node")
    .action(async (bridge: string | undefined) => run(await cluster(),
      bridge === undefined ? { kind: "bridge" } : { kind: "bridge", bridge }));
  root.command("delay").argument("<node>", "the node whose links are slowed")
    .argument("<duration>", "the delay, e.g. 80ms or 1.5s")
    .option("--jitter <duration>", "extra random delay per message, up to this much " +
      `(default: ${delayJitterFractionDefault * 100}% of the delay)`)
    .description("delay every message to and from one node (and heal any partition)")
    .action(async (node: string, duration: string, options: { jitter?: string }) => {
      const delayMs = parseDurationMs(duration);
      const jitterMs = options.jitter === undefined
        ? Math.round(delayMs * delayJitterFractionDefault * 1000) / 1000
        : parseDurationMs(options.jitter);
      const target = await cluster();
      const command = { kind: "delay", node, delayMs, jitterMs } as const;
      await run(target, command);
      const warning = delayWarning(command, target.config.timing);
      if (warning !== null) console.error(`warning: ${warning}`);
    });
  root.command("heal").description("clear every rule on every node")
    .action(async () => run(await cluster(), { kind: "heal" }));
  root.command("show").description("print who reaches whom, then each node's current rules, " +
    "or that it is unreachable")
    .action(async () => show(await cluster()));
  return root;
}

await runOperatorScript(program(), [PartitionError]);
