import { parseCount, positionalArgs, requireArg, type Handler } from "../command.js";

/**
 * `tick <count> [ids]`: advances the clock `count` times, stabilizing after each tick. With a
 * list such as `n2,n3`, only those nodes' clocks advance. Output is grouped under `-- tick k`.
 */
export const tick: Handler = (env, command) => {
  const count = parseCount(requireArg(command, 0, "tick count"), "tick count");
  const only = positionalArgs(command)[1];
  const ids = only === undefined ? [...env.cluster.nodes.keys()] : env.nodeList(only);
  const cluster = env.cluster;
  for (let k = 1; k <= count; k++) {
    env.section(`-- tick ${k}`, () => {
      cluster.now++;
      for (const id of ids) {
        const node = env.node(id);
        if (node.up) node.raft.tick();
      }
      cluster.stabilize();
    });
  }
};
