import { requireArg, type Handler } from "../command.js";

/** `campaign <id>`: the node campaigns now, as if its election timeout had elapsed. Its
 * messages go out at the next stabilize or tick. */
export const campaign: Handler = (env, command) => {
  env.node(requireArg(command, 0, "node id")).raft.campaign();
};
