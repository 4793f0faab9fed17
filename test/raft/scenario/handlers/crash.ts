import { requireArg, type Handler } from "../command.js";

/** `crash <id>`: the node stops; it keeps only what it had persisted, and messages in flight
 * to or from it are lost. */
export const crash: Handler = (env, command) => {
  env.cluster.crash(env.node(requireArg(command, 0, "node id")).id);
};
