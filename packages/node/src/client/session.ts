// A ZooKeeper-style session over one Session stream: requests are pipelined with ids and
// answered as they complete, keepalives renew the session every sixth of its TTL, and watch
// events arrive on the same stream. When the node behind the stream goes away (or stops
// answering) the session reconnects to the next endpoint, resumes the same session (its
// ephemeral nodes live on) and re-registers its watches from the zxid after the last event
// it delivered.
//
// The session's state is what a lock holder acts on (docs/sessions.md), as Curator names it:
//   connected  a keepalive sent less than a third of the TTL ago was acknowledged by the leader;
//   suspended  none was: the session may still live, or may be about to expire (the node we
//              talk to is hung, partitioned, or has no leader). The session moves to another
//              endpoint at once;
//   lost       the TTL has passed since the last acknowledged keepalive was sent: the cluster
//              may have expired the session (or told us it did). Final.
// Every time is taken on the monotonic clock (performance.now()) and from the moment the
// acknowledged keepalive was SENT: the leader received it later, so the leader's deadline for
// the session (when it saw the keepalive + TTL) is never earlier than ours.
import * as grpc from "@grpc/grpc-js";
import { EventEmitter } from "node:events";
import { afterResend, isNoLeader, worthResending, writeMayHaveApplied } from "./retry.js";
import { WatchCursor } from "./watch-cursor.js";
import { WriteKeys } from "./write-keys.js";
import { authMetadata } from "./auth-metadata.js";
import {
  KvClient,
  type CreateResponse,
  type DeleteResponse,
  type ExistsResponse,
  type GetResponse,
  type ListResponse,
  type MultiResponse,
  type PutResponse,
  type SessionRequest,
  type SessionResponse,
  type SetResponse,
  type SyncResponse,
  type WatchEvent,
} from "../gen/zk/v1/kv.js";
import { Consistency } from "../gen/zk/v1/kv.js";
import { ErrorCode, type Op } from "../gen/zk/v1/types.js";
import { NOT_APPLIED, ZkError } from "../net/errors.js";

type Req = NonNullable<SessionRequest["request"]>;
type Res = NonNullable<SessionResponse["response"]>;
type ValueOf<K extends Res["$case"]> = Extract<Res, { $case: K }>["value"];

/** Requests waiting for an answer on one stream before new ones wait their turn. */
const IN_FLIGHT_MAX = 4096;
/** Keepalives are sent every this fraction of the TTL. */
const KEEPALIVE_TTL_FRACTION = 1 / 6;
/** With no keepalive acknowledged for this fraction of the TTL the session is suspended. */
export const SUSPEND_TTL_FRACTION = 1 / 3;
/** The longest one endpoint gets to answer (open or resume a session) before the next is tried. */
export const SESSION_ATTEMPT_MS_MAX = 1000;

/** connected -> suspended -> (connected again | lost); closed after close() or abandon(). */
export type SessionState = "connected" | "suspended" | "lost" | "closed";

/** The client's monotonic clock, in ms: immune to wall-clock steps. */
export function monotonicNowMs(): number {
  return performance.now();
}

export interface SessionOptions {
  readonly endpoints: readonly string[];
  readonly ttlMs?: number;
  readonly timeoutMs?: number;
  /** Credentials "USER:PASSWORD" the session's requests are made as (ClientOptions.auth). */
  readonly auth?: readonly string[];
}

type SessionStream = grpc.ClientDuplexStream<SessionRequest, SessionResponse>;

interface Pending {
  readonly req: Req;
  /** Deduplication key of a write ("" for reads and session requests). */
  readonly key: string;
  readonly resolve: (r: Res) => void;
  readonly reject: (e: ZkError) => void;
  readonly timer: NodeJS.Timeout;
  readonly deadline: number;
  /** The stream it was written to: if that stream breaks, the outcome is unknown. */
  readonly stream: SessionStream;
  readonly tries: Tries;
}

/** What the earlier attempts of one request were told (onResponse). */
interface Tries {
  /** "No leader" answers so far (NO_LEADER_ANSWERS_MAX). */
  noLeader: number;
  /** For a write: the first answer that left its outcome unknown (afterResend). */
  unknown: ZkError | null;
}

interface Queued {
  readonly req: Req;
  readonly key: string;
  readonly resolve: (r: Res) => void;
  readonly reject: (e: ZkError) => void;
  readonly timer: NodeJS.Timeout;
  readonly deadline: number;
  readonly tries: Tries;
}

const WRITES = new Set<Req["$case"]>(["create", "put", "set", "delete", "multi"]);
const READS = new Set<Req["$case"]>(["get", "list", "exists", "sync"]);
/** What a request held for a reconnect gets when the session is closed first. */
function closedWhileWaiting(): ZkError {
  return new ZkError(ErrorCode.UNAVAILABLE, "the session was closed while the request waited for a reconnect; it may or may not have been applied");
}

/** Pause before a request the leader changed under goes again (worthResending). */
const RESEND_PAUSE_MS = 100;
/**
 * The "no leader" answer at which a request fails: the node waited a few election timeouts
 * for a leader before each, so the first is sent again (an election with a split vote may take
 * that long) and the second is final: the cluster likely has no quorum, and the caller hears
 * so before the request's deadline. (ZkClient gives up after as many rounds of "no leader".)
 */
const NO_LEADER_ANSWERS_MAX = 2;

/**
 * A read that goes through the leader (linearizable): a leader change under it is worth
 * waiting out. A local read is answered from the node's own state, or refused for a reason
 * no new leader changes (the node is recovering its disk).
 */
function leaderRead(req: Req): boolean {
  if (!READS.has(req.$case)) return false;
  const v = req.value as { consistency?: Consistency };
  return v.consistency !== Consistency.LOCAL;
}

function writeKey(req: Req, s: ZkSession): string {
  return WRITES.has(req.$case) ? s.nextWriteKey() : "";
}

interface WatchReg {
  readonly path: string;
  readonly recursive: boolean;
  /** Where it resumes after a reconnect. */
  readonly cursor: WatchCursor;
  readonly onEvent: (ev: WatchEvent) => void;
  readonly onError: (e: ZkError) => void;
  streamId: number;
}

export interface SessionEvents {
  /** The stream broke; requests made from now on wait for the reconnect. */
  disconnected: [endpoint: string];
  /**
   * No keepalive was acknowledged for a third of the TTL: the session may be expired by the
   * cluster within `remainingMs` (at the earliest). A lock holder must stop acting as one.
   */
  suspended: [info: { sinceAckMs: number; remainingMs: number; endpoint: string }];
  /** The session is acknowledged again (after a suspension, or after the stream moved to another endpoint). */
  reconnected: [endpoint: string];
  /** The TTL passed without an acknowledged keepalive, or the cluster said the session expired. Final. */
  lost: [ZkError];
  /** The session is gone (lost, or expired); nothing more will work. Fired right after `lost`. */
  expired: [ZkError];
  /** Every change of `state`. */
  state: [state: SessionState, previous: SessionState];
}

export class ZkSession extends EventEmitter<SessionEvents> {
  sessionId = 0;
  ttlMs = 0;
  private readonly endpoints: readonly string[];
  private readonly timeoutMs: number;
  private endpointIdx = 0;
  private kv: KvClient | null = null;
  private stream: SessionStream | null = null;
  /** Requests made while the session reconnects; sent once it is back. */
  private readonly queued: Queued[] = [];
  /** Requests waiting out RESEND_PAUSE_MS before they go again (onResponse), with the error that sent them there. */
  private readonly resending = new Set<{ readonly timer: NodeJS.Timeout; readonly reject: (e: ZkError) => void; readonly error: ZkError }>();
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly watches = new Map<number, WatchReg>();
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private reconnecting: Promise<void> | null = null;
  private readonly writeKeys = new WriteKeys();
  private stateNow: SessionState = "connected";
  /** Monotonic time at which the latest acknowledged keepalive (or open/resume) was sent. */
  private lastAckSentMs = 0;
  private watchdogTimer: NodeJS.Timeout | null = null;

  private constructor(private readonly opts: SessionOptions) {
    super();
    this.endpoints = opts.endpoints;
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  /** Connect to the first reachable endpoint and open a session with `ttlMs`. */
  static async open(opts: SessionOptions): Promise<ZkSession> {
    const s = new ZkSession(opts);
    await s.connect(opts.ttlMs ?? 10_000, 0);
    return s;
  }

  get endpoint(): string {
    return this.endpoints[this.endpointIdx]!;
  }

  /** connected, suspended, lost or closed (see the top of this file). */
  get state(): SessionState {
    return this.stateNow;
  }

  /** Milliseconds since the latest acknowledged keepalive was sent (monotonic). */
  get sinceAckMs(): number {
    return monotonicNowMs() - this.lastAckSentMs;
  }

  /**
   * Milliseconds until the cluster could, at the earliest, expire the session if no further
   * keepalive gets through: TTL minus sinceAckMs (0 or less: it may be gone already).
   */
  get remainingMs(): number {
    return this.ttlMs - this.sinceAckMs;
  }

  private setState(next: SessionState): void {
    const prev = this.stateNow;
    if (prev === next || prev === "lost" || prev === "closed") return;
    this.stateNow = next;
    this.emit("state", next, prev);
  }

  /** How long one endpoint gets to open or resume the session. */
  private attemptMs(resuming: boolean): number {
    const cap = resuming ? Math.max(100, Math.floor(this.ttlMs * SUSPEND_TTL_FRACTION)) : this.timeoutMs;
    return Math.max(1, Math.min(SESSION_ATTEMPT_MS_MAX, this.timeoutMs, cap));
  }

  private async connect(ttlMs: number, resumeId: number): Promise<void> {
    const tried: string[] = [];
    let last: ZkError | null = null;
    for (let i = 0; i < this.endpoints.length; i++) {
      if (this.closed) throw new ZkError(ErrorCode.SESSION_EXPIRED, `session ${resumeId} is closed`);
      const idx = (this.endpointIdx + i) % this.endpoints.length;
      // Requests other than open_session use the stream only once the session is open on it.
      const stream = this.openStream(idx);
      try {
        const sent = monotonicNowMs();
        const r = await this.send({ $case: "openSession", value: { ttlMs, sessionId: resumeId } }, this.nextId++, stream, "", Date.now() + this.attemptMs(resumeId !== 0));
        if (r.$case !== "openSession") throw new ZkError(ErrorCode.INTERNAL, `unexpected answer ${r.$case}`);
        if (this.closed) {
          stream.cancel();
          throw new ZkError(ErrorCode.SESSION_EXPIRED, `session ${resumeId} is closed`);
        }
        this.sessionId = r.value.sessionId;
        this.ttlMs = r.value.ttlMs;
        this.stream = stream;
        this.lastAckSentMs = Math.max(this.lastAckSentMs, sent);
        this.startKeepalive();
        return;
      } catch (e) {
        stream.cancel();
        const z = e as ZkError;
        if (z.code === ErrorCode.SESSION_EXPIRED) throw z;
        tried.push(this.endpoints[idx]!);
        last = z;
      }
    }
    throw new ZkError(ErrorCode.UNAVAILABLE, `no zk node reachable at ${tried.join(", ")} (${last?.message ?? "no answer"}); is the cluster up?`);
  }

  private openStream(idx: number): grpc.ClientDuplexStream<SessionRequest, SessionResponse> {
    this.detach();
    this.endpointIdx = idx;
    this.kv = new KvClient(this.endpoints[idx]!, grpc.credentials.createInsecure(), {
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 1000,
      // A session is a connection of its own (as in ZooKeeper): grpc-js would otherwise share
      // one HTTP/2 connection among every channel to the same address.
      "grpc.use_local_subchannel_pool": 1,
    });
    const stream = this.kv.session(authMetadata(new grpc.Metadata(), this.opts.auth));
    stream.on("data", (r: SessionResponse) => this.onResponse(r));
    let broken = false;
    const onBroken = (why: string) => {
      if (broken) return;
      broken = true;
      this.failRequestsOn(stream, why);
      if (this.stream !== stream) return;
      this.stream = null;
      this.onBroken();
    };
    stream.on("error", (e: grpc.ServiceError) => onBroken(e.details || e.message));
    stream.on("end", () => onBroken("stream ended"));
    return stream;
  }

  private detach(): void {
    const s = this.stream;
    this.stream = null;
    s?.cancel();
    this.kv?.close();
    this.kv = null;
  }

  /**
   * Requests sent on a stream that broke. Reads, and writes (each carries a deduplication
   * key, so the cluster applies it at most once), are sent again after the reconnect; the
   * stream's own requests (open, keepalive, watch registration) fail and are redone by the
   * reconnect itself.
   */
  private failRequestsOn(stream: SessionStream, why: string): void {
    const resend = !this.closed && this.sessionId !== 0;
    for (const [id, p] of this.pending) {
      if (p.stream !== stream) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      const own = p.req.$case === "openSession" || p.req.$case === "keepalive" || p.req.$case === "watch" || p.req.$case === "unwatch" || p.req.$case === "closeSession";
      if (resend && !own) this.enqueue(p.req, p.key, p.resolve, p.reject, p.deadline, p.tries);
      else p.reject(new ZkError(ErrorCode.UNAVAILABLE, `lost the connection to ${this.endpoint} (${why}); the request may or may not have been applied`));
    }
  }

  /** Hold a request until the session is back (or its deadline passes). */
  private enqueue(req: Req, key: string, resolve: (r: Res) => void, reject: (e: ZkError) => void, deadline: number, tries: Tries): void {
    if (this.queued.length >= IN_FLIGHT_MAX) {
      reject(new ZkError(ErrorCode.OVERLOADED, `${IN_FLIGHT_MAX} requests already wait for the session to reconnect; the request was not sent`, NOT_APPLIED));
      return;
    }
    const q: Queued = {
      req,
      key,
      resolve,
      reject,
      deadline,
      tries,
      timer: setTimeout(() => {
        const i = this.queued.indexOf(q);
        if (i >= 0) this.queued.splice(i, 1);
        reject(new ZkError(ErrorCode.TIMEOUT, `the session did not reconnect within ${this.timeoutMs} ms; the request may or may not have been applied`));
      }, Math.max(1, deadline - Date.now())),
    };
    this.queued.push(q);
  }

  private onResponse(r: SessionResponse): void {
    const resp = r.response;
    if (!resp) return;
    if (resp.$case === "watchEvent") {
      for (const w of this.watches.values()) {
        if (w.streamId === r.requestId && w.cursor.accept(resp.value.zxid)) w.onEvent(resp.value);
      }
      return;
    }
    const p = this.pending.get(r.requestId);
    if (!p) {
      // An error for a watch: the watch is over.
      if (resp.$case === "error") {
        for (const [key, w] of this.watches) {
          if (w.streamId === r.requestId) {
            this.watches.delete(key);
            w.onError(ZkError.fromDetail(resp.value));
          }
        }
      }
      return;
    }
    this.pending.delete(r.requestId);
    clearTimeout(p.timer);
    if (resp.$case !== "error") return p.resolve(resp);
    const z = ZkError.fromDetail(resp.value);
    // The leader changed or stepped down under it, or the node is between leaders: try again
    // until the request's deadline (an election takes a few hundred ms). A write goes with its
    // deduplication key, so the cluster applies it once even if the first attempt was applied
    // after all; if the last attempt fails, the answer still says the write may have been.
    const t = p.tries;
    if (isNoLeader(z)) t.noLeader++;
    const again = worthResending(z) || (isNoLeader(z) && t.noLeader < NO_LEADER_ANSWERS_MAX);
    if (again && (p.key !== "" || leaderRead(p.req)) && Date.now() + RESEND_PAUSE_MS < p.deadline && !this.closed) {
      if (p.key !== "" && t.unknown === null && writeMayHaveApplied(z)) t.unknown = z;
      // Every way this request can still fail (a later answer, a close meanwhile) keeps an
      // earlier attempt's unknown outcome.
      const fail = (e: ZkError) => p.reject(t.unknown !== null ? afterResend(t.unknown, e) : e);
      const waiting = {
        timer: setTimeout(() => {
          this.resending.delete(waiting);
          if (this.closed) return fail(z);
          this.send(p.req, this.nextId++, undefined, p.key, p.deadline, t).then(p.resolve, fail);
        }, RESEND_PAUSE_MS),
        reject: fail,
        error: z,
      };
      this.resending.add(waiting);
      return;
    }
    p.reject(z); // a resent request's answer passes through afterResend above
  }

  /** The session's stream broke: move to another node (requests meanwhile wait in `queued`). */
  private onBroken(): void {
    if (this.closed || this.sessionId === 0) return;
    this.reconnecting ??= this.reconnect().finally(() => (this.reconnecting = null));
    this.emit("disconnected", this.endpoint);
  }

  private async reconnect(): Promise<void> {
    this.stopKeepalive();
    // The watchdog ends this loop (closed) once the TTL has passed since the last acknowledgement.
    while (!this.closed) {
      this.endpointIdx = (this.endpointIdx + 1) % this.endpoints.length;
      try {
        await this.connect(this.ttlMs, this.sessionId);
        for (const [key, w] of this.watches) await this.registerWatch(key, w);
        // Requests made while we were away go out now, in the order they were made.
        for (const q of this.queued.splice(0)) {
          clearTimeout(q.timer);
          this.send(q.req, this.nextId++, undefined, q.key, q.deadline, q.tries).then(q.resolve, q.reject);
        }
        this.setState("connected");
        this.emit("reconnected", this.endpoint);
        return;
      } catch (e) {
        const z = e as ZkError;
        if (this.closed) return;
        if (z.code === ErrorCode.SESSION_EXPIRED) return this.expire(z);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Suspend or lose the session when keepalives stop being acknowledged. */
  private watchdog(): void {
    if (this.closed || this.sessionId === 0) return;
    const since = this.sinceAckMs;
    if (since >= this.ttlMs) {
      this.expire(new ZkError(ErrorCode.SESSION_EXPIRED, `session ${this.sessionId} lost: no keepalive acknowledged for ${Math.round(since)} ms, its TTL is ${this.ttlMs} ms; the cluster may have expired it`));
      return;
    }
    if (since <= this.ttlMs * SUSPEND_TTL_FRACTION || this.stateNow !== "connected") return;
    this.setState("suspended");
    this.emit("suspended", { sinceAckMs: since, remainingMs: this.ttlMs - since, endpoint: this.endpoint });
    // The node we talk to may be hung (a paused process keeps its sockets open, so the stream
    // never breaks): move to the next endpoint now.
    const s = this.stream;
    if (s !== null) {
      this.stream = null;
      this.failRequestsOn(s, `no keepalive acknowledged for ${Math.round(since)} ms`);
      s.cancel();
      this.onBroken();
    }
  }

  /** A keepalive was acknowledged (a suspension always moves the stream, so reconnect() ends it). */
  private onKeepaliveAcked(sent: number): void {
    this.lastAckSentMs = Math.max(this.lastAckSentMs, sent);
  }

  private expire(e: ZkError): void {
    if (this.closed && this.stateNow !== "connected" && this.stateNow !== "suspended") return;
    this.closed = true;
    this.stopWatchdog();
    this.failWaiting(e);
    this.stopKeepalive();
    this.detach();
    for (const w of this.watches.values()) w.onError(e);
    this.watches.clear();
    this.setState("lost");
    this.emit("lost", e);
    this.emit("expired", e);
  }

  private startKeepalive(): void {
    this.stopKeepalive();
    const every = Math.max(50, Math.floor(this.ttlMs * KEEPALIVE_TTL_FRACTION));
    this.keepaliveTimer = setInterval(() => {
      const via = this.stream;
      if (via === null) return; // reconnecting: the resume renews the session
      const sent = monotonicNowMs();
      // An answer later than the suspension threshold is of no use: the watchdog has moved on.
      const deadline = Date.now() + Math.max(50, Math.floor(this.ttlMs * SUSPEND_TTL_FRACTION));
      this.send({ $case: "keepalive", value: {} }, this.nextId++, via, "", deadline).then(
        () => this.onKeepaliveAcked(sent),
        (e: ZkError) => {
          if (e.code === ErrorCode.SESSION_EXPIRED) this.expire(e);
        },
      );
    }, every);
    this.keepaliveTimer.unref();
    if (this.watchdogTimer === null) {
      this.watchdogTimer = setInterval(() => this.watchdog(), Math.max(10, Math.min(100, Math.floor(this.ttlMs / 20))));
      this.watchdogTimer.unref();
    }
  }

  private stopWatchdog(): void {
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = null;
  }

  private stopKeepalive(): void {
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = null;
  }

  private send(req: Req, requestId = this.nextId++, via?: SessionStream, key = writeKey(req, this), deadline = Date.now() + this.timeoutMs, tries: Tries = { noLeader: 0, unknown: null }): Promise<Res> {
    const stream = via ?? this.stream;
    if (!stream) {
      if (this.reconnecting === null || this.closed) {
        return Promise.reject(new ZkError(ErrorCode.UNAVAILABLE, `not connected to ${this.endpoint}; the request was not sent`, NOT_APPLIED));
      }
      return new Promise<Res>((resolve, reject) => this.enqueue(req, key, resolve, reject, deadline, tries));
    }
    if (this.pending.size >= IN_FLIGHT_MAX) return Promise.reject(new ZkError(ErrorCode.OVERLOADED, `${IN_FLIGHT_MAX} requests already in flight on this session`));
    return new Promise<Res>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(requestId)) reject(new ZkError(ErrorCode.TIMEOUT, `${this.endpoint} did not answer within ${this.timeoutMs} ms; a write may still take effect`));
      }, Math.max(1, deadline - Date.now()));
      this.pending.set(requestId, { req, key, resolve, reject, timer, stream, deadline, tries });
      stream.write({ requestId, requestKey: key, request: req });
    });
  }

  /** A fresh deduplication key for a write. */
  nextWriteKey(): string {
    return this.writeKeys.next();
  }

  private async call<K extends Res["$case"]>(req: Req, expect: K): Promise<ValueOf<K>> {
    const r = await this.send(req);
    if (r.$case !== expect) throw new ZkError(ErrorCode.INTERNAL, `expected ${expect}, got ${r.$case}`);
    return r.value as unknown as ValueOf<K>;
  }

  // ---- Operations -----------------------------------------------------------------------------

  create(path: string, data: Uint8Array, opts: { ephemeral?: boolean; sequential?: boolean } = {}): Promise<CreateResponse> {
    return this.call({ $case: "create", value: { path, data, ephemeral: opts.ephemeral ?? false, sequential: opts.sequential ?? false, sessionId: 0 } }, "create");
  }
  put(path: string, data: Uint8Array, opts: { expectedVersion?: number } = {}): Promise<PutResponse> {
    return this.call({ $case: "put", value: { path, data, expectedVersion: opts.expectedVersion } }, "put");
  }
  set(path: string, data: Uint8Array, opts: { expectedVersion?: number } = {}): Promise<SetResponse> {
    return this.call({ $case: "set", value: { path, data, expectedVersion: opts.expectedVersion } }, "set");
  }
  delete(path: string, opts: { expectedVersion?: number } = {}): Promise<DeleteResponse> {
    return this.call({ $case: "delete", value: { path, expectedVersion: opts.expectedVersion } }, "delete");
  }
  get(path: string, opts: { consistency?: "linearizable" | "local" } = {}): Promise<GetResponse> {
    return this.call({ $case: "get", value: { path, consistency: opts.consistency === "local" ? Consistency.LOCAL : Consistency.LINEARIZABLE } }, "get");
  }
  list(path: string, opts: { includeStats?: boolean; consistency?: "linearizable" | "local" } = {}): Promise<ListResponse> {
    return this.call({ $case: "list", value: { path, includeStats: opts.includeStats ?? false, consistency: opts.consistency === "local" ? Consistency.LOCAL : Consistency.LINEARIZABLE } }, "list");
  }
  exists(path: string): Promise<ExistsResponse> {
    return this.call({ $case: "exists", value: { path, consistency: Consistency.LINEARIZABLE } }, "exists");
  }
  multi(ops: Op[]): Promise<MultiResponse> {
    return this.call({ $case: "multi", value: { ops } }, "multi");
  }
  sync(): Promise<SyncResponse> {
    return this.call({ $case: "sync", value: { path: "/" } }, "sync");
  }

  /**
   * Watch `path` (and its subtree when `recursive`) from `fromZxid` (0: from now). Events
   * survive reconnects without gaps or repeats. Returns a function that ends the watch.
   */
  async watch(path: string, opts: { recursive?: boolean; fromZxid?: number }, onEvent: (ev: WatchEvent) => void, onError: (e: ZkError) => void = () => undefined): Promise<() => void> {
    const key = this.nextId++;
    const w: WatchReg = { path, recursive: opts.recursive ?? false, cursor: new WatchCursor(opts.fromZxid ?? 0), onEvent, onError, streamId: 0 };
    this.watches.set(key, w);
    // While the session reconnects, the reconnect registers every watch in `watches`.
    if (this.stream === null && this.reconnecting !== null) return () => this.unwatch(key, w);
    try {
      await this.registerWatch(key, w);
    } catch (e) {
      this.watches.delete(key);
      throw e;
    }
    return () => this.unwatch(key, w);
  }

  private unwatch(key: number, w: WatchReg): void {
    if (!this.watches.delete(key) || w.streamId === 0) return;
    this.send({ $case: "unwatch", value: { watchRequestId: w.streamId } }).catch(() => undefined);
  }

  private async registerWatch(_key: number, w: WatchReg): Promise<void> {
    const id = this.nextId++;
    w.streamId = id;
    const r = await this.send({ $case: "watch", value: { path: w.path, recursive: w.recursive, fromZxid: w.cursor.register() } }, id);
    if (r.$case !== "watch") throw new ZkError(ErrorCode.INTERNAL, `expected watch, got ${r.$case}`);
    // From now on, a resume starts after what this registration has covered.
    w.cursor.registered(r.value.zxid);
  }

  /**
   * Reject at once what waits for no stream: requests held for a reconnect (with `e`) and
   * requests pausing before they go again (with the error that paused them). Without this they
   * would be rejected only when their own timers fire, after the session is gone.
   */
  private failWaiting(e: ZkError): void {
    for (const q of this.queued.splice(0)) {
      clearTimeout(q.timer);
      q.reject(e);
    }
    for (const w of this.resending) {
      clearTimeout(w.timer);
      w.reject(w.error);
    }
    this.resending.clear();
  }

  /** Close the session: its ephemeral nodes are deleted now, not at TTL expiry. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.stopKeepalive();
    try {
      // If the stream is down, close through the node the session reconnects to, so its
      // ephemeral nodes go now rather than at TTL expiry.
      if (this.stream === null && this.reconnecting !== null) await this.reconnecting;
      if (this.sessionId !== 0 && this.stream) await this.call({ $case: "closeSession", value: {} }, "closeSession");
    } finally {
      this.closed = true;
      this.stopWatchdog();
      this.failWaiting(closedWhileWaiting());
      this.setState("closed");
      this.stream?.end();
      this.detach();
    }
  }

  /** Drop the connection without closing the session (it expires after its TTL). */
  abandon(): void {
    this.closed = true;
    this.stopKeepalive();
    this.stopWatchdog();
    this.failWaiting(closedWhileWaiting());
    this.setState("closed");
    this.detach();
  }
}
