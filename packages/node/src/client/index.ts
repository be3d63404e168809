// The typed client the CLI and users' programs use. It talks to any node (every node serves
// every request: followers forward writes to the leader), fails over to the next endpoint
// when one cannot be reached, and turns every failure into a ZkError with a stable code.
import * as grpc from "@grpc/grpc-js";
import {
  ClusterClient,
  type ElectionUpdate,
  type LeaderTransferResponse,
  type Member,
  type MemberChangeResponse,
  type MembersResponse,
  type NodeStatus,
  type SnapshotChunk,
} from "../gen/zk/v1/cluster.js";
import {
  Consistency,
  KvClient,
  type CreateResponse,
  type DeleteResponse,
  type ExistsResponse,
  type GetAclResponse,
  type GetResponse,
  type ListResponse,
  type MultiResponse,
  type PutResponse,
  type SetAclResponse,
  type SetResponse,
  type SyncResponse,
} from "../gen/zk/v1/kv.js";
import { ErrorCode, type Acl, type Op } from "../gen/zk/v1/types.js";
import { ERROR_METADATA_KEY, REQUEST_KEY_METADATA, ZkError } from "../net/errors.js";
import { authMetadata } from "./auth-metadata.js";
import { isNoLeader, isRetryable, isTransportReset, writeMayHaveApplied } from "./retry.js";
import { WriteKeys } from "./write-keys.js";

export { ZkError, REQUEST_KEY_METADATA } from "../net/errors.js";
export { ErrorCode, Consistency };
export type { Acl, GetAclResponse, SetAclResponse };
export { parseAclText, aclText, permsText, digestOf } from "../tree/acl.js";
export type { NodeStatus, ElectionUpdate, GetResponse, PutResponse, DeleteResponse, ListResponse, CreateResponse, SetResponse, ExistsResponse, MultiResponse, SyncResponse, Op };
export { Role } from "../gen/zk/v1/cluster.js";
export type { SnapshotChunk, SnapshotDone } from "../gen/zk/v1/cluster.js";
export type { Member, MembersResponse, MemberChangeResponse, LeaderTransferResponse };

export const DEFAULT_TIMEOUT_MS = 5000;
/** Pause after every endpoint failed once, before going round again. */
const RETRY_PAUSE_MS = 50;
/** The longest one attempt (one member) gets before the next member is tried. */
export const ATTEMPT_MS_MAX = 1000;
/** The shortest one attempt gets (unless the whole timeout is shorter). */
const ATTEMPT_MS_MIN = 100;
/** A read not answered within this (at most attemptMs) is also sent to the next member. */
const READ_HEDGE_MS = 250;
/**
 * A write is resent (with its key) for at most this long: well inside the cluster's
 * deduplication window (REQUEST_IDS_KEPT_MS, 10 minutes, in src/tree/tree.ts), so that a
 * resend is never applied as a new write.
 */
const WRITE_RESEND_MS_MAX = 5 * 60_000;
/** Full rounds in which no member knew a leader before a call fails as "no leader". */
const NO_LEADER_ROUNDS_MAX = 2;

/** How one attempt on one member ended, for the no-quorum message. */
type AttemptOutcome = "refused" | "unreachable" | "cannot-persist" | "no-leader" | "answered";

/** The outcome per member of the latest complete round of attempts. */
class RoundTally {
  private current: (AttemptOutcome | undefined)[];
  private seen = 0;
  lastComplete: AttemptOutcome[] | null = null;

  constructor(private readonly n: number) {
    this.current = new Array<AttemptOutcome | undefined>(n);
  }

  /** Record an outcome; true when this completes a round (every member tried once). */
  record(idx: number, o: AttemptOutcome): boolean {
    if (this.current[idx] === undefined) this.seen++;
    this.current[idx] = o;
    if (this.seen < this.n) return false;
    this.lastComplete = this.current as AttemptOutcome[];
    this.current = new Array<AttemptOutcome | undefined>(this.n);
    this.seen = 0;
    return true;
  }
}

/** "no leader among a, b, c (b answers; a, c unreachable)". */
function noLeaderError(endpoints: readonly string[], outcomes: readonly AttemptOutcome[], tail: string): ZkError {
  const answer = endpoints.filter((_, i) => outcomes[i] === "no-leader");
  const silent = endpoints.filter((_, i) => outcomes[i] === "unreachable" || outcomes[i] === "refused");
  const parts = [answer.length > 0 ? `${answer.join(", ")} answer${answer.length === 1 ? "s" : ""}` : "", silent.length > 0 ? `${silent.join(", ")} unreachable` : ""].filter(Boolean);
  return new ZkError(ErrorCode.UNAVAILABLE, `no leader among ${endpoints.join(", ")} (${parts.join("; ")}); is a majority of the cluster up? (zk-cli cluster status)${tail}`);
}
const CLIENT_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;

export interface ClientOptions {
  readonly endpoints: readonly string[];
  /** Per-request deadline: the whole call, every attempt and retry included. */
  readonly timeoutMs?: number;
  /** Deadline of one attempt on one member [default: a third of timeoutMs, 100..1000 ms]. */
  readonly attemptMs?: number;
  /**
   * Credentials, each "USER:PASSWORD": every request is made as these digest users (ZooKeeper's
   * `addauth digest`), sent in the zk-auth-bin metadata; the cluster checks znode ACLs with them.
   */
  readonly auth?: readonly string[];
}


export type ReadConsistency = "linearizable" | "local";

interface Conn {
  readonly endpoint: string;
  kv: KvClient | null;
  cluster: ClusterClient | null;
}

export class ZkClient {
  readonly endpoints: readonly string[];
  readonly timeoutMs: number;
  readonly attemptMs: number;
  private readonly hedgeMs: number;
  private readonly conns: Conn[];
  /** The endpoint that answered last; requests start there. */
  private current = 0;
  private readonly writeKeys = new WriteKeys();
  /** The credentials every request is made with (ClientOptions.auth). */
  readonly credentials: readonly string[];

  constructor(opts: ClientOptions) {
    if (opts.endpoints.length === 0) throw new ZkError(ErrorCode.INVALID_ARGUMENT, "no endpoints given");
    this.endpoints = opts.endpoints;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.attemptMs = Math.min(this.timeoutMs, opts.attemptMs ?? Math.max(ATTEMPT_MS_MIN, Math.min(ATTEMPT_MS_MAX, Math.floor(this.timeoutMs / 3))));
    this.hedgeMs = Math.min(READ_HEDGE_MS, this.attemptMs);
    this.conns = opts.endpoints.map((endpoint) => ({ endpoint, kv: null, cluster: null }));
    this.credentials = opts.auth ?? [];
  }

  /** The endpoint that answered the latest call (where the next one starts). */
  get lastEndpoint(): string {
    return this.conns[this.current]!.endpoint;
  }

  put(path: string, data: Uint8Array, opts: { expectedVersion?: number } = {}): Promise<PutResponse> {
    return this.call("write", (kv, md, o, cb) => kv.put({ path, data, expectedVersion: opts.expectedVersion }, md, o, cb));
  }

  create(path: string, data: Uint8Array, opts: { ephemeral?: boolean; sequential?: boolean; sessionId?: number } = {}): Promise<CreateResponse> {
    return this.call("write", (kv, md, o, cb) =>
      kv.create({ path, data, ephemeral: opts.ephemeral ?? false, sequential: opts.sequential ?? false, sessionId: opts.sessionId ?? 0 }, md, o, cb),
    );
  }

  set(path: string, data: Uint8Array, opts: { expectedVersion?: number } = {}): Promise<SetResponse> {
    return this.call("write", (kv, md, o, cb) => kv.set({ path, data, expectedVersion: opts.expectedVersion }, md, o, cb));
  }

  delete(path: string, opts: { expectedVersion?: number } = {}): Promise<DeleteResponse> {
    return this.call("write", (kv, md, o, cb) => kv.delete({ path, expectedVersion: opts.expectedVersion }, md, o, cb));
  }

  multi(ops: Op[]): Promise<MultiResponse> {
    return this.call("write", (kv, md, o, cb) => kv.multi({ ops }, md, o, cb));
  }

  get(path: string, opts: { consistency?: ReadConsistency } = {}): Promise<GetResponse> {
    const consistency = opts.consistency === "local" ? Consistency.LOCAL : Consistency.LINEARIZABLE;
    return this.call("read", (kv, md, o, cb) => kv.get({ path, consistency }, md, o, cb));
  }

  list(path: string, opts: { consistency?: ReadConsistency; includeStats?: boolean } = {}): Promise<ListResponse> {
    const consistency = opts.consistency === "local" ? Consistency.LOCAL : Consistency.LINEARIZABLE;
    return this.call("read", (kv, md, o, cb) => kv.list({ path, consistency, includeStats: opts.includeStats ?? false }, md, o, cb));
  }

  exists(path: string, opts: { consistency?: ReadConsistency } = {}): Promise<ExistsResponse> {
    const consistency = opts.consistency === "local" ? Consistency.LOCAL : Consistency.LINEARIZABLE;
    return this.call("read", (kv, md, o, cb) => kv.exists({ path, consistency }, md, o, cb));
  }

  /** The node's ACL and its version (digest hashes hidden unless these credentials have ADMIN on it). */
  getAcl(path: string, opts: { consistency?: ReadConsistency } = {}): Promise<GetAclResponse> {
    const consistency = opts.consistency === "local" ? Consistency.LOCAL : Consistency.LINEARIZABLE;
    return this.call("read", (kv, md, o, cb) => kv.getAcl({ path, consistency }, md, o, cb));
  }

  /** Replace the node's ACL; `expectedAversion` (the ACL version) makes it conditional. */
  setAcl(path: string, acl: Acl[], opts: { expectedAversion?: number } = {}): Promise<SetAclResponse> {
    return this.call("write", (kv, md, o, cb) => kv.setAcl({ path, acl, expectedAversion: opts.expectedAversion }, md, o, cb));
  }

  sync(path = "/"): Promise<SyncResponse> {
    return this.call("read", (kv, md, o, cb) => kv.sync({ path }, md, o, cb));
  }

  /** One node's status; rejects if that node cannot be reached. */
  status(endpoint: string): Promise<NodeStatus> {
    const conn = this.conn(endpoint);
    return new Promise((resolve, reject) => {
      this.clusterOf(conn).status({}, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, res) =>
        err ? reject(this.toError(err, endpoint)) : resolve(res),
      );
    });
  }

  /** Every endpoint's status (or why it could not be had), in endpoint order. */
  statusAll(): Promise<{ endpoint: string; status: NodeStatus | null; error: ZkError | null }[]> {
    return Promise.all(
      this.endpoints.map((endpoint) =>
        this.status(endpoint).then(
          (status) => ({ endpoint, status, error: null }),
          (error: ZkError) => ({ endpoint, status: null, error }),
        ),
      ),
    );
  }

  /** A node's stream of election events and status updates. */
  watchElections(endpoint: string): grpc.ClientReadableStream<ElectionUpdate> {
    return this.clusterOf(this.conn(endpoint)).watchElections({});
  }

  stepDown(endpoint: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.clusterOf(this.conn(endpoint)).stepDown({}, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (err) =>
        err ? reject(this.toError(err, endpoint)) : resolve(),
      );
    });
  }

  /**
   * A snapshot of the state machine through `endpoint` (Cluster.SaveSnapshot), its chunks in
   * order; the last one has `done`. The node first passes a linearizable read barrier. A
   * transfer that goes `idleMs` (default: the client's timeout) without a chunk is cancelled
   * and fails as TIMEOUT: the deadline grows with the snapshot instead of being fixed.
   */
  async *saveSnapshot(endpoint: string, opts: { readonly chunkBytes?: number; readonly idleMs?: number } = {}): AsyncGenerator<SnapshotChunk, void, void> {
    const idleMs = opts.idleMs ?? this.timeoutMs;
    const stream = this.clusterOf(this.conn(endpoint)).saveSnapshot({ chunkBytes: opts.chunkBytes ?? 0 });
    const queue: SnapshotChunk[] = [];
    let failed: ZkError | null = null;
    let ended = false;
    let wake: (() => void) | null = null;
    const poke = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    stream.on("data", (c: SnapshotChunk) => {
      queue.push(c);
      // Bounded: at most a few chunks wait here while the consumer writes (gRPC's window
      // holds the rest at the sender).
      if (queue.length >= 4) stream.pause();
      poke();
    });
    stream.on("error", (e: grpc.ServiceError) => {
      failed ??= this.toError(e, endpoint);
      poke();
    });
    stream.on("end", () => {
      ended = true;
      poke();
    });
    try {
      for (;;) {
        if (queue.length > 0) {
          const c = queue.shift()!;
          if (queue.length < 4 && stream.isPaused()) stream.resume();
          yield c;
          continue;
        }
        if (failed) throw failed;
        if (ended) return;
        let timer: NodeJS.Timeout | undefined;
        const idle = await new Promise<boolean>((resolve) => {
          wake = () => resolve(false);
          timer = setTimeout(() => resolve(true), idleMs);
        });
        clearTimeout(timer);
        if (idle) throw new ZkError(ErrorCode.TIMEOUT, `${endpoint} sent no snapshot data for ${idleMs} ms (--timeout); try again, or another member`);
      }
    } finally {
      if (!ended) stream.cancel();
    }
  }

  // ---- Membership (served by the leader) ------------------------------------------------------

  /**
   * The membership, from the leader when it can be reached (only the leader knows each
   * member's lag and whether it is caught up: `hasProgress`), else from any member. `from` is
   * the endpoint that answered.
   */
  async memberList(): Promise<MembersResponse & { from: string }> {
    const ask = (c: ClusterClient, md: grpc.Metadata, o: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: MembersResponse) => void) => c.members({}, md, o, cb);
    const any = await this.adminCall("read", ask);
    if (any.value.members.some((m) => m.hasProgress) || any.value.leaderId === "") return { ...any.value, from: any.endpoint };
    const leader = any.value.members.find((m) => m.id === any.value.leaderId)?.address;
    if (leader === undefined || leader === any.endpoint) return { ...any.value, from: any.endpoint };
    try {
      const r = await this.adminCall("read", ask, [leader]);
      return { ...r.value, from: r.endpoint };
    } catch {
      return { ...any.value, from: any.endpoint }; // the leader went away meanwhile: a member's view
    }
  }

  /** Add a member (a learner unless `learner` is false); answered once the change is applied. */
  async memberAdd(id: string, address: string, opts: { learner: boolean }): Promise<MemberChangeResponse> {
    return (await this.adminCall<MemberChangeResponse>("change", (c, md, o, cb) => c.memberAdd({ id, address, learner: opts.learner }, md, o, cb))).value;
  }

  /** Make a learner a voter; refused (MEMBERSHIP_CONFLICT) unless it is caught up. */
  async memberPromote(id: string): Promise<MemberChangeResponse> {
    return (await this.adminCall<MemberChangeResponse>("change", (c, md, o, cb) => c.memberPromote({ id }, md, o, cb))).value;
  }

  /** Remove a member; refused (MEMBERSHIP_CONFLICT) when the live voters left could form no quorum, unless `force`. */
  async memberRemove(id: string, opts: { force?: boolean } = {}): Promise<MemberChangeResponse> {
    return (await this.adminCall<MemberChangeResponse>("change", (c, md, o, cb) => c.memberRemove({ id, force: opts.force ?? false }, md, o, cb))).value;
  }

  /** Hand leadership to the voter `id`; answered once it leads. */
  async leaderTransfer(id: string): Promise<LeaderTransferResponse> {
    return (await this.adminCall<LeaderTransferResponse>("change", (c, md, o, cb) => c.leaderTransfer({ id }, md, o, cb))).value;
  }

  close(): void {
    for (const c of this.conns) {
      c.kv?.close();
      c.cluster?.close();
      c.kv = null;
      c.cluster = null;
    }
  }

  // ---- Plumbing --------------------------------------------------------------------------------

  /**
   * Run a call, failing over between endpoints. Each attempt has its own deadline (attemptMs,
   * well under the overall timeout): a member that does not answer in time — hung,
   * SIGSTOPped, partitioned — is left behind and the next one tried. A read not answered
   * within the hedge delay is also sent to the next member (a read is safe to send twice);
   * the first answer wins. A write goes to one member at a time; one whose outcome is unknown
   * (the attempt timed out, the connection broke, the leader changed under it) is sent again
   * to the next member with the SAME deduplication key, so the cluster applies it at most
   * once, until the overall deadline. Only when some attempt may have reached the cluster
   * does the final error say the write "may still take effect".
   */
  private call<T>(
    kind: "read" | "write",
    f: (kv: KvClient, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: T) => void) => void,
  ): Promise<T> {
    const start = Date.now();
    const deadline = start + this.timeoutMs;
    const md = authMetadata(new grpc.Metadata(), this.credentials);
    if (kind === "write") md.set(REQUEST_KEY_METADATA, this.writeKeys.next());
    const n = this.conns.length;
    const first = this.current;
    const round = new RoundTally(n);
    let roundsWithoutLeader = 0;
    let maybeApplied = false;
    let lastError: ZkError | null = null;
    /** A member's "cannot persist" refusal: the answer if no other member takes the request. */
    let cannotPersist: ZkError | null = null;
    let launched = 0;
    let inflight = 0;
    let done = false;
    let pauseTimer: NodeJS.Timeout | null = null;
    return new Promise<T>((resolve, reject) => {
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        if (pauseTimer) clearTimeout(pauseTimer);
        settle();
      };
      const giveUp = () =>
        finish(() => {
          const tail = kind !== "write" ? "" : maybeApplied ? "; the write may still take effect" : "; the write was not applied";
          if (cannotPersist !== null) return reject(cannotPersist);
          if (roundsWithoutLeader > 0 && round.lastComplete !== null) return reject(noLeaderError(this.endpoints, round.lastComplete, tail));
          if (lastError === null) {
            const all = this.endpoints.join(", ");
            if (!maybeApplied) return reject(new ZkError(ErrorCode.UNAVAILABLE, `no zk node reachable at ${all}; is the cluster up? (zk-cli cluster status)`));
            return reject(new ZkError(ErrorCode.TIMEOUT, `no zk node answered within ${this.timeoutMs} ms (--timeout) at ${all}${tail}`));
          }
          if (kind !== "write") return reject(lastError);
          reject(new ZkError(lastError.code, `${lastError.message.replace(/;\s*(it|a write|the write) may still take effect$/, "")}${tail}`));
        });
      const launch = () => {
        pauseTimer = null;
        if (done) return;
        const now = Date.now();
        if (now >= deadline || (kind === "write" && launched > 0 && now - start >= WRITE_RESEND_MS_MAX)) {
          if (inflight === 0) giveUp();
          return;
        }
        const idx = (first + launched++) % n;
        const conn = this.conns[idx]!;
        inflight++;
        const attemptDeadline = Math.min(deadline, now + this.attemptMs);
        // Reads: a member slow to answer gets company (never more at once than there are members).
        const hedge = kind === "read" && inflight < n ? setTimeout(launch, Math.min(this.hedgeMs, attemptDeadline - now)) : null;
        let settled = false;
        f(this.kvOf(conn), md, { deadline: attemptDeadline }, (err, res) => {
          if (settled) return;
          settled = true;
          inflight--;
          if (hedge) clearTimeout(hedge);
          if (done) return;
          if (!err) {
            this.current = idx;
            finish(() => resolve(res));
            return;
          }
          const fromServer = err.metadata?.get(ERROR_METADATA_KEY).length > 0;
          let outcome: AttemptOutcome;
          if (!fromServer && (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED || err.code === grpc.status.CANCELLED || isTransportReset(err))) {
            const neverSent = err.code === grpc.status.UNAVAILABLE && /ECONNREFUSED|No connection established|Name resolution failed/i.test(err.details ?? "");
            if (!neverSent) maybeApplied = true;
            outcome = neverSent ? "refused" : "unreachable";
          } else {
            const z = this.toError(err, conn.endpoint);
            if (z.code === ErrorCode.CANNOT_PERSIST) {
              // This member cannot write to its disk: another one may take the request.
              cannotPersist = z;
              if (round.record(idx, "cannot-persist") && round.lastComplete!.every((o) => o !== "answered" && o !== "no-leader")) {
                // Nobody else could take it this round either: the member's own answer, now.
                finish(() => reject(z));
                return;
              }
              if (inflight > 0 && kind === "read") return;
              launch();
              return;
            }
            if (!isRetryable(z)) {
              finish(() => reject(z));
              return;
            }
            if (kind === "write" && writeMayHaveApplied(z)) maybeApplied = true;
            lastError = z;
            outcome = isNoLeader(z) ? "no-leader" : "answered";
          }
          if (round.record(idx, outcome)) {
            roundsWithoutLeader = round.lastComplete!.every((o) => o !== "answered") && round.lastComplete!.some((o) => o === "no-leader") ? roundsWithoutLeader + 1 : 0;
            // No member knows a leader, twice in a row: the cluster has no quorum; say so now
            // rather than at the overall deadline.
            if (roundsWithoutLeader >= NO_LEADER_ROUNDS_MAX) return giveUp();
            // Nothing listens anywhere (every connection refused): no point in waiting.
            if (round.lastComplete!.every((o) => o === "refused")) return giveUp();
          }
          if (inflight > 0 && kind === "read") return; // an attempt still running will launch the next
          // Once around every endpoint, pause briefly: an election takes a few hundred ms.
          if (launched % n === 0) pauseTimer = setTimeout(launch, Math.max(0, Math.min(RETRY_PAUSE_MS, deadline - Date.now())));
          else launch();
        });
      };
      launch();
    });
  }

  /**
   * A Cluster call that the leader serves: tried on each endpoint in turn (from the one that
   * answered last), going straight to the leader a member names in NOT_LEADER. A "read" gets
   * attemptMs per member; a "change" gets the whole remaining deadline on the member it
   * reaches (it answers once the change is applied) and is sent again only where it was
   * certainly not proposed (NOT_LEADER, no leader yet, connection refused): a change whose
   * outcome is unknown fails with a message that says so.
   */
  private adminCall<T>(
    kind: "read" | "change",
    f: (c: ClusterClient, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: T) => void) => void,
    only?: readonly string[],
  ): Promise<{ value: T; endpoint: string }> {
    const deadline = Date.now() + this.timeoutMs;
    const order = only ?? [...this.endpoints.slice(this.current), ...this.endpoints.slice(0, this.current)];
    const queue: string[] = [...order];
    /** The last answer a member gave (not a connection failure), for the final error. */
    let lastError: ZkError | null = null;
    const attempt = (endpoint: string): Promise<T> =>
      new Promise((resolve, reject) => {
        const attemptDeadline = kind === "change" ? deadline : Math.min(deadline, Date.now() + this.attemptMs);
        f(this.clusterOf(this.conn(endpoint)), new grpc.Metadata(), { deadline: attemptDeadline }, (err, res) => (err ? reject(err) : resolve(res)));
      });
    const run = async (): Promise<{ value: T; endpoint: string }> => {
      while (Date.now() < deadline) {
        if (queue.length === 0) {
          // Once round every member: an election takes a few hundred ms.
          queue.push(...order);
          await new Promise((r) => setTimeout(r, Math.max(0, Math.min(RETRY_PAUSE_MS * 4, deadline - Date.now()))));
          continue;
        }
        const endpoint = queue.shift()!;
        try {
          const value = await attempt(endpoint);
          const i = this.endpoints.indexOf(endpoint);
          if (i >= 0) this.current = i;
          return { value, endpoint };
        } catch (e) {
          const err = e as grpc.ServiceError;
          const fromServer = err.metadata?.get(ERROR_METADATA_KEY).length > 0;
          if (!fromServer) {
            const neverSent = err.code === grpc.status.UNAVAILABLE && /ECONNREFUSED|No connection established|Name resolution failed/i.test(err.details ?? "");
            if (kind === "change" && !neverSent) {
              throw new ZkError(
                err.code === grpc.status.DEADLINE_EXCEEDED ? ErrorCode.TIMEOUT : ErrorCode.UNAVAILABLE,
                `${endpoint} did not answer${err.code === grpc.status.DEADLINE_EXCEEDED ? ` within ${this.timeoutMs} ms (--timeout)` : ` (${err.details || err.message})`}; the change may still take effect: check with \`zk-cli member list\``,
              );
            }
            if (kind === "read" && err.code === grpc.status.DEADLINE_EXCEEDED) lastError = this.toError(err, endpoint);
            continue;
          }
          const z = ZkError.fromServiceError(err);
          if (z.code === ErrorCode.NOT_LEADER || isNoLeader(z)) {
            lastError = z;
            const hint = z.extra.leaderHint;
            // The leader's address first (even one not among the endpoints), then the rest.
            if (hint && queue[0] !== hint) queue.unshift(hint);
            continue;
          }
          if (kind === "read" && isRetryable(z)) {
            lastError = z;
            continue;
          }
          throw z;
        }
      }
      if (lastError && lastError.code !== ErrorCode.NOT_LEADER) throw lastError;
      const what = lastError ? "no leader reachable" : "no zk node reachable";
      throw new ZkError(ErrorCode.UNAVAILABLE, `${what} at ${order.join(", ")} within ${this.timeoutMs} ms (--timeout); is a majority of the cluster up? (zk-cli cluster status)`);
    };
    return run();
  }

  private conn(endpoint: string): Conn {
    let c = this.conns.find((x) => x.endpoint === endpoint);
    if (!c) {
      c = { endpoint, kv: null, cluster: null };
      this.conns.push(c);
    }
    return c;
  }

  private kvOf(c: Conn): KvClient {
    c.kv ??= new KvClient(c.endpoint, grpc.credentials.createInsecure(), channelOptions());
    return c.kv;
  }

  private clusterOf(c: Conn): ClusterClient {
    c.cluster ??= new ClusterClient(c.endpoint, grpc.credentials.createInsecure(), channelOptions());
    return c.cluster;
  }

  private toError(err: grpc.ServiceError, endpoint: string): ZkError {
    const z = ZkError.fromServiceError(err);
    if (!err.metadata?.get(ERROR_METADATA_KEY).length && err.code === grpc.status.UNAVAILABLE) {
      return new ZkError(ErrorCode.UNAVAILABLE, `no zk node reachable at ${endpoint}; is the cluster up? (zk-cli cluster status)`);
    }
    if (err.code === grpc.status.DEADLINE_EXCEEDED && !err.metadata?.get(ERROR_METADATA_KEY).length) {
      return new ZkError(ErrorCode.TIMEOUT, `${endpoint} did not answer within ${this.timeoutMs} ms (--timeout); a write may still take effect`);
    }
    return z;
  }
}

function channelOptions(): grpc.ChannelOptions {
  return {
    "grpc.max_receive_message_length": CLIENT_MESSAGE_BYTES_MAX,
    "grpc.max_send_message_length": CLIENT_MESSAGE_BYTES_MAX,
    // Fail fast when nothing listens, so the next endpoint is tried at once.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
  };
}

/** The CLI's exit code for an error (DESIGN.md): 3 not found, 4 conflict, 5 unavailable, 2 bad input, 1 otherwise. */
export function exitCodeFor(e: ZkError): number {
  switch (e.code) {
    case ErrorCode.NO_NODE:
      return 3;
    case ErrorCode.NODE_EXISTS:
    case ErrorCode.BAD_VERSION:
    case ErrorCode.NOT_EMPTY:
    case ErrorCode.MEMBERSHIP_CONFLICT:
      return 4;
    case ErrorCode.UNAVAILABLE:
    case ErrorCode.NOT_LEADER:
    case ErrorCode.TIMEOUT:
    case ErrorCode.OVERLOADED:
      return 5;
    case ErrorCode.INVALID_PATH:
    case ErrorCode.INVALID_ARGUMENT:
    case ErrorCode.INVALID_ACL:
      return 2;
    case ErrorCode.NO_AUTH:
      return 8;
    default:
      return 1;
  }
}

/** Stable lower-case names for ErrorCode, for JSON output. */
export function errorCodeName(code: ErrorCode): string {
  return (ErrorCode[code] ?? "UNKNOWN").toLowerCase();
}

export { ZkSession, SUSPEND_TTL_FRACTION, type SessionOptions, type SessionState } from "./session.js";
export type { WatchEvent } from "../gen/zk/v1/kv.js";
export { EventType } from "../gen/zk/v1/kv.js";
