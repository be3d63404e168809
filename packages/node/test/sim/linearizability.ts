// A linearizability checker for client histories of single znodes, for the simulator (and any
// test that records what clients saw). Given every operation's invoke time and, if it got an
// answer, its completion time and result, it decides whether some total order of the
// operations (a) respects real time — an operation that completed before another was invoked
// comes first — and (b) produces exactly the recorded results when run on a sequential model
// of one znode. That is Herlihy & Wing's linearizability, checked as Wing & Gong do (a
// depth-first search over which pending operation takes effect next) with Lowe's improvement,
// the cache Porcupine also uses: a configuration (set of operations already linearized, model
// state) that was explored once and failed is never explored again.
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

/** One recorded operation. `complete` is absent while (or if forever) the client has no answer. */
export interface HistoryOp {
  /** Unique within the history; explanations name ops by it ("#12"). */
  readonly id: number;
  /** Who issued it, for explanations only (e.g. "c3@n2"). */
  readonly client?: string;
  readonly path: string;
  readonly op: ZnodeOp;
  readonly invokeTime: number;
  readonly complete?: { readonly time: number; readonly result: ZnodeResult };
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
    const i = this.index.get(id);
    if (i === undefined) throw new RangeError(`lincheck: complete(${id}): no such op was invoked`);
    const o = this.ops[i]!;
    if (o.complete !== undefined) throw new RangeError(`lincheck: complete(${id}): op #${id} already completed`);
    this.ops[i] = { ...o, complete: { time, result } };
  }

  /** The history so far, in invoke order. */
  history(): HistoryOp[] {
    return this.ops.slice();
  }
}

// ---- Checking ------------------------------------------------------------------------------

/** Model steps one key's search may take before its verdict is "unknown" (default). */
export const CHECK_STEPS_PER_KEY_MAX_DEFAULT = 1_000_000;
/** Displayed ops of the context of a violation, at most. */
const CONTEXT_OPS_SHOWN_MAX = 20;

export interface CheckOptions {
  /**
   * Model steps (one step = trying one op in one configuration) the search of one key may take
   * before its verdict is "unknown". Memory grows with steps too (one cache entry per step).
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
   * completed by the culprit's completion (later answers unknown: those ops count as pending).
   */
  readonly prefixEndTime: number;
  /** Ops in that prefix (pending reads excluded). */
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
  /** Writes of the prefix, other than the core, that overlap the core's time span (at most 20). */
  readonly context: readonly HistoryOp[];
  /** Writes of the prefix outside `core` and `context`. */
  readonly otherWrites: number;
  /** A multi-line, readable account of all the above. */
  readonly explanation: string;
}

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
  const all = toSearchOps(ops.map((o) => ({ o, seen: o.complete !== undefined })));
  const r = search(all, initial, stepsMax);
  if (r.kind === "ok") {
    return { path, verdict: "ok", ops: all.length, steps: r.steps, linearization: r.order.map((i) => all[i]!.src.id) };
  }
  if (r.kind === "budget") {
    const pending = all.filter((s) => s.result === null).length;
    const reason =
      `the search of ${path} took more than ${stepsMax} steps (${all.length} ops, ${pending} pending, ` +
      `at most ${maxConcurrency(all)} concurrent); raise stepsPerKeyMax or record fewer overlapping ops per key`;
    return { path, verdict: "unknown", ops: all.length, steps: r.steps, reason };
  }
  const explainMax = opts.explainStepsMax ?? stepsMax;
  const ex = explain(path, ops, initial, explainMax);
  return { path, verdict: "violation", ops: all.length, steps: r.steps + ex.steps, violation: ex.violation };
}

// ---- The search ----------------------------------------------------------------------------

/** An op as the search sees it; pending ops complete at +Infinity and have no result. */
interface SearchOp {
  readonly src: HistoryOp;
  readonly invoke: number;
  readonly complete: number;
  readonly result: ZnodeResult | null;
}

type SearchOutcome =
  | { readonly kind: "ok"; readonly steps: number; readonly order: number[] }
  | { readonly kind: "fail"; readonly steps: number }
  | { readonly kind: "budget"; readonly steps: number };

/**
 * Ops for the search, sorted by invoke time (then id). `seen` says whether the op's answer
 * counts (false: treat it as pending). Pending reads constrain nothing and are dropped.
 */
function toSearchOps(items: readonly { o: HistoryOp; seen: boolean }[]): SearchOp[] {
  const out: SearchOp[] = [];
  for (const { o, seen } of items) {
    if (seen && o.complete !== undefined) {
      out.push({ src: o, invoke: o.invokeTime, complete: o.complete.time, result: o.complete.result });
    } else if (o.op.kind !== "get") {
      out.push({ src: o, invoke: o.invokeTime, complete: Infinity, result: null });
    }
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
 * yet linearized and no unlinearized op completed before it was invoked (real-time order); it
 * is, iff the model gives its recorded result. The history is linearizable iff a configuration
 * with every completed op linearized is reachable (pending ops left over never took effect —
 * or took effect after everything else, which no answer can tell apart).
 *
 * Two prunings, both exact: a configuration already visited is not expanded again (the first
 * visit failed, or the search would have stopped), and a pending op whose step leaves the state
 * unchanged is not linearized (doing so is dominated by keeping it in reserve: a pending op
 * blocks nobody and constrains nothing, so every continuation after it is also available
 * without it).
 */
function search(ops: readonly SearchOp[], initial: ZnodeState, stepsMax: number): SearchOutcome {
  const n = ops.length;
  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  const has = (i: number): boolean => (bits[i >>> 5]! & (1 << (i & 31))) !== 0;
  const flip = (i: number): void => {
    bits[i >>> 5]! ^= 1 << (i & 31);
  };
  const key = (s: ZnodeState): string => {
    let k = "";
    for (let w = 0; w < words; w++) k += String.fromCharCode(bits[w]! & 0xffff, bits[w]! >>> 16);
    return k + stateKey(s);
  };
  // Completed ops by completion time: the first unlinearized one bounds which ops may go next.
  const byComplete: number[] = [];
  for (let i = 0; i < n; i++) if (ops[i]!.result !== null) byComplete.push(i);
  byComplete.sort((a, b) => ops[a]!.complete - ops[b]!.complete || a - b);

  const candidates = (): number[] => {
    let bound = Infinity;
    for (const i of byComplete) {
      if (!has(i)) {
        bound = ops[i]!.complete;
        break;
      }
    }
    const out: number[] = [];
    // Sorted by invoke: once one is invoked after the bound, so are all later ones.
    for (let i = 0; i < n && ops[i]!.invoke <= bound; i++) if (!has(i)) out.push(i);
    return out;
  };

  let remaining = byComplete.length;
  if (remaining === 0) return { kind: "ok", steps: 0, order: [] };
  let state = initial;
  let steps = 0;
  const visited = new Set<string>([key(state)]);
  // An explicit stack, not recursion: depth is the number of ops, which can be thousands.
  interface Frame {
    readonly cands: number[];
    next: number;
    taken: number;
    before: ZnodeState;
  }
  const stack: Frame[] = [{ cands: candidates(), next: 0, taken: -1, before: null }];
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
    flip(c);
    const k = key(r.state);
    if (visited.has(k)) {
      flip(c);
      continue;
    }
    visited.add(k);
    f.taken = c;
    f.before = state;
    state = r.state;
    if (o.result !== null && --remaining === 0) {
      return { kind: "ok", steps, order: stack.map((s) => s.taken) };
    }
    stack.push({ cands: candidates(), next: 0, taken: -1, before: null });
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

/** What an op of the failing prefix contributes while the core is minimized. */
type Role = "seen" | "unseen" | "dropped";

/**
 * Find the shortest failing prefix, then the fewest answers in it that still contradict the
 * model. Both only ever weaken a history in ways that keep a linearizable history
 * linearizable — forgetting answers (an op whose answer is forgotten is pending) and dropping
 * ops that had no effect (reads and failed writes) — so every failing history found is a
 * proof that the original fails too. (Dropping a successful write would not be: it could make
 * a correct read look like it saw a value never written.)
 */
function explain(path: string, ops: readonly HistoryOp[], initial: ZnodeState, budget: number): { violation: KeyViolation; steps: number } {
  let steps = 0;
  /** Fail, ok, or null when the budget is spent. */
  const fails = (items: { o: HistoryOp; seen: boolean }[]): boolean | null => {
    const left = budget - steps;
    if (left <= 0) return null;
    const r = search(toSearchOps(items), initial, left);
    steps += r.steps;
    return r.kind === "budget" ? null : r.kind === "fail";
  };

  // Completions in time order; prefix k holds the answers of the first k, and every op invoked
  // by the k-th completion without its answer. Failing is monotone in k (a linearization of a
  // longer prefix restricted to a shorter one is one of the shorter), so binary search works.
  const completions = ops.filter((o) => o.complete !== undefined);
  completions.sort((a, b) => a.complete!.time - b.complete!.time || a.id - b.id);
  const prefix = (k: number): { o: HistoryOp; seen: boolean }[] => {
    const end = completions[k - 1]!.complete!.time;
    const seen = new Set(completions.slice(0, k).map((o) => o.id));
    return ops.filter((o) => o.invokeTime <= end || seen.has(o.id)).map((o) => ({ o, seen: seen.has(o.id) }));
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

  // Minimize the answers that matter. The culprit's is needed (without it this is the
  // previous, linearizable, prefix). Try everything else away at once first (one search when
  // the culprit's answer alone is impossible), then one at a time, earliest first.
  const role = new Map<number, Role>();
  for (const { o, seen } of items) role.set(o.id, seen ? "seen" : "unseen");
  const weaker = (o: HistoryOp): Role => (isWrite(o) && o.complete?.result.type === "ok" ? "unseen" : "dropped");
  const trial = (): { o: HistoryOp; seen: boolean }[] =>
    items.filter(({ o }) => role.get(o.id) !== "dropped").map(({ o }) => ({ o, seen: role.get(o.id) === "seen" }));
  const others = items.filter(({ o, seen }) => seen && o.id !== culprit.id).map(({ o }) => o);
  let coreMinimal = true;
  for (const o of others) role.set(o.id, weaker(o));
  const bulk = others.length === 0 ? true : fails(trial());
  if (bulk !== true) {
    if (bulk === null) coreMinimal = false;
    for (const o of others) role.set(o.id, "seen");
    for (const o of others) {
      role.set(o.id, weaker(o));
      const f = fails(trial());
      if (f !== true) {
        role.set(o.id, "seen");
        if (f === null) coreMinimal = false;
      }
    }
  }
  const byTime = (a: HistoryOp, b: HistoryOp): number => a.invokeTime - b.invokeTime || a.id - b.id;
  const core = items.filter(({ o }) => role.get(o.id) === "seen").map(({ o }) => o);
  core.sort((a, b) => (a.id === culprit.id ? 1 : b.id === culprit.id ? -1 : byTime(a, b)));
  const from = Math.min(...core.map((o) => o.invokeTime));
  const to = culprit.complete!.time;
  const writes = items.filter(({ o }) => role.get(o.id) === "unseen").map(({ o }) => o).sort(byTime);
  const overlapping = writes.filter((o) => o.invokeTime <= to && (o.complete === undefined || o.complete.time >= from));
  const context = overlapping.slice(0, CONTEXT_OPS_SHOWN_MAX);
  const otherWrites = writes.length - context.length;

  const lines: string[] = [];
  lines.push(`${path}: not linearizable.`);
  lines.push(
    `The shortest failing prefix ends with the answer of #${culprit.id} at t=${to} (${prefixOps} ops invoked by then)` +
      (prefixShortest ? "; every shorter prefix is linearizable." : "; shorter prefixes were not all decided (step budget)."),
  );
  lines.push(
    core.length === 1
      ? "This answer alone cannot be explained by any order of the writes that may have happened before it:"
      : `These ${core.length} answers cannot all be explained by one order of the operations${coreMinimal ? " (each one is needed)" : ""}:`,
  );
  for (const o of core) lines.push(`  ${formatOp(o)}`);
  if (context.length > 0) {
    lines.push("Writes overlapping that span, whose answers are not needed but which may have taken effect:");
    for (const o of context) lines.push(`  ${formatOp(o)}`);
  }
  if (otherWrites > 0) lines.push(`(and ${otherWrites} other writes of the prefix, each of which may have taken effect)`);
  if (initial !== null) lines.push(`The node's initial state was data ${JSON.stringify(initial.data)}, version ${initial.version}.`);

  const violation: KeyViolation = {
    path,
    culprit,
    prefixEndTime: to,
    prefixOps,
    prefixShortest,
    core,
    coreMinimal,
    context,
    otherWrites,
    explanation: lines.join("\n"),
  };
  return { violation, steps };
}

function isWrite(o: HistoryOp): boolean {
  return o.op.kind !== "get";
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
    if (op.kind === "get" ? r.type !== "read" : r.type === "read") bad(`result of type ${r.type} for a ${op.kind}`);
    if (r.type === "error" && !RESULT_CODES[op.kind].includes(r.code)) bad(`error ${r.code} is not an answer a ${op.kind} can give`);
    if (r.type === "ok" && op.kind === "delete" && r.version !== undefined) bad("a delete answers ok without a version");
  }
}
