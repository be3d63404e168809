// The narrow seam between a node and its durable acceptor state. The SQLite store is the
// real one; the in-memory store is its twin for the simulator and can lose whatever was
// not yet persisted when its node "crashes".
import type { DurableState, Entry, HardState, LogReader } from "../paxos/types.js";

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
    readonly code: "CLUSTER_MISMATCH" | "NODE_MISMATCH" | "SCHEMA_TOO_NEW" | "CORRUPT" | "NOT_ZK",
  ) {
    super(message);
  }
}
