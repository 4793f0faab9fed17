/**
 * Invariants checked at the end of a chaos run (issue 5), from the history and what every node
 * reports once the faults are healed:
 *
 *   no oversell    no read and no final stock is negative, and the acknowledged buys of a sku
 *                  never exceed its initial stock plus every add and cancel that may have
 *                  happened;
 *   conservation   final = initial + added - sold + cancelled. Info operations may or may not
 *                  have happened, so the final stock must lie in
 *                  [initial + okAdds + okCancels - okBuys - infoBuys,
 *                   initial + okAdds + infoAdds + okCancels + infoCancels - okBuys];
 *   orders         every acknowledged order (an ok buy's orderId) is present at the end and,
 *                  when statuses are given, cancelled exactly if an ok cancel says so (an info
 *                  cancel allows either; a failed one, only confirmed);
 *   convergence    every replica reports the same stateHash at the same appliedIndex, and every
 *                  node's final reads agree.
 *
 * Pure: no I/O, no clock.
 */
import { pairOperations, type HistoryOp, type PairedOperation } from "./history.js";
import { partitionBySku, type ItemOperation } from "./item-ops.js";

/** A node's answer, at the end of the run, to a read of one sku (null: not found). */
export type OrderStatus = "confirmed" | "cancelled";

export interface FinalRead {
  readonly node: string;
  readonly sku: string;
  readonly stock: number | null;
}

/** A node's /v1/cluster/status at the end of the run. */
export interface ReplicaState {
  readonly node: string;
  readonly appliedIndex: number;
  readonly stateHash: string;
}

export interface InvariantInput {
  readonly history: readonly HistoryOp[];
  readonly finalReads: readonly FinalRead[];
  readonly replicas: readonly ReplicaState[];
  /** The orderIds found at the end; undefined skips the order check. */
  readonly ordersFound?: readonly string[];
  /** The status of each order found at the end; undefined skips the status check. */
  readonly orderStatuses?: Readonly<Record<string, OrderStatus>>;
  /** Stock of skus that existed before the history started. */
  readonly initialStocks?: Readonly<Record<string, number>>;
}

export type InvariantViolation =
  | { readonly kind: "negativeStock"; readonly sku: string; readonly stock: number;
      readonly where: string }
  | { readonly kind: "oversell"; readonly sku: string; readonly soldOk: number;
      readonly availableMax: number }
  | { readonly kind: "conservation"; readonly sku: string; readonly final: number | null;
      readonly expectedLow: number | null; readonly expectedHigh: number | null }
  | { readonly kind: "missingOrder"; readonly orderId: string; readonly index: number }
  | { readonly kind: "orderStatus"; readonly orderId: string; readonly found: OrderStatus;
      readonly expected: string }
  | { readonly kind: "finalReadsDiffer"; readonly sku: string;
      readonly reads: readonly FinalRead[] }
  | { readonly kind: "divergence"; readonly appliedIndex: number;
      readonly replicas: readonly ReplicaState[] }
  | { readonly kind: "notConverged"; readonly replicas: readonly ReplicaState[] };

/** What the history says about one sku, and the range its final stock must lie in. */
export interface ItemAccount {
  readonly sku: string;
  /** null: the item was never (certainly or possibly) created. */
  readonly initial: number | null;
  readonly addedOk: number;
  readonly addedInfo: number;
  readonly soldOk: number;
  readonly soldInfo: number;
  readonly cancelledOk: number;
  readonly cancelledInfo: number;
  /** The final stock if every node agrees; undefined if no node reported this sku. */
  readonly final: number | null | undefined;
  readonly expectedLow: number | null;
  readonly expectedHigh: number | null;
}

export interface InvariantResult {
  readonly ok: boolean;
  readonly violations: readonly InvariantViolation[];
  readonly items: readonly ItemAccount[];
  readonly acknowledgedOrderCount: number;
  readonly ordersChecked: boolean;
}

export function checkInvariants(input: InvariantInput): InvariantResult {
  const operations = pairOperations(input.history);
  const bySku = partitionBySku(operations);
  const finalsBySku = groupFinalReads(input.finalReads);
  for (const sku of finalsBySku.keys()) if (!bySku.has(sku)) bySku.set(sku, []);
  const violations: InvariantViolation[] = [];
  const items: ItemAccount[] = [];
  for (const sku of [...bySku.keys()].sort()) {
    const reads = finalsBySku.get(sku) ?? [];
    const account = accountItem(sku, bySku.get(sku) ?? [], reads, input.initialStocks?.[sku]);
    items.push(account);
    violations.push(...itemViolations(account, bySku.get(sku) ?? [], reads));
  }
  const acknowledged = acknowledgedOrders(operations.flatMap((operation) =>
    operation.f === "buy" && operation.type === "ok" ? [operation] : []));
  if (input.ordersFound !== undefined) {
    const found = new Set(input.ordersFound);
    for (const order of acknowledged) {
      if (!found.has(order.orderId)) violations.push({ kind: "missingOrder", ...order });
    }
  }
  if (input.orderStatuses !== undefined) {
    violations.push(...orderStatusViolations(operations, acknowledged, input.orderStatuses));
  }
  violations.push(...convergenceViolations(input.replicas));
  return {
    ok: violations.length === 0, violations, items,
    acknowledgedOrderCount: acknowledged.length, ordersChecked: input.ordersFound !== undefined,
  };
}

function groupFinalReads(reads: readonly FinalRead[]): Map<string, FinalRead[]> {
  const bySku = new Map<string, FinalRead[]>();
  for (const read of reads) {
    const group = bySku.get(read.sku);
    if (group === undefined) bySku.set(read.sku, [read]);
    else group.push(read);
  }
  return bySku;
}

function sumQty(operations: readonly ItemOperation[], f: string, type: string): number {
  return operations.reduce((sum, operation) =>
    operation.f === f && operation.source.type === type ? sum + operation.qty : sum, 0);
}

/**
 * The initial stock: given, else an ok create's, else an info create's if the item exists at
 * the end (an info create that left no item did not happen).
 */
function accountItem(
  sku: string, operations: readonly ItemOperation[], reads: readonly FinalRead[],
  given: number | undefined,
): ItemAccount {
  const agreed = reads.length > 0 && reads.every((read) => read.stock === reads[0]?.stock);
  const final = agreed ? reads[0]?.stock : undefined;
  const okCreate = operations.find((op) => op.f === "create" && op.source.type === "ok");
  const infoCreate = operations.find((op) => op.f === "create" && op.source.type === "info");
  let initial: number | null = given ?? okCreate?.qty ?? null;
  if (initial === null && infoCreate !== undefined && typeof final === "number") {
    initial = infoCreate.qty;
  }
  const addedOk = sumQty(operations, "add", "ok");
  const addedInfo = sumQty(operations, "add", "info");
  const soldOk = sumQty(operations, "buy", "ok");
  const soldInfo = sumQty(operations, "buy", "info");
  const cancelledOk = sumQty(operations, "cancel", "ok");
  const cancelledInfo = sumQty(operations, "cancel", "info");
  const expectedLow = initial === null ? null
    : initial + addedOk + cancelledOk - soldOk - soldInfo;
  const expectedHigh = initial === null ? null
    : initial + addedOk + addedInfo + cancelledOk + cancelledInfo - soldOk;
  return {
    sku, initial, addedOk, addedInfo, soldOk, soldInfo, cancelledOk, cancelledInfo, final,
    expectedLow: expectedLow === null ? null : Math.max(0, expectedLow), expectedHigh,
  };
}

function itemViolations(
  account: ItemAccount, operations: readonly ItemOperation[], reads: readonly FinalRead[],
): InvariantViolation[] {
  const sku = account.sku;
  const violations: InvariantViolation[] = [];
  for (const operation of operations) {
    const stock = operation.observedStock;
    if (typeof stock === "number" && stock < 0) {
      const where = `${operation.f} at index ${operation.source.invoke.index}`;
      violations.push({ kind: "negativeStock", sku, stock, where });
    }
  }
  for (const read of reads) {
    if (read.stock !== null && read.stock < 0) {
      violations.push({ kind: "negativeStock", sku, stock: read.stock,
        where: `final read on ${read.node}` });
    }
  }
  const availableMax = (account.initial ?? 0) + account.addedOk + account.addedInfo +
    account.cancelledOk + account.cancelledInfo;
  if (account.soldOk > availableMax) {
    violations.push({ kind: "oversell", sku, soldOk: account.soldOk, availableMax });
  }
  if (account.final === undefined) {
    if (reads.length > 0) violations.push({ kind: "finalReadsDiffer", sku, reads });
    return violations;
  }
  if (!withinRange(account)) {
    violations.push({ kind: "conservation", sku, final: account.final,
      expectedLow: account.expectedLow, expectedHigh: account.expectedHigh });
  }
  return violations;
}

function withinRange(account: ItemAccount): boolean {
  const { final, expectedLow, expectedHigh } = account;
  if (expectedLow === null || expectedHigh === null) return final === null;
  return typeof final === "number" && final >= expectedLow && final <= expectedHigh;
}

function acknowledgedOrders(
  buys: readonly { readonly value: { readonly orderId?: string }; readonly invoke: HistoryOp }[],
): { orderId: string; index: number }[] {
  return buys.flatMap((buy) => typeof buy.value.orderId === "string"
    ? [{ orderId: buy.value.orderId, index: buy.invoke.index }] : []);
}

/**
 * Each acknowledged order found at the end must be cancelled iff an ok cancel names it; an info
 * cancel may have happened or not; a failed or absent one leaves it confirmed.
 */
function orderStatusViolations(operations: readonly PairedOperation[],
  acknowledged: readonly { orderId: string }[],
  statuses: Readonly<Record<string, OrderStatus>>): InvariantViolation[] {
  const cancelType = new Map<string, string>();
  for (const operation of operations) {
    if (operation.f === "cancel" && typeof operation.value.orderId === "string") {
      cancelType.set(operation.value.orderId, operation.type);
    }
  }
  return acknowledged.flatMap(({ orderId }) => {
    const found = statuses[orderId];
    if (found === undefined) return [];
    const type = cancelType.get(orderId);
    const expected = type === "ok" ? "cancelled" : type === "info" ? null : "confirmed";
    return expected === null || expected === found ? []
      : [{ kind: "orderStatus" as const, orderId, found,
        expected: `${expected} (${type === undefined ? "no cancel" : `a cancel that ended ${type}`})` }];
  });
}

/** Replicas at one appliedIndex must share a stateHash, and all must be at one index. */
export function convergenceViolations(replicas: readonly ReplicaState[]): InvariantViolation[] {
  const violations: InvariantViolation[] = [];
  const byIndex = new Map<number, ReplicaState[]>();
  for (const replica of replicas) {
    const group = byIndex.get(replica.appliedIndex);
    if (group === undefined) byIndex.set(replica.appliedIndex, [replica]);
    else group.push(replica);
  }
  for (const [appliedIndex, group] of [...byIndex].sort((a, b) => a[0] - b[0])) {
    if (new Set(group.map((replica) => replica.stateHash)).size > 1) {
      violations.push({ kind: "divergence", appliedIndex, replicas: group });
    }
  }
  if (byIndex.size > 1) violations.push({ kind: "notConverged", replicas: [...replicas] });
  return violations;
}

/** One line per violation, for the text report. */
export function describeViolation(violation: InvariantViolation): string {
  switch (violation.kind) {
    case "negativeStock":
      return `sku ${violation.sku}: negative stock ${violation.stock} (${violation.where})`;
    case "oversell":
      return `sku ${violation.sku}: oversell: ${violation.soldOk} sold (acknowledged) but at ` +
        `most ${violation.availableMax} ever available`;
    case "conservation":
      return `sku ${violation.sku}: conservation: final stock ${violation.final ?? "absent"}, ` +
        `expected ${rangeText(violation.expectedLow, violation.expectedHigh)}`;
    case "orderStatus":
      return `order ${violation.orderId} is ${violation.found} at the end; expected ` +
        violation.expected;
    case "missingOrder":
      return `order ${violation.orderId} (buy at index ${violation.index}) was acknowledged ` +
        "but is missing at the end";
    case "finalReadsDiffer":
      return `sku ${violation.sku}: nodes disagree at the end: ` +
        violation.reads.map((read) => `${read.node}=${read.stock ?? "absent"}`).join(", ");
    case "divergence":
      return `divergence at appliedIndex ${violation.appliedIndex}: ` +
        violation.replicas.map((replica) => `${replica.node}=${replica.stateHash}`).join(", ");
    case "notConverged":
      return "replicas did not converge to one appliedIndex: " +
        violation.replicas.map((replica) => `${replica.node}@${replica.appliedIndex}`).join(", ");
  }
}

function rangeText(low: number | null, high: number | null): string {
  if (low === null || high === null) return "absent (never created)";
  return low === high ? `${low}` : `in [${low}, ${high}]`;
}
