import { optionArgs, parseCount, requireArg, type Handler } from "../command.js";
import { ScenarioError } from "../env.js";

/**
 * `compact <id> [keep=N]`: the node snapshots its state at its applied index and compacts its
 * log through applied - N: the log keeps the last N entries up to and including the snapshot's
 * index (none by default; thesis §5.1). Prints the snapshot's index and the node's first log
 * index after it.
 */
export const compact: Handler = (env, command) => {
  const id = requireArg(command, 0, "node id");
  const keep = parseCount(optionArgs(command).get("keep") ?? "0", "keep");
  const index = env.cluster.snapshotNow(id, keep);
  if (index === null) throw new ScenarioError(`compact: ${id} knows no term at its applied index`);
  env.print(`${id} snapshot at ${index}, log from ${env.node(id).raft.compactedIndex() + 1}`);
};
