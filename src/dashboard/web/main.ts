/**
 * The live view's page: Preact components written with htm, fed by the server's frames
 * (Server-Sent Events at GET stream, five a second by default). Everything shown comes from the
 * frames; the page's only requests of its own are the actions (POST actions) and the market
 * (search, buy, an order). Under a node's /ui the actions need the admin token, typed into the page and
 * kept in this module's memory only: never stored, never in a URL.
 */
import { html, render } from "htm/preact";
import { memo } from "preact/compat";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import "./dashboard.css";
import type {
  DashboardFrame,
  DashboardInfo,
  LinkRuleView,
  MetricsSample,
  NodeView,
  TimelineEvent,
} from "../dashboard-frame.js";
import { mergeFrame, seriesBounds } from "../frame-merge.js";
import { Chart, chartSpecs, nodeColors, type Markers } from "./charts.js";

/** Events listed at once: a longer list costs the browser more at every frame. */
const timelineShownMax = 120;

/**
 * Renders of the page and of its body (all but the header) so far: shown as attributes, for a
 * benchmark to see the page keep up, and a test to see a paused body held still.
 */
let renderCount = 0;
let bodyRenderCount = 0;

/** The admin token typed into a node's page: memory only. */
let adminToken = "";

interface ViewState {
  frame: DashboardFrame | null;
  events: readonly TimelineEvent[];
  samples: readonly MetricsSample[];
  connected: boolean;
}

function termColor(term: number): string {
  return `hsl(${(term * 67) % 360}, 70%, ${term % 2 === 0 ? 72 : 62}%)`;
}

function roleLabel(role: string): string {
  return role === "preCandidate" ? "pre-candidate" : role;
}

function timeOfDay(timeMs: number): string {
  const date = new Date(timeMs);
  return `${date.toTimeString().slice(0, 8)}.${String(date.getMilliseconds()).padStart(3, "0")}`;
}

/** The nodes `id` cannot reach, from the rules of every node (drop rules either way). */
function cutPeers(frame: DashboardFrame, id: string): string[] {
  const rulesOf = (holder: string): readonly LinkRuleView[] =>
    frame.nodes.find((node) => node.id === holder)?.faults ?? [];
  const drops = (rules: readonly LinkRuleView[], from: string, to: string): boolean =>
    rules.some((rule) => rule.drop === true && (rule.from === undefined || rule.from === "*" ||
      rule.from === from) && (rule.to === undefined || rule.to === "*" || rule.to === to));
  return frame.ids.filter((other) => other !== id && [id, other].some((holder) =>
    drops(rulesOf(holder), id, other) || drops(rulesOf(holder), other, id)));
}

function leaderOf(frame: DashboardFrame): NodeView | null {
  let best: NodeView | null = null;
  for (const node of frame.nodes) {
    if (node.status?.role === "leader" && (best === null || node.status.term >
      (best.status?.term ?? 0))) best = node;
  }
  return best;
}

async function act(body: Record<string, unknown>): Promise<string> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (adminToken !== "") headers.authorization = `Bearer ${adminToken}`;
  const response = await fetch("actions", { method: "POST", headers, body: JSON.stringify(body) });
  const answer = await response.json() as { message?: string; error?: { message?: string } };
  if (!response.ok) throw new Error(answer.error?.message ?? `answered ${response.status}`);
  return answer.message ?? "done";
}

function App(): unknown {
  const [info, setInfo] = useState<DashboardInfo | null>(null);
  const [state, setState] = useState<ViewState>({ frame: null, events: [], samples: [],
    connected: false });
  const [result, setResult] = useState<{ text: string; ok: boolean } | null>(null);
  const [picked, setPicked] = useState<number | null>(null);
  const [tokenSet, setTokenSet] = useState(false);
  /** The state shown while the view is paused (null: live). */
  const [paused, setPaused] = useState<ViewState | null>(null);

  useEffect(() => {
    void fetch("info").then((response) => response.json()).then((body) =>
      setInfo(body as DashboardInfo));
    const source = new EventSource("stream");
    // The first frame of each connection (EventSource opens it again after a loss) carries
    // the server's whole backlog: it replaces the series held (frame-merge.ts).
    let opened = true;
    source.onopen = () => {
      opened = true;
    };
    source.addEventListener("frame", (message) => {
      const frame = JSON.parse((message as MessageEvent<string>).data) as DashboardFrame;
      const first = opened;
      opened = false;
      // The same arrays while nothing is new, so that the timeline and the charts, which are
      // memoized on them, are not rendered again at every frame.
      setState((previous) => ({ ...mergeFrame(previous, frame, first, seriesBounds), frame,
        connected: true }));
    });
    source.onerror = () => setState((previous) => ({ ...previous, connected: false }));
    return () => source.close();
  }, []);

  // Stable across renders, so that the memoized body is skipped while nothing it shows changed.
  // An action resumes a paused view: its effect is to be seen (and its buttons, shown as they
  // were, would otherwise offer what no longer holds, such as starting a running workload).
  const run = useMemo(() => (body: Record<string, unknown>): void => {
    setPaused(null);
    setResult({ text: `${String(body.action)}...`, ok: true });
    act(body).then((text) => setResult({ text, ok: true }),
      (error: Error) => setResult({ text: error.message, ok: false }));
  }, []);
  const resume = useMemo(() => (): void => setPaused(null), []);
  const offeredKey = info === null || (info.tokenRequired && !tokenSet) ? ""
    : info.actions.join(",");
  const offered = useMemo(() => new Set(offeredKey === "" ? [] : offeredKey.split(",")),
    [offeredKey]);
  const frame = state.frame;
  if (frame === null) return html`<p class="loading">Waiting for the first frame...</p>`;
  // Paused, the page keeps merging the frames (so that resuming shows the charts and the
  // timeline whole) but shows the state of the moment it paused; only this header follows the
  // stream, so that the view stays still to be read, and costs the browser little.
  const shown = paused ?? state;
  const leader = leaderOf(frame);
  renderCount++;
  return html`
    <header>
      <h1>raftmarket <span class="mode">${frame.mode === "launcher" ? "launcher" : "node view"}</span></h1>
      <span class=${`connection ${state.connected ? "live" : "lost"}`} data-testid="connection">
        ${state.connected ? "live" : "reconnecting"}</span>
      <span class="muted" data-testid="frame-time" data-time-ms=${frame.timeMs}
        data-renders=${renderCount}>${`${paused === null ? "as of" : "stream at"} ` +
        timeOfDay(frame.timeMs)}</span>
      ${paused === null || paused.frame === null ? null : html`<span class="paused"
        data-testid="paused" data-time-ms=${paused.frame.timeMs}>paused, showing ${
        timeOfDay(paused.frame.timeMs)}</span>`}
      <button data-testid="pause" title="hold the view still to read it; the stream goes on"
        onClick=${() => setPaused((previous) => previous === null ? state : null)}>
        ${paused === null ? "pause view" : "resume"}</button>
      <span data-testid="summary">${leader === null ? "no leader"
        : `leader ${leader.id}, term ${leader.status?.term}`}</span>
      ${info?.tokenRequired === true ? html`<${TokenInput} set=${tokenSet}
        onSet=${(token: string) => { adminToken = token; setTokenSet(token !== ""); }} />` : null}
    </header>
    <${Body} state=${shown} offered=${offered} run=${run} result=${result} picked=${picked}
      pick=${setPicked} resume=${resume} />`;
}

/** Everything under the header: rendered again only when what it shows changed. */
function BodyView(props: { state: ViewState; offered: Set<string>;
  run: (body: Record<string, unknown>) => void; result: { text: string; ok: boolean } | null;
  picked: number | null; pick: (index: number | null) => void; resume: () => void }): unknown {
  const { state, offered, run, picked } = props;
  const frame = state.frame!;
  const idsKey = frame.ids.join(",");
  const ids = useMemo(() => frame.ids, [idsKey]);
  bodyRenderCount++;
  return html`
    <${ActionBar} offered=${offered} run=${run} frame=${frame} result=${props.result} />
    <div class="grid" data-testid="body" data-renders=${bodyRenderCount}>
      <section class="wide"><h2>Nodes</h2>
        <${NodesTable} frame=${frame} offered=${offered} run=${run} /></section>
      <section><h2>The leader's view of its followers</h2><${FollowerView} frame=${frame} /></section>
      <section><h2>Network</h2><${NetworkView} frame=${frame} offered=${offered} run=${run}
        rates=${state.samples.at(-1)} /></section>
      <section class="wide"><h2>Logs</h2><${LogsView} frame=${frame} /></section>
      <section class="wide"><h2>Charts</h2>
        <${Charts} samples=${state.samples} ids=${ids} events=${state.events}
          picked=${picked} /></section>
      <section><h2>Timeline</h2>
        <${Timeline} events=${state.events} picked=${picked} pick=${props.pick} /></section>
      <section><h2>Market</h2><${Market} resume=${props.resume} /></section>
    </div>`;
}

function TokenInput(props: { set: boolean; onSet: (token: string) => void }): unknown {
  const [text, setText] = useState("");
  return html`<form class="token" onSubmit=${(event: Event) => {
    event.preventDefault();
    props.onSet(text);
  }}>
    <input type="password" placeholder="admin token for actions" autocomplete="off"
      value=${text} onInput=${(event: Event) => setText((event.target as HTMLInputElement).value)} />
    <button type="submit">${props.set ? "change token" : "use token"}</button>
    <span class="hint">${props.set ? "actions on (token kept in this page only)"
      : "read-only"}</span>
  </form>`;
}

function ActionBar(props: { offered: Set<string>; run: (body: Record<string, unknown>) => void;
  frame: DashboardFrame; result: { text: string; ok: boolean } | null }): unknown {
  const { offered, run, frame } = props;
  const [clients, setClients] = useState(16);
  const button = (action: string, label: string, extra: Record<string, unknown> = {}) =>
    offered.has(action) ? html`<button data-action=${action}
      onClick=${() => run({ action, ...extra })}>${label}</button>` : null;
  const workload = frame.workload;
  const workloadText = workload === null ? "" : `${workload.running
    ? `${workload.clients} clients buying` : "idle"}: ${workload.ordersOk} orders, ` +
    `${workload.ordersFailed} failed`;
  return html`<div class="actions">
    ${button("isolate-leader", "isolate leader")}
    ${button("split", "split")}
    ${button("heal", "heal all")}
    ${button("transfer", "transfer leadership")}
    ${button("member-add", "add learner")}
    ${offered.has("workload-start") ? html`<span class="workload">
      <label>clients <input type="number" min="1" max="256" value=${clients} data-testid="clients"
        onInput=${(event: Event) => setClients(Number((event.target as HTMLInputElement).value))} />
      </label>
      ${workload?.running === true ? button("workload-stop", "stop workload")
        : button("workload-start", "start workload", { clients })}
      ${workload === null ? null : html`<span data-testid="workload">${workloadText}</span>`}
    </span>` : null}
    ${props.result === null ? null : html`<span data-testid="action-result"
      class=${props.result.ok ? "ok" : "error"}>${props.result.text}</span>`}
  </div>`;
}

/** The nodes table's columns, in px (0: the rest of the width, for the buttons). */
const nodeColumnWidthsPx = [100, 70, 120, 40, 45, 55, 70, 70, 110, 75, 92, 100, 0];

function NodesTable(props: { frame: DashboardFrame; offered: Set<string>;
  run: (body: Record<string, unknown>) => void }): unknown {
  const { frame, offered, run } = props;
  const leader = leaderOf(frame);
  // Learners as the leader reports them (status extension; absent from older nodes).
  const learners = (leader?.status as { learners?: string[] } | null | undefined)?.learners ?? [];
  // Fixed layout, the columns' widths set here: a cell whose number grows does not make the
  // browser measure every cell of the table again (and repaint the rows that moved) five times
  // a second. Measured in headless chromium under 16 clients: 8.7% of a core against 9.3% with
  // automatic layout (four interleaved 10 s windows each).
  return html`<table class="nodes"><colgroup>${nodeColumnWidthsPx.map((widthPx) =>
      html`<col style=${widthPx === 0 ? "" : `width:${widthPx}px`} />`)}</colgroup>
    <thead><tr><th>node</th><th>process</th><th>role</th><th>term</th><th>vote</th>
      <th>leader</th><th>commit</th><th>applied</th><th>last</th><th>heard leader</th>
      <th>election timer</th><th>network</th><th></th></tr></thead>
    <tbody>${frame.nodes.map((node) => {
      const status = node.status;
      const cut = cutPeers(frame, node.id);
      const isolated = cut.length > 0 && cut.length === frame.ids.length - 1;
      const state = node.process === "down" ? "down" : node.process === "paused" ? "paused"
        : status === null ? "unreachable" : status.role;
      const tickMs = frame.tickIntervalMs;
      const elapsed = status?.electionElapsedTicks ?? 0;
      const timeout = status?.electionTimeoutTicks ?? 0;
      const heard = status === null || status.role === "leader" ? "-"
        : `${elapsed * tickMs} ms`;
      const timerFraction = status === null || status.role === "leader" || timeout === 0 ? 0
        : Math.min(1, elapsed / timeout);
      const lag = leader?.status != null && status !== null ?
        leader.status.lastLogIndex - status.lastLogIndex : 0;
      const button = (action: string, label: string) => offered.has(action)
        ? html`<button data-action=${action} data-node=${node.id}
          onClick=${() => run({ action, node: node.id })}>${label}</button>` : null;
      // The launcher signals only the processes it started; a node started by hand has none.
      const processButton = (action: string, label: string) => node.managed
        ? button(action, label) : null;
      return html`<tr data-node=${node.id} data-role=${status?.role ?? ""} data-state=${state}
        data-process=${node.process} data-term=${status?.term ?? ""}
        data-cut=${isolated ? "true" : "false"} class=${`state-${state}`}>
        <td title=${node.id}><b>${node.id}</b>${node.pid === null ? null
          : html`<small> pid ${node.pid}</small>`}</td>
        <td>${node.process}</td>
        <td class="role wraps">${status === null ? node.error ?? "no answer" : roleLabel(status.role)}</td>
        <td><span class="term" style=${`background:${termColor(status?.term ?? 0)}`}>
          ${status?.term ?? "-"}</span></td>
        <td title=${status?.vote ?? ""}>${status?.vote ?? "-"}</td>
        <td title=${status?.leaderId ?? ""}>${status?.leaderId ?? "-"}</td>
        <td>${status?.commitIndex ?? "-"}</td>
        <td>${status?.appliedIndex ?? "-"}</td>
        <td>${status?.lastLogIndex ?? "-"}${lag > 0 ? html` <small class="lag">(-${lag})</small>` : null}</td>
        <td>${heard}</td>
        <td><div class="timer" title=${`${elapsed} of ${timeout} ticks`}>
          <div style=${`width:${Math.round(timerFraction * 100)}%`}></div></div></td>
        <td class="wraps">${cut.length === 0 ? "ok" : isolated ? html`<span class="cut">cut off</span>`
          : html`<span class="cut">cut from ${cut.join(", ")}</span>`}</td>
        <td class="buttons">${processButton("kill", "kill")}
          ${processButton("restart", "restart")}
          ${processButton("pause", "pause")}${processButton("resume", "resume")}
          ${button("isolate", "isolate")}
          ${learners.includes(node.id) ? button("member-promote", "promote") : null}
          ${button("member-remove", "remove")}</td>
      </tr>`;
    })}</tbody></table>`;
}

function FollowerView(props: { frame: DashboardFrame }): unknown {
  const leader = leaderOf(props.frame);
  const status = leader?.status;
  if (leader === null || status == null) return html`<p class="muted">No leader.</p>`;
  const progress = status.progress ?? {};
  return html`<p>Leader <b>${leader.id}</b>, term ${status.term}, last index ${status.lastLogIndex},
    commit ${status.commitIndex}.</p>
    <table class="followers"><thead><tr><th>follower</th><th>match</th><th>next</th>
      <th>state</th><th>in flight</th><th>behind</th><th>last contact</th></tr></thead>
    <tbody>${Object.entries(progress).filter(([id]) => id !== leader.id).map(([id, follower]) => {
      const behind = status.lastLogIndex - follower.match;
      const contactMs = leader.followerContactAgeMs[id] ?? null;
      const lagging = behind > 0 && (contactMs === null || contactMs > 500 ||
        follower.recentActive === false) || follower.state === "snapshot";
      return html`<tr data-follower=${id} data-state=${follower.state}
        data-lagging=${lagging ? "true" : "false"} class=${lagging ? "lagging" : ""}>
        <td>${id}</td><td>${follower.match}</td><td>${follower.next}</td>
        <td class=${`progress-${follower.state}`}>${follower.state}</td>
        <td>${follower.inflight ?? "-"}</td><td>${behind}</td>
        <td>${contactMs === null ? "-" : contactMs < 250 ? "now" : `${(contactMs / 1000).toFixed(1)} s ago`}</td>
      </tr>`;
    })}</tbody></table>`;
}

function NetworkView(props: { frame: DashboardFrame; offered: Set<string>;
  run: (body: Record<string, unknown>) => void; rates: MetricsSample | undefined }): unknown {
  const { frame, offered, run } = props;
  const rates = props.rates?.nodes;
  // A node's rules are unknown without the admin token (a node's own view), or while it does
  // not answer (down, paused): a link it holds rules for may then be cut unseen.
  const unknown = frame.nodes.filter((node) => node.faults === null).map((node) => node.id);
  const rulesKnown = (id: string): boolean => !unknown.includes(id);
  const rules = frame.nodes.flatMap((node) => (node.faults ?? []).map((rule) => ({ node, rule })));
  return html`${unknown.length === 0 ? null : unknown.length === frame.nodes.length
    ? html`<p class="muted">The link rules are read with the admin token: the launcher's view
      shows them.</p>`
    : html`<p class="muted" data-testid="rules-unknown">The link rules of ${unknown.join(", ")}
      are not known (no answer): a link marked ? may be cut.</p>`}
    <p class="muted">Each cell is the link from the row's node to the column's, with the peer
      messages it carried per second.</p>
    <table class="links"><thead><tr><th>from \\ to</th>${frame.ids.map((id) =>
      html`<th>${id}</th>`)}</tr></thead>
    <tbody>${frame.ids.map((from) => html`<tr>
      <th>${from}</th>${frame.ids.map((to) => {
        if (from === to) return html`<td class="self">-</td>`;
        const cut = cutPeers(frame, from).includes(to);
        const action = cut ? "heal-link" : "cut";
        const rate = rates?.[from]?.messagesPerSecondTo[to];
        const label = cut ? "cut" : rulesKnown(from) && rulesKnown(to) ? "ok" : "?";
        return html`<td class=${cut ? "cut" : "ok"}>${offered.has(action) ? html`<button
          data-action=${action} data-from=${from} data-to=${to}
          title=${cut ? "heal this link" : "cut this link (both ways)"}
          onClick=${() => run({ action, from, to })}>${label}</button>` : label}${rate === undefined ? null
          : html`<br /><small>${rate} msg/s</small>`}</td>`;
      })}</tr>`)}</tbody></table>
    ${rules.length === 0 ? null : html`<ul class="rules">${rules.map(({ node, rule }) => html`<li>
      ${node.id}: ${rule.from ?? "*"} -> ${rule.to ?? "*"}: ${[rule.drop === true ? "drop" : "",
        rule.dropRate === undefined ? "" : `drop ${rule.dropRate * 100}%`,
        rule.delayMs === undefined ? "" : `delay ${rule.delayMs} ms`,
        rule.jitterMs === undefined ? "" : `jitter ${rule.jitterMs} ms`,
        rule.duplicateRate === undefined ? "" : `duplicate ${rule.duplicateRate * 100}%`]
        .filter((text) => text !== "").join(", ")}</li>`)}</ul>`}`;
}

/** Log columns drawn: the last entries of the longest log. */
const logColumns = 24;
const logCell = { widthPx: 28, heightPx: 20, labelPx: 34, headerPx: 16 } as const;

/**
 * The logs side by side, drawn on a canvas: under load every entry shifts at every frame, and a
 * table of cells would cost the browser a layout and a repaint of it at every frame. The
 * numbers it shows are also in a hidden list (data-log, data-commit, data-last, one entry per
 * data-entries "index:term:kind") for tests and assistive tools.
 */
function LogsView(props: { frame: DashboardFrame }): unknown {
  const { frame } = props;
  const canvas = useRef<HTMLCanvasElement>(null);
  const high = Math.max(0, ...frame.nodes.map((node) => node.log?.lastLogIndex ?? 0));
  const low = Math.max(1, high - logColumns + 1);
  const widthPx = logCell.labelPx + logColumns * logCell.widthPx + 4;
  const heightPx = logCell.headerPx + frame.nodes.length * logCell.heightPx + 2;
  useLayoutEffect(() => {
    const context = canvas.current?.getContext("2d");
    if (context == null) return;
    context.clearRect(0, 0, widthPx, heightPx);
    context.font = "10px system-ui, sans-serif";
    context.textAlign = "center";
    context.textBaseline = "middle";
    for (let index = low; index <= high; index++) {
      if ((index - low) % 4 !== 0 && index !== high) continue;
      context.fillStyle = "#888";
      context.fillText(String(index), logCell.labelPx + (index - low + 0.5) * logCell.widthPx,
        logCell.headerPx / 2);
    }
    frame.nodes.forEach((node, row) => {
      const top = logCell.headerPx + row * logCell.heightPx;
      context.textAlign = "left";
      context.fillStyle = "#1d1d1f";
      context.font = "bold 12px system-ui, sans-serif";
      context.fillText(node.id, 2, top + logCell.heightPx / 2);
      context.font = "11px system-ui, sans-serif";
      context.textAlign = "center";
      const entries = new Map((node.log?.entries ?? []).map((entry) => [entry.index, entry]));
      const commit = node.log?.commitIndex ?? 0;
      for (let index = low; index <= high; index++) {
        const left = logCell.labelPx + (index - low) * logCell.widthPx;
        const entry = entries.get(index);
        context.globalAlpha = entry === undefined || index <= commit ? 1 : 0.45;
        context.fillStyle = entry === undefined ? "#f4f5f7" : termColor(entry.term);
        context.fillRect(left + 1, top + 1, logCell.widthPx - 2, logCell.heightPx - 2);
        // The term is written on the first cell of each run of one term only: the colour
        // says the rest. Text is what a software canvas draws slowest: a number in every cell
        // cost chromium about 1 point of a core more (9.0% against 7.9%, four interleaved
        // 10 s windows each, 16 clients).
        // (After a new leader's empty entry, "·", its first command shows the term.)
        const previous = entries.get(index - 1);
        const runStart = index === low || previous === undefined || previous.kind !== "command" ||
          previous.term !== entry?.term;
        if (entry !== undefined && (entry.kind !== "command" || runStart)) {
          context.fillStyle = "#000";
          context.fillText(entry.kind === "noop" ? "·" : entry.kind === "config" ? "c"
            : String(entry.term), left + logCell.widthPx / 2, top + logCell.heightPx / 2);
        }
        context.globalAlpha = 1;
        if (index === commit) {
          context.fillStyle = "#000";
          context.fillRect(left + logCell.widthPx - 3, top, 3, logCell.heightPx);
        }
      }
    });
  });
  return html`<canvas ref=${canvas} width=${widthPx} height=${heightPx} class="logs"
      aria-label="the last entries of every node's log"></canvas>
    <ul hidden>${frame.nodes.map((node) => html`<li data-log=${node.id}
      data-commit=${node.log?.commitIndex ?? ""} data-last=${node.log?.lastLogIndex ?? ""}
      data-entries=${(node.log?.entries ?? []).map((entry) =>
        `${entry.index}:${entry.term}:${entry.kind}`).join(" ")}></li>`)}</ul>
    <p class="muted">Each cell is an entry, coloured by its term (the number, written where a
      term's entries begin; · is a new leader's empty entry); the black bar marks the node's
      commit index; faded entries are not committed.</p>`;
}

function ChartsView(props: { samples: readonly MetricsSample[]; ids: readonly string[];
  events: readonly TimelineEvent[]; picked: number | null }): unknown {
  const container = useRef<HTMLDivElement>(null);
  const charts = useRef<Chart[]>([]);
  const markers = useRef<Markers>({ elections: [], picked: null });
  markers.current = {
    elections: props.events.filter((event) => event.kind === "leaderElected")
      .map((event) => event.timeMs),
    picked: props.picked,
  };
  // Layout effects, so that a chart is drawn in the frame that renders the page, not in a
  // second frame after it (the same for the logs' canvas).
  useLayoutEffect(() => {
    const element = container.current;
    if (element === null) return;
    charts.current = chartSpecs.map((spec) => {
      const holder = document.createElement("div");
      holder.className = "chart";
      holder.dataset.chart = spec.key;
      element.appendChild(holder);
      return new Chart(holder, spec, () => markers.current);
    });
    return () => {
      element.innerHTML = "";
    };
  }, []);
  const lastSampleMs = props.samples.at(-1)?.timeMs ?? 0;
  useLayoutEffect(() => {
    for (const chart of charts.current) chart.update(props.samples, props.ids);
  }, [lastSampleMs, props.ids.join(",")]);
  useEffect(() => {
    for (const chart of charts.current) chart.redraw();
  }, [props.picked]);
  return html`<div class="legend">${props.ids.map((id, k) => html`<span
      style=${`color:${nodeColors[k % nodeColors.length]}`}>■ ${id}</span>`)}
    <span>- - workload (client side)</span><span class="election">| leader elected</span></div>
    <div class="charts" ref=${container}></div>`;
}

const importantKinds = new Set(["leaderElected", "campaignStarted", "roleChanged",
  "voteGranted", "voteRefused", "snapshotSent", "snapshotInstalled", "logTruncated",
  "transferStarted", "transferAbandoned"]);

function TimelineView(props: { events: readonly TimelineEvent[]; picked: number | null;
  pick: (timeMs: number | null) => void }): unknown {
  const [all, setAll] = useState(false);
  const shown = props.events.filter((event) => all || event.source !== "raft" ||
    importantKinds.has(event.kind)).sort((a, b) => b.timeMs - a.timeMs || b.seq - a.seq)
    .slice(0, timelineShownMax);
  return html`<label class="muted"><input type="checkbox" checked=${all}
      onChange=${() => setAll(!all)} /> every Raft event</label>
    <ol class="timeline">${shown.map((event) => html`<li key=${event.seq} data-kind=${event.kind}
      data-source=${event.source} class=${`source-${event.source} kind-${event.kind}${props.picked
        === event.timeMs ? " picked" : ""}`} title="show this moment in the charts"
      onClick=${() => props.pick(props.picked === event.timeMs ? null : event.timeMs)}>
      <span class="time">${timeOfDay(event.timeMs)}</span>
      ${event.term === null ? null : html`<span class="term"
        style=${`background:${termColor(event.term)}`}>${event.term}</span>`}
      <b>${event.node ?? ""}</b> ${event.message}</li>`)}</ol>`;
}

interface ItemView { sku: string; name: string; area: string; priceCents: number; stock: number }
interface OrderView { orderId: string; status: string; totalCents: number; index: number;
  lines: { sku: string; qty: number }[] }

/** `resume`: a purchase resumes a paused view, for its entry to be seen in the logs. */
function MarketView(props: { resume: () => void }): unknown {
  const [query, setQuery] = useState("");
  const [items, setItems] = useState<ItemView[]>([]);
  const [order, setOrder] = useState<OrderView | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const search = async (): Promise<void> => {
    const response = await fetch(`../v1/items?limit=20&q=${encodeURIComponent(query)}`);
    const body = await response.json() as { items?: ItemView[]; error?: { message: string } };
    if (!response.ok) {
      setMessage(body.error?.message ?? `search answered ${response.status}`);
      return;
    }
    setItems(body.items ?? []);
    setMessage(`${body.items?.length ?? 0} items`);
  };
  const buy = async (sku: string): Promise<void> => {
    props.resume();
    setMessage(`buying ${sku}...`);
    const response = await fetch("../v1/orders", { method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ requestId: `ui-${crypto.randomUUID()}`, lines: [{ sku, qty: 1 }] }) });
    const body = await response.json() as { order?: OrderView; error?: { message: string } };
    if (!response.ok || body.order === undefined) {
      setMessage(body.error?.message ?? `buy answered ${response.status}`);
      return;
    }
    setOrder(body.order);
    setMessage(null);
    void search();
  };
  return html`<form onSubmit=${(event: Event) => {
    event.preventDefault();
    void search();
  }}>
    <input id="search" placeholder="search items (empty: all)" value=${query}
      onInput=${(event: Event) => setQuery((event.target as HTMLInputElement).value)} />
    <button type="submit" data-testid="search">search</button></form>
    ${message === null ? null : html`<p class="muted" data-testid="market-message">${message}</p>`}
    ${order === null ? null : html`<p class="order" data-testid="order" data-order-id=${order.orderId}
      data-index=${order.index}>Order <b>${order.orderId}</b> ${`${order.status}, ` +
      `${(order.totalCents / 100).toFixed(2)}`}: Raft index <b>${order.index}</b> (see it in the
      logs above, committed on every node).</p>`}
    <table class="items"><tbody>${items.map((item) => html`<tr data-item=${item.sku}>
      <td>${item.name}<br /><small>${item.sku} · ${item.area}</small></td>
      <td>${(item.priceCents / 100).toFixed(2)}</td><td>${item.stock} left</td>
      <td><button data-buy=${item.sku} disabled=${item.stock === 0}
        onClick=${() => void buy(item.sku)}>buy</button></td></tr>`)}</tbody></table>`;
}

// Rendered again only when their props change (not at every frame).
const Charts = memo(ChartsView as (props: Parameters<typeof ChartsView>[0]) => never);
const Timeline = memo(TimelineView as (props: Parameters<typeof TimelineView>[0]) => never);
const Market = memo(MarketView as (props: Parameters<typeof MarketView>[0]) => never);
const Body = memo(BodyView as (props: Parameters<typeof BodyView>[0]) => never);

render(html`<${App} />` as never, document.getElementById("app")!);
