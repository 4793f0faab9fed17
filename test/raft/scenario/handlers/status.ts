import { positionalArgs, type Handler } from "../command.js";
import { formatStatus } from "../format.js";

/** `status [ids]`: one line per node (every node by default); a crashed node prints `down`. */
export const status: Handler = (env, command) => {
  const only = positionalArgs(command)[0];
  const ids = only === undefined ? [...env.cluster.nodes.keys()] : env.nodeList(only);
  for (const id of ids) {
    const node = env.node(id);
    env.print(node.up ? formatStatus(node.raft.status()) : `${id} down`);
  }
};
