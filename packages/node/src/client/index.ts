// The typed client the CLI and users' programs use. It talks to any node (every node serves
// every request: followers forward writes to the leader), fails over to the next endpoint
// when one cannot be reached, and turns every failure into a ZkError with a stable code.
import * as grpc from "@grpc/grpc-js";
import { ClusterClient, type ElectionUpdate, type NodeStatus } from "../gen/zk/v1/cluster.js";
import {
  Consistency,
  KvClient,
  type CreateResponse,
  type DeleteResponse,
  type ExistsResponse,
  type GetResponse,
  type ListResponse,
  type MultiResponse,
  type PutResponse,
  type SetResponse,
  type SyncResponse,
} from "../gen/zk/v1/kv.js";
import { ErrorCode, type Op } from "../gen/zk/v1/types.js";
import { ERROR_METADATA_KEY, REQUEST_KEY_METADATA, ZkError } from "../net/errors.js";
import { WriteKeys } from "./write-keys.js";

export { ZkError, REQUEST_KEY_METADATA } from "../net/errors.js";
export { ErrorCode, Consistency };
export type { NodeStatus, ElectionUpdate, GetResponse, PutResponse, DeleteResponse, ListResponse, CreateResponse, SetResponse, ExistsResponse, MultiResponse, SyncResponse, Op };
export { Role } from "../gen/zk/v1/cluster.js";

export const DEFAULT_TIMEOUT_MS = 5000;
/** Pause after every endpoint failed once, before going round again. */
const RETRY_PAUSE_MS = 50;
const CLIENT_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;

export interface ClientOptions {
  readonly endpoints: readonly string[];
  /** Per-request deadline. */
  readonly timeoutMs?: number;
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
  private readonly conns: Conn[];
  /** The endpoint that answered last; requests start there. */
  private current = 0;
  private readonly writeKeys = new WriteKeys();

  constructor(opts: ClientOptions) {
    if (opts.endpoints.length === 0) throw new ZkError(ErrorCode.INVALID_ARGUMENT, "no endpoints given");
    this.endpoints = opts.endpoints;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.conns = opts.endpoints.map((endpoint) => ({ endpoint, kv: null, cluster: null }));
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
   * Run a call against the current endpoint, moving on to the next when a node cannot be
   * reached or cannot serve right now (no leader, leadership changing). Writes carry a
   * deduplication key, so sending one again — even one whose first attempt was applied
   * before the answer was lost — applies it at most once.
   */
  private async call<T>(
    kind: "read" | "write",
    f: (kv: KvClient, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: T) => void) => void,
  ): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    const md = new grpc.Metadata();
    if (kind === "write") md.set(REQUEST_KEY_METADATA, this.writeKeys.next());
    const unreachable = new Set<string>();
    let lastError: ZkError | null = null;
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      const idx = (this.current + attempt) % this.conns.length;
      const conn = this.conns[idx]!;
      try {
        const res = await new Promise<T>((resolve, reject) => f(this.kvOf(conn), md, { deadline }, (err, r) => (err ? reject(err) : resolve(r))));
        this.current = idx;
        return res;
      } catch (e) {
        const err = e as grpc.ServiceError;
        const fromServer = err.metadata?.get(ERROR_METADATA_KEY).length > 0;
        if (!fromServer && err.code === grpc.status.UNAVAILABLE) {
          unreachable.add(conn.endpoint);
          if (unreachable.size >= this.conns.length) break;
        } else {
          const z = this.toError(err, conn.endpoint);
          if (!(z.code === ErrorCode.UNAVAILABLE || z.code === ErrorCode.NOT_LEADER)) throw z;
          lastError = z;
        }
        // Once around every endpoint, pause briefly: an election takes a few hundred ms.
        if ((attempt + 1) % this.conns.length === 0) await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
      }
    }
    if (lastError) throw lastError;
    if (unreachable.size > 0) throw new ZkError(ErrorCode.UNAVAILABLE, `no zk node reachable at ${[...unreachable].join(", ")}; is the cluster up? (zk-cli cluster status)`);
    throw new ZkError(ErrorCode.TIMEOUT, `no answer within ${this.timeoutMs} ms (--timeout); a write may still take effect`);
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
      return 4;
    case ErrorCode.UNAVAILABLE:
    case ErrorCode.NOT_LEADER:
    case ErrorCode.TIMEOUT:
    case ErrorCode.OVERLOADED:
      return 5;
    case ErrorCode.INVALID_PATH:
    case ErrorCode.INVALID_ARGUMENT:
      return 2;
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
