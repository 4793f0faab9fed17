/**
 * The bugs `npm run plants` plants (scripts/plants.ts), each as exact text edits of the
 * production code: issue 11's list of what the server simulator must catch.
 */
export interface Edit {
  readonly file: string;
  readonly from: string;
  readonly to: string;
}

export interface Plant {
  readonly name: string;
  readonly bug: string;
  readonly edits: readonly Edit[];
}

const mayPrecede = `  return message.type === "append" || message.type === "heartbeat" ||
    message.type === "heartbeatResponse" || message.type === "propose";`;

/**
 * `type` sent before the fsync it depends on, as if it promised nothing about this node's disk:
 * in a Ready's messages sent before its persist, and among those sent while a persist runs.
 */
function sentBeforeFsync(type: string): Edit {
  return { file: "src/raft/raft-node.ts", from: mayPrecede,
    to: `  return message.type === "append" || message.type === "heartbeat" ||
    message.type === "heartbeatResponse" || message.type === "propose" ||
    message.type === "${type}";` };
}

export const plants: readonly Plant[] = [
  { name: "ack-before-fsync", bug: "an append acknowledgement sent before the follower's fsync",
    edits: [sentBeforeFsync("appendResponse")] },
  { name: "vote-before-durable", bug: "a vote granted before it is durable",
    edits: [sentBeforeFsync("requestVoteResponse")] },
  { name: "compact-before-durable", bug: "the log compacted before the snapshot is durable",
    edits: [{ file: "src/node/snapshots.ts",
      from: "    this.checkpointing = this.options.stateStore.flushed().then(() => {",
      to: "    this.checkpointing = Promise.resolve().then(() => {" }] },
  { name: "forward-answered-early", bug: "a forwarded write answered before it is applied",
    edits: [{ file: "src/node/forwarding.ts",
      from: "    if (messages.length > 0) this.transport.send(messages);\n",
      to: `    if (messages.length > 0) this.transport.send(messages);
    let guess = node.status().lastLogIndex + 1;
    for (const item of live) {
      const index = guess++;
      this.waiters.settle(item.key, { kind: "applied", index, result: { ok: true, kind: "order",
        order: { orderId: \`o-\${index}\`, requestId: item.key, lines: [], status: "confirmed",
          totalCents: 0, index } } as never });
    }
` }] },
  { name: "read-without-barrier",
    bug: "a linearizable read served by a deposed leader without a barrier",
    edits: [{ file: "src/node/read-barriers.ts",
      from: "    const result = this.context.node.readIndex(readContext);",
      to: `    if (this.context.node.role === "leader") {
      return Promise.resolve({ kind: "ready", appliedIndex: this.context.node.status().appliedIndex });
    }
    const result = this.context.node.readIndex(readContext);` }] },
  { name: "apply-corrupt-record", bug: "a corrupted WAL record applied instead of refused",
    edits: [{ file: "src/storage/memory-storage.ts",
      from: "  verify(): void {\n    this.assertOpen();\n",
      to: "  verify(): void {\n    this.assertOpen();\n    if (this.damaged.size > 0) return;\n" }] },
  { name: "local-session-time", bug: "a restamped session time that differs between replicas",
    edits: [{ file: "src/node/raft-server.ts",
      from: "      return { index: entry.index, data: command ? entry.data : null };",
      to: "      return { index: entry.index, data: command ? restampMarketProposal(entry.data, " +
        "this.scheduler.wallClockMs()) : null };" }] },
];

