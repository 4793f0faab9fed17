import { positionalArgs, type Handler } from "../command.js";
import { formatEntry } from "../format.js";

/** `log [ids]`: each node's whole log as term/index entries (every live node by default). */
export const log: Handler = (env, command) => {
  const only = positionalArgs(command)[0];
  const ids = only === undefined ? [...env.cluster.nodes.keys()] : env.nodeList(only);
  for (const id of ids) {
    const node = env.node(id);
    if (!node.up) {
      env.print(`${id} down`);
      continue;
    }
    const entries = node.raft.entries(1, node.raft.status().lastLogIndex + 1);
    const text = entries.length === 0 ? "(empty)" : entries.map(formatEntry).join(" ");
    env.print(`${id} log: ${text}`);
  }
};
