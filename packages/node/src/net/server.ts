// One gRPC server per node serving three services on one port: Kv (clients), Cluster
// (operators) and Peer (other nodes). Handlers check their input, turn it into a command or
// a read, and hand it to the driver; every failure leaves as a ZkError with a status code.
import * as grpc from "@grpc/grpc-js";
import { Consistency, KvService, type KvServer, type WatchEvent } from "../gen/zk/v1/kv.js";
import { ClusterService, Role as WireRole, type ClusterServer, type ElectionUpdate, type NodeStatus } from "../gen/zk/v1/cluster.js";
import { PeerService, type ForwardRequest, type ForwardResponse, type PeerEnvelope, type PeerServer } from "../gen/zk/v1/peer.js";
import { ErrorCode, type Command, type Op } from "../gen/zk/v1/types.js";
import type { Message, Role } from "../paxos/types.js";
import type { ZkNode } from "../node.js";
import { validatePath } from "../tree/index.js";
import { ZkError, asZkError } from "./errors.js";
import { messageFromWire } from "./convert.js";
import { PEER_MESSAGE_BYTES_MAX } from "./peer-transport.js";
import type { Logger } from "../log.js";

/** A request without a deadline gets this one. */
export const DEFAULT_DEADLINE_MS = 10_000;
const MULTI_OPS_MAX = 1000;

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
  }
}

export class NodeServer {
  readonly server: grpc.Server;

  constructor(
    private readonly node: ZkNode,
    private readonly clusterId: string,
    private readonly listen: string,
    private readonly log: Logger,
  ) {
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
          reject(new Error(inUse ? `cannot listen on ${this.listen}: the port is in use; stop whatever holds it or pick another --listen` : `cannot listen on ${this.listen}: ${err.message}`));
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
        call.on("data", (env: PeerEnvelope) => {
          if (env.clusterId !== this.clusterId) {
            this.log.warn({ from: env.from, theirCluster: env.clusterId }, "dropping messages from another cluster");
            call.destroy(new ZkError(ErrorCode.CLUSTER_MISMATCH, `this node belongs to cluster ${this.clusterId}, not ${env.clusterId}`).toServiceError() as grpc.ServiceError);
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
        call.on("data", (req: ForwardRequest) => {
          void this.handleForward(req).then(
            (res) => call.write(res),
            () => undefined,
          );
        });
        call.on("end", () => call.end());
        call.on("error", () => undefined);
      },
    };
  }

  private async handleForward(req: ForwardRequest): Promise<ForwardResponse> {
    const deadline = Date.now() + DEFAULT_DEADLINE_MS;
    try {
      if (req.kind?.$case === "command") {
        const o = await this.node.write(req.kind.value, deadline, true);
        return { id: req.id, zxid: o.zxid, outcome: { $case: "result", value: o.result } };
      }
      if (req.kind?.$case === "readIndex") {
        // Only the confirmation is needed: the follower waits for its own apply.
        const index = await this.node.readBarrier(deadline, true);
        return { id: req.id, zxid: index };
      }
      throw new ZkError(ErrorCode.INVALID_ARGUMENT, "empty forward request");
    } catch (e) {
      return { id: req.id, zxid: 0, outcome: { $case: "error", value: asZkError(e).toDetail() } };
    }
  }

  // ---- Kv ------------------------------------------------------------------------------------

  private kvService(): KvServer {
    const n = this.node;
    return {
      put: unary(async (req, deadline) => {
        this.checkPath(req.path);
        this.checkData(req.data);
        const o = await n.write(cmd({ $case: "put", value: { path: req.path, data: req.data, expectedVersion: req.expectedVersion } }), deadline);
        if (o.result.result?.$case !== "put") throw unexpected(o.result);
        const r = o.result.result.value;
        return { path: r.path, zxid: o.zxid, version: r.version, created: r.created };
      }),
      create: unary(async (req, deadline) => {
        this.checkPath(req.path, req.sequential);
        this.checkData(req.data);
        const o = await n.write(cmd({ $case: "create", value: { path: req.path, data: req.data, ephemeral: req.ephemeral, sequential: req.sequential, sessionId: req.sessionId } }), deadline);
        if (o.result.result?.$case !== "create") throw unexpected(o.result);
        return { path: o.result.result.value.path, zxid: o.zxid, stat: o.result.result.value.stat };
      }),
      set: unary(async (req, deadline) => {
        this.checkPath(req.path);
        this.checkData(req.data);
        const o = await n.write(cmd({ $case: "set", value: { path: req.path, data: req.data, expectedVersion: req.expectedVersion } }), deadline);
        if (o.result.result?.$case !== "set") throw unexpected(o.result);
        return { path: req.path, zxid: o.zxid, stat: o.result.result.value.stat };
      }),
      delete: unary(async (req, deadline) => {
        this.checkPath(req.path);
        const o = await n.write(cmd({ $case: "delete", value: { path: req.path, expectedVersion: req.expectedVersion } }), deadline);
        return { zxid: o.zxid };
      }),
      multi: unary(async (req, deadline) => {
        if (req.ops.length === 0) throw new ZkError(ErrorCode.INVALID_ARGUMENT, "multi needs at least one op");
        if (req.ops.length > MULTI_OPS_MAX) throw new ZkError(ErrorCode.INVALID_ARGUMENT, `multi takes at most ${MULTI_OPS_MAX} ops`);
        req.ops.forEach((op, i) => this.checkOp(op, i));
        const o = await n.write(cmd({ $case: "multi", value: { ops: req.ops } }), deadline);
        if (o.result.result?.$case !== "multi") throw unexpected(o.result);
        return { zxid: o.zxid, results: o.result.result.value.results };
      }),
      get: unary(async (req, deadline) => {
        this.checkPath(req.path);
        const zxid = await this.readPoint(req.consistency, deadline);
        const node = n.tree.get(req.path);
        if (!node) throw new ZkError(ErrorCode.NO_NODE, `node ${req.path} does not exist`, { path: req.path });
        return { path: req.path, data: node.data, stat: node.stat, zxid };
      }),
      list: unary(async (req, deadline) => {
        this.checkPath(req.path);
        const zxid = await this.readPoint(req.consistency, deadline);
        const stat = n.tree.exists(req.path);
        const l = n.tree.list(req.path, req.includeStats);
        if (!stat || !l) throw new ZkError(ErrorCode.NO_NODE, `node ${req.path} does not exist`, { path: req.path });
        return { path: req.path, children: l.children.map((c) => ({ name: c.name, stat: c.stat })), stat, zxid };
      }),
      exists: unary(async (req, deadline) => {
        this.checkPath(req.path);
        const zxid = await this.readPoint(req.consistency, deadline);
        const stat = n.tree.exists(req.path);
        return { exists: stat !== null, stat: stat ?? undefined, zxid };
      }),
      sync: unary(async (_req, deadline) => ({ zxid: await n.readBarrier(deadline) })),
      session: (call) => {
        call.destroy(new ZkError(ErrorCode.INVALID_ARGUMENT, "sessions are not served by this version of zk-node").toServiceError() as grpc.ServiceError);
      },
      watch: (call) => {
        call.destroy(new ZkError(ErrorCode.INVALID_ARGUMENT, "watches are not served by this version of zk-node").toServiceError() as grpc.ServiceError);
        void ({} as WatchEvent);
      },
    };
  }

  private async readPoint(consistency: Consistency, deadline: number): Promise<number> {
    if (consistency === Consistency.LOCAL) return this.node.appliedIndex;
    return this.node.readBarrier(deadline);
  }

  private checkPath(path: string, sequential = false): void {
    if (path === "") throw new ZkError(ErrorCode.INVALID_PATH, "path is missing; paths look like /app/config");
    const why = validatePath(path, { sequential });
    if (why !== null) throw new ZkError(ErrorCode.INVALID_PATH, why, { path });
  }

  private checkData(data: Uint8Array): void {
    const max = this.node.opts.dataBytesMax;
    if (data.length > max) throw new ZkError(ErrorCode.INVALID_ARGUMENT, `data is ${data.length} bytes; the limit is ${max} bytes (zk-node --data-bytes-max)`);
  }

  private checkOp(op: Op, i: number): void {
    const o = op.op;
    try {
      if (!o) throw new ZkError(ErrorCode.INVALID_ARGUMENT, "empty op");
      this.checkPath(o.value.path, o.$case === "create" && o.value.sequential);
      if ("data" in o.value) this.checkData(o.value.data);
    } catch (e) {
      const z = asZkError(e);
      throw new ZkError(z.code, `op ${i}: ${z.message}`, { ...z.extra, opIndex: i });
    }
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
      members: [...n.members].map(([id, address]) => ({ id, address })),
      lastHeartbeatMsAgo: n.msSinceLeaderHeard,
    };
  }

  private clusterService(): ClusterServer {
    const n = this.node;
    return {
      status: (_call, callback) => callback(null, this.status()),
      members: (_call, callback) =>
        callback(null, { members: [...n.members].map(([id, address]) => ({ id, address })), clusterId: this.clusterId, leaderId: n.leaderId ?? "" }),
      stepDown: (_call, callback) => {
        if (n.role !== "leader") {
          callback(new ZkError(ErrorCode.NOT_LEADER, `node ${n.id} is not the leader`, { leaderId: n.leaderId ?? undefined }).toServiceError());
          return;
        }
        n.core.stepDown();
        n.receive([]);
        callback(null, { ballot: { round: n.promised.round, nodeId: n.promised.nodeId } });
      },
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
}

function cmd(op: Command["op"]): Command {
  return { requestId: "", timeMs: 0, op };
}

function unexpected(r: unknown): ZkError {
  return new ZkError(ErrorCode.INTERNAL, `unexpected result ${JSON.stringify(r)}`);
}

/** A unary handler with a deadline and one error path. */
function unary<Req, Res>(f: (req: Req, deadline: number) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const d = call.getDeadline();
    const ms = d instanceof Date ? d.getTime() : d;
    const deadline = Number.isFinite(ms) ? ms : Date.now() + DEFAULT_DEADLINE_MS;
    f(call.request, deadline).then(
      (res) => callback(null, res),
      (e) => callback(asZkError(e).toServiceError()),
    );
  };
}
