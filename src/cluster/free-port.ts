/**
 * Free TCP ports on 127.0.0.1, for the nodes a test cluster or the launcher starts: the OS
 * picks one, the probe closes it, and the node binds it a moment later (a small race, which
 * loopback-only tests and a local launcher accept).
 */
import { createServer } from "node:net";

/** How many ports the OS may hand out again before distinctFreePort gives up. */
const distinctAttemptsMax = 100;

/** A free TCP port on 127.0.0.1 (the OS picks; a small race before the node binds it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null
        ? address.port : 0));
    });
  });
}

/**
 * A free port not in `taken` (which it joins): the OS may hand out a port it just freed again,
 * and a cluster file with one port twice is refused.
 */
export async function distinctFreePort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < distinctAttemptsMax; attempt++) {
    const port = await freePort();
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error(`no distinct free port after ${distinctAttemptsMax} tries`);
}
