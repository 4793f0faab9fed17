import type { Handler } from "../command.js";

/** `stabilize`: processes every Ready and delivers every message until the cluster is quiet.
 * No time passes. */
export const stabilize: Handler = (env) => {
  env.cluster.stabilize();
};
