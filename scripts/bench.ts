/**
 * `npm run bench -- <benchmark> [options]`: one entry point for the benchmarks, dispatching on
 * its first argument. Each benchmark lives in scripts/bench-<name>.ts and parses its own options.
 */
const benchmarks: Record<string, { description: string; run: (args: string[]) => Promise<void> }> =
  {
    cluster: {
      description: "3 local nodes, fsync on: purchases/s beside the fdatasync rate, latency",
      run: async (args) => (await import("./bench-cluster.js")).runClusterBench(args),
    },
    failover: {
      description: "SIGKILL the leader under load K times: unavailability min/median/max",
      run: async (args) => (await import("./bench-cluster.js")).runFailoverBench(args),
    },
    recovery: {
      description: "RSS, data size and restart time of a node as history grows",
      run: async (args) => (await import("./bench-cluster.js")).runRecoveryBench(args),
    },
    storage: {
      description: "the write-ahead log: fdatasync rate, group-commit appends/s, bytes per entry",
      run: async (args) => (await import("./bench-storage.js")).runStorageBench(args),
    },
    "state-store": {
      description: "LmdbStateStore: main-thread µs per write, checksum cost, 1M-record file size",
      run: async (args) => (await import("./bench-state-store.js")).runStateStoreBench(args),
    },
    memory: {
      description: "RSS per node of a 3-node cluster holding N orders (default 1M), reads by id",
      run: async (args) => (await import("./bench-memory.js")).runMemoryBench(args),
    },
    "big-state": {
      description: "1M orders: snapshot encode/receive/install time, loop stall, peak RSS, reopen",
      run: async (args) => (await import("./bench-big-state.js")).runBigStateBench(args),
    },
    dashboard: {
      description: "purchases/s with the live view closed and open in chromium, alternating",
      run: async (args) => (await import("./bench-dashboard.js")).runDashboardBench(args),
    },
    "vs-etcd": {
      description: "raftmarket beside a 3-member etcd (apt-get install etcd-server), interleaved",
      run: async (args) => (await import("./bench-vs-etcd.js")).runVsEtcdBench(args),
    },
  };

function usage(): string {
  const lines = ["usage: npm run bench -- <benchmark> [options]", "", "benchmarks:"];
  for (const [name, { description }] of Object.entries(benchmarks)) {
    lines.push(`  ${name.padEnd(10)} ${description}`);
  }
  lines.push("", "options: npm run bench -- <benchmark> --help");
  return lines.join("\n");
}

// With no benchmark named, `npm run bench` runs the cluster benchmark.
const argv = process.argv.slice(2);
const [name, ...args] = argv.length === 0 || argv[0]!.startsWith("--") ? ["cluster", ...argv] : argv;
const benchmark = name === undefined ? undefined : benchmarks[name];
if (benchmark === undefined) {
  const help = name === "--help" || name === "-h" || name === "help";
  if (!help) {
    console.error(name === undefined ? "no benchmark given" : `unknown benchmark "${name}"`);
  }
  console.error(usage());
  process.exitCode = help ? 0 : 1;
} else {
  await benchmark.run(args);
}
