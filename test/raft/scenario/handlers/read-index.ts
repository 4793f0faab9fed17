import { assertNever } from "../../../../src/raft/index.js";
import { requireArg, type Handler } from "../command.js";

/**
 * `read-index <id> <context>`: asks that node for a linearizable read and prints the result.
 * A pending read is answered later, as a `readState` or `droppedRead` line with its context
 * (printed by the env as the node's Ready carries it).
 */
export const readIndex: Handler = (env, command) => {
  const id = requireArg(command, 0, "node id");
  const context = requireArg(command, 1, "context");
  const result = env.node(id).raft.readIndex(context);
  switch (result.kind) {
    case "pending":
    case "noLeader":
    case "overloaded":
      env.print(`${id} read ${context} ${result.kind}`);
      return;
    default:
      assertNever(result, "read index result");
  }
};
