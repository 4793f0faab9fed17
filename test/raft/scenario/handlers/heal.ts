import type { Handler } from "../command.js";

/** `heal`: restores every link. */
export const heal: Handler = (env) => {
  env.cluster.heal();
};
