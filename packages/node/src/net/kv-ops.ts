// The client operations every client port shares: check the input, turn it into a command or
// a read, hand it to the driver. The gRPC Kv service (unary and Session stream) and the
// ZooKeeper-protocol listener (src/zk-protocol) both call these, so there is one data path.
import {
  Consistency,
  type CreateRequest,
  type CreateResponse,
  type DeleteRequest,
  type DeleteResponse,
  type ExistsRequest,
  type ExistsResponse,
  type GetRequest,
  type GetResponse,
  type ListRequest,
  type ListResponse,
  type MultiRequest,
  type MultiResponse,
  type PutRequest,
  type PutResponse,
  type SetRequest,
  type SetResponse,
  type SyncRequest,
  type SyncResponse,
} from "../gen/zk/v1/kv.js";
import { ErrorCode, type Command, type Op } from "../gen/zk/v1/types.js";
import type { ZkNode } from "../node.js";
import { REQUEST_ID_LENGTH_MAX, validatePath } from "../tree/index.js";
import { ZkError, asZkError } from "./errors.js";

/** A request without a deadline gets this one. */
export const DEFAULT_DEADLINE_MS = 10_000;
export const MULTI_OPS_MAX = 1000;

export class KvOps {
  constructor(private readonly node: ZkNode) {}

  async put(req: PutRequest, deadline: number, key = ""): Promise<PutResponse> {
    this.checkPath(req.path);
    this.checkData(req.data);
    const o = await this.node.write(cmd(key, { $case: "put", value: { path: req.path, data: req.data, expectedVersion: req.expectedVersion } }), deadline);
    if (o.result.result?.$case !== "put") throw unexpected(o.result);
    const r = o.result.result.value;
    return { path: r.path, zxid: o.zxid, version: r.version, created: r.created };
  }

  async create(req: CreateRequest, deadline: number, key = ""): Promise<CreateResponse> {
    this.checkPath(req.path, req.sequential);
    this.checkData(req.data);
    const o = await this.node.write(cmd(key, { $case: "create", value: { path: req.path, data: req.data, ephemeral: req.ephemeral, sequential: req.sequential, sessionId: req.sessionId } }), deadline);
    if (o.result.result?.$case !== "create") throw unexpected(o.result);
    return { path: o.result.result.value.path, zxid: o.zxid, stat: o.result.result.value.stat };
  }

  async set(req: SetRequest, deadline: number, key = ""): Promise<SetResponse> {
    this.checkPath(req.path);
    this.checkData(req.data);
    const o = await this.node.write(cmd(key, { $case: "set", value: { path: req.path, data: req.data, expectedVersion: req.expectedVersion } }), deadline);
    if (o.result.result?.$case !== "set") throw unexpected(o.result);
    return { path: req.path, zxid: o.zxid, stat: o.result.result.value.stat };
  }

  async delete(req: DeleteRequest, deadline: number, key = ""): Promise<DeleteResponse> {
    this.checkPath(req.path);
    const o = await this.node.write(cmd(key, { $case: "delete", value: { path: req.path, expectedVersion: req.expectedVersion } }), deadline);
    return { zxid: o.zxid };
  }

  async multi(req: MultiRequest, deadline: number, key = ""): Promise<MultiResponse> {
    if (req.ops.length === 0) throw new ZkError(ErrorCode.INVALID_ARGUMENT, "multi needs at least one op");
    if (req.ops.length > MULTI_OPS_MAX) throw new ZkError(ErrorCode.INVALID_ARGUMENT, `multi takes at most ${MULTI_OPS_MAX} ops`);
    req.ops.forEach((op, i) => this.checkOp(op, i));
    const o = await this.node.write(cmd(key, { $case: "multi", value: { ops: req.ops } }), deadline);
    if (o.result.result?.$case !== "multi") throw unexpected(o.result);
    return { zxid: o.zxid, results: o.result.result.value.results };
  }

  async get(req: GetRequest, deadline: number): Promise<GetResponse> {
    this.checkPath(req.path);
    const zxid = await this.readPoint(req.consistency, deadline);
    const node = this.node.tree.get(req.path);
    if (!node) throw new ZkError(ErrorCode.NO_NODE, `node ${req.path} does not exist`, { path: req.path });
    return { path: req.path, data: node.data, stat: node.stat, zxid };
  }

  async list(req: ListRequest, deadline: number): Promise<ListResponse> {
    this.checkPath(req.path);
    const zxid = await this.readPoint(req.consistency, deadline);
    const stat = this.node.tree.exists(req.path);
    const l = this.node.tree.list(req.path, req.includeStats);
    if (!stat || !l) throw new ZkError(ErrorCode.NO_NODE, `node ${req.path} does not exist`, { path: req.path });
    return { path: req.path, children: l.children.map((c) => ({ name: c.name, stat: c.stat })), stat, zxid };
  }

  async exists(req: ExistsRequest, deadline: number): Promise<ExistsResponse> {
    this.checkPath(req.path);
    const zxid = await this.readPoint(req.consistency, deadline);
    const stat = this.node.tree.exists(req.path);
    return { exists: stat !== null, stat: stat ?? undefined, zxid };
  }

  async sync(_req: SyncRequest, deadline: number): Promise<SyncResponse> {
    return { zxid: await this.node.readBarrier(deadline) };
  }

  

  async readPoint(consistency: Consistency, deadline: number): Promise<number> {
    if (consistency === Consistency.LOCAL) {
      this.node.assertLocalReadable();
      return this.node.appliedIndex;
    }
    return this.node.readBarrier(deadline);
  }

  checkPath(path: string, sequential = false): void {
    if (path === "") throw new ZkError(ErrorCode.INVALID_PATH, "path is missing; paths look like /app/config");
    const why = validatePath(path, { sequential });
    if (why !== null) throw new ZkError(ErrorCode.INVALID_PATH, why, { path });
  }

  checkData(data: Uint8Array): void {
    const max = this.node.opts.dataBytesMax;
    if (data.length > max) throw new ZkError(ErrorCode.INVALID_ARGUMENT, `data is ${data.length} bytes; the limit is ${max} bytes (zk-node --data-bytes-max)`);
  }

  checkOp(op: Op, i: number): void {
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
}

export function cmd(requestKey: string, op: Command["op"]): Command {
  if (requestKey.length > REQUEST_ID_LENGTH_MAX) throw new ZkError(ErrorCode.INVALID_ARGUMENT, `request key is ${requestKey.length} characters; the limit is ${REQUEST_ID_LENGTH_MAX}`);
  return { requestId: requestKey, timeMs: 0, nonce: 0, op };
}

export function unexpected(r: unknown): ZkError {
  return new ZkError(ErrorCode.INTERNAL, `unexpected result ${JSON.stringify(r)}`);
}
