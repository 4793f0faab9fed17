/**
 * The launcher's option parsers that other commands share: `npm run bench -- dashboard
 * --frame-ms` takes the live view's frame interval within the same bounds as `npm run cluster
 * -- --dashboard-frame-ms`, so that a rate measured there is one the launcher accepts.
 */
import { InvalidArgumentError } from "commander";
import { clusterWatcherDefaults } from "../dashboard/cluster-watcher.js";

/** The live view's milliseconds between frames: whole milliseconds within the watcher's bounds. */
export function parseFrameMs(text: string): number {
  const { intervalMsMin, intervalMsMax } = clusterWatcherDefaults;
  const ms = Number(text);
  if (!/^[0-9]{1,5}$/.test(text) || ms < intervalMsMin || ms > intervalMsMax) {
    throw new InvalidArgumentError(`must be whole milliseconds from ${intervalMsMin} to ` +
      `${intervalMsMax}`);
  }
  return ms;
}

/** A TCP port, 0 for any free one. */
export function parsePort(text: string): number {
  const port = Number(text);
  if (!/^[0-9]{1,5}$/.test(text) || port > 65_535) {
    throw new InvalidArgumentError("must be a port number from 0 to 65535");
  }
  return port;
}
