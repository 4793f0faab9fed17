import { assertNever } from "../../../../src/raft/index.js";
import { requireArg, type Handler } from "../command.js";

/**
 * `transfer <leader> <target>`: the leader hands leadership to the target (thesis §3.10) and
 * prints the result; its messages go out at the next stabilize or tick.
 */
export const transfer: Handler = (env, command) => {
  const id = requireArg(command, 0, "leader id");
  const target = requireArg(command, 1, "target id");
  const result = env.node(id).raft.transferLeadership(target);
  switch (result.kind) {
    case "started":
    case "unknownTarget":
    case "alreadyLeader":
      env.print(`${id} transfer to ${target} ${result.kind}`);
      return;
    case "notLeader":
      env.print(`${id} transfer to ${target} notLeader leader=${result.leaderIdHint ?? "none"}`);
      return;
    default:
      assertNever(result, "transfer result");
  }
};
