// Node-to-node links on grpc-js. Protocol messages travel on one long-lived client stream
// per directed link; delivery is best-effort (Paxos tolerates loss, duplication and
// reordering), so a broken stream is reopened with backoff and nothing is resent. Client
// writes a follower takes travel to the leader on a long-lived Forward stream.
import * as grpc from "@grpc/grpc-js";
import { ForwardRequest, PeerClient, type ForwardResponse, type PeerEnvelope } from "../gen/zk/v1/peer.js";
import type { Message, NodeId } from "../paxos/types.js";
import { messageToWire } from "./convert.js";
import { ZkError } from "./errors.js";
import { ErrorCode } from "../gen/zk/v1/types.js";
import type { Logger } from "../log.js";

const BACKOFF_MIN_MS = 20;
const BACKOFF_MAX_MS = 1000;
/** A stream that lived this long is healthy: the next failure starts the backoff afresh. */
const HEALTHY_STREAM_MS = 2000;
/** Forwarded requests waiting on one leader before new ones are refused. */
const FORWARD_PENDING_MAX = 16384;
export const PEER_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;

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
  readonly client: PeerClient;
  stream: grpc.ClientWritableStream<PeerEnvelope> | null;
  writable: boolean;
  openedAt: number;
  retryAt: number;
  backoffMs: number;
  forward: ForwardStream | null;
}

interface ForwardStream {
  readonly call: grpc.ClientDuplexStream<ForwardRequest, ForwardResponse>;
  readonly pending: Map<number, { resolve: (r: ForwardResponse) => void; reject: (e: Error) => void }>;
}

export class PeerTransport {
  private readonly links = new Map<NodeId, Link>();
  private nextForwardId = 1;
  private closed = false;
  /** Messages dropped because a link was down or its buffer full (the protocol resends). */
  dropped = 0;

  constructor(
    private readonly self: NodeId,
    private readonly clusterId: string,
    peers: ReadonlyMap<NodeId, string>,
    private readonly log: Logger,
  ) {
    for (const [peer, address] of peers) {
      if (peer === self) continue;
      const client = new PeerClient(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      this.links.set(peer, { peer, client, stream: null, writable: false, openedAt: 0, retryAt: 0, backoffMs: BACKOFF_MIN_MS, forward: null });
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

  private openStream(link: Link): grpc.ClientWritableStream<PeerEnvelope> | null {
    if (link.stream) return link.stream;
    const now = Date.now();
    if (now < link.retryAt) return null;
    link.openedAt = now;
    const stream = link.client.send((err) => {
      if (link.stream !== stream) return;
      link.stream = null;
      link.writable = false;
      if (this.closed) return;
      const lived = Date.now() - link.openedAt;
      link.backoffMs = lived > HEALTHY_STREAM_MS ? BACKOFF_MIN_MS : Math.min(link.backoffMs * 2, BACKOFF_MAX_MS);
      link.retryAt = Date.now() + link.backoffMs;
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
    if (!link || this.closed) return Promise.reject(new ZkError(ErrorCode.UNAVAILABLE, `no link to leader ${leader}`));
    let fwd = link.forward;
    if (!fwd) {
      const call = link.client.forward();
      const pending: ForwardStream["pending"] = new Map();
      fwd = { call, pending };
      link.forward = fwd;
      const stream = fwd;
      const fail = (why: string) => {
        if (link.forward === stream) link.forward = null;
        for (const p of pending.values()) p.reject(new ZkError(ErrorCode.UNAVAILABLE, `lost the link to leader ${leader} (${why}); retry`));
        pending.clear();
      };
      call.on("data", (r: ForwardResponse) => {
        const p = pending.get(r.id);
        if (!p) return;
        pending.delete(r.id);
        p.resolve(r);
      });
      call.on("error", (e: grpc.ServiceError) => fail(e.details || e.message));
      call.on("end", () => fail("stream ended"));
    }
    if (fwd.pending.size >= FORWARD_PENDING_MAX) {
      return Promise.reject(new ZkError(ErrorCode.OVERLOADED, `too many requests waiting on leader ${leader}; retry later`));
    }
    const id = this.nextForwardId++;
    const stream = fwd;
    return new Promise<ForwardResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (stream.pending.delete(id)) reject(new ZkError(ErrorCode.TIMEOUT, `leader ${leader} did not answer within ${deadlineMs} ms`));
      }, deadlineMs);
      stream.pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      stream.call.write({ id, ...req } as ForwardRequest);
    });
  }

  /** Fail every forwarded request waiting on `leader` (it is no longer the leader). */
  abandonForwards(leader: NodeId, why: string): void {
    const fwd = this.links.get(leader)?.forward;
    if (!fwd) return;
    fwd.call.cancel();
    for (const p of fwd.pending.values()) p.reject(new ZkError(ErrorCode.UNAVAILABLE, why));
    fwd.pending.clear();
  }

  close(): void {
    this.closed = true;
    for (const link of this.links.values()) {
      link.forward?.call.cancel();
      link.stream?.end();
      link.stream = null;
      link.client.close();
    }
  }
}
