/**
 * Where each member listens: its peer URL (Raft messages) and client URL (the API), replicated
 * with the configuration as etcd's ConfChange context carries them. The cluster file gives the
 * addresses of the nodes that bootstrapped the cluster; after that, a change that adds a node
 * carries the new node's addresses in its context (conf-state.ts: opaque to the core), and every
 * replica learns them from the entry.
 *
 * Two views, kept by MemberAddresses:
 *  - the applied book: the addresses as of the applied index, stored in the Raft meta beside
 *    the configuration (so snapshots carry it and compaction does not lose it), deterministic
 *    across replicas; a removed node stays in it, marked with the index of its removal, so that
 *    its id is never given to another node (issue 13: ids are never reused);
 *  - the known peers: the applied book plus every address seen in a change still in the log,
 *    committed or not. Quorums follow the newest configuration in the log (dissertation §4.1),
 *    so a leader must reach a node it adds as soon as it appends the change. An address from a
 *    change that is later discarded only leaves an idle channel behind.
 */
import { nodeIdPattern, type ConfChange, type MemberAddress, type NodeId } from "../raft/index.js";

export type { MemberAddress } from "../raft/index.js";

/** Node ids: as in the cluster file (raft/messages.ts nodeIdPattern). */
export const memberIdPattern = nodeIdPattern;
/** At most this many addresses in one change's context: a change adds one or two nodes. */
const contextAddressesMax = 16;
const urlLengthMax = 256;

/** Why `url` cannot be a member's http(s) base URL, or null. */
export function memberUrlProblem(url: unknown): string | null {
  // A default port (http://h:80) parses to port "": fine when the text names it.
  if (typeof url !== "string" || url.length === 0) return "must be a URL such as http://127.0.0.1:7101";
  if (url.length > urlLengthMax) return `must be at most ${urlLengthMax} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not a URL (for example http://127.0.0.1:7101)`;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return `"${url}" must start with http:// or https://`;
  }
  if (parsed.port === "" && !/:[0-9]+\/?$/.test(url)) return `"${url}" must name a port`;
  if (parsed.pathname !== "/" || parsed.search !== "" || parsed.hash !== "" ||
    parsed.username !== "" || parsed.password !== "") {
    return `"${url}" must be a scheme, a host and a port, nothing more`;
  }
  return null;
}

/** The base URL without a trailing slash. */
export function normalizeMemberUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.hostname}:${portOf(parsed)}`;
}

/** The URL's port, the scheme's default when the text named that. */
function portOf(parsed: URL): number {
  return parsed.port !== "" ? Number(parsed.port) : parsed.protocol === "https:" ? 443 : 80;
}

/** The transport's view of a peer URL: host and port. */
export function peerEndpointOf(address: MemberAddress): { id: NodeId; host: string;
  peerPort: number } {
  const parsed = new URL(address.peerUrl);
  // URL keeps the brackets of an IPv6 host; the socket layer wants it bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  return { id: address.id, host, peerPort: portOf(parsed) };
}

/** Why `value` is not a MemberAddress (as read from a peer, a disk or a request), or null. */
export function memberAddressProblem(value: unknown): string | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not an object";
  const fields = value as Record<string, unknown>;
  if (typeof fields.id !== "string" || !memberIdPattern.test(fields.id)) {
    return "id must be 1-32 letters, digits, _ or -";
  }
  const peerProblem = memberUrlProblem(fields.peerUrl);
  if (peerProblem !== null) return `peerUrl ${peerProblem}`;
  const clientProblem = memberUrlProblem(fields.clientUrl);
  if (clientProblem !== null) return `clientUrl ${clientProblem}`;
  if (fields.removedAtIndex !== undefined && !(Number.isSafeInteger(fields.removedAtIndex) &&
    (fields.removedAtIndex as number) > 0)) {
    return "removedAtIndex must be a positive integer";
  }
  const extra = Object.keys(fields).find((key) =>
    !["id", "peerUrl", "clientUrl", "removedAtIndex"].includes(key));
  return extra === undefined ? null : `unknown field ${extra}`;
}

/** The context of a change that adds the nodes of `addresses`. */
export function encodeChangeContext(addresses: readonly MemberAddress[]): string {
  return JSON.stringify({ addresses: addresses.map(({ id, peerUrl, clientUrl }) =>
    ({ id, peerUrl, clientUrl })) });
}

/**
 * The addresses a change's context carries; none for a context that is absent or not ours
 * (a change proposed by a tool that sets no addresses), or that fails validation: a bad
 * context must not stop a replica from applying the change itself, which every replica must.
 */
export function decodeChangeContext(context: string | undefined): MemberAddress[] {
  if (context === undefined || context === "") return [];
  let value: unknown;
  try {
    value = JSON.parse(context);
  } catch {
    return [];
  }
  const addresses = (value as { addresses?: unknown } | null)?.addresses;
  if (!Array.isArray(addresses) || addresses.length > contextAddressesMax) return [];
  return addresses.filter((address) => memberAddressProblem(address) === null &&
    (address as MemberAddress).removedAtIndex === undefined) as MemberAddress[];
}

/** The ids a change adds (as a learner or a voter: promotion adds nobody new). */
function addedIds(change: ConfChange): Set<NodeId> {
  return new Set(change.ops.filter((op) => op.type === "addLearner" || op.type === "addVoter")
    .map((op) => op.id));
}

function removedIds(change: ConfChange): NodeId[] {
  return change.ops.filter((op) => op.type === "remove").map((op) => op.id);
}

function sortById(addresses: Iterable<MemberAddress>): MemberAddress[] {
  return [...addresses].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * The applied book and the known peers (see the file comment). Invariants: every id of the
 * applied book is in the known peers, with the same URLs; an id, once in the applied book,
 * stays there (removal only marks it).
 */
export class MemberAddresses {
  private applied = new Map<NodeId, MemberAddress>();
  /** Addresses seen in changes still in the log, beyond the applied book. */
  private pending = new Map<NodeId, MemberAddress>();
  /** list(), kept between changes: every Raft meta stored per applied batch carries it. */
  private appliedList: MemberAddress[] | null = null;
  /** Moves on every change of the book or of the addresses seen: what a cache keys on. */
  generation = 0;

  /**
   * `bootstrap`: the cluster file's nodes, for a node whose state has no book yet (a new
   * cluster, or state saved before addresses were replicated).
   */
  constructor(bootstrap: readonly MemberAddress[],
    private readonly onKnownChanged: (known: MemberAddress[]) => void = () => {}) {
    this.reset(null, bootstrap);
  }

  /** Starts again from a Raft meta's book (at restart, or from a snapshot). */
  reset(stored: readonly MemberAddress[] | null | undefined,
    bootstrap: readonly MemberAddress[] = []): void {
    const source = stored !== null && stored !== undefined && stored.length > 0 ? stored : bootstrap;
    // A meta comes from a disk or a leader's snapshot: an address that is not one is dropped
    // (the transport would fail on it), never used.
    this.applied = new Map(source.filter((address) => memberAddressProblem(address) === null)
      .map((address) => [address.id, address]));
    this.appliedList = null;
    this.pending = new Map([...this.pending].filter(([id]) => !this.applied.has(id)));
    this.changed();
  }

  /**
   * Addresses learned outside the log (a joining node's view of the members when it joined):
   * for the transport only, until the log says the same; never in the applied book, which
   * every replica builds alike from the bootstrap book and the changes.
   */
  noteKnown(addresses: readonly MemberAddress[]): void {
    let changed = false;
    for (const address of addresses) {
      if (memberAddressProblem(address) !== null || this.applied.has(address.id) ||
        this.pending.has(address.id)) continue;
      this.pending.set(address.id, { id: address.id, peerUrl: address.peerUrl,
        clientUrl: address.clientUrl });
      changed = true;
    }
    if (changed) this.changed();
  }

  /** A change entry the log holds (appended or received, committed or not). */
  noteLogged(change: ConfChange): void {
    const added = addedIds(change);
    let changed = false;
    for (const address of decodeChangeContext(change.context)) {
      if (!added.has(address.id) || this.applied.has(address.id)) continue;
      const current = this.pending.get(address.id);
      if (current?.peerUrl === address.peerUrl && current.clientUrl === address.clientUrl) continue;
      this.pending.set(address.id, address);
      changed = true;
    }
    if (changed) this.changed();
  }

  /** A change applied at `index` (in log order; every replica does the same). */
  noteApplied(change: ConfChange, index: number): void {
    this.appliedList = null;
    const added = addedIds(change);
    for (const address of decodeChangeContext(change.context)) {
      // An id the book holds keeps its first addresses: ids are never reused.
      if (!added.has(address.id) || this.applied.has(address.id)) continue;
      this.applied.set(address.id, { id: address.id, peerUrl: address.peerUrl,
        clientUrl: address.clientUrl });
      this.pending.delete(address.id);
    }
    for (const id of removedIds(change)) {
      const address = this.applied.get(id);
      if (address !== undefined && address.removedAtIndex === undefined) {
        this.applied.set(id, { ...address, removedAtIndex: index });
      }
    }
    this.changed();
  }

  private changed(): void {
    this.generation++;
    this.onKnownChanged(this.known());
  }

  /** The applied book, sorted by id: what a Raft meta records. */
  list(): readonly MemberAddress[] {
    this.appliedList ??= sortById(this.applied.values());
    return this.appliedList;
  }

  /** The address of `id`, applied or seen in the log. */
  get(id: NodeId): MemberAddress | null {
    return this.applied.get(id) ?? this.pending.get(id) ?? null;
  }

  /** Whether `id` was ever given to a member of this cluster (so it may not be given again). */
  everUsed(id: NodeId): boolean {
    return this.applied.has(id) || this.pending.has(id);
  }

  /** Every address a node may need to reach: the applied book and the ones seen in the log. */
  known(): MemberAddress[] {
    return sortById([...this.applied.values(), ...this.pending.values()]);
  }
}
