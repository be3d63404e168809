// Node-to-node links on grpc-js. Protocol messages travel on one long-lived client stream
// per directed link; delivery is best-effort (Paxos tolerates loss, duplication and
// reordering), so a broken stream is reopened with backoff and nothing is resent. Client
// writes a follower takes travel to the leader on a long-lived Forward stream.
// Every stream opens with the sender's cluster id and a hash of the member list the cluster
// was created with (its genesis) in its metadata: two clusters made under one id with other
// member lists would otherwise count each other's votes (split brain), so the receiver
// refuses. Membership changes later go through the log (their quorums come from it), so the
// genesis never changes; a node that does not know it (added with --join, or rebuilt) sends
// none and is let in on its cluster id.
import { createHash } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import {
  ForwardRequest,
  PeerClient,
  type ForwardBatchRequest,
  type ForwardBatchResponse,
  type ForwardResponse,
  type PeerEnvelope,
  type InstallSnapshotChunk,
  type InstallSnapshotProgress,
} from "../gen/zk/v1/peer.js";
import type { Command, Op } from "../gen/zk/v1/types.js";
import { TurnBatch } from "./turn-batch.js";
import type { Message, NodeId } from "../paxos/types.js";
import { messageToWire } from "./convert.js";
import { NOT_APPLIED, ZkError } from "./errors.js";
import { ErrorCode } from "../gen/zk/v1/types.js";
import type { Logger } from "../log.js";

const BACKOFF_MIN_MS = 20;
const BACKOFF_MAX_MS = 1000;
/** A stream that lived this long is healthy: the next failure starts the backoff afresh. */
const HEALTHY_STREAM_MS = 2000;
/** Forwarded requests waiting on one leader before new ones are refused. */
const FORWARD_PENDING_MAX = 16384;
export const PEER_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;
/** Forwarded requests (or their answers) per ForwardBatch message at most. */
export const FORWARD_BATCH_ITEMS_MAX = 256;
/** Data bytes per ForwardBatch request message at most (a request above it alone goes alone). */
export const FORWARD_BATCH_BYTES_MAX = 4 * 1024 * 1024;

/** Stream metadata: the sender's cluster id, node id, member-list hash and member list. */
export const PEER_CLUSTER_METADATA = "zk-cluster-id";
export const PEER_FROM_METADATA = "zk-from";
export const PEER_MEMBERS_HASH_METADATA = "zk-members-hash";
export const PEER_MEMBERS_METADATA = "zk-members";

/** The member list in one canonical form: "id=address" sorted by id, comma-separated. */
export function membersSpec(members: ReadonlyMap<NodeId, string>): string {
  return [...members].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, address]) => `${id}=${address}`).join(",");
}

export function membersHash(members: ReadonlyMap<NodeId, string>): string {
  return createHash("sha256").update(membersSpec(members)).digest("hex").slice(0, 32);
}

/**
 * "n4 has members [n1..n5], we have [n1..n3]": ids when they differ (n1..nK for a run),
 * else the entries whose addresses differ.
 */
export function describeMemberMismatch(peer: NodeId, theirSpec: string, ours: ReadonlyMap<NodeId, string>): string {
  const theirs = new Map(theirSpec.split(",").filter(Boolean).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)] as const));
  const ids = (m: ReadonlyMap<string, string>) => [...m.keys()].sort();
  const sameIds = ids(theirs).join(",") === ids(ours).join(",");
  const show = (m: ReadonlyMap<string, string>, other: ReadonlyMap<string, string>) =>
    sameIds ? [...m].filter(([id, a]) => other.get(id) !== a).map(([id, a]) => `${id}=${a}`).join(",") : compactIds(ids(m));
  return `${peer} has members [${show(theirs, ours)}], we have [${show(ours, theirs)}]`;
}

function compactIds(ids: readonly string[]): string {
  const m = ids.map((id) => /^([A-Za-z_.-]*)(\d+)$/.exec(id));
  const prefix = m[0]?.[1];
  const nums = m.map((x) => (x && x[1] === prefix ? Number(x[2]) : NaN)).sort((a, b) => a - b);
  const run = ids.length > 2 && nums.every((n, i) => Number.isInteger(n) && n === nums[0]! + i);
  return run ? `${prefix}${nums[0]}..${prefix}${nums[nums.length - 1]}` : ids.join(",");
}

/**
 * What to do about a peer of another cluster. A restart with its --cluster-id would not do:
 * a store refuses to open under another cluster id.
 */
export const OTHER_CLUSTER_ADVICE = "one side's --peers gives an address of another cluster's node: correct that address";
/**
 * What to do about a peer whose store was created with another member list (the genesis
 * lists compared are the stores' own, so a restart with other --peers changes neither).
 */
export const OTHER_MEMBERS_ADVICE =
  "the two stores were created with different member lists (two clusters made with one --cluster-id), and restarting with other --peers changes neither: " +
  "stop the node that is not this cluster's, move its zk.db, zk.db-wal and zk.db-shm aside, and start it with --rejoin and this cluster's --peers (or, if it is not one of this cluster's members, add it with `zk-cli member add` and start it with --join)";

/**
 * Check a peer stream's opening metadata against ours; null when it may proceed, else the
 * refusal to send back, the alarm line (from our side) and what to do. A peer that sends no
 * member hash (an older zk-node) is let in; its envelopes' cluster id is still checked.
 */
export function checkPeerIdentity(md: grpc.Metadata, clusterId: string, members: ReadonlyMap<NodeId, string> | null): { refusal: ZkError; alarm: string; from: string; advice: string } | null {
  const str = (k: string) => {
    const v = md.get(k)[0];
    return typeof v === "string" ? v : v instanceof Buffer ? v.toString() : "";
  };
  const from = str(PEER_FROM_METADATA) || "a peer";
  const theirCluster = str(PEER_CLUSTER_METADATA);
  if (theirCluster !== "" && theirCluster !== clusterId) {
    const alarm = `${from} belongs to cluster ${theirCluster}, we are ${clusterId}`;
    return { refusal: new ZkError(ErrorCode.CLUSTER_MISMATCH, `this node belongs to cluster ${clusterId}, not ${theirCluster}; ${OTHER_CLUSTER_ADVICE}`), alarm, from, advice: OTHER_CLUSTER_ADVICE };
  }
  const hash = str(PEER_MEMBERS_HASH_METADATA);
  if (members === null || hash === "" || hash === membersHash(members)) return null;
  const alarm = describeMemberMismatch(from, str(PEER_MEMBERS_METADATA), members);
  return { refusal: new ZkError(ErrorCode.CLUSTER_MISMATCH, `member lists differ: ${alarm}; ${OTHER_MEMBERS_ADVICE}`), alarm, from, advice: OTHER_MEMBERS_ADVICE };
}

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": PEER_MESSAGE_BYTES_MAX,
  "grpc.max_send_message_length": PEER_MESSAGE_BYTES_MAX,
  "grpc.initial_reconnect_backoff_ms": BACKOFF_MIN_MS * 5,
  "grpc.max_reconnect_backoff_ms": BACKOFF_MAX_MS,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
};

interface Link {
  readonly peer: NodeId;
  readonly address: string;
  readonly client: PeerClient;
  stream: grpc.ClientWritableStream<PeerEnvelope> | null;
  writable: boolean;
  openedAt: number;
  retryAt: number;
  backoffMs: number;
  forward: ForwardStream | null;
  /** The peer answered ForwardBatch with UNIMPLEMENTED (an older node): forward one request per message. */
  forwardUnbatched: boolean;
}

interface PendingForward {
  readonly req: ForwardRequest;
  readonly resolve: (r: ForwardResponse) => void;
  readonly reject: (e: Error) => void;
}

interface ForwardStream {
  /** Writes one request: into the turn's batch (ForwardBatch) or as its own message (Forward). */
  readonly write: (req: ForwardRequest) => void;
  readonly cancel: () => void;
  readonly pending: Map<number, PendingForward>;
}

export class PeerTransport {
  private readonly links = new Map<NodeId, Link>();
  private nextForwardId = 1;
  private closed = false;
  /** Messages dropped because a link was down or its buffer full (the protocol resends). */
  dropped = 0;
  /** Every stream's opening metadata: who we are (checkPeerIdentity on the other side). */
  private readonly metadata: grpc.Metadata;
  private readonly ourMembers: ReadonlyMap<NodeId, string>;

  constructor(
    private readonly self: NodeId,
    private readonly clusterId: string,
    peers: ReadonlyMap<NodeId, string>,
    private readonly log: Logger,
    /** A peer refused us (another cluster or member list): raise the alarm, by key; true when new. */
    private readonly onRefused: (key: string, alarm: string) => boolean = () => true,
    /** The cluster's first member list, when this node knows it (null: send none). */
    genesis: ReadonlyMap<NodeId, string> | null = peers,
  ) {
    this.ourMembers = genesis ?? peers;
    this.metadata = new grpc.Metadata();
    this.metadata.set(PEER_CLUSTER_METADATA, clusterId);
    this.metadata.set(PEER_FROM_METADATA, self);
    if (genesis !== null) {
      this.metadata.set(PEER_MEMBERS_HASH_METADATA, membersHash(genesis));
      this.metadata.set(PEER_MEMBERS_METADATA, membersSpec(genesis));
    }
    this.setPeers(peers);
  }

  /** Follow the address book: links to new members (or new addresses), none to removed ones. */
  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    for (const [peer, link] of [...this.links]) {
      if (peers.get(peer) === link.address) continue;
      link.stream?.end();
      link.forward?.cancel();
      link.client.close();
      this.links.delete(peer);
    }
    for (const [peer, address] of peers) {
      if (peer === this.self || this.links.has(peer)) continue;
      const client = new PeerClient(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      this.links.set(peer, { peer, address, client, stream: null, writable: false, openedAt: 0, retryAt: 0, backoffMs: BACKOFF_MIN_MS, forward: null, forwardUnbatched: false });
    }
  }

  /** Send a Ready's messages: one envelope per peer. */
  send(messages: readonly Message[]): void {
    if (this.closed || messages.length === 0) return;
    const byPeer = new Map<NodeId, PeerEnvelope>();
    for (const m of messages) {
      let env = byPeer.get(m.to);
      if (!env) {
        env = { clusterId: this.clusterId, from: this.self, to: m.to, messages: [] };
        byPeer.set(m.to, env);
      }
      env.messages.push(messageToWire(m));
    }
    for (const [peer, env] of byPeer) {
      const link = this.links.get(peer);
      if (!link) continue;
      const stream = this.openStream(link);
      if (!stream || !link.writable) {
        this.dropped += env.messages.length;
        continue;
      }
      // Beyond the stream's buffer we drop rather than queue without bound.
      link.writable = stream.write(env);
    }
  }

  /** A peer's refusal of our identity, seen as a stream's error: log it (once) and raise the alarm. */
  private noteRefusal(peer: NodeId, err: grpc.ServiceError): boolean {
    const z = ZkError.fromServiceError(err);
    if (z.code !== ErrorCode.CLUSTER_MISMATCH) return false;
    const theirs = err.metadata?.get(PEER_MEMBERS_METADATA)[0];
    const members = typeof theirs === "string" && theirs !== membersSpec(this.ourMembers);
    const alarm = members ? describeMemberMismatch(peer, theirs, this.ourMembers) : `${peer} refuses us: ${z.message}`;
    // The refusal's own message carries its advice; a member-list one is described here.
    if (this.onRefused(`peer-refused-${peer}`, alarm)) this.log.error({ peer }, `peer ${peer} refuses this node: ${alarm}${members ? `; ${OTHER_MEMBERS_ADVICE}` : ""}`);
    return true;
  }

  private openStream(link: Link): grpc.ClientWritableStream<PeerEnvelope> | null {
    if (link.stream) return link.stream;
    const now = Date.now();
    if (now < link.retryAt) return null;
    link.openedAt = now;
    const stream = link.client.send(this.metadata, (err) => {
      if (link.stream !== stream) return;
      link.stream = null;
      link.writable = false;
      if (this.closed) return;
      const lived = Date.now() - link.openedAt;
      link.backoffMs = lived > HEALTHY_STREAM_MS ? BACKOFF_MIN_MS : Math.min(link.backoffMs * 2, BACKOFF_MAX_MS);
      link.retryAt = Date.now() + link.backoffMs;
      if (err && this.noteRefusal(link.peer, err)) return;
      if (err && err.code !== grpc.status.UNAVAILABLE) this.log.warn({ peer: link.peer, code: err.code, err: err.details }, "peer stream failed");
    });
    stream.on("drain", () => {
      if (link.stream === stream) link.writable = true;
    });
    link.stream = stream;
    link.writable = true;
    return stream;
  }

  /** Forward a request to `leader` and wait for its answer (rejects with a retryable ZkError on a broken link). */
  forward(leader: NodeId, req: Omit<ForwardRequest, "id">, deadlineMs: number): Promise<ForwardResponse> {
    const link = this.links.get(leader);
    if (!link || this.closed) return Promise.reject(new ZkError(ErrorCode.UNAVAILABLE, `no link to leader ${leader}; the request was not sent`, NOT_APPLIED));
    const fwd = link.forward ?? this.openForward(link);
    if (fwd.pending.size >= FORWARD_PENDING_MAX) {
      return Promise.reject(new ZkError(ErrorCode.OVERLOADED, `too many requests waiting on leader ${leader}; retry later`));
    }
    const id = this.nextForwardId++;
    const full = { id, ...req } as ForwardRequest;
    return new Promise<ForwardResponse>((resolve, reject) => {
      // The request stays with whichever stream of this link carries it (a fallback moves it).
      const timer = setTimeout(() => {
        const now = link.forward;
        if (now?.pending.delete(id) || fwd.pending.delete(id)) reject(new ZkError(ErrorCode.TIMEOUT, `leader ${leader} did not answer within ${deadlineMs} ms`));
      }, deadlineMs);
      fwd.pending.set(id, {
        req: full,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      fwd.write(full);
    });
  }

  /**
   * The Forward stream to `link`'s peer: ForwardBatch, whose messages carry what one turn of
   * the event loop forwarded, unless the peer does not know it (then Forward, one per message).
   */
  private openForward(link: Link): ForwardStream {
    const leader = link.peer;
    const pending = new Map<number, PendingForward>();
    let stream: ForwardStream;
    const fail = (why: string) => {
      if (link.forward === stream) link.forward = null;
      for (const p of pending.values()) p.reject(new ZkError(ErrorCode.UNAVAILABLE, `lost the link to leader ${leader} (${why}); retry`));
      pending.clear();
    };
    const answer = (r: ForwardResponse) => {
      const p = pending.get(r.id);
      if (!p) return;
      pending.delete(r.id);
      p.resolve(r);
    };
    if (link.forwardUnbatched) {
      const call = link.client.forward(this.metadata);
      stream = { pending, write: (req) => call.write(req), cancel: () => call.cancel() };
      call.on("data", answer);
      call.on("error", (e: grpc.ServiceError) => {
        this.noteRefusal(leader, e);
        fail(e.details || e.message);
      });
      call.on("end", () => fail("stream ended"));
      link.forward = stream;
      return stream;
    }
    const call: grpc.ClientDuplexStream<ForwardBatchRequest, ForwardBatchResponse> = link.client.forwardBatch(this.metadata);
    let open = true;
    const out = new TurnBatch<ForwardRequest>(
      (requests) => {
        if (open) call.write({ requests });
      },
      FORWARD_BATCH_ITEMS_MAX,
      FORWARD_BATCH_BYTES_MAX,
    );
    stream = {
      pending,
      write: (req) => out.add(req, requestBytes(req)),
      cancel: () => {
        open = false;
        out.clear();
        call.cancel();
      },
    };
    call.on("data", (b: ForwardBatchResponse) => {
      for (const r of b.responses) answer(r);
    });
    call.on("error", (e: grpc.ServiceError) => {
      open = false;
      out.clear();
      if (e.code === grpc.status.UNIMPLEMENTED && link.forward === stream && !this.closed) {
        // An older leader: it refused the stream before reading any of it, so nothing sent on
        // it was proposed. Send the same requests (same ids, same promises) one by one.
        link.forwardUnbatched = true;
        link.forward = null;
        const next = this.openForward(link);
        for (const [id, p] of pending) {
          next.pending.set(id, p);
          next.write(p.req);
        }
        pending.clear();
        return;
      }
      this.noteRefusal(leader, e);
      fail(e.details || e.message);
    });
    call.on("end", () => {
      open = false;
      fail("stream ended");
    });
    link.forward = stream;
    return stream;
  }

  /** Whether the channel to `peer` is connected now (a snapshot is made only for a peer that can take it). */
  connected(peer: NodeId): boolean {
    const link = this.links.get(peer);
    return link !== undefined && !this.closed && link.client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY;
  }

  /** A snapshot stream to `peer` (Peer.InstallSnapshot), or null without a link. */
  snapshotStream(peer: NodeId, deadline: number): grpc.ClientDuplexStream<InstallSnapshotChunk, InstallSnapshotProgress> | null {
    const link = this.links.get(peer);
    if (!link || this.closed) return null;
    return link.client.installSnapshot(this.metadata, { deadline });
  }

  /** Fail every forwarded request waiting on `leader` (it is no longer the leader). */
  abandonForwards(leader: NodeId, why: string): void {
    const fwd = this.links.get(leader)?.forward;
    if (!fwd) return;
    fwd.cancel();
    for (const p of fwd.pending.values()) p.reject(new ZkError(ErrorCode.UNAVAILABLE, why));
    fwd.pending.clear();
  }

  close(): void {
    this.closed = true;
    for (const link of this.links.values()) {
      link.forward?.cancel();
      link.stream?.end();
      link.stream = null;
      link.client.close();
    }
  }
}

/** About how many bytes a forwarded request takes on the wire (its data and paths; for batch bounds). */
function requestBytes(req: ForwardRequest): number {
  const k = req.kind;
  return k?.$case === "command" ? commandBytes(k.value) : 64;
}

function commandBytes(c: Command): number {
  const op = c.op;
  let n = 64 + c.requestId.length;
  if (op === undefined) return n;
  switch (op.$case) {
    case "put":
    case "create":
    case "set":
      return n + op.value.data.length + 3 * op.value.path.length;
    case "multi":
      for (const o of op.value.ops) n += opBytes(o);
      return n;
    default:
      return n + 256;
  }
}

function opBytes(o: Op): number {
  const v = o.op;
  if (v === undefined) return 16;
  const data = "data" in v.value ? v.value.data.length : 0;
  return 32 + data + 3 * v.value.path.length;
}
