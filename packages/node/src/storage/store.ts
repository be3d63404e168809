// The narrow seam between a node and its durable acceptor state. The SQLite store is the
// real one; the in-memory store is its twin for the simulator and can lose whatever was
// not yet persisted when its node "crashes".
import { ballotEquals, type Ballot, type DurableState, type Entry, type HardState, type LogReader } from "../paxos/types.js";

export interface AcceptorStore extends LogReader {
  /** What was persisted: promise, chosen index, accepted entries from `entriesFrom` (default 1). */
  load(opts?: { entriesFrom?: number }): DurableState;
  /**
   * Persist one Ready's durable part in ONE transaction that is durable (fsynced) when
   * this returns. `entries` replace any entry already stored at the same slot.
   */
  save(hardState: HardState | null, entries: readonly Entry[]): void;
  /** The slot up to which the state machine has applied (0 when nothing). */
  applied(): number;
  close(): void;
}

/** Raised when a store cannot be trusted; the message is one line naming the file and what to do. */
export class StoreError extends Error {
  override readonly name = "StoreError";
  constructor(
    message: string,
    readonly code: "CLUSTER_MISMATCH" | "NODE_MISMATCH" | "SCHEMA_TOO_NEW" | "CORRUPT" | "NOT_ZK" | "MISSING" | "MEMBERS_MISMATCH" | "EXISTS",
  ) {
    super(message);
  }
}

/**
 * Whether a Ready's write must be fsynced before the Ready's messages leave: it must when it
 * records a new promise or accepted entries (what promises and acceptances claim). A write
 * that only advances the chosen index and applies chosen entries need not be: after a power
 * cut that loses it, the node re-learns the chosen index and re-applies the entries, which
 * are durable on a majority already. Skipping that fsync halves the fsyncs per write.
 */
export function mustSync(hardState: HardState | null, entries: readonly Entry[], persistedPromise: Ballot): boolean {
  if (entries.length > 0 || hardState === null) return entries.length > 0;
  // A change of recovery state or of the incarnation view is what later promises rest on.
  return !ballotEquals(hardState.promised, persistedPromise) || hardState.recovering !== undefined || hardState.incarnations !== undefined;
}
