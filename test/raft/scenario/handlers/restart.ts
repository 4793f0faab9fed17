import { requireArg, type Handler } from "../command.js";
import { formatStatus } from "../format.js";

/** `restart <id>`: rebuilds a crashed node from its disk and prints what it recovered. */
export const restart: Handler = (env, command) => {
  const node = env.node(requireArg(command, 0, "node id"));
  env.cluster.restart(node.id);
  env.forgetState(node);
  env.print(formatStatus(node.raft.status()));
};
