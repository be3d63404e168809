// Printers of `zk-cli inspect`: a readable page on a terminal, one JSON object per line with
// --json ({"type":"node",...} then {"type":"entry",...}; for --diff, {"type":"node",...} per
// member then {"type":"slot",...}).
import { ballotText, type DbReport, type DiffResult, type EntryReport, type SlotWindow } from "./inspect.js";
import { formatBytes } from "./inspect-format.js";
import { formatTable, type Column } from "./output.js";

export function reportLines(r: DbReport): string[] {
  const sizes = `${formatBytes(r.dbBytes + (r.walBytes ?? 0))} (zk.db ${formatBytes(r.dbBytes)}, -wal ${r.walBytes === null ? "none" : formatBytes(r.walBytes)})`;
  const pairs: [string, string][] = [
    ["file", r.file],
    ["size", sizes],
    ["node", r.nodeId],
    ["cluster", r.clusterId],
    ["schema version", String(r.schemaVersion)],
    ["promised", ballotText(r.promised)],
    ["chosen", String(r.chosen)],
    ["applied", r.treeInMemory ? `${r.applied} (the last checkpoint: the node runs with --tree-in-memory and applies the chosen log after it in memory)` : String(r.applied)],
    ["entries", r.entryCount === 0 ? "0" : `${r.entryCount} (slots ${r.firstSlot}..${r.lastSlot})`],
    ["compaction point", r.compactedThrough === null ? "none (full log on disk)" : `slot ${r.compactedThrough} (the log starts at ${r.firstEntrySlot})`],
    ["snapshot", r.snapshotIndex === 0 ? "none" : `at slot ${r.snapshotIndex}`],
    ["watch history", `from zxid ${r.watchHistoryFrom}`],
  ];
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(w)}  ${v}`);
}

const ENTRY_COLUMNS: readonly Column<EntryReport>[] = [
  { header: "SLOT", get: (e) => e.slot, right: true },
  { header: "BALLOT", get: (e) => ballotText(e.ballot) },
  { header: "STATE", get: (e) => (e.chosen ? "chosen" : "accepted") },
  { header: "COMMAND", get: (e) => e.command },
];

export function formatInspect(r: DbReport, entries: readonly EntryReport[], w: SlotWindow): string {
  const out = [...reportLines(r), ""];
  if (entries.length === 0) {
    out.push(r.entryCount === 0 ? "no accepted entries" : `no entries in slots ${w.from}..${w.to}`);
  } else {
    out.push(formatTable(entries, ENTRY_COLUMNS).trimEnd());
    const first = entries[0]!.slot;
    const last = entries[entries.length - 1]!.slot;
    out.push(`${entries.length} of ${r.entryCount} entries shown (slots ${first}..${last} of ${r.firstSlot}..${r.lastSlot}; --from, --to, --limit for others)`);
    if (entries.some((e) => !e.chosen)) out.push(`accepted: above this node's chosen index (${r.chosen}), not known chosen here yet`);
  }
  return out.join("\n") + "\n";
}

/** A node's log for the --diff table: its stored slots, and where compaction cut it. */
function logRange(r: DbReport): string {
  const stored = r.entryCount === 0 ? "empty" : `${r.firstSlot}..${r.lastSlot}`;
  return r.firstEntrySlot > 1 ? `${stored} (compacted below ${r.firstEntrySlot})` : stored;
}

export function reportJson(r: DbReport): Record<string, unknown> {
  return {
    type: "node",
    file: r.file,
    dbBytes: r.dbBytes,
    walBytes: r.walBytes,
    node: r.nodeId,
    cluster: r.clusterId,
    schemaVersion: r.schemaVersion,
    promised: r.promised,
    chosen: r.chosen,
    applied: r.applied,
    entryCount: r.entryCount,
    firstSlot: r.firstSlot,
    lastSlot: r.lastSlot,
    compactedThrough: r.compactedThrough,
    snapshotIndex: r.snapshotIndex,
    firstEntrySlot: r.firstEntrySlot,
    watchHistoryFrom: r.watchHistoryFrom,
    treeInMemory: r.treeInMemory,
  };
}

export function entryJson(e: EntryReport): Record<string, unknown> {
  return {
    type: "entry",
    slot: e.slot,
    ballot: e.ballot,
    chosen: e.chosen,
    command: e.command,
    op: e.op,
    path: e.path,
    requestId: e.requestId,
    timeMs: e.timeMs,
    bytes: e.bytes,
  };
}

// ---- --diff --------------------------------------------------------------------------------

export function formatDiff(d: DiffResult): string {
  const out: string[] = [];
  out.push(
    formatTable(d.nodes, [
      { header: "NODE", get: (n) => n.id },
      { header: "STATE", get: (n) => (n.running ? "running" : "stopped") },
      { header: "PROMISED", get: (n) => (n.report ? ballotText(n.report.promised) : "") },
      { header: "CHOSEN", get: (n) => n.report?.chosen, right: true },
      { header: "APPLIED", get: (n) => n.report?.applied, right: true },
      { header: "LOG", get: (n) => (n.report ? logRange(n.report) : n.error) },
      { header: "FILE", get: (n) => n.file },
    ]).trimEnd(),
  );
  out.push("");
  if (d.rows.length === 0) {
    out.push(`no accepted entries in slots ${d.window.from}..${d.window.to}`);
    return out.join("\n") + "\n";
  }
  const cellText = (i: number) => (r: DiffResult["rows"][number]) => {
    const c = r.cells[i];
    if (!d.nodes[i]!.report) return "?";
    if (!c && r.compacted.includes(d.nodes[i]!.id)) return "compacted";
    return c ? `${ballotText(c.ballot)}${c.chosen ? "" : "*"}` : "-";
  };
  out.push(
    formatTable(d.rows, [
      { header: "SLOT", get: (r) => r.slot, right: true },
      ...d.nodes.map((n, i) => ({ header: n.id, get: cellText(i) })),
      { header: "COMMAND", get: (r) => r.command },
      { header: "DIFFERENCES", get: (r) => [...r.notes, ...(r.compacted.length > 0 ? [`compacted on ${r.compacted.join(", ")} (in its snapshot)`] : [])].join("; ") },
    ]).trimEnd(),
  );
  const differing = d.rows.filter((r) => r.notes.length > 0).length;
  out.push("");
  out.push(
    `slots ${d.rows[0]!.slot}..${d.rows[d.rows.length - 1]!.slot}: ${differing === 0 ? "every node holds the same chosen entries" : `${differing} of ${d.rows.length} differ`}. ` +
      "Cells: the ballot a node accepted the slot's value at; * accepted but not known chosen on that node (above its chosen index); - no entry; compacted: below the node's log start, in its snapshot.",
  );
  return out.join("\n") + "\n";
}

export function diffJson(d: DiffResult): Record<string, unknown>[] {
  return [
    ...d.nodes.map((n) => ({
      type: "node",
      node: n.id,
      file: n.file,
      running: n.running,
      ...(n.report
        ? { promised: n.report.promised, chosen: n.report.chosen, applied: n.report.applied, entryCount: n.report.entryCount, firstSlot: n.report.firstSlot, lastSlot: n.report.lastSlot, snapshotIndex: n.report.snapshotIndex, firstEntrySlot: n.report.firstEntrySlot, dbBytes: n.report.dbBytes, treeInMemory: n.report.treeInMemory }
        : { error: n.error }),
    })),
    ...d.rows.map((r) => ({
      type: "slot",
      slot: r.slot,
      command: r.command,
      entries: Object.fromEntries(d.nodes.map((n, i) => [n.id, r.cells[i] ? { ballot: r.cells[i].ballot, chosen: r.cells[i].chosen, command: r.cells[i].command } : null])),
      differs: r.notes.length > 0,
      notes: r.notes,
      compacted: r.compacted,
    })),
  ];
}
