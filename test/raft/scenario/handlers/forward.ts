import { assertNever } from "../../../../src/raft/index.js";
import { requireArg, type Handler } from "../command.js";

/**
 * `forward <id> <data>`: a follower forwards a proposal to the leader it follows (thesis §6.2)
 * and prints the result; the propose message goes out at the next stabilize or tick.
 */
export const forward: Handler = (env, command) => {
  const id = requireArg(command, 0, "node id");
  const data = requireArg(command, 1, "data");
  const result = env.node(id).raft.forward([data]);
  switch (result.kind) {
    case "forwarded":
      env.print(`${id} forwarded ${data} to ${result.leaderId}`);
      return;
    case "noLeader":
    case "isLeader":
      env.print(`${id} ${result.kind}`);
      return;
    default:
      assertNever(result, "forward result");
  }
};
