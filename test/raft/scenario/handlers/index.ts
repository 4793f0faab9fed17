/** Every scenario command, by the name it has in the files. One handler per file. */
import type { Handler } from "../command.js";
import { addNodes } from "./add-nodes.js";
import { campaign } from "./campaign.js";
import { compact } from "./compact.js";
import { crash } from "./crash.js";
import { forward } from "./forward.js";
import { heal } from "./heal.js";
import { log } from "./log.js";
import { partition } from "./partition.js";
import { propose } from "./propose.js";
import { readIndex } from "./read-index.js";
import { restart } from "./restart.js";
import { stabilize } from "./stabilize.js";
import { status } from "./status.js";
import { tick } from "./tick.js";
import { transfer } from "./transfer.js";

export const handlers: Readonly<Record<string, Handler>> = {
  "add-nodes": addNodes,
  campaign,
  compact,
  crash,
  forward,
  heal,
  log,
  partition,
  propose,
  "read-index": readIndex,
  restart,
  stabilize,
  status,
  tick,
  transfer,
};
