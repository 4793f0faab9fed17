import { assertNever } from "../../../../src/raft/index.js";
import { requireArg, type Handler } from "../command.js";

/** `propose <id> <data>`: proposes at that node and prints the result. The entry goes out at
 * the next stabilize or tick. */
export const propose: Handler = (env, command) => {
  const id = requireArg(command, 0, "node id");
  const data = requireArg(command, 1, "data");
  const result = env.node(id).raft.propose(data);
  switch (result.kind) {
    case "accepted":
      env.print(`${id} accepted ${result.term}/${result.index}:${data}`);
      return;
    case "notLeader":
    case "transferring":
      env.print(`${id} ${result.kind} leader=${result.leaderIdHint ?? "none"}`);
      return;
    case "overloaded":
      env.print(`${id} overloaded`);
      return;
    default:
      assertNever(result, "propose result");
  }
};
