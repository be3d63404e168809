// The ink view of `zk-cli elections watch`: a row per node, the current leader's tenure, and a
// timeline of election events across the cluster, with keys to kill, restart and pause
// members of a local cluster. State comes from an ElectionStore (election-model.ts); this file
// only draws it and turns keys into NodeControls calls. Loaded only by the TUI (ink and React
// are never part of the other commands' start-up: see load.ts).
import { Box, Text, useApp, useInput, useStdin } from "ink";
import { useEffect, useRef, useState, useSyncExternalStore } from "react";
import type { NodeControls } from "./cluster-controls.js";
import { CONNECTING, ballotText, currentTenure, lagOf, type ElectionState, type ElectionStore, type NodeView, type RoleName, type Tenure, type TimelineEntry } from "./election-model.js";

/** Timeline lines shown by default; the newest are at the bottom. */
export const TIMELINE_ROWS_DEFAULT = 12;
/** Redraw at least this often, so durations and ages move even when no node says anything. */
const REDRAW_EVERY_MS = 500;

const ROLE_COLORS: Record<RoleName, string> = {
  leader: "green",
  candidate: "yellow",
  precandidate: "magenta",
  follower: "cyan",
  recovering: "red",
  learner: "blue",
  unknown: "gray",
};

export function formatTime(unixMs: number): string {
  const d = new Date(unixMs);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// Column widths of the node table (the header and every row use them).
const W = { sel: 2, node: 6, role: 13, ballot: 8, leader: 7, chosen: 8, applied: 9, lag: 6, heartbeat: 11 } as const;
const STATE_SEP = "  ";

function cell(v: string, width: number, right = false): string {
  const s = v.length > width - 1 ? v.slice(0, width - 1) : v;
  return right ? s.padStart(width - 1) + " " : s.padEnd(width);
}

/** The NODE column fits the longest id (an address until a node's first status), within bounds. */
function nodeWidth(state: ElectionState): number {
  return Math.min(NODE_WIDTH_MAX, Math.max(W.node, ...state.nodes.map((n) => n.id.length + 2)));
}
const NODE_WIDTH_MAX = 24;

export function NodeTable(props: { state: ElectionState; selected?: number | null; isPaused?: (id: string) => boolean }) {
  const { state, selected = null, isPaused = () => false } = props;
  const nodeW = nodeWidth(state);
  const header =
    cell("", W.sel) +
    cell("NODE", nodeW) +
    cell("ROLE", W.role) +
    cell("BALLOT", W.ballot) +
    cell("LEADER", W.leader) +
    cell("CHOSEN", W.chosen, true) +
    cell("APPLIED", W.applied, true) +
    cell("LAG", W.lag, true) +
    cell("HEARTBEAT", W.heartbeat, true) +
    STATE_SEP +
    "STATE";
  return (
    <Box flexDirection="column">
      <Text bold>{header}</Text>
      {state.nodes.map((n, i) => (
        <NodeRow key={n.key} node={n} nodeWidth={nodeW} lag={lagOf(state, n)} selected={i === selected} paused={isPaused(n.id)} />
      ))}
      {state.nodes.flatMap((n) =>
        n.up
          ? n.alarms.map((a) => (
              <Text key={`${n.key} ${a}`} color="red" bold wrap="wrap">
                ALARM {a}
              </Text>
            ))
          : [],
      )}
      {state.nodes.flatMap((n) =>
        n.up
          ? n.transfers.map((t) => (
              <Text key={`${n.key} snapshot ${t}`} color="cyan" wrap="wrap">
                SNAPSHOT {n.id}: {t}
              </Text>
            ))
          : [],
      )}
    </Box>
  );
}

function NodeRow(props: { node: NodeView; nodeWidth: number; lag: number | null; selected: boolean; paused: boolean }) {
  const { node: n, nodeWidth: nodeW, lag, selected, paused } = props;
  const dash = "-";
  const role = n.up && n.role ? n.role : dash;
  const alarmed = n.up && n.alarms.length > 0;
  const state = paused ? "paused" : alarmed ? "up, ALARM (below)" : n.up ? "up" : !n.seen && n.downReason === CONNECTING ? CONNECTING : `down: ${n.downReason ?? "?"}`;
  return (
    <Text inverse={selected} wrap="truncate-end">
      {cell(selected ? ">" : "", W.sel)}
      <Text bold>{cell(n.id, nodeW)}</Text>
      <Text color={n.up && n.role ? ROLE_COLORS[n.role] : "gray"} bold={n.up && n.role === "leader"}>
        {cell(role, W.role)}
      </Text>
      {cell(n.up ? ballotText(n.ballot) : dash, W.ballot)}
      {cell(n.up ? (n.leader ?? dash) : dash, W.leader)}
      <Text dimColor={!n.up}>{cell(n.chosen === null ? dash : String(n.chosen), W.chosen, true)}</Text>
      <Text dimColor={!n.up}>{cell(n.applied === null ? dash : String(n.applied), W.applied, true)}</Text>
      <Text color={lag !== null && lag > 0 && n.up ? "yellow" : undefined}>{cell(n.up && lag !== null ? String(lag) : dash, W.lag, true)}</Text>
      {cell(n.up && n.heartbeatMsAgo !== null ? formatDuration(n.heartbeatMsAgo) : dash, W.heartbeat, true)}
      {STATE_SEP}
      <Text color={paused ? "yellow" : alarmed ? "red" : n.up ? "green" : "red"} bold={alarmed}>
        {state}
      </Text>
    </Text>
  );
}

export function TenureLine(props: { tenure: Tenure | null; now: number }) {
  const { tenure, now } = props;
  if (!tenure) {
    return (
      <Text>
        <Text bold>Leader: </Text>
        <Text color="yellow">none (no reachable node leads or follows a leader: an election may be under way)</Text>
      </Text>
    );
  }
  let since = "";
  if (tenure.sinceMs !== null) {
    const d = formatDuration(now - tenure.sinceMs);
    since = tenure.exact ? ` for ${d} (since ${formatTime(tenure.sinceMs)})` : ` for at least ${d} (it led before the watch saw it)`;
  }
  return (
    <Text>
      <Text bold>Leader: </Text>
      <Text color="green" bold>
        {tenure.leaderId}
      </Text>
      {tenure.ballot ? ` ballot ${ballotText(tenure.ballot)}` : " (as its followers say; not watched)"}
      {since}
    </Text>
  );
}

export function Timeline(props: { entries: readonly TimelineEntry[]; rows?: number }) {
  const { entries, rows = TIMELINE_ROWS_DEFAULT } = props;
  const shown = entries.slice(Math.max(0, entries.length - rows));
  const hidden = entries.length - shown.length;
  return (
    <Box flexDirection="column">
      <Text bold>
        Timeline {hidden > 0 ? <Text dimColor>({hidden} earlier)</Text> : entries.length === 0 ? <Text dimColor>(no election event yet: kill the leader to see one)</Text> : null}
      </Text>
      {shown.map((e, i) => (
        <TimelineRow key={`${e.unixMs}-${e.nodeId}-${i}`} entry={e} />
      ))}
    </Box>
  );
}

function TimelineRow({ entry: e }: { entry: TimelineEntry }) {
  const head = `${formatTime(e.unixMs)}  ${e.nodeId.padEnd(4)}  `;
  if (e.kind === "action") {
    return (
      <Text>
        {head}
        <Text color="yellow">you: {e.reason}</Text>
      </Text>
    );
  }
  if (e.kind === "watch") {
    return <Text dimColor>{head + e.reason}</Text>;
  }
  const role = e.role ?? "unknown";
  const follows = e.role === "follower" && e.leader ? ` (follows ${e.leader})` : "";
  return (
    <Text>
      {head}
      <Text color={ROLE_COLORS[role]} bold={role === "leader"}>
        {role.padEnd(13)}
      </Text>
      {ballotText(e.ballot).padEnd(8)}
      {e.reason}
      {follows}
    </Text>
  );
}

export interface ElectionsAppProps {
  readonly store: ElectionStore;
  /** Keys k/r/p; absent when the nodes are not a local cluster's (no manifest). */
  readonly controls?: NodeControls | null;
  readonly title?: string;
  readonly timelineRows?: number;
  /** Called after `r` restarted a node (its stream should reopen at once). */
  readonly onRestarted?: (address: string) => void;
}

export function ElectionsApp(props: ElectionsAppProps) {
  const { store, controls = null, title = "zk elections", timelineRows } = props;
  const state = useSyncExternalStore(store.subscribe, store.getState);
  const [now, setNow] = useState(Date.now());
  const [selected, setSelected] = useState(0);
  // The row selected as of the last key, not of the last render: keys that arrive in one
  // chunk (down, then p) are handled before React renders again, and each acts on the row
  // the keys before it selected.
  const selectedNow = useRef(0);
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);
  // One action at a time; a ref, not state: two keys in one render must not both start one.
  const busy = useRef(false);
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();

  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), REDRAW_EVERY_MS);
    return () => clearInterval(t);
  }, []);
  // Statuses arrive every 250 ms per node: they move the clock too.
  useEffect(() => setNow(Date.now()), [state]);

  const act = (what: "kill" | "restart" | "pause", n: NodeView) => {
    if (!controls || busy.current) return;
    busy.current = true;
    setMessage({ text: `${what === "pause" ? (controls.isPaused(n.id) ? "resuming" : "pausing") : what === "kill" ? "killing" : "restarting"} ${n.id}...`, error: false });
    const run = what === "kill" ? controls.kill(n.id) : what === "restart" ? controls.restart(n.id) : controls.togglePause(n.id);
    run.then(
      (text) => {
        store.dispatch({ kind: "action", key: n.key, atMs: Date.now(), text });
        setMessage({ text, error: false });
        if (what === "restart") props.onRestarted?.(n.address);
      },
      (e: Error) => setMessage({ text: `${what} ${n.id} failed: ${e.message.split("\n")[0]}`, error: true }),
    ).finally(() => (busy.current = false));
  };

  useInput(
    (input, key) => {
      if (input === "q") {
        exit();
        return;
      }
      const count = state.nodes.length;
      if (count > 0 && (key.upArrow || key.downArrow)) {
        selectedNow.current = (selectedNow.current + (key.upArrow ? count - 1 : 1)) % count;
        setSelected(selectedNow.current);
      }
      const n = state.nodes[selectedNow.current];
      if (!n) return;
      if (input === "k") act("kill", n);
      else if (input === "r") act("restart", n);
      else if (input === "p") act("pause", n);
    },
    { isActive: isRawModeSupported === true },
  );

  const help = !isRawModeSupported
    ? "Ctrl-C quits (stdin is not a terminal: no keys)"
    : controls
      ? "up/down select  k kill  r restart  p pause/resume  q quit"
      : "q quit (k/r/p need a local cluster: zk-cli cluster up)";
  return (
    <Box flexDirection="column">
      <Text bold>{title}</Text>
      <TenureLine tenure={currentTenure(state)} now={now} />
      <Box marginTop={1}>
        <NodeTable state={state} selected={controls && isRawModeSupported ? selected : null} isPaused={controls ? controls.isPaused : undefined} />
      </Box>
      <Box marginTop={1}>
        <Timeline entries={state.timeline} rows={timelineRows} />
      </Box>
      <Box marginTop={1} flexDirection="column">
        {message ? <Text color={message.error ? "red" : "yellow"}>{message.text}</Text> : null}
        <Text dimColor>{help}</Text>
      </Box>
    </Box>
  );
}
