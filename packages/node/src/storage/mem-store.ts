// The in-memory twin of the SQLite store, for the deterministic simulator. save() is
// synchronous and atomic, so a node that crashes loses what it had not yet handed to save();
// and like SQLite with synchronous=NORMAL, a transaction committed with `durable: false`
// (which may only advance the chosen and applied indexes) is lost by crash(). Copies go in
// and out, so a node can never reach into the stored state and change it without a save().
import type { Ballot, DurableState, Entry, HardState } from "../paxos/types.js";
import { ZERO_BALLOT, compareBallots, formatBallot } from "../paxos/types.js";
import type { AcceptorStore } from "./store.js";
import { InvariantError } from "../paxos/invariant.js";

export interface MemAcceptorStoreOptions {
  /**
   * Deliberate storage bugs, for proving the simulator catches them. Never set outside tests.
   * forgetPromiseOnRestart: every load() (that is, every restart) loses the promised ballot,
   * as a store that forgot to persist it would.
   */
  readonly plantedBugs?: { readonly forgetPromiseOnRestart?: boolean };
}

export class MemAcceptorStore implements AcceptorStore {
  private hardState: HardState = { promised: ZERO_BALLOT, chosen: 0 };
  private readonly stored = new Map<number, Entry>();
  private appliedIndex = 0;
  /** Entries up to here were deleted by compaction or replaced by an installed snapshot. */
  private discarded = 0;
  /**
   * What crash() takes back: the commits not yet durable (`durable: false`, or `later: true`
   * not yet flushed), oldest first, each as the state before it (its seq numbers commits).
   */
  private notDurable: (Undo & { readonly seq: number })[] = [];
  private commitSeq = 0;
  /** Inside transaction(): the values to restore if it throws (slots first written in it). */
  private undo: Undo | null = null;
  /** Between close() and the next load() the node is down; it must not write. */
  private closed = false;
  private readonly forgetPromiseOnRestart: boolean;

  constructor(opts: MemAcceptorStoreOptions & { readonly recovering?: boolean } = {}) {
    this.forgetPromiseOnRestart = opts.plantedBugs?.forgetPromiseOnRestart === true;
    // A store rebuilt after its disk was lost starts recovering (see core.ts "Recovery").
    if (opts.recovering === true) this.hardState = { ...this.hardState, recovering: true };
  }

  /** What a (re)starting node reads. A load() after close() is a restart. */
  load(opts: { entriesFrom?: number } = {}): DurableState {
    this.closed = false;
    if (this.forgetPromiseOnRestart) {
      // The store really lost it: the durable copy goes too, so what it later saves is the
      // only promise it has.
      this.hardState = { ...this.hardState, promised: ZERO_BALLOT };
    }
    return this.peek(opts.entriesFrom ?? 1);
  }

  /** The durable hard state (a copy), without counting as a restart. */
  durableHardState(): HardState {
    return copyHardState(this.hardState);
  }

  entry(slot: number): Entry | undefined {
    const e = this.stored.get(slot);
    return e === undefined ? undefined : copyEntry(e);
  }

  entries(from: number, to: number): Entry[] {
    const out: Entry[] = [];
    for (let s = from; s <= to; s++) {
      const e = this.stored.get(s);
      if (e !== undefined) out.push(copyEntry(e));
    }
    return out;
  }

  /** The durable state as load() would return it, without counting as a restart. */
  peek(entriesFrom = 1): DurableState {
    const slots = [...this.stored.keys()].filter((s) => s >= entriesFrom).sort((a, b) => a - b);
    const entries: Entry[] = [];
    for (const slot of slots) {
      const e = this.stored.get(slot);
      if (e !== undefined) entries.push(copyEntry(e));
    }
    const from = Math.max(entriesFrom, this.discarded + 1);
    return { hardState: copyHardState(this.hardState), entries: entries.filter((e) => e.slot >= from), entriesFrom: from, discardedTo: this.discarded };
  }

  /**
   * Compaction: delete the entries below `firstKept` (at most the applied index + 1). In this
   * twin it is immediate and durable.
   */
  discardBelow(firstKept: number): void {
    this.assertWritable();
    if (firstKept - 1 > this.appliedIndex) throw new Error(`zk: bug: discarding entries up to ${firstKept - 1}, past the applied index ${this.appliedIndex}`);
    for (const slot of [...this.stored.keys()]) if (slot < firstKept) this.forget(slot);
    this.discarded = Math.max(this.discarded, firstKept - 1);
    // SQLite's WAL commits in order: a compaction that survives a power cut brings every
    // commit before it (the applies it rests on) along. Here it is simply durable.
    if (!this.undo) this.notDurable = [];
  }

  /**
   * A snapshot at `slot` replaces the state machine (the caller writes its tables in the same
   * transaction): entries up to it go, and the chosen and applied indexes move to it.
   */
  installSnapshot(slot: number): void {
    this.assertWritable();
    if (slot < this.appliedIndex) throw new Error(`zk: bug: a snapshot at ${slot} would take the applied index back from ${this.appliedIndex}`);
    for (const s of [...this.stored.keys()]) if (s <= slot) this.forget(s);
    this.discarded = Math.max(this.discarded, slot);
    if (slot > this.hardState.chosen) this.hardState = { ...this.hardState, chosen: slot };
    this.appliedIndex = slot;
  }

  /** The last slot discarded (0: none). */
  get discardedTo(): number {
    return this.discarded;
  }

  save(hardState: HardState | null, entries: readonly Entry[]): void {
    this.assertWritable();
    // Validate everything before changing anything: a save either happens whole or not at all.
    for (const e of entries) assertEntry(e);
    if (hardState !== null) assertHardStateAdvances(this.hardState, hardState);
    for (const e of entries) {
      if (this.undo && !this.undo.slots.has(e.slot)) this.undo.slots.set(e.slot, this.stored.get(e.slot));
      if (this.undo) this.undo.wroteEntries = true;
      this.stored.set(e.slot, copyEntry(e));
    }
    if (hardState !== null) this.hardState = mergeHardState(this.hardState, hardState);
    if (!this.undo) this.notDurable = [];
  }

  /**
   * A power cut: commits not yet durable (see `notDurable`) are gone, newest first. A killed
   * process (`processOnly`, kill -9) loses none: what it committed is in the page cache, as
   * with SQLite's synchronous=NORMAL commits.
   */
  crash(processOnly = false): void {
    if (!processOnly) for (let i = this.notDurable.length - 1; i >= 0; i--) this.rollBack(this.notDurable[i]!);
    this.notDurable = [];
    this.closed = true;
  }

  /** The last commit's number: a flush asked for now makes commits up to it durable (`flushed`). */
  get lastCommit(): number {
    return this.commitSeq;
  }

  /** A flush asked for at `lastCommit` = `seq` completed: those commits survive a crash. */
  flushed(seq: number): void {
    this.notDurable = this.notDurable.filter((u) => u.seq > seq);
  }

  /** Delete an entry; inside a transaction, one that fails (or a crash) brings it back. */
  private forget(slot: number): void {
    if (this.undo && !this.undo.slots.has(slot)) this.undo.slots.set(slot, this.stored.get(slot));
    this.stored.delete(slot);
  }

  private rollBack(undo: Undo): void {
    this.hardState = undo.hardState;
    this.appliedIndex = undo.applied;
    this.discarded = undo.discarded;
    for (const [slot, e] of undo.slots) {
      if (e === undefined) this.stored.delete(slot);
      else this.stored.set(slot, e);
    }
  }

  applied(): number {
    return this.appliedIndex;
  }

  setApplied(n: number): void {
    this.assertWritable();
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`zk: bug: applied index ${n} is not a slot`);
    if (n < this.appliedIndex) {
      throw new InvariantError(`zk: bug: applied index would go back from ${this.appliedIndex} to ${n}`);
    }
    this.appliedIndex = n;
    if (!this.undo) this.notDurable = [];
  }

  /**
   * All of `fn` or none of it. With `durable: false` the commit survives a crash() only if a
   * later durable commit (or flush) follows; such a transaction may not record a promise or
   * entries. With `later: true` it may, and survives once `flushed()` covers it.
   */
  transaction<T>(fn: () => T, opts: { durable?: boolean; later?: boolean } = {}): T {
    if (this.undo) return fn();
    const durable = opts.durable ?? true;
    const undo: Undo = { hardState: this.hardState, applied: this.appliedIndex, discarded: this.discarded, slots: new Map<number, Entry | undefined>(), wroteEntries: false };
    this.undo = undo;
    try {
      const r = fn();
      if (!durable) {
        if (undo.wroteEntries || !ballotEqual(undo.hardState.promised, this.hardState.promised)) {
          throw new Error("zk: bug: a transaction without fsync recorded a promise or entries");
        }
      }
      this.commitSeq++;
      if (durable && opts.later !== true) this.notDurable = [];
      else this.notDurable.push({ ...undo, seq: this.commitSeq });
      return r;
    } catch (err) {
      this.rollBack(undo);
      throw err;
    } finally {
      this.undo = null;
    }
  }

  close(): void {
    this.closed = true;
  }

  private assertWritable(): void {
    if (this.closed) throw new Error("zk: bug: a closed (crashed) node wrote to its store");
  }
}

interface Undo {
  readonly hardState: HardState;
  readonly applied: number;
  /** The last slot discarded before it (a snapshot installed or a compaction in it moves it). */
  readonly discarded: number;
  /** Slots first written or deleted in the transaction, with what they held before (undefined: nothing). */
  readonly slots: Map<number, Entry | undefined>;
  /** save() wrote entries in it (a commit without fsync may not). */
  wroteEntries: boolean;
}

function copyBallot(b: Ballot): Ballot {
  return b === ZERO_BALLOT ? ZERO_BALLOT : { round: b.round, nodeId: b.nodeId };
}

function copyHardState(h: HardState): HardState {
  const c: { -readonly [K in keyof HardState]: HardState[K] } = { promised: copyBallot(h.promised), chosen: h.chosen };
  if (h.recovering !== undefined) c.recovering = h.recovering;
  if (h.incarnations !== undefined) c.incarnations = { ...h.incarnations };
  return c;
}

/** A Ready's hard state over the stored one: recovery fields absent from it are unchanged. */
export function mergeHardState(prev: HardState, next: HardState): HardState {
  return copyHardState({
    promised: next.promised,
    chosen: next.chosen,
    recovering: next.recovering ?? prev.recovering,
    incarnations: next.incarnations ?? prev.incarnations,
  });
}

function copyEntry(e: Entry): Entry {
  return { slot: e.slot, ballot: copyBallot(e.ballot), command: e.command.slice() };
}

function assertEntry(e: Entry): void {
  if (!Number.isSafeInteger(e.slot) || e.slot < 1) throw new RangeError(`zk: bug: entry slot ${e.slot} is not a slot`);
  if (!Number.isSafeInteger(e.ballot.round) || e.ballot.round < 0) {
    throw new RangeError(`zk: bug: entry ${e.slot} has ballot round ${e.ballot.round}`);
  }
  if (!(e.command instanceof Uint8Array)) throw new TypeError(`zk: bug: entry ${e.slot} command is not bytes`);
}

// The same guard as the SQLite store's: a promise never goes back, a chosen slot stays chosen.
function assertHardStateAdvances(prev: HardState, next: HardState): void {
  if (!Number.isSafeInteger(next.promised.round) || next.promised.round < 0) {
    throw new RangeError(`zk: bug: promised round ${next.promised.round} is not a round`);
  }
  if (!Number.isSafeInteger(next.chosen) || next.chosen < 0) {
    throw new RangeError(`zk: bug: chosen index ${next.chosen} is not a slot`);
  }
  if (compareBallots(next.promised, prev.promised) < 0) {
    throw new InvariantError(
      `zk: bug: promised ballot would go back from ${formatBallot(prev.promised)} to ${formatBallot(next.promised)}`,
    );
  }
  if (next.chosen < prev.chosen) {
    throw new InvariantError(`zk: bug: chosen index would go back from ${prev.chosen} to ${next.chosen}`);
  }
}

function ballotEqual(a: Ballot, b: Ballot): boolean {
  return a.round === b.round && a.nodeId === b.nodeId;
}
