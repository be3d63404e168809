// A linearizability checker for client histories of single znodes, for the simulator (and any
// test that records what clients saw). Given every operation's invoke time and, if it got an
// answer, its completion time and result, it decides whether some total order of the
// operations (a) respects real time — an operation that completed before another was invoked
// comes first — and (b) produces exactly the recorded results when run on a sequential model
// of one znode. That is Herlihy & Wing's linearizability, checked as Wing & Gong do (a
// depth-first search over which operation takes effect next) with Lowe's improvement, the
// cache Porcupine also uses: a configuration (set of operations already linearized, model
// state) that was explored once and failed is never explored again — here strengthened to
// dominance, see search(). On a violation it finds the shortest failing prefix and the fewest
// answers that contradict the model, and explains them in words (KeyViolation.explanation).
//
// What it checks, and what it cannot:
// - Histories are partitioned by path and each path is checked on its own. Linearizability is
//   local (Herlihy & Wing, Theorem 1): a history of independent objects is linearizable iff
//   each object's sub-history is. znodes are independent for single-path operations only. A
//   multi is atomic across paths; projecting a successful multi onto its paths (one op per
//   path, each with the multi's invoke/complete times) is sound — it never flags a correct
//   history — but does not check the atomicity across paths. An aborted multi should be left
//   out (its failing component saw the state after the multi's own earlier components).
// - Parent/child effects are outside the model: a create that failed NO_NODE because its
//   parent is missing, a delete that failed NOT_EMPTY, any other error that certainly changed
//   nothing, may be left out (leaving out an op that had no effect never hides an anomaly it
//   did not itself reveal). An ephemeral node that vanishes when its session ends can be
//   recorded as a pending delete(-1) invoked when the session's end could first have happened.
// - An operation with no answer (timeout, crash, lost connection) is pending: it may have taken
//   effect at any time after its invoke, or never. A pending read constrains nothing and is
//   dropped. Equal times count as concurrent (never as ordered), so ties never cause a false
//   alarm.
// - Cost. Deciding linearizability is NP-complete; in practice the search is near-linear in
//   the ops of a key when answers pin the order down (versions in answers, data unique per
//   write), and grows with the number of ops in flight at once — above all with pending
//   writes, each of which may take effect anywhere after its invoke. Give an unanswered write
//   an end time when one is known (HistoryOp.complete without result), keep a few clients per
//   key and many keys rather than the reverse, and write unique data. A search that exceeds its
//   step budget answers "unknown" with the numbers, never hangs.
//
// Everything here is deterministic: same history, same verdict, same explanation.

// ---- The model: one znode ------------------------------------------------------------------

/** One znode's state: absent, or its data and version (0 at creation, +1 per set). */
export type ZnodeState = null | { readonly data: string; readonly version: number };

/** An operation on one path; versions of -1 match any version (ZooKeeper's convention). */
export type ZnodeOp =
  | { readonly kind: "create"; readonly data: string }
  | { readonly kind: "set"; readonly data: string; readonly expectedVersion: number }
  /** zk's upsert: set if present (version-checked), create if absent (only with expectedVersion -1). */
  | { readonly kind: "put"; readonly data: string; readonly expectedVersion: number }
  | { readonly kind: "delete"; readonly expectedVersion: number }
  | { readonly kind: "get" };

export type ZnodeErrorCode = "NODE_EXISTS" | "NO_NODE" | "BAD_VERSION";

/**
 * What a client saw. Writes answer "ok" (set and put: the new version; create: 0; delete: no
 * version) or "error"; get answers "read". An omitted version (or a read's omitted data, e.g.
 * for exists()) is not checked.
 */
export type ZnodeResult =
  | { readonly type: "ok"; readonly version?: number }
  | { readonly type: "error"; readonly code: ZnodeErrorCode }
  | { readonly type: "read"; readonly exists: false }
  | { readonly type: "read"; readonly exists: true; readonly version: number; readonly data?: string };

/**
 * One recorded operation. `complete` is absent while (or if forever) the client has no answer:
 * the op is pending, and may take effect at any time after its invoke, or never. A `complete`
 * without `result` says the op ended by `time` with its outcome unknown — it took effect by
 * then or never will — which bounds the search far better than pending: use it whenever the
 * recorder knows such a time (e.g. the simulator saw the request's command chosen, or knows
 * it can no longer be). Pending writes are what makes a search expensive (file comment: Cost).
 */
export interface HistoryOp {
  /** Unique within the history; explanations name ops by it ("#12"). */
  readonly id: number;
  /** Who issued it, for explanations only (e.g. "c3@n2"). */
  readonly client?: string;
  readonly path: string;
  readonly op: ZnodeOp;
  readonly invokeTime: number;
  readonly complete?: { readonly time: number; readonly result?: ZnodeResult };
}

/** The sequential specification: what `op` does to `state`, and what it answers. */
export function applyZnodeOp(state: ZnodeState, op: ZnodeOp): { readonly state: ZnodeState; readonly result: ZnodeResult } {
  const versionOk = (s: { version: number }, expected: number): boolean => expected === -1 || expected === s.version;
  switch (op.kind) {
    case "create":
      if (state !== null) return { state, result: { type: "error", code: "NODE_EXISTS" } };
      return { state: { data: op.data, version: 0 }, result: { type: "ok", version: 0 } };
    case "set":
      if (state === null) return { state, result: { type: "error", code: "NO_NODE" } };
      if (!versionOk(state, op.expectedVersion)) return { state, result: { type: "error", code: "BAD_VERSION" } };
      return { state: { data: op.data, version: state.version + 1 }, result: { type: "ok", version: state.version + 1 } };
    case "put":
      if (state === null) {
        if (op.expectedVersion !== -1) return { state, result: { type: "error", code: "NO_NODE" } };
        return { state: { data: op.data, version: 0 }, result: { type: "ok", version: 0 } };
      }
      if (!versionOk(state, op.expectedVersion)) return { state, result: { type: "error", code: "BAD_VERSION" } };
      return { state: { data: op.data, version: state.version + 1 }, result: { type: "ok", version: state.version + 1 } };
    case "delete":
      if (state === null) return { state, result: { type: "error", code: "NO_NODE" } };
      if (!versionOk(state, op.expectedVersion)) return { state, result: { type: "error", code: "BAD_VERSION" } };
      return { state: null, result: { type: "ok" } };
    case "get":
      return {
        state,
        result: state === null ? { type: "read", exists: false } : { type: "read", exists: true, version: state.version, data: state.data },
      };
  }
}

/** Whether a recorded result is the one the model gives (unrecorded versions and data match anything). */
function resultMatches(recorded: ZnodeResult, model: ZnodeResult): boolean {
  switch (recorded.type) {
    case "ok":
      return model.type === "ok" && (recorded.version === undefined || recorded.version === model.version);
    case "error":
      return model.type === "error" && model.code === recorded.code;
    case "read":
      if (model.type !== "read") return false;
      if (!recorded.exists) return !model.exists;
      return model.exists && model.version === recorded.version && (recorded.data === undefined || recorded.data === model.data);
  }
}

// ---- Recording -----------------------------------------------------------------------------

/** Collects a history as clients run: invoke() when a request is sent, complete() when its answer arrives. */
export class HistoryRecorder {
  private readonly ops: HistoryOp[] = [];
  private readonly index = new Map<number, number>();
  private nextId = 1;

  /** Record an invocation; returns the op's id for complete(). */
  invoke(path: string, op: ZnodeOp, time: number, client?: string): number {
    const id = this.nextId++;
    this.index.set(id, this.ops.length);
    this.ops.push(client === undefined ? { id, path, op, invokeTime: time } : { id, client, path, op, invokeTime: time });
    return id;
  }

  /** Record the answer. An op never completed stays pending (it may or may not have taken effect). */
  complete(id: number, result: ZnodeResult, time: number): void {
    this.end(id, time, result);
  }

  /** Record that the op ended by `time` with its outcome unknown (it took effect by then, or never will). */
  endWithoutAnswer(id: number, time: number): void {
    this.end(id, time, undefined);
  }

  private end(id: number, time: number, result: ZnodeResult | undefined): void {
    const i = this.index.get(id);
    if (i === undefined) throw new RangeError(`lincheck: op #${id}: no such op was invoked`);
    const o = this.ops[i]!;
    if (o.complete !== undefined) throw new RangeError(`lincheck: op #${id}: already completed`);
    this.ops[i] = { ...o, complete: result === undefined ? { time } : { time, result } };
  }

  /** The history so far, in invoke order. */
  history(): HistoryOp[] {
    return this.ops.slice();
  }
}

// ---- Checking ------------------------------------------------------------------------------

/** Model steps one key's search may take before its verdict is "unknown" (default). */
export const CHECK_STEPS_PER_KEY_MAX_DEFAULT = 1_000_000;
/** Steps one search of an explanation may take: at least this, */
const TRIAL_STEPS_MIN = 200_000;
/** ...or this many times what the failing search of the whole history took. */
const TRIAL_STEPS_FACTOR = 10;
/** Displayed ops of the core of a violation, at most (the latest; the culprit last). */
const CORE_OPS_SHOWN_MAX = 20;
/** Displayed ops of the context of a violation, at most. */
const CONTEXT_OPS_SHOWN_MAX = 20;

export interface CheckOptions {
  /**
   * Model steps (one step = trying one op in one configuration) the search of one key may take
   * before its verdict is "unknown". A step takes a microsecond or a few; memory grows with the
   * configurations visited (at most one per step).
   */
  readonly stepsPerKeyMax?: number;
  /**
   * Steps, in total per violating key, spent explaining it (finding the shortest failing
   * prefix and the fewest results that contradict the model); default stepsPerKeyMax. When
   * spent, the explanation is still correct but maybe not the shortest (it says so).
   */
  readonly explainStepsMax?: number;
  /** The state of a path before the history (default: absent). */
  readonly initial?: ReadonlyMap<string, ZnodeState>;
}

/** Why one path's history is not linearizable. */
export interface KeyViolation {
  readonly path: string;
  /** The op whose answer first made the history unlinearizable: the end of the shortest failing prefix. */
  readonly culprit: HistoryOp;
  /**
   * The shortest failing prefix is: every op invoked by this time, with the answers of the ops
   * answered by the culprit's completion (later answers unused: those ops count as unanswered).
   */
  readonly prefixEndTime: number;
  /** Ops in that prefix (unanswered reads and failed writes past the end excluded). */
  readonly prefixOps: number;
  /** False when the step budget ran out before the shortest prefix was proven shortest. */
  readonly prefixShortest: boolean;
  /**
   * Ops whose answers, together, no linearization explains (the culprit is last). Every other
   * op of the prefix still counts, but only as "may have taken effect": its answer was not needed.
   */
  readonly core: readonly HistoryOp[];
  /** False when the step budget ran out before every other answer was tried without. */
  readonly coreMinimal: boolean;
  /**
   * Earlier answers kept without being tried away one by one (0 unless the step budget ran
   * out first): the contradiction is among `core` and these.
   */
  readonly background: number;
  /**
   * The latest writes of the prefix, outside the core, that may have taken effect (at most 20,
   * in invoke order): answered writes whose answer was not needed, and unanswered ones.
   */
  readonly context: readonly HistoryOp[];
  /** Such writes earlier than `context`, not listed. */
  readonly otherWrites: number;
  /** A multi-line, readable account of all the above. */
  readonly explanation: string;
}

/**
 * One path's verdict. `ops` counts the ops searched (unanswered reads are left out); `steps`
 * the model steps taken, explanation included.
 */
export type KeyVerdict =
  | {
      readonly path: string;
      readonly verdict: "ok";
      readonly ops: number;
      readonly steps: number;
      /** Ids in a valid linearization order; pending ops that never took effect are absent. */
      readonly linearization: readonly number[];
    }
  | { readonly path: string; readonly verdict: "violation"; readonly ops: number; readonly steps: number; readonly violation: KeyViolation }
  | { readonly path: string; readonly verdict: "unknown"; readonly ops: number; readonly steps: number; readonly reason: string };

export interface HistoryCheck {
  /** "violation" if any key has one; else "unknown" if any key's search ran out of steps; else "ok". */
  readonly verdict: "ok" | "violation" | "unknown";
  /** One per path, sorted by path. */
  readonly keys: readonly KeyVerdict[];
  readonly violations: readonly KeyViolation[];
  readonly unknown: readonly { readonly path: string; readonly reason: string }[];
  /** Total model steps over every key, explanations included. */
  readonly steps: number;
}

/**
 * Check a whole history, path by path. Throws a RangeError for a malformed history (duplicate
 * ids, a completion before its invoke, a result of the wrong kind for its op): that is a bug
 * in the recorder, not an anomaly of the system under test.
 */
export function checkHistory(history: readonly HistoryOp[], opts: CheckOptions = {}): HistoryCheck {
  validateHistory(history);
  const byPath = new Map<string, HistoryOp[]>();
  for (const o of history) {
    let l = byPath.get(o.path);
    if (l === undefined) byPath.set(o.path, (l = []));
    l.push(o);
  }
  const keys: KeyVerdict[] = [];
  for (const path of [...byPath.keys()].sort()) {
    keys.push(checkKey(path, byPath.get(path)!, opts.initial?.get(path) ?? null, opts));
  }
  const violations: KeyViolation[] = [];
  const unknown: { path: string; reason: string }[] = [];
  let steps = 0;
  for (const k of keys) {
    steps += k.steps;
    if (k.verdict === "violation") violations.push(k.violation);
    else if (k.verdict === "unknown") unknown.push({ path: k.path, reason: k.reason });
  }
  const verdict = violations.length > 0 ? "violation" : unknown.length > 0 ? "unknown" : "ok";
  return { verdict, keys, violations, unknown, steps };
}

/** Check the history of one path (every op must be on `path`). */
export function checkKey(path: string, ops: readonly HistoryOp[], initial: ZnodeState = null, opts: CheckOptions = {}): KeyVerdict {
  validateHistory(ops);
  for (const o of ops) {
    if (o.path !== path) throw new RangeError(`lincheck: op #${o.id} is on ${o.path}, not ${path}`);
  }
  const stepsMax = opts.stepsPerKeyMax ?? CHECK_STEPS_PER_KEY_MAX_DEFAULT;
  const all = toSearchOps(ops.map((o) => ({ o, role: "seen" })));
  const r = search(all, initial, stepsMax);
  if (r.kind === "ok") {
    return { path, verdict: "ok", ops: all.length, steps: r.steps, linearization: r.order.map((i) => all[i]!.src.id) };
  }
  if (r.kind === "budget") {
    const pending = all.filter((s) => s.complete === Infinity).length;
    const reason =
      `the search of ${path} took more than ${stepsMax} steps (${all.length} ops, ${pending} pending, ` +
      `at most ${maxConcurrency(all)} concurrent); raise stepsPerKeyMax or record fewer overlapping ops per key`;
    return { path, verdict: "unknown", ops: all.length, steps: r.steps, reason };
  }
  const explainMax = opts.explainStepsMax ?? stepsMax;
  const ex = explain(path, ops, initial, explainMax, r.steps);
  return { path, verdict: "violation", ops: all.length, steps: r.steps + ex.steps, violation: ex.violation };
}

// ---- The search ----------------------------------------------------------------------------

/**
 * An op as the search sees it. A required op has its answer, which the model must give; an
 * optional op has none (its answer was never received, or is deliberately not used) and may be
 * linearized once, anywhere in [invoke, complete], or never. A pending op completes at +Infinity.
 */
interface SearchOp {
  readonly src: HistoryOp;
  readonly invoke: number;
  readonly complete: number;
  /** null: optional. */
  readonly result: ZnodeResult | null;
}

/** How an op enters a search: with its answer, or without it (reads and failed writes then drop out). */
type Role = "seen" | "forgotten" | "dropped";

type SearchOutcome =
  | { readonly kind: "ok"; readonly steps: number; readonly order: number[] }
  | { readonly kind: "fail"; readonly steps: number }
  | { readonly kind: "budget"; readonly steps: number };

/**
 * The weakest role that keeps what an op may have done: a write that succeeded or got no
 * answer may have changed the node; a read or a failed write changed nothing and can go.
 */
function withoutAnswer(o: HistoryOp): Role {
  const r = o.complete?.result;
  return o.op.kind !== "get" && (r === undefined || r.type === "ok") ? "forgotten" : "dropped";
}

/** Ops for the search, sorted by invoke time (then id). */
function toSearchOps(items: readonly { readonly o: HistoryOp; readonly role: Role }[]): SearchOp[] {
  const out: SearchOp[] = [];
  for (const { o, role } of items) {
    const answer = o.complete?.result;
    const r = role === "seen" && answer !== undefined ? "seen" : role === "dropped" ? "dropped" : withoutAnswer(o);
    if (r === "dropped") continue;
    const complete = o.complete === undefined ? Infinity : o.complete.time;
    out.push({ src: o, invoke: o.invokeTime, complete, result: r === "seen" ? answer! : null });
  }
  return out.sort((a, b) => a.invoke - b.invoke || a.src.id - b.src.id);
}

function stateKey(s: ZnodeState): string {
  // The version ends at the first ":", so "version:data" is unambiguous whatever the data.
  return s === null ? "-" : `${s.version}:${s.data}`;
}

function sameState(a: ZnodeState, b: ZnodeState): boolean {
  return a === b || (a !== null && b !== null && a.version === b.version && a.data === b.data);
}

/**
 * Wing & Gong's search with Lowe's cache. A configuration is (the set of ops linearized so far,
 * the model state after them). From a configuration, an op may be linearized next iff it is not
 * yet linearized and real time allows it: no unlinearized required op completed before it was
 * invoked, and (for an optional op) no op already linearized was invoked after it completed.
 * It is, iff the model gives its recorded answer (optional ops: any answer). The history is
 * linearizable iff a configuration with every required op linearized is reachable (optional
 * ops left over never took effect, or took effect after everything, which no answer tells apart).
 *
 * Prunings, all exact (they never change the verdict):
 * - Closed optional ops count as done: an optional op that can no longer be linearized (an op
 *   invoked after its completion is linearized) is, for the future, the same whether it took
 *   effect or not — that is already folded into the state.
 * - Dominance, which subsumes Lowe's "visited" cache: configuration A dominates B if they have
 *   the same required ops linearized and the same state, and A's optional ops done (closed
 *   included) are a subset of B's. Every continuation from B is then one from A (A may still
 *   do all B may, and real time constrains them alike). A visited configuration that
 *   dominates a new one has failed (or the search would have stopped, or is exploring it), so
 *   the new one is skipped. Without this, the cache would tell apart every subset of the
 *   unanswered writes that ended in the same state (e.g. before a delete), exponentially many.
 * - An optional op whose step leaves the state unchanged is not linearized: that is dominated
 *   by keeping it in reserve (it blocks nobody and constrains nothing).
 * - Observations go first, without branching: if an answered op that leaves the state as it is
 *   (a read, a failed write) may go now and its answer matches, it goes now and nothing else is
 *   tried here. Moving it to the front of any linearization from here changes no state and no
 *   answer, and breaks no real-time order — provided no open optional op ended before it was
 *   invoked (that op could then no longer go after it), which is checked. Concurrent reads and
 *   failed writes, the commonest ops, then cost no search at all.
 */
function search(ops: readonly SearchOp[], initial: ZnodeState, stepsMax: number): SearchOutcome {
  const n = ops.length;
  // Each op has a slot in one of two bitsets: the required ops' and the optional ops'.
  const required: number[] = [];
  const optional: number[] = [];
  const slot = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const group = ops[i]!.result !== null ? required : optional;
    slot[i] = group.length;
    group.push(i);
  }
  const reqWords = (required.length + 31) >>> 5;
  const optWords = (optional.length + 31) >>> 5;
  const req = new Uint32Array(reqWords);
  const opt = new Uint32Array(optWords);
  const has = (i: number): boolean => {
    const s = slot[i]!;
    return ((ops[i]!.result !== null ? req : opt)[s >>> 5]! & (1 << (s & 31))) !== 0;
  };
  const flip = (i: number): void => {
    const s = slot[i]!;
    (ops[i]!.result !== null ? req : opt)[s >>> 5]! ^= 1 << (s & 31);
  };
  // Required ops by completion: the first unlinearized one bounds which ops may go next.
  const reqByComplete = required.slice().sort((a, b) => ops[a]!.complete - ops[b]!.complete || a - b);
  const optByComplete = optional.slice().sort((a, b) => ops[a]!.complete - ops[b]!.complete || a - b);
  // The optional ops closed once an op invoked at `t` is linearized, as a mask; per distinct t.
  const closedMasks = new Map<number, Uint32Array>();
  const closedBy = (t: number): Uint32Array => {
    let m = closedMasks.get(t);
    if (m === undefined) {
      m = new Uint32Array(optWords);
      for (const i of optByComplete) {
        if (ops[i]!.complete >= t) break;
        m[slot[i]! >>> 5]! |= 1 << (slot[i]! & 31);
      }
      closedMasks.set(t, m);
    }
    return m;
  };
  // Per (required ops done, state): the optional sets of the visited configurations, an antichain.
  const visited = new Map<string, Uint32Array[]>();
  const dominated = (s: ZnodeState, maxInvoke: number): boolean => {
    // The required set, compactly: the done ops form a prefix (full words) plus a window of
    // ops in flight, so only the words between the first not full and the last not empty vary.
    let lo = 0;
    while (lo < reqWords && req[lo] === 0xffffffff) lo++;
    let hi = reqWords;
    while (hi > lo && req[hi - 1] === 0) hi--;
    let k = `${lo}:${hi - lo}:`;
    for (let w = lo; w < hi; w++) k += String.fromCharCode(req[w]! & 0xffff, req[w]! >>> 16);
    k += stateKey(s);
    const closed = closedBy(maxInvoke);
    const mask = new Uint32Array(optWords);
    for (let w = 0; w < optWords; w++) mask[w] = opt[w]! | closed[w]!;
    const seen = visited.get(k);
    if (seen === undefined) {
      visited.set(k, [mask]);
      return false;
    }
    const subset = (a: Uint32Array, b: Uint32Array): boolean => {
      for (let w = 0; w < optWords; w++) if ((a[w]! & ~b[w]!) !== 0) return false;
      return true;
    };
    for (const m of seen) if (subset(m, mask)) return true;
    // The new set dominates any visited superset of it: keep only what is still needed.
    let j = 0;
    for (const m of seen) if (!subset(mask, m)) seen[j++] = m;
    seen.length = j;
    seen.push(mask);
    return false;
  };
  // `lo`: every op before it (in invoke order) is done (linearized, or closed); `reqLo`: every
  // required op before it in completion order is linearized. Both only grow along a path, and
  // save rescanning the done part of the history at every step.
  const candidates = (maxInvoke: number, lo: number, reqLo: number): number[] => {
    const first = reqByComplete[reqLo];
    const bound = first === undefined ? Infinity : ops[first]!.complete;
    // Required ops first, optional ones last: the search then tries "the unanswered writes
    // have not happened yet" first. (Order affects speed only, never the verdict.)
    const out: number[] = [];
    const later: number[] = [];
    // Sorted by invoke: once one is invoked after the bound, so are all later ones.
    for (let i = lo; i < n && ops[i]!.invoke <= bound; i++) {
      if (has(i)) continue;
      const o = ops[i]!;
      if (o.result !== null) out.push(i);
      else if (o.complete >= maxInvoke) later.push(i);
    }
    for (const i of later) out.push(i);
    return out;
  };

  let remaining = required.length;
  if (remaining === 0) return { kind: "ok", steps: 0, order: [] };
  let state = initial;
  let steps = 0;
  dominated(state, -Infinity);
  // An explicit stack, not recursion: depth is the number of ops, which can be thousands.
  interface Frame {
    readonly cands: number[];
    /** The latest invoke among the ops linearized so far (this frame's configuration). */
    readonly maxInvoke: number;
    readonly lo: number;
    readonly reqLo: number;
    next: number;
    /** The op this frame's current child linearized (-1: none), and the state before it. */
    taken: number;
    before: ZnodeState;
  }
  /** An observation that may go now, alone (see the prunings above), or -1. */
  const observation = (cands: readonly number[], maxInvoke: number): number => {
    let openOptionalEnd = Infinity; // The earliest end of an optional op still open.
    for (const i of optByComplete) {
      if (!has(i) && ops[i]!.complete >= maxInvoke) {
        openOptionalEnd = ops[i]!.complete;
        break;
      }
    }
    for (const c of cands) {
      const o = ops[c]!;
      if (o.result === null || o.invoke > openOptionalEnd) continue;
      const r = applyZnodeOp(state, o.src.op);
      if (sameState(r.state, state) && resultMatches(o.result, r.result)) return c;
    }
    return -1;
  };
  /** The frame of the configuration reached (`state` is already its state). */
  const frame = (maxInvoke: number, lo: number, reqLo: number): Frame => {
    while (lo < n && (has(lo) || (ops[lo]!.result === null && ops[lo]!.complete < maxInvoke))) lo++;
    while (reqLo < reqByComplete.length && has(reqByComplete[reqLo]!)) reqLo++;
    const cands = candidates(maxInvoke, lo, reqLo);
    const forced = observation(cands, maxInvoke);
    return { cands: forced >= 0 ? [forced] : cands, maxInvoke, lo, reqLo, next: 0, taken: -1, before: null };
  };
  const stack: Frame[] = [frame(-Infinity, 0, 0)];
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    if (f.taken >= 0) {
      // Back from the child that linearized f.taken: undo it.
      flip(f.taken);
      if (ops[f.taken]!.result !== null) remaining++;
      state = f.before;
      f.taken = -1;
    }
    if (f.next >= f.cands.length) {
      stack.pop();
      continue;
    }
    const c = f.cands[f.next++]!;
    if (++steps > stepsMax) return { kind: "budget", steps };
    const o = ops[c]!;
    const r = applyZnodeOp(state, o.src.op);
    if (o.result !== null ? !resultMatches(o.result, r.result) : sameState(r.state, state)) continue;
    const maxInvoke = Math.max(f.maxInvoke, o.invoke);
    flip(c);
    if (dominated(r.state, maxInvoke)) {
      flip(c);
      continue;
    }
    f.taken = c;
    f.before = state;
    state = r.state;
    if (o.result !== null && --remaining === 0) {
      return { kind: "ok", steps, order: stack.map((s) => s.taken) };
    }
    stack.push(frame(maxInvoke, f.lo, f.reqLo));
  }
  return { kind: "fail", steps };
}

function maxConcurrency(ops: readonly SearchOp[]): number {
  const events: [number, number][] = [];
  for (const o of ops) events.push([o.invoke, 1], [o.complete, -1]);
  events.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of events) max = Math.max(max, (cur += d));
  return max;
}

// ---- Explaining a violation ----------------------------------------------------------------

/**
 * Find the shortest failing prefix, then the fewest answers in it that still contradict the
 * model. Both only ever weaken a history in ways that keep a linearizable history
 * linearizable — forgetting answers (an op whose answer is forgotten is optional) and dropping
 * ops that had no effect (reads and failed writes) — so every failing history found is a
 * proof that the original fails too. (Dropping a successful write would not be: it could make
 * a correct read look like it saw a value never written.)
 */
function explain(
  path: string,
  ops: readonly HistoryOp[],
  initial: ZnodeState,
  budget: number,
  failedInSteps: number,
): { violation: KeyViolation; steps: number } {
  let steps = 0;
  // One trial may take a multiple of what proving the whole history wrong took: forgetting
  // answers can make a search far larger (nothing left to prune with), and one runaway trial
  // must not eat the budget of the rest. An undecided trial just keeps an answer.
  const trialMax = Math.max(TRIAL_STEPS_MIN, TRIAL_STEPS_FACTOR * failedInSteps);
  /** Fails, passes, or null when undecided within the budgets. */
  const fails = (items: readonly { o: HistoryOp; role: Role }[]): boolean | null => {
    const left = Math.min(trialMax, budget - steps);
    if (left <= 0) return null;
    const r = search(toSearchOps(items), initial, left);
    steps += r.steps;
    return r.kind === "budget" ? null : r.kind === "fail";
  };

  // Completions in time order. Prefix k holds the answers of the first k, and every other op
  // invoked by the k-th completion without its answer. Failing is monotone in k (a
  // linearization of a longer prefix, cut before its first op invoked after the shorter one's
  // end, is one of the shorter), so a binary search finds the shortest failing prefix.
  const completions = ops.filter((o) => o.complete?.result !== undefined);
  completions.sort((a, b) => a.complete!.time - b.complete!.time || a.id - b.id);
  const prefix = (k: number): { o: HistoryOp; role: Role }[] => {
    const end = completions[k - 1]!.complete!.time;
    const answered = new Set(completions.slice(0, k).map((o) => o.id));
    return ops
      .filter((o) => o.invokeTime <= end || answered.has(o.id))
      .map((o) => ({ o, role: answered.has(o.id) ? "seen" : withoutAnswer(o) }));
  };
  let lo = 1;
  let hi = completions.length; // The whole history failed: so does its longest prefix.
  let prefixShortest = true;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const f = fails(prefix(mid));
    if (f === true) hi = mid;
    else {
      if (f === null) prefixShortest = false;
      lo = mid + 1;
    }
  }
  const culprit = completions[hi - 1]!;
  const items = prefix(hi);
  const prefixOps = toSearchOps(items).length;

  // Minimize the answers that matter, delta-debugging style. The culprit's is needed (without
  // it this is the previous, linearizable, prefix). Forgetting more answers can only make a
  // history pass, so: try a run of answers away at once; if the rest still fails, they all go;
  // else split the run in halves and try each (earlier first). With k answers needed that is
  // O(k log n) searches, the first being all of them at once (when the culprit's answer is
  // impossible on its own). An undecided search (step budget) keeps its run, untried.
  const role = new Map<number, Role>();
  for (const { o, role: r } of items) role.set(o.id, r);
  const trial = (): { o: HistoryOp; role: Role }[] => items.map(({ o }) => ({ o, role: role.get(o.id)! }));
  const others = items.filter(({ o, role: r }) => r === "seen" && o.id !== culprit.id).map(({ o }) => o);
  others.sort((a, b) => a.complete!.time - b.complete!.time || a.id - b.id);
  let coreMinimal = true;
  /** Answers decided about: gone, or kept because forgetting them alone made the history pass. */
  const decided = new Set<number>([culprit.id]);
  // Most often the culprit's answer is impossible on its own (a value never written): that
  // needs no search.
  const alone = impossibleAlone(culprit, items, initial);
  const shrink = (run: readonly HistoryOp[]): void => {
    if (run.length === 0) return;
    for (const o of run) role.set(o.id, withoutAnswer(o));
    const f = alone !== null && run === others ? true : fails(trial());
    if (f === true) {
      for (const o of run) decided.add(o.id);
      return;
    }
    for (const o of run) role.set(o.id, "seen");
    if (f === null) coreMinimal = false;
    if (run.length === 1) {
      if (f === false) decided.add(run[0]!.id);
      return;
    }
    const mid = run.length >>> 1;
    shrink(run.slice(0, mid));
    shrink(run.slice(mid));
  };
  shrink(others);
  const byTime = (a: HistoryOp, b: HistoryOp): number => a.invokeTime - b.invokeTime || a.id - b.id;
  const kept = items.filter(({ o }) => role.get(o.id) === "seen").map(({ o }) => o);
  const core = kept.filter((o) => decided.has(o.id));
  core.sort((a, b) => (a.id === culprit.id ? 1 : b.id === culprit.id ? -1 : byTime(a, b)));
  const background = kept.filter((o) => !decided.has(o.id));
  const to = culprit.complete!.time;
  // The writes that may have taken effect, latest first: those nearest the culprit are the
  // ones a reader needs to see to follow the contradiction.
  const writes = items.filter(({ o }) => role.get(o.id) === "forgotten").map(({ o }) => o).sort(byTime);
  const context = writes.slice(Math.max(0, writes.length - CONTEXT_OPS_SHOWN_MAX));
  const otherWrites = writes.length - context.length;

  const lines: string[] = [];
  lines.push(`${path}: not linearizable.`);
  lines.push(
    `The shortest failing prefix ends with the answer of #${culprit.id} at t=${to} (${prefixOps} ops invoked by then)` +
      (prefixShortest ? "; every shorter prefix is linearizable." : "; shorter prefixes were not all decided (step budget)."),
  );
  const withBackground =
    background.length === 0
      ? ""
      : `, together with the ${background.length} earlier answers (by t=${Math.max(...background.map((o) => o.complete!.time))}) ` +
        "that the step budget left undecided";
  lines.push(
    core.length === 1 && background.length === 0
      ? "This answer alone cannot be explained by any order of the writes that may have happened before it:"
      : `These ${core.length} answers cannot all be explained by one order of the operations${withBackground}` +
          `${coreMinimal ? " (each one is needed)" : ""}:`,
  );
  const hidden = Math.max(0, core.length - CORE_OPS_SHOWN_MAX);
  if (hidden > 0) lines.push(`  (${hidden} earlier answers of the core not shown)`);
  for (const o of core.slice(hidden)) lines.push(`  ${formatOp(o)}`);
  if (alone !== null) lines.push(`(${alone}.)`);
  if (context.length > 0) {
    lines.push(
      `The ${otherWrites > 0 ? `latest ${context.length} ` : ""}writes of the prefix that may have taken effect (their answers are not needed):`,
    );
    if (otherWrites > 0) lines.push(`  (${otherWrites} earlier ones not shown)`);
    for (const o of context) lines.push(`  ${formatOp(o)}`);
  }
  if (initial !== null) lines.push(`The node's initial state was data ${JSON.stringify(initial.data)}, version ${initial.version}.`);

  const violation: KeyViolation = {
    path,
    culprit,
    prefixEndTime: to,
    prefixOps,
    prefixShortest,
    core,
    coreMinimal,
    background: background.length,
    context,
    otherWrites,
    explanation: lines.join("\n"),
  };
  return { violation, steps };
}

/**
 * Why `o`'s answer could not be given in any order of the writes that may have taken effect
 * by its completion (the effective writes of `items` invoked by then), or null if it could.
 * Necessary conditions only — a null proves nothing — but each is exact when it fires: a
 * (data, version) seen must have been made by a write of that data (a create makes version
 * 0, a set 1 or more) or be the initial state; versions grow by at most one per set or put;
 * absence needs a delete or an absent start; presence needs a create or put or a present start.
 */
function impossibleAlone(o: HistoryOp, items: readonly { o: HistoryOp; role: Role }[], initial: ZnodeState): string | null {
  const answer = o.complete?.result;
  if (answer === undefined) return null;
  const by = o.complete!.time;
  const writes = items
    .filter(({ o: w, role }) => w.op.kind !== "get" && w.invokeTime <= by && role !== "dropped")
    .filter(({ o: w, role }) => !(role === "seen" && w.complete?.result?.type === "error"))
    .map(({ o: w }) => w.op);
  const bumps = writes.filter((w) => w.kind === "set" || w.kind === "put").length;
  const maxVersion = (initial?.version ?? 0) + bumps;
  const neverAbsent = initial !== null && !writes.some((w) => w.kind === "delete");
  const neverPresent = initial === null && !writes.some((w) => w.kind === "create" || w.kind === "put");
  const whyNotAbsent = `the node cannot have been absent: it existed at the start and no delete was invoked by t=${by}`;
  const whyNotPresent = `the node cannot have existed: no create or put was invoked by t=${by}`;
  const tooHigh = (v: number): string | null =>
    v > maxVersion ? `version ${v} is above any reachable by then: ${bumps} sets or puts were invoked by t=${by}` : null;
  const op = o.op;
  switch (answer.type) {
    case "read": {
      if (!answer.exists) return neverAbsent ? whyNotAbsent : null;
      if (neverPresent) return whyNotPresent;
      const high = tooHigh(answer.version);
      if (high !== null || answer.data === undefined) return high;
      const d = answer.data;
      const v = answer.version;
      const made =
        (initial !== null && initial.data === d && initial.version === v) ||
        writes.some((w) => "data" in w && w.data === d && (w.kind === "put" || (w.kind === "create" ? v === 0 : v >= 1)));
      return made ? null : `no write invoked by t=${by} can have made data ${JSON.stringify(d)} at version ${v}`;
    }
    case "error":
      if (answer.code === "NO_NODE") return neverAbsent ? whyNotAbsent : null;
      return neverPresent ? whyNotPresent : null;
    case "ok":
      if (op.kind === "create") return neverAbsent ? whyNotAbsent : null;
      if ((op.kind === "delete" || op.kind === "set") && neverPresent) return whyNotPresent;
      if ((op.kind === "set" || op.kind === "put") && answer.version !== undefined) {
        if (op.expectedVersion !== -1 && answer.version !== op.expectedVersion + 1) {
          return `a ${op.kind} expecting version ${op.expectedVersion} can only make version ${op.expectedVersion + 1}`;
        }
        if (op.kind === "set" && answer.version < 1) return "a set makes version 1 or more";
        return tooHigh(answer.version);
      }
      return null;
  }
}

// ---- Formatting ----------------------------------------------------------------------------

function formatVersion(v: number): string {
  return v === -1 ? "any" : String(v);
}

export function formatZnodeOp(op: ZnodeOp): string {
  switch (op.kind) {
    case "create":
      return `create(${JSON.stringify(op.data)})`;
    case "set":
    case "put":
      return `${op.kind}(${JSON.stringify(op.data)}, version ${formatVersion(op.expectedVersion)})`;
    case "delete":
      return `delete(version ${formatVersion(op.expectedVersion)})`;
    case "get":
      return "get()";
  }
}

export function formatZnodeResult(r: ZnodeResult): string {
  switch (r.type) {
    case "ok":
      return r.version === undefined ? "ok" : `ok (version ${r.version})`;
    case "error":
      return r.code;
    case "read":
      if (!r.exists) return "no node";
      return r.data === undefined ? `version ${r.version}` : `${JSON.stringify(r.data)} version ${r.version}`;
  }
}

/** One line: "#12 c3 set("b", version 1) invoked t=40, answered t=55: ok (version 2)". */
export function formatOp(o: HistoryOp): string {
  const who = o.client === undefined ? "" : ` ${o.client}`;
  const outcome =
    o.complete === undefined
      ? "no answer (may have taken effect any time after its invoke, or never)"
      : o.complete.result === undefined
        ? `ended by t=${o.complete.time} with its outcome unknown`
        : `answered t=${o.complete.time}: ${formatZnodeResult(o.complete.result)}`;
  return `#${o.id}${who} ${formatZnodeOp(o.op)} invoked t=${o.invokeTime}, ${outcome}`;
}

// ---- Validation ----------------------------------------------------------------------------

const RESULT_CODES: Readonly<Record<ZnodeOp["kind"], readonly ZnodeErrorCode[]>> = {
  create: ["NODE_EXISTS"],
  set: ["NO_NODE", "BAD_VERSION"],
  put: ["NO_NODE", "BAD_VERSION"],
  delete: ["NO_NODE", "BAD_VERSION"],
  get: [],
};

function validateHistory(history: readonly HistoryOp[]): void {
  const ids = new Set<number>();
  for (const o of history) {
    const bad = (why: string): never => {
      throw new RangeError(`lincheck: op #${o.id} (${o.op.kind} ${o.path}): ${why}`);
    };
    if (!Number.isSafeInteger(o.id)) bad("its id is not an integer");
    if (ids.has(o.id)) bad("its id is used twice");
    ids.add(o.id);
    if (!Number.isFinite(o.invokeTime)) bad(`invoke time ${o.invokeTime} is not a finite number`);
    const op = o.op;
    if (!(op.kind in RESULT_CODES)) bad(`unknown op kind ${JSON.stringify(op.kind)}`);
    if ("expectedVersion" in op && !(Number.isSafeInteger(op.expectedVersion) && op.expectedVersion >= -1)) {
      bad(`expected version ${op.expectedVersion} is neither -1 nor a version`);
    }
    const c = o.complete;
    if (c === undefined) continue;
    if (!(Number.isFinite(c.time) && c.time >= o.invokeTime)) bad(`completion time ${c.time} is before its invoke time ${o.invokeTime}`);
    const r = c.result;
    if (r === undefined) continue;
    if (op.kind === "get" ? r.type !== "read" : r.type === "read") bad(`result of type ${r.type} for a ${op.kind}`);
    if (r.type === "error" && !RESULT_CODES[op.kind].includes(r.code)) bad(`error ${r.code} is not an answer a ${op.kind} can give`);
    if (r.type === "ok" && op.kind === "delete" && r.version !== undefined) bad("a delete answers ok without a version");
  }
}
