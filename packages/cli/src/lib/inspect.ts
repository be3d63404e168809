// What `zk-cli inspect` reads: a node's SQLite file opened read-only (safe beside the running
// node: WAL lets a reader see the last committed transaction while the writer goes on), its
// acceptor state (identity, promised ballot, chosen and applied index), and its accepted
// entries with each command decoded to one line; and, for `--diff`, the accepted logs of all
// members lined up slot by slot with what differs between them. Typed results only; the
// command prints them (STYLE.md 12).
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { DB_FILE } from "@zk/node/store-file";
import { decodeConfig, describeConfig, isConfigCommand } from "@zk/node/paxos";
import { CliError, EXIT_USAGE } from "./errors.js";
import { describeCommand, opSummary } from "./inspect-format.js";
import { loadStorage, loadTree } from "./inspect-load.js";

/** A node's database file inside its data dir (zk-node --data-dir). */
export { DB_FILE };
/** Entries (or slots, for --diff) shown when no range is asked for: the last ones. */
export const ENTRIES_SHOWN_DEFAULT = 20;

export interface BallotView {
  readonly round: number;
  readonly nodeId: string;
}

export interface DbReport {
  readonly file: string;
  readonly dbBytes: number;
  /** The write-ahead log beside it (zk.db-wal); null when there is none (the node closed cleanly). */
  readonly walBytes: number | null;
  readonly nodeId: string;
  readonly clusterId: string;
  readonly schemaVersion: number;
  readonly promised: BallotView;
  readonly chosen: number;
  readonly applied: number;
  readonly entryCount: number;
  readonly firstSlot: number;
  readonly lastSlot: number;
  /** The last slot folded into a snapshot and dropped from the log; null: none, the full log is on disk. */
  readonly compactedThrough: number | null;
  /** The slot of the last snapshot point (log compaction or an installed snapshot); 0: none. */
  readonly snapshotIndex: number;
  /** The log begins here: slots below it are compacted (in the snapshot), not missing. 1: never compacted. */
  readonly firstEntrySlot: number;
  /** The oldest zxid a watch can still resume from (the watch history's window). */
  readonly watchHistoryFrom: number;
  /**
   * The node runs with its tree in memory (zk-node --tree-in-memory): `applied` and the tables
   * are its last checkpoint's, and it has applied the chosen log after it in memory only.
   */
  readonly treeInMemory: boolean;
}

export interface EntryReport {
  readonly slot: number;
  readonly ballot: BallotView;
  /** Whether this node knows the slot is chosen (slot <= its chosen index); else only accepted. */
  readonly chosen: boolean;
  /** The command in one readable line. */
  readonly command: string;
  readonly op: string;
  readonly path: string | null;
  readonly requestId: string | null;
  readonly timeMs: number | null;
  readonly bytes: number;
  /** The raw command, for comparing values across nodes. */
  readonly raw: Uint8Array;
}

export interface SlotWindow {
  readonly from: number;
  readonly to: number;
  readonly limit: number;
}

export interface RangeFlags {
  readonly from?: number | undefined;
  readonly to?: number | undefined;
  readonly limit?: number | undefined;
}

/**
 * The slots to show: from --from on (up to --to, at most --limit of them), else the last
 * --limit slots up to --to (default: the log's end).
 */
export function slotWindow(r: RangeFlags, lastSlot: number): SlotWindow {
  const limit = r.limit ?? ENTRIES_SHOWN_DEFAULT;
  if (r.from !== undefined && r.to !== undefined && r.to < r.from) throw new CliError(`--to ${r.to} is below --from ${r.from}`, EXIT_USAGE);
  if (r.from !== undefined) return { from: r.from, to: r.to ?? Math.max(lastSlot, r.from), limit };
  const to = r.to ?? lastSlot;
  return { from: Math.max(1, to - limit + 1), to, limit };
}

/** --db PATH: the file, or zk.db inside it when PATH is a directory. */
export function dbFileOf(path: string): string {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new CliError(`no such file: ${path}`);
  }
  return st.isDirectory() ? join(path, DB_FILE) : path;
}

export interface OpenedDb {
  readonly report: DbReport;
  entries(w: SlotWindow): EntryReport[];
  close(): void;
}

/** Open `file` read-only; a file that is not a zk database fails with one line naming it. */
export async function openDb(file: string): Promise<OpenedDb> {
  if (!existsSync(file)) throw new CliError(`no such file: ${file}`);
  const [{ SqliteAcceptorStore, StoreError }, { decodeCommand }] = await Promise.all([loadStorage(), loadTree()]);
  let store: ReturnType<typeof SqliteAcceptorStore.open>;
  try {
    store = SqliteAcceptorStore.open(file, null, { readonly: true });
  } catch (e) {
    // StoreError (not zk's, corrupt, newer schema) and open failures already name the file in one line.
    // zk-node's advice (about --data-dir) does not fit a reader: the first part names the file and what is wrong.
    const msg = (e as Error).message.replace(/^zk: /, "").replace(/; point --data-dir .*$/, "");
    throw new CliError(e instanceof StoreError || /cannot open/.test(msg) ? msg : `${file}: ${msg}`);
  }
  try {
    const info = store.info();
    const historyRow = store.db.prepare("SELECT value FROM meta WHERE key = 'watch_history_from'").get() as { value: unknown } | undefined;
    const report: DbReport = {
      file,
      dbBytes: statSync(file).size,
      walBytes: sizeOrNull(`${file}-wal`),
      nodeId: info.nodeId,
      clusterId: info.clusterId,
      schemaVersion: info.schemaVersion,
      promised: { round: info.promised.round, nodeId: info.promised.nodeId },
      chosen: info.chosen,
      applied: info.applied,
      entryCount: info.entryCount,
      firstSlot: info.firstSlot,
      lastSlot: info.lastSlot,
      compactedThrough: info.firstEntrySlot > 1 ? info.firstEntrySlot - 1 : null,
      snapshotIndex: info.snapshotIndex,
      firstEntrySlot: info.firstEntrySlot,
      watchHistoryFrom: historyRow ? Number(historyRow.value) : 1,
      treeInMemory: info.treeInMemory,
    };
    return {
      report,
      entries: (w) =>
        store.readEntries(w.from, w.to, w.limit).map((e) => {
          let command: string;
          let summary: { op: string; path: string | null } = { op: "undecodable", path: null };
          let requestId: string | null = null;
          let timeMs: number | null = null;
          try {
            if (isConfigCommand(e.command)) {
              const cfg = decodeConfig(e.command);
              command = `configuration v${cfg.version}: ${cfg.change || "first"} -> ${describeConfig(cfg)}`;
              summary = { op: "configuration", path: null };
            } else {
              const cmd = decodeCommand(e.command);
              command = describeCommand(cmd);
              summary = opSummary(cmd);
              requestId = cmd.requestId || null;
              timeMs = cmd.timeMs || null;
            }
          } catch (err) {
            command = `<undecodable command of ${e.command.length} bytes: ${(err as Error).message.split("\n")[0]}>`;
          }
          return {
            slot: e.slot,
            ballot: { round: e.ballot.round, nodeId: e.ballot.nodeId },
            chosen: e.slot <= report.chosen,
            command,
            op: summary.op,
            path: summary.path,
            requestId,
            timeMs,
            bytes: e.command.length,
            raw: e.command,
          };
        }),
      close: () => store.close(),
    };
  } catch (e) {
    store.close();
    throw e;
  }
}

function sizeOrNull(path: string): number | null {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
}

export function ballotText(b: BallotView): string {
  return b.round === 0 && b.nodeId === "" ? "-" : `${b.round}.${b.nodeId}`;
}

// ---- --diff --------------------------------------------------------------------------------

export interface DiffNode {
  readonly id: string;
  readonly file: string;
  readonly running: boolean;
  /** Null when the file could not be read (see error). */
  readonly report: DbReport | null;
  readonly error: string | null;
}

export interface DiffCell {
  readonly ballot: BallotView;
  readonly chosen: boolean;
  readonly command: string;
  readonly raw: Uint8Array;
}

export interface DiffRow {
  readonly slot: number;
  /** One per node, in node order; null where the node has no entry at this slot. */
  readonly cells: readonly (DiffCell | null)[];
  /** The value at the highest ballot here: what a new leader's Phase 1 would recover from these nodes. */
  readonly command: string;
  /** What differs, for a learner: ballots, values, uncommitted entries, holes, nodes behind. */
  readonly notes: readonly string[];
  /** Nodes whose log starts above this slot: it is in their snapshot (not a difference). */
  readonly compacted: readonly string[];
}

export interface DiffResult {
  readonly nodes: readonly DiffNode[];
  readonly window: SlotWindow;
  readonly rows: readonly DiffRow[];
}

/** Line up the nodes' accepted logs over `window` (entries read per node with the same window). */
export function diffLogs(nodes: readonly DiffNode[], entries: readonly (readonly EntryReport[])[], window: SlotWindow): DiffResult {
  const bySlot = entries.map((list) => new Map(list.map((e) => [e.slot, e] as const)));
  const slots = [...new Set(entries.flat().map((e) => e.slot))].sort((a, b) => a - b).slice(0, window.limit);
  const rows = slots.map((slot) => {
    const cells = bySlot.map((m) => {
      const e = m.get(slot);
      return e ? { ballot: e.ballot, chosen: e.chosen, command: e.command, raw: e.raw } : null;
    });
    return { slot, cells, ...describeSlot(nodes, cells, slot) };
  });
  return { nodes, window, rows };
}

function describeSlot(nodes: readonly DiffNode[], cells: readonly (DiffCell | null)[], slot: number): { command: string; notes: string[]; compacted: string[] } {
  let top: DiffCell | null = null;
  for (const c of cells) if (c && (top === null || cmpBallot(c.ballot, top.ballot) > 0)) top = c;
  const notes: string[] = [];
  const present = cells.filter((c): c is DiffCell => c !== null);
  if (new Set(present.map((c) => ballotText(c.ballot))).size > 1) notes.push("ballots differ");
  const otherValues = nodes.flatMap((n, i) => (cells[i] && top && !sameBytes(cells[i].raw, top.raw) ? [`${n.id} has ${cells[i].command}`] : []));
  if (otherValues.length > 0) notes.push(`values differ: ${otherValues.join(", ")}`);
  const uncommitted = nodes.filter((_, i) => cells[i] && !cells[i].chosen).map((n) => n.id);
  if (uncommitted.length > 0) notes.push(`not chosen yet on ${uncommitted.join(", ")}`);
  const holes: string[] = [];
  const behind: string[] = [];
  const compacted: string[] = [];
  nodes.forEach((n, i) => {
    if (cells[i] || !n.report) return;
    const r = n.report;
    // Below the log's start the slot is in the node's snapshot: compacted, not missing.
    if (slot < r.firstEntrySlot) compacted.push(n.id);
    else if (r.entryCount === 0 || slot > r.lastSlot) behind.push(`${n.id} (log ends at ${Math.max(r.lastSlot, r.firstEntrySlot - 1)})`);
    else if (slot < r.firstSlot) compacted.push(n.id);
    else holes.push(n.id);
  });
  if (holes.length > 0) notes.push(`hole on ${holes.join(", ")}`);
  if (behind.length > 0) notes.push(`missing on ${behind.join(", ")}`);
  return { command: top?.command ?? "", notes, compacted };
}

function cmpBallot(a: BallotView, b: BallotView): number {
  if (a.round !== b.round) return a.round - b.round;
  return a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
