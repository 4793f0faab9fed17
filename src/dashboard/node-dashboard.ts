/**
 * The live view at `/ui` on a node's client port, so that a cluster started by hand, or spread
 * over several hosts, can be watched too: the same page, reading every node of the cluster
 * file through their client APIs. It is read-only, except that the network actions (cut, heal,
 * isolate, split, transfer) are offered to a page that sends the cluster's admin token, which
 * the user types into the page (kept in memory there, never in a URL); there is no launcher
 * here to kill or restart processes, and no workload. The node reads nothing for the view until
 * a page opens its stream.
 */
import type express from "express";
import { AdminCluster } from "../cluster/admin-cluster.js";
import type { ClusterConfig, NodeConfig } from "../cluster/cluster-config.js";
import { nodeClientUrl, readClusterCa } from "../cluster/cluster-tls.js";
import { ClusterWatcher } from "./cluster-watcher.js";
import { networkActions } from "./dashboard-actions.js";
import { dashboardRouter } from "./dashboard-router.js";

export function nodeDashboardRouter(config: ClusterConfig, node: NodeConfig):
  { router: express.Router; close(): void } {
  const watcher = new ClusterWatcher({
    mode: "node",
    nodes: config.nodes.map((each) => ({ id: each.id, url: nodeClientUrl(config, each) })),
    tickIntervalMs: config.timing.tickIntervalMs,
    ca: readClusterCa(config),
  });
  const router = dashboardRouter({
    mode: "node", title: `raftmarket: the view from ${node.id}`, watcher,
    requiredToken: config.tokens.adminToken,
    offered: networkActions,
    actions: { watcher, admin: new AdminCluster(config) },
  });
  return { router, close: () => watcher.close() };
}
