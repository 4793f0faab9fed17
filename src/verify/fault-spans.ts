/**
 * The nemesis's faults as spans of time, for the chaos report and its timeline. A runner records
 * each fault as events (FaultEvent in cluster/chaos.ts): a start, one or more ends (a pause that
 * wakes still cut off ends twice: SIGCONT, then the heal), and at the end of the run one
 * heal-all. Pure.
 */

/** A fault event as the chaos runner records it (FaultEvent in cluster/chaos.ts). */
export interface TimelineFault {
  /** Nanoseconds on the history's clock. */
  readonly time: number;
  readonly phase: "start" | "end" | "heal-all";
  readonly fault: string;
  readonly description: string;
  /** A short name for the timeline ("kill n2 (leader)"); default: the description's first
   * clause. */
  readonly label?: string;
  /** The nodes the fault acts on (a kill's or a pause's victim; every node of a partition). */
  readonly nodes?: readonly string[];
}

/** One fault from its start to its last end. */
export interface FaultSpan {
  /** 1-based, in start order: the fault's name in the report and on the timeline (F1, F2...). */
  readonly number: number;
  readonly kind: string;
  /** The start's description alone (what was done). */
  readonly description: string;
  /** The start's short name. */
  readonly label: string;
  /** The start's description followed by each end's ("· then ..."). */
  readonly text: string;
  readonly nodes: readonly string[];
  readonly startNs: number;
  /** The last end before the next start, the final heal, or (never healed) the next start or
   * `endNs`. */
  readonly endNs: number;
  /** The first end (for a pause: the SIGCONT; the final heal if it came first), or null when
   * it never ended. */
  readonly firstEndNs: number | null;
  readonly healed: boolean;
}

/**
 * Each start lasts until the last end before the next start, or until the final heal. One with
 * no end at all runs on to whatever comes next (or `endNs`), marked as never healed. Ends with
 * no start open are ignored.
 */
export function faultSpans(faults: readonly TimelineFault[], endNs: number): FaultSpan[] {
  const spans: FaultSpan[] = [];
  let open: { start: TimelineFault; text: string; end: number | null;
    firstEnd: number | null } | null = null;
  const close = (next: number): void => {
    if (open !== null) {
      spans.push({ number: spans.length + 1, kind: open.start.fault,
        description: open.start.description, label: open.start.label ?? shortLabel(open.start),
        text: open.end === null ? `${open.text} · never healed` : open.text,
        nodes: open.start.nodes ?? [], startNs: open.start.time, endNs: open.end ?? next,
        firstEndNs: open.firstEnd, healed: open.end !== null });
    }
    open = null;
  };
  for (const fault of faults) {
    if (fault.phase === "start") {
      close(fault.time);
      open = { start: fault, text: fault.description, end: null, firstEnd: null };
    } else if (fault.phase === "end" && open !== null) {
      open.end = fault.time;
      open.firstEnd ??= fault.time;
      open.text += ` · then ${fault.description}`;
    } else if (fault.phase === "heal-all") {
      if (open !== null) {
        open.end ??= fault.time;
        open.firstEnd ??= fault.time;
      }
      close(fault.time);
    }
  }
  close(endNs);
  return spans;
}

/** How long a label made from a description may be. */
export const faultLabelCharsMax = 40;

/** A description's first clause (up to ": " or "; "), at most faultLabelCharsMax long. */
function shortLabel(fault: TimelineFault): string {
  const clause = fault.description.split(/[:;] /)[0] ?? fault.description;
  const text = `${fault.fault} ${clause}`;
  return text.length <= faultLabelCharsMax ? text
    : `${text.slice(0, faultLabelCharsMax - 1)}\u2026`;
}
