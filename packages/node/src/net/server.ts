// One gRPC server per node serving three services on one port: Kv (clients), Cluster
// (operators) and Peer (other nodes). Handlers check their input, turn it into a command or
// a read, and hand it to the driver; every failure leaves as a ZkError with a status code.
import * as grpc from "@grpc/grpc-js";
import { KvService, type KvServer, type SessionRequest, type SessionResponse } from "../gen/zk/v1/kv.js";
import { WatchHub } from "../watch-hub.js";
import { DEFAULT_DEADLINE_MS, KvOps, type Auth } from "./kv-ops.js";
import { grpcPrincipals } from "./auth.js";

export { DEFAULT_DEADLINE_MS };
import {
  ClusterService,
  Role as WireRole,
  type ClusterServer,
  type ElectionUpdate,
  type Member as WireMember,
  type MemberChangeResponse,
  type MembersResponse,
  type NodeStatus,
  type SaveSnapshotRequest,
  type SnapshotChunk,
} from "../gen/zk/v1/cluster.js";
import { PeerService, type ForwardBatchRequest, type ForwardRequest, type ForwardResponse, type PeerEnvelope, type PeerServer } from "../gen/zk/v1/peer.js";
import { TurnBatch } from "./turn-batch.js";
import { ErrorCode } from "../gen/zk/v1/types.js";
import type { Message, Role } from "../paxos/types.js";
import type { ZkNode } from "../node.js";
import type { ClusterConfig } from "../paxos/config.js";
import { ConfigError, parsePeers } from "../config.js";
import type { MembershipChange } from "../machine.js";
import { REQUEST_KEY_METADATA, ZkError, asZkError } from "./errors.js";
import { messageFromWire } from "./convert.js";
import { FORWARD_BATCH_ITEMS_MAX, PEER_FROM_METADATA, PEER_MEMBERS_METADATA, PEER_MESSAGE_BYTES_MAX, checkPeerIdentity, membersSpec } from "./peer-transport.js";
import type { Logger } from "../log.js";
import { SNAPSHOT_CHUNK_BYTES_DEFAULT, openSnapshotSource, snapshotChunks } from "../storage/snapshot.js";
import { portInUseMessage } from "./port-in-use.js";

/** A watch stream this far behind its consumer is ended (the client resumes from a zxid). */
const WATCH_STREAM_BYTES_MAX = 16 * 1024 * 1024;
/** The largest snapshot chunk a client may ask for (SaveSnapshotRequest.chunk_bytes). */
const SNAPSHOT_CHUNK_BYTES_MAX = 4 * 1024 * 1024;
/**
 * A SaveSnapshot reader that takes no data for this long is dropped: its read transaction
 * keeps the node's WAL from being checkpointed, so a stuck reader must not hold it for ever.
 */
const SNAPSHOT_READER_IDLE_MS = 30_000;

export interface NodeServerOptions {
  /** The node's store file, read through a connection of its own for SaveSnapshot. */
  readonly snapshotSource?: string;
  /** The super user's digest (--zk-super-digest): its requests pass every ACL check. */
  readonly superDigest?: string;
}

export function roleToWire(r: Role): WireRole {
  switch (r) {
    case "follower":
      return WireRole.FOLLOWER;
    case "precandidate":
      return WireRole.PRECANDIDATE;
    case "candidate":
      return WireRole.CANDIDATE;
    case "leader":
      return WireRole.LEADER;
    case "recovering":
      return WireRole.RECOVERING;
    case "learner":
      return WireRole.LEARNER;
  }
}

export class NodeServer {
  readonly server: grpc.Server;
  private readonly watches: WatchHub;

  constructor(
    private readonly node: ZkNode,
    private readonly clusterId: string,
    private readonly listen: string,
    private readonly log: Logger,
    private readonly opts: NodeServerOptions = {},
  ) {
    this.watches = new WatchHub(node);
    this.ops = new KvOps(node);
    this.server = new grpc.Server({
      "grpc.max_receive_message_length": PEER_MESSAGE_BYTES_MAX,
      "grpc.max_send_message_length": PEER_MESSAGE_BYTES_MAX,
    });
    this.server.addService(PeerService, this.peerService());
    this.server.addService(KvService, this.kvService());
    this.server.addService(ClusterService, this.clusterService());
  }

  /** Bind the port; rejects with a one-line reason (e.g. the port is in use). */
  bind(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(this.listen, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) {
          const inUse = /EADDRINUSE|address already in use|No address added/i.test(err.message);
          // Bound after the store is open: this node is a member of its cluster.
          reject(new Error(inUse ? portInUseMessage(this.listen, "--listen", true) : `cannot listen on ${this.listen}: ${err.message}`));
        } else resolve(port);
      });
    });
  }

  shutdown(): Promise<void> {
    return new Promise((resolve) => {
      const force = setTimeout(() => this.server.forceShutdown(), 2000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  // ---- Peer --------------------------------------------------------------------------------

  private peerService(): PeerServer {
    return {
      send: (call, callback) => {
        if (this.refusePeer(call, (e) => callback(e))) return;
        call.on("data", (env: PeerEnvelope) => {
          if (env.clusterId !== this.clusterId) {
            this.log.warn({ from: env.from, theirCluster: env.clusterId }, "dropping messages from another cluster");
            callback(new ZkError(ErrorCode.CLUSTER_MISMATCH, `this node belongs to cluster ${this.clusterId}, not ${env.clusterId}`).toServiceError());
            return;
          }
          if (env.to !== this.node.id || !this.node.members.has(env.from) || env.from === this.node.id) return;
          const msgs: Message[] = [];
          for (const w of env.messages) {
            const m = messageFromWire(w, env.from, env.to);
            if (m) msgs.push(m);
          }
          this.node.receive(msgs);
        });
        call.on("end", () => callback(null, {}));
        call.on("error", () => undefined);
      },
      forward: (call) => {
        if (this.refusePeer(call, (e) => call.emit("error", e))) return;
        call.on("data", (req: ForwardRequest) => {
          void this.handleForward(req).then(
            (res) => call.write(res),
            () => undefined,
          );
        });
        call.on("end", () => call.end());
        call.on("error", () => undefined);
      },
      forwardBatch: (call) => {
        if (this.refusePeer(call, (e) => call.emit("error", e))) return;
        let open = true;
        // The answers that settle in one turn (a Ready applies many writes at once) go back as one message.
        const out = new TurnBatch<ForwardResponse>(
          (responses) => {
            if (open) call.write({ responses });
          },
          FORWARD_BATCH_ITEMS_MAX,
        );
        call.on("data", (b: ForwardBatchRequest) => {
          const deadline = Date.now() + DEFAULT_DEADLINE_MS;
          for (const req of b.requests) this.node.handleForwardThen(req, deadline, (res) => out.add(res));
        });
        call.on("end", () => {
          out.flush();
          open = false;
          call.end();
        });
        const gone = () => {
          open = false;
          out.clear();
        };
        call.on("error", gone);
        call.on("cancelled", gone);
      },
      installSnapshot: (call) => {
        if (this.refusePeer(call, (e) => call.emit("error", e))) return;
        this.node.receiveSnapshot(call, String(call.metadata.get(PEER_FROM_METADATA)[0] ?? "?"));
      },
    };
  }

  /**
   * Refuse a peer stream from another cluster or with another member list (peer-transport.ts):
   * the error goes back to the peer with our member list, and into our log and alarms.
   */
  private refusePeer(call: { readonly metadata: grpc.Metadata }, fail: (e: grpc.ServiceError) => void): boolean {
    const bad = checkPeerIdentity(call.metadata, this.clusterId, this.node.genesis);
    if (!bad) return false;
    if (this.node.noteAlarm(`peer-mismatch-${bad.from}`, bad.alarm)) this.log.error({ peer: bad.from }, `refusing peer ${bad.from}: ${bad.alarm}; ${bad.advice}`);
    const err = bad.refusal.toServiceError();
    if (this.node.genesis !== null) err.metadata!.set(PEER_MEMBERS_METADATA, membersSpec(this.node.genesis));
    fail(err as grpc.ServiceError);
    return true;
  }

  private handleForward(req: ForwardRequest): Promise<ForwardResponse> {
    return this.node.handleForward(req, Date.now() + DEFAULT_DEADLINE_MS);
  }

  // ---- Kv ------------------------------------------------------------------------------------

  /** The client operations, shared by the unary RPCs, the Session stream and the ZooKeeper port. */
  private readonly ops: KvOps;

  private kvService(): KvServer {
    const o = this.ops;
    const sd = this.opts.superDigest;
    return {
      put: unary(o.put.bind(o), sd),
      create: unary(o.create.bind(o), sd),
      set: unary(o.set.bind(o), sd),
      delete: unary(o.delete.bind(o), sd),
      multi: unary(o.multi.bind(o), sd),
      get: unary(o.get.bind(o), sd),
      list: unary(o.list.bind(o), sd),
      exists: unary(o.exists.bind(o), sd),
      sync: unary(o.sync.bind(o), sd),
      getAcl: unary(o.getAcl.bind(o), sd),
      setAcl: unary(o.setAcl.bind(o), sd),
      watch: (call) => {
        const req = call.request;
        try {
          this.ops.checkPath(req.path);
          const stop = this.watches.subscribe(
            { path: req.path, recursive: req.recursive, fromZxid: req.fromZxid },
            (ev) => {
              call.write(ev);
              return call.writableLength < WATCH_STREAM_BYTES_MAX;
            },
            (e) => call.destroy(e.toServiceError() as grpc.ServiceError),
          );
          call.on("cancelled", stop);
          call.on("close", stop);
          call.on("error", stop);
        } catch (e) {
          call.destroy(asZkError(e).toServiceError() as grpc.ServiceError);
        }
      },
      session: (call) => this.serveSession(call),
    };
  }

  /**
   * ZooKeeper's session connection over one bidirectional stream: requests carry ids and are
   * answered as they complete; keepalives renew the session; watch events arrive tagged with
   * the id of the request that registered the watch. Closing the stream does not close the
   * session: it lives until its TTL passes without a keepalive, so a client can reconnect.
   */
  private serveSession(call: grpc.ServerDuplexStream<SessionRequest, SessionResponse>): void {
    let sessionId = 0;
    const watches = new Map<number, () => void>();
    // The stream's credentials are its metadata's, fixed for its life; bad ones fail every request.
    let auth: Auth | Error;
    try {
      auth = grpcPrincipals(call.metadata, call.getPeer(), this.opts.superDigest);
    } catch (e) {
      auth = asZkError(e);
    }
    const reply = (r: SessionResponse) => {
      if (!call.writableEnded && !call.destroyed) call.write(r);
    };
    const fail = (requestId: number, e: unknown) => reply({ requestId, response: { $case: "error", value: asZkError(e).toDetail() } });
    const handle = async (req: SessionRequest): Promise<SessionResponse["response"]> => {
      const deadline = Date.now() + DEFAULT_DEADLINE_MS;
      const r = req.request;
      if (!r) throw new ZkError(ErrorCode.INVALID_ARGUMENT, "empty session request");
      const o = this.ops;
      if (auth instanceof Error) throw auth;
      switch (r.$case) {
        case "openSession": {
          if (sessionId !== 0) throw new ZkError(ErrorCode.INVALID_ARGUMENT, `this stream already has session ${sessionId}`);
          if (r.value.sessionId !== 0) {
            // Resume: the session must still exist (in the applied state after a read barrier).
            await this.node.readBarrier(deadline);
            const known = this.node.tree.session(r.value.sessionId);
            if (!known) throw new ZkError(ErrorCode.SESSION_EXPIRED, `session ${r.value.sessionId} has expired; open a new one`);
            await this.node.keepalive([r.value.sessionId], deadline);
            sessionId = r.value.sessionId;
            return { $case: "openSession", value: { sessionId, ttlMs: known.ttlMs, zxid: this.node.appliedIndex } };
          }
          const s = await this.node.openSession(r.value.ttlMs, deadline);
          sessionId = s.sessionId;
          return { $case: "openSession", value: s };
        }
        case "keepalive":
          if (sessionId === 0) throw new ZkError(ErrorCode.INVALID_ARGUMENT, "keepalive before open_session");
          await this.node.keepalive([sessionId], deadline);
          return { $case: "keepalive", value: { zxid: this.node.appliedIndex } };
        case "closeSession": {
          if (sessionId === 0) throw new ZkError(ErrorCode.INVALID_ARGUMENT, "close_session before open_session");
          const zxid = await this.node.closeSession(sessionId, deadline);
          sessionId = 0;
          return { $case: "closeSession", value: { zxid } };
        }
        case "create": {
          const req2 = r.value.ephemeral && r.value.sessionId === 0 ? { ...r.value, sessionId } : r.value;
          if (req2.ephemeral && req2.sessionId === 0) throw new ZkError(ErrorCode.INVALID_ARGUMENT, "an ephemeral node needs a session: send open_session first");
          return { $case: "create", value: await o.create(req2, deadline, req.requestKey, auth) };
        }
        case "get":
          return { $case: "get", value: await o.get(r.value, deadline, "", auth) };
        case "set":
          return { $case: "set", value: await o.set(r.value, deadline, req.requestKey, auth) };
        case "put":
          return { $case: "put", value: await o.put(r.value, deadline, req.requestKey, auth) };
        case "delete":
          return { $case: "delete", value: await o.delete(r.value, deadline, req.requestKey, auth) };
        case "list":
          return { $case: "list", value: await o.list(r.value, deadline, "", auth) };
        case "exists":
          return { $case: "exists", value: await o.exists(r.value, deadline) };
        case "multi":
          return { $case: "multi", value: await o.multi(r.value, deadline, req.requestKey, auth) };
        case "sync":
          return { $case: "sync", value: await o.sync(r.value, deadline) };
        case "watch": {
          this.ops.checkPath(r.value.path);
          const id = req.requestId;
          if (watches.has(id)) throw new ZkError(ErrorCode.INVALID_ARGUMENT, `request id ${id} already has a watch`);
          const stop = this.watches.subscribe(
            { path: r.value.path, recursive: r.value.recursive, fromZxid: r.value.fromZxid },
            (ev) => {
              reply({ requestId: id, response: { $case: "watchEvent", value: ev } });
              return call.writableLength < WATCH_STREAM_BYTES_MAX;
            },
            (e) => {
              watches.delete(id);
              fail(id, e);
            },
          );
          watches.set(id, stop);
          return { $case: "watch", value: { zxid: this.node.appliedIndex } };
        }
        case "unwatch": {
          const stop = watches.get(r.value.watchRequestId);
          if (!stop) throw new ZkError(ErrorCode.INVALID_ARGUMENT, `no watch registered by request ${r.value.watchRequestId}`);
          stop();
          watches.delete(r.value.watchRequestId);
          return { $case: "unwatch", value: {} };
        }
      }
    };
    call.on("data", (req: SessionRequest) => {
      handle(req).then(
        (response) => reply({ requestId: req.requestId, response }),
        (e) => fail(req.requestId, e),
      );
    });
    const done = () => {
      for (const stop of watches.values()) stop();
      watches.clear();
    };
    call.on("end", () => {
      done();
      call.end();
    });
    call.on("cancelled", done);
    call.on("error", done);
  }

  // ---- Cluster -----------------------------------------------------------------------------

  status(): NodeStatus {
    const n = this.node;
    const leader = n.leaderId;
    return {
      nodeId: n.id,
      address: n.members.get(n.id) ?? this.listen,
      role: roleToWire(n.role),
      ballot: { round: n.promised.round, nodeId: n.promised.nodeId },
      leaderId: leader ?? "",
      leaderAddress: leader ? (n.members.get(leader) ?? "") : "",
      chosenIndex: n.core.chosen,
      appliedIndex: n.appliedIndex,
      clusterId: this.clusterId,
      members: this.wireMembers(this.node.membership().config),
      lastHeartbeatMsAgo: n.msSinceLeaderHeard,
      alarms: n.alarms,
      logStart: n.logStart,
      snapshotTransfers: n.snapshotTransfers.map((t) => ({ ...t })),
    };
  }

  /** A configuration's members, with the leader's view of each one's progress when it leads. */
  private wireMembers(config: ClusterConfig): WireMember[] {
    const progress = this.node.memberProgress();
    const leading = this.node.role === "leader";
    return config.members.map((m) => {
      // The leader reports itself as caught up with lag 0 (cluster.proto Member).
      const p = leading && m.id === this.node.id ? { lag: 0, caughtUp: true, msSinceHeard: 0 } : progress.get(m.id);
      // A member the leader never heard from: heard false, 0 ms.
      const heard = p !== undefined && p.msSinceHeard !== null;
      return { id: m.id, address: m.address, learner: !m.voter, hasProgress: p !== undefined, lag: p?.lag ?? 0, caughtUp: p?.caughtUp ?? false, lastHeardMsAgo: Math.round(p?.msSinceHeard ?? 0), heard };
    });
  }

  membersResponse(): MembersResponse {
    const { config, slot, inFlight } = this.node.membership();
    return {
      members: this.wireMembers(config),
      clusterId: this.clusterId,
      leaderId: this.node.leaderId ?? "",
      configVersion: config.version,
      configSlot: slot,
      changeInFlight: inFlight ? `v${inFlight.config.version}: ${inFlight.config.change}` : "",
      removed: [...config.removed],
    };
  }

  /** One membership change through the log, answered once it is applied. */
  private async changeMembership(change: MembershipChange, deadline: number): Promise<MemberChangeResponse> {
    const r = await this.node.changeMembership(change, deadline).catch((e: unknown) => Promise.reject(this.withLeaderHint(e)));
    return { configVersion: r.config.version, configSlot: r.slot, members: this.wireMembers(r.config), leaderId: r.leaderId ?? "" };
  }

  /** NOT_LEADER with the leader's address too, so a client that does not list it can go there. */
  private withLeaderHint(e: unknown): ZkError {
    const z = asZkError(e);
    if (z.code !== ErrorCode.NOT_LEADER || z.extra.leaderHint || !z.extra.leaderId) return z;
    const hint = this.node.members.get(z.extra.leaderId);
    return hint ? new ZkError(z.code, z.message, { ...z.extra, leaderHint: hint }) : z;
  }

  private clusterService(): ClusterServer {
    const n = this.node;
    return {
      status: (_call, callback) => callback(null, this.status()),
      members: (_call, callback) => {
        try {
          callback(null, this.membersResponse());
        } catch (e) {
          callback(asZkError(e).toServiceError());
        }
      },
      memberAdd: unary((req: { id: string; address: string; learner: boolean }, deadline) => {
        checkMemberSpec(req.id, req.address);
        return this.changeMembership({ kind: "add", id: req.id, address: req.address, learner: req.learner }, deadline);
      }, this.opts.superDigest),
      memberPromote: unary((req: { id: string }, deadline) => this.changeMembership({ kind: "promote", id: checkMemberId(req.id) }, deadline), this.opts.superDigest),
      memberRemove: unary((req: { id: string; force: boolean }, deadline) => this.changeMembership({ kind: "remove", id: checkMemberId(req.id), force: req.force }, deadline), this.opts.superDigest),
      leaderTransfer: unary(async (req: { id: string }, deadline) => {
        const r = await this.node.transferLeadership(checkMemberId(req.id), deadline).catch((e: unknown) => Promise.reject(this.withLeaderHint(e)));
        return { leaderId: r.leaderId, ballot: { round: r.ballot.round, nodeId: r.ballot.nodeId }, elapsedMs: Math.round(r.elapsedMs) };
      }, this.opts.superDigest),
      stepDown: (_call, callback) => {
        if (n.role !== "leader") {
          callback(new ZkError(ErrorCode.NOT_LEADER, `node ${n.id} is not the leader`, { leaderId: n.leaderId ?? undefined }).toServiceError());
          return;
        }
        n.core.stepDown();
        n.receive([]);
        callback(null, { ballot: { round: n.promised.round, nodeId: n.promised.nodeId } });
      },
      saveSnapshot: (call) => void this.saveSnapshot(call),
      watchElections: (call) => {
        const write = (u: ElectionUpdate) => {
          if (!call.writableEnded) call.write(u);
        };
        write({ update: { $case: "status", value: this.status() } });
        const onElection = (ev: Parameters<typeof n.emit<"election">>[1]) => {
          write({
            update: {
              $case: "event",
              value: { nodeId: n.id, role: roleToWire(ev.role), ballot: { round: ev.ballot.round, nodeId: ev.ballot.nodeId }, leaderId: ev.leader ?? "", reason: ev.reason, unixMs: ev.unixMs },
            },
          });
          write({ update: { $case: "status", value: this.status() } });
        };
        // A status line every so often keeps indexes and heartbeat ages fresh on the viewer.
        const timer = setInterval(() => write({ update: { $case: "status", value: this.status() } }), 250);
        n.on("election", onElection);
        const done = () => {
          clearInterval(timer);
          n.off("election", onElection);
        };
        call.on("cancelled", done);
        call.on("close", done);
        call.on("error", done);
      },
    };
  }

  /**
   * SaveSnapshot: a read barrier, then the store's state at the applied index, streamed. The
   * read transaction it holds is on a connection of its own (the node's writes go on beside
   * it) and ends with the stream, whether it completes, fails or is cancelled; a slow reader
   * is waited for (drain), never buffered without bound.
   */
  private async saveSnapshot(call: grpc.ServerWritableStream<SaveSnapshotRequest, SnapshotChunk>): Promise<void> {
    let gone = false;
    const ended = new Promise<void>((resolve) => {
      const end = () => {
        gone = true;
        resolve();
      };
      call.on("cancelled", end);
      call.on("close", end);
      call.on("error", end);
    });
    try {
      const source = this.opts.snapshotSource;
      if (source === undefined) throw new ZkError(ErrorCode.UNAVAILABLE, `node ${this.node.id} does not serve snapshots; ask another member`);
      const asked = call.request.chunkBytes;
      if (asked > SNAPSHOT_CHUNK_BYTES_MAX) throw new ZkError(ErrorCode.INVALID_ARGUMENT, `chunk_bytes ${asked} is above the limit of ${SNAPSHOT_CHUNK_BYTES_MAX}`);
      const d = call.getDeadline();
      const ms = d instanceof Date ? d.getTime() : d;
      // The barrier gets the usual request deadline; the transfer may take longer (the client's
      // deadline on the stream, if any, still applies to the whole call).
      const barrierDeadline = Math.min(Number.isFinite(ms) ? ms : Infinity, Date.now() + DEFAULT_DEADLINE_MS);
      await this.node.readBarrier(barrierDeadline);
      // A tree kept in memory (--tree-in-memory) reaches the store file at checkpoints: one now.
      if (!this.node.checkpointTree()) throw new ZkError(ErrorCode.CANNOT_PERSIST, `node ${this.node.id} cannot write its tree to its store (its disk refuses writes), so it has no current snapshot; ask another member`);
      const db = openSnapshotSource(source);
      const chunks = snapshotChunks(db, { chunkBytes: asked === 0 ? SNAPSHOT_CHUNK_BYTES_DEFAULT : asked });
      try {
        let offset = 0;
        let r = await chunks.next();
        while (!r.done) {
          if (gone) return;
          const more = call.write({ offset, data: r.value, done: undefined });
          offset += r.value.length;
          if (!more) {
            let timer: NodeJS.Timeout | undefined;
            const idle = new Promise<"idle">((resolve) => (timer = setTimeout(() => resolve("idle"), SNAPSHOT_READER_IDLE_MS)));
            const woke = await Promise.race([new Promise((resolve) => call.once("drain", resolve)), ended, idle]);
            clearTimeout(timer);
            if (woke === "idle") throw new ZkError(ErrorCode.TIMEOUT, `the snapshot reader took no data for ${SNAPSHOT_READER_IDLE_MS} ms; node ${this.node.id} ended the transfer`);
          }
          r = await chunks.next();
        }
        const info = r.value;
        this.log.info({ slot: info.header.slot, bytes: info.bytes }, "snapshot streamed");
        call.write({
          offset,
          data: new Uint8Array(0),
          done: { slot: info.header.slot, bytes: info.bytes, sha256: info.sha256, clusterId: info.header.clusterId, nodeId: info.header.nodeId, treeHash: info.summary.treeHash, znodes: info.summary.rows.znodes ?? 0 },
        });
        call.end();
      } finally {
        // Ends the snapshot's read transaction (a no-op when it finished) before the close.
        await chunks.return(undefined as never);
        db.close();
      }
    } catch (e) {
      if (!gone) call.destroy(asZkError(e).toServiceError() as grpc.ServiceError);
    }
  }
}

/** A member id as zk-node's --id takes it; INVALID_ARGUMENT otherwise. */
function checkMemberId(id: string): string {
  if (id === "") throw new ZkError(ErrorCode.INVALID_ARGUMENT, "no member id given");
  checkMemberSpec(id, "127.0.0.1:1");
  return id;
}

/** An id and address as --peers takes them (config.ts), refused with the same one-line reasons. */
function checkMemberSpec(id: string, address: string): void {
  if (id === "") throw new ZkError(ErrorCode.INVALID_ARGUMENT, "no member id given");
  if (/[=,]/.test(id) || /[=,]/.test(address)) throw new ZkError(ErrorCode.INVALID_ARGUMENT, `invalid member ${id} at ${address}: an id is 1-64 letters, digits, '.', '_' or '-', an address HOST:PORT`);
  try {
    parsePeers(`${id}=${address}`, "the request");
  } catch (e) {
    if (e instanceof ConfigError) throw new ZkError(ErrorCode.INVALID_ARGUMENT, e.message);
    throw e;
  }
}

/** A unary handler with a deadline, the caller's principals (zk-auth-bin metadata) and one error path. */
function unary<Req, Res>(f: (req: Req, deadline: number, key: string, auth: Auth) => Promise<Res>, superDigest: string | undefined): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const d = call.getDeadline();
    const ms = d instanceof Date ? d.getTime() : d;
    const deadline = Number.isFinite(ms) ? ms : Date.now() + DEFAULT_DEADLINE_MS;
    const key = call.metadata.get(REQUEST_KEY_METADATA)[0];
    let auth: Auth;
    try {
      auth = grpcPrincipals(call.metadata, call.getPeer(), superDigest);
    } catch (e) {
      callback(asZkError(e).toServiceError());
      return;
    }
    f(call.request, deadline, typeof key === "string" ? key : "", auth).then(
      (res) => callback(null, res),
      (e) => callback(asZkError(e).toServiceError()),
    );
  };
}
