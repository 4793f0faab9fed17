import { defaultRaftConfig, type RaftConfig } from "../../../../src/raft/index.js";
import { optionArgs, parseCount, requireArg, type Handler } from "../command.js";
import { ScenarioError } from "../env.js";

/**
 * `add-nodes <count> [seed=N] [<config field>=<value>...]`: builds the cluster n1..n<count>.
 * Config fields are those of RaftConfig, e.g. `preVote=false` or `heartbeatIntervalTicks=2`.
 */
export const addNodes: Handler = (env, command) => {
  const count = parseCount(requireArg(command, 0, "node count"), "node count");
  let seed = 1;
  const config: Record<string, number | boolean> = {};
  for (const [key, value] of optionArgs(command)) {
    if (key === "seed") {
      seed = parseCount(value, "seed");
    } else if (key in defaultRaftConfig) {
      const defaultValue = defaultRaftConfig[key as keyof typeof defaultRaftConfig];
      config[key] = typeof defaultValue === "boolean"
        ? parseBoolean(key, value)
        : parseCount(value, key);
    } else {
      throw new ScenarioError(`add-nodes: unknown option ${key}`);
    }
  }
  env.createCluster(count, seed, config as Partial<RaftConfig>);
};

function parseBoolean(key: string, value: string): boolean {
  if (value !== "true" && value !== "false") {
    throw new ScenarioError(`${key} must be true or false, got "${value}"`);
  }
  return value === "true";
}
