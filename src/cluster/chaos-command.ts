/**
 * The command line of `npm run chaos` (scripts/chaos.ts): its defaults, and the command that
 * reproduces a run from its options. The seed fixes every choice of the workload and the
 * nemesis (which operation, which node, which fault, how long); the timing is the machine's, so
 * a rerun injects the same faults in the same order but its history differs. Pure.
 */

export const chaosCommandDefaults = {
  durationSeconds: 60,
  clients: 10,
  nemesis: "partition,kill,pause",
  rotateSeconds: 15,
  skus: 3,
  timeoutMs: 2000,
  config: "cluster.config.json",
} as const;

/**
 * The options that decide what a chaos run does, and so what the reproducing command must
 * carry (runChaos's ChaosOptions extends them with where to run and what to show).
 */
export interface ChaosSettings {
  readonly durationMs: number;
  readonly clients: number;
  /** The fault kinds (NemesisKind in chaos.ts). */
  readonly nemesis: readonly string[];
  readonly seed: number;
  /** Attach to the cluster of this config file instead of starting one (partition only). */
  readonly attachConfig?: string;
  /** Start the runner's own cluster with TLS on (an attached one has its file's setting). */
  readonly tls?: boolean;
  /** "unknown" linearizability counts as a violation. */
  readonly strict?: boolean;
  /** Count 503 answers to writes as info (unknown) rather than fail. */
  readonly ambiguous503?: boolean;
  readonly rotateMs?: number;
  readonly skusPerGeneration?: number;
  readonly requestTimeoutMs?: number;
  // The command line has no option for these: the note names them.
  /** A fault holds for a random time in [min, max] ms, then the cluster is quiet as long. */
  readonly faultHoldMs?: readonly [number, number];
  readonly quietMs?: readonly [number, number];
  /** Pause between a process's operations, in [min, max] ms. */
  readonly thinkMs?: readonly [number, number];
  /** Bound on the wait for convergence at the end. */
  readonly convergeTimeoutMs?: number;
}

export interface ReproduceCommand {
  readonly command: string;
  /** The options set that the command cannot express (set through runChaos), or null. */
  readonly note: string | null;
}

/** A word as a POSIX shell reads it back: quoted only when it needs to be. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/** Seconds when whole, else null (the command line takes whole seconds). */
function wholeSeconds(ms: number): number | null {
  return Number.isSafeInteger(ms / 1000) ? ms / 1000 : null;
}

/**
 * `npm run chaos -- ...` with the seed, the duration, the clients and the nemesis always, and
 * every other option that differs from its default.
 */
export function reproduceCommand(options: ChaosSettings): ReproduceCommand {
  const defaults = chaosCommandDefaults;
  const words = ["npm", "run", "chaos", "--"];
  const unexpressed: string[] = [];
  const option = (name: string, value?: string | number): void => {
    words.push(`--${name}`);
    if (value !== undefined) words.push(shellWord(String(value)));
  };
  const seconds = (name: string, ms: number): void => {
    const value = wholeSeconds(ms);
    if (value === null) unexpressed.push(`${name} ${ms} ms`);
    else option(name, value);
  };
  seconds("duration", options.durationMs);
  option("clients", options.clients);
  option("nemesis", options.nemesis.length > 0 ? options.nemesis.join(",") : "none");
  option("seed", options.seed);
  if (options.attachConfig !== undefined) {
    option("attach");
    option("config", options.attachConfig);
  }
  if (options.tls === true && options.attachConfig === undefined) option("tls");
  if (options.strict === true) option("strict");
  if (options.ambiguous503 === true) option("ambiguous-503");
  if (options.rotateMs !== undefined && options.rotateMs !== defaults.rotateSeconds * 1000) {
    seconds("rotate", options.rotateMs);
  }
  if (options.skusPerGeneration !== undefined && options.skusPerGeneration !== defaults.skus) {
    option("skus", options.skusPerGeneration);
  }
  if (options.requestTimeoutMs !== undefined && options.requestTimeoutMs !== defaults.timeoutMs) {
    option("timeout", options.requestTimeoutMs);
  }
  for (const name of ["faultHoldMs", "quietMs", "thinkMs", "convergeTimeoutMs"] as const) {
    const value = options[name];
    if (value !== undefined) unexpressed.push(`${name} ${JSON.stringify(value)}`);
  }
  return { command: words.join(" "),
    note: unexpressed.length === 0 ? null
      : `also set, with no command-line option: ${unexpressed.join(", ")}` };
}
