import type { Handler } from "../command.js";
import { ScenarioError } from "../env.js";

/** `partition n1 | n2,n3`: cuts every link between the groups, both ways. */
export const partition: Handler = (env, command) => {
  const groups = command.args.join(" ").split("|").map((group) => env.nodeList(group.trim()));
  if (groups.length < 2 || groups.some((group) => group.length === 0)) {
    throw new ScenarioError("partition needs two or more non-empty groups: a,b | c");
  }
  env.cluster.partition(...groups);
};
