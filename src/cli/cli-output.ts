/**
 * How market-cli prints: aligned plain-text tables (bold headers only when color is allowed)
 * or JSON, and one-line descriptions of errors. Color is used only when stdout is a terminal
 * and NO_COLOR is unset or empty (https://no-color.org).
 */
import type { Item, Order } from "../market/index.js";
import type { EndpointStatus, MarketClientError } from "../client/index.js";

export type OutputFormat = "table" | "json";

export interface Style {
  readonly color: boolean;
}

export function colorAllowed(isTTY: boolean, env: NodeJS.ProcessEnv): boolean {
  const noColor = env.NO_COLOR;
  return isTTY && (noColor === undefined || noColor === "");
}

export function bold(text: string, style: Style): string {
  return style.color ? `\u001b[1m${text}\u001b[22m` : text;
}

/** Columns separated by two spaces; the last column is not padded. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[],
  style: Style): string {
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: readonly string[]): string => cells
    .map((cell, column) => column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))
    .join("  ").trimEnd();
  const header = line(headers);
  return [bold(header, style), ...rows.map(line)].join("\n");
}

export function formatCents(cents: number): string {
  const sign = cents < 0 ? "-" : "";
  const absolute = Math.abs(cents);
  return `${sign}${Math.floor(absolute / 100)}.${String(absolute % 100).padStart(2, "0")}`;
}

export function itemsTable(items: readonly Item[], style: Style): string {
  if (items.length === 0) return "(no items)";
  return renderTable(["SKU", "NAME", "AREA", "PRICE", "STOCK"], items.map((item) =>
    [item.sku, item.name, item.area, formatCents(item.priceCents), String(item.stock)]), style);
}

export function orderTable(order: Order, style: Style): string {
  const lines = order.lines.map((line) => `${line.sku} x${line.qty}`).join(", ");
  return renderTable(["ORDER", "STATUS", "TOTAL", "INDEX", "LINES"], [[order.orderId,
    order.status, formatCents(order.totalCents), String(order.index), lines]], style);
}

/** `cluster status`: one row per endpoint; an unreachable one has its error in ERRORS. */
export function clusterStatusTable(rows: readonly EndpointStatus[],
  idOf: (endpoint: string) => string, style: Style): string {
  return renderTable(["ID", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "HASH", "ERRORS"],
    rows.map(({ endpoint, status, error, removedNodeId }) => status === null
      ? [idOf(endpoint), removedNodeId === undefined ? "-" : "removed", "-", "-", "-", "-", "-",
        removedNodeId === undefined ? error?.message ?? "no answer"
          : "removed from the cluster (member remove)"]
      : [status.id, status.role, String(status.term), status.leaderId ?? "-",
        String(status.commitIndex), String(status.appliedIndex), status.stateHash.slice(0, 12),
        "-"]), style) + membershipNote(rows);
}

/** Learners and a joint configuration, as the leader (else any node) reports them. */
function membershipNote(rows: readonly EndpointStatus[]): string {
  const statuses = rows.flatMap((row) => row.status === null ? [] : [row.status]);
  const status = statuses.find((candidate) => candidate.role === "leader") ?? statuses[0];
  if (status === undefined) return "";
  const notes = [
    ...(status.learners?.length ?? 0) > 0 ? [`learners (no vote): ${status.learners!.join(", ")}`]
      : [],
    ...(status.votersOutgoing?.length ?? 0) > 0 ? [`joint configuration: leaving voters ` +
      `${status.votersOutgoing!.join(", ")} for ${status.members.join(", ")}`] : [],
  ];
  return notes.map((note) => `\n${note}`).join("");
}

export function statusRowsJson(rows: readonly EndpointStatus[]): unknown {
  return rows.map(({ endpoint, status, error }) => ({
    endpoint, status, error: error === null ? null : errorJson(error),
  }));
}

export function errorJson(error: MarketClientError): Record<string, unknown> {
  return { ...error.details, code: error.code, status: error.status, message: error.message };
}

/** The one line market-cli prints for a failed call (without the `error: ` prefix). */
export function describeClientError(error: MarketClientError, requestId?: string): string {
  const { details } = error;
  switch (error.code) {
    case "insufficient_stock":
      return `insufficient stock for ${String(details.sku)}: ${String(details.available)} ` +
        "available";
    case "invalid_request":
      return `invalid request: ${error.message}`;
    case "timeout":
      return requestId === undefined ? error.message
        : `${error.message} (retry with --request-id ${requestId})`;
    default:
      if (error.outcomeUnknown && requestId !== undefined) {
        return `${error.message}; the outcome is unknown: retry with --request-id ${requestId}`;
      }
      return error.message;
  }
}
