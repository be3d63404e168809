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
  type GetAclRequest,
  type GetAclResponse,
  type SetAclRequest,
  type SetAclResponse,
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
import { ErrorCode, type Command, type Op, type Principal } from "../gen/zk/v1/types.js";
import { Perm, allowed, redacted } from "../tree/acl.js";
import type { ZkNode } from "../node.js";
import { REQUEST_ID_LENGTH_MAX, validatePath } from "../tree/index.js";
import { ZkError, asZkError } from "./errors.js";

/**
 * The principals a request runs with (net/auth.ts). Writes carry them in Command.auth and the
 * tree checks them at apply on every replica; reads are checked here against the node's tree.
 */
export type Auth = readonly Principal[];

/** A request without a deadline gets this one. */
export const DEFAULT_DEADLINE_MS = 10_000;
export const MULTI_OPS_MAX = 1000;

export class KvOps {
  constructor(private readonly node: ZkNode) {}

  async put(req: PutRequest, deadline: number, key: string, auth: Auth): Promise<PutResponse> {
    this.checkPath(req.path);
    this.checkData(req.data);
    const o = await this.node.write(cmd(key, { $case: "put", value: { path: req.path, data: req.data, expectedVersion: req.expectedVersion } }, auth), deadline);
    if (o.result.result?.$case !== "put") throw unexpected(o.result);
    const r = o.result.result.value;
    return { path: r.path, zxid: o.zxid, version: r.version, created: r.created };
  }

  async create(req: CreateRequest, deadline: number, key: string, auth: Auth): Promise<CreateResponse> {
    this.checkPath(req.path, req.sequential);
    this.checkData(req.data);
    const value = { path: req.path, data: req.data, ephemeral: req.ephemeral, sequential: req.sequential, sessionId: req.sessionId, options: req.options };
    const o = await this.node.write(cmd(key, { $case: "create", value }, auth), deadline);
    if (o.result.result?.$case !== "create") throw unexpected(o.result);
    return { path: o.result.result.value.path, zxid: o.zxid, stat: o.result.result.value.stat };
  }

  async set(req: SetRequest, deadline: number, key: string, auth: Auth): Promise<SetResponse> {
    this.checkPath(req.path);
    this.checkData(req.data);
    const o = await this.node.write(cmd(key, { $case: "set", value: { path: req.path, data: req.data, expectedVersion: req.expectedVersion } }, auth), deadline);
    if (o.result.result?.$case !== "set") throw unexpected(o.result);
    return { path: req.path, zxid: o.zxid, stat: o.result.result.value.stat };
  }

  async delete(req: DeleteRequest, deadline: number, key: string, auth: Auth): Promise<DeleteResponse> {
    this.checkPath(req.path);
    const o = await this.node.write(cmd(key, { $case: "delete", value: { path: req.path, expectedVersion: req.expectedVersion } }, auth), deadline);
    return { zxid: o.zxid };
  }

  async multi(req: MultiRequest, deadline: number, key: string, auth: Auth): Promise<MultiResponse> {
    if (req.ops.length === 0) throw new ZkError(ErrorCode.INVALID_ARGUMENT, "multi needs at least one op");
    if (req.ops.length > MULTI_OPS_MAX) throw new ZkError(ErrorCode.INVALID_ARGUMENT, `multi takes at most ${MULTI_OPS_MAX} ops`);
    req.ops.forEach((op, i) => this.checkOp(op, i));
    const o = await this.node.write(cmd(key, { $case: "multi", value: { ops: req.ops } }, auth), deadline);
    if (o.result.result?.$case !== "multi") throw unexpected(o.result);
    return { zxid: o.zxid, results: o.result.result.value.results };
  }

  async get(req: GetRequest, deadline: number, _key: string, auth: Auth): Promise<GetResponse> {
    this.checkPath(req.path);
    const zxid = await this.readPoint(req.consistency, deadline);
    const node = this.node.tree.get(req.path);
    if (!node) throw new ZkError(ErrorCode.NO_NODE, `node ${req.path} does not exist`, { path: req.path });
    this.checkRead(req.path, auth, Perm.read);
    return { path: req.path, data: node.data, stat: node.stat, zxid };
  }

  async list(req: ListRequest, deadline: number, _key: string, auth: Auth): Promise<ListResponse> {
    this.checkPath(req.path);
    const zxid = await this.readPoint(req.consistency, deadline);
    const stat = this.node.tree.exists(req.path);
    const l = this.node.tree.list(req.path, req.includeStats);
    if (!stat || !l) throw new ZkError(ErrorCode.NO_NODE, `node ${req.path} does not exist`, { path: req.path });
    this.checkRead(req.path, auth, Perm.read);
    return { path: req.path, children: l.children.map((c) => ({ name: c.name, stat: c.stat })), stat, zxid };
  }

  /** As ZooKeeper: exists needs no permission. */
  async exists(req: ExistsRequest, deadline: number): Promise<ExistsResponse> {
    this.checkPath(req.path);
    const zxid = await this.readPoint(req.consistency, deadline);
    const stat = this.node.tree.exists(req.path);
    return { exists: stat !== null, stat: stat ?? undefined, zxid };
  }

  async sync(_req: SyncRequest, deadline: number): Promise<SyncResponse> {
    return { zxid: await this.node.readBarrier(deadline) };
  }

  /** As ZooKeeper's getACL: READ or ADMIN; without ADMIN, digest ids are shown without their hash. */
  async getAcl(req: GetAclRequest, deadline: number, _key: string, auth: Auth): Promise<GetAclResponse> {
    this.checkPath(req.path);
    const zxid = await this.readPoint(req.consistency, deadline);
    const stat = this.node.tree.exists(req.path);
    const a = this.node.tree.attrsOf(req.path);
    if (!stat || !a) throw new ZkError(ErrorCode.NO_NODE, `node ${req.path} does not exist`, { path: req.path });
    this.checkRead(req.path, auth, Perm.read | Perm.admin);
    const acl = allowed(a.acl, auth, Perm.admin) ? [...a.acl] : redacted(a.acl);
    return { acl, aversion: a.aversion, stat, zxid };
  }

  async setAcl(req: SetAclRequest, deadline: number, key: string, auth: Auth): Promise<SetAclResponse> {
    this.checkPath(req.path);
    const o = await this.node.write(cmd(key, { $case: "setAcl", value: { path: req.path, acl: req.acl, expectedAversion: req.expectedAversion } }, auth), deadline);
    if (o.result.result?.$case !== "setAcl") throw unexpected(o.result);
    return { zxid: o.zxid, aversion: o.result.result.value.aversion, stat: o.result.result.value.stat };
  }

  /** NO_AUTH unless `auth` may do `perm` (any of its bits) on the existing node `path`. */
  checkRead(path: string, auth: Auth, perm: number): void {
    if (this.node.tree.permits(path, auth, perm)) return;
    throw new ZkError(ErrorCode.NO_AUTH, `not authorized to read ${path}: its ACL grants no ${perm & Perm.admin ? "READ or ADMIN" : "READ"} to these credentials`, { path });
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

/** A client's command, with the principals the tree checks it with at apply. */
export function cmd(requestKey: string, op: Command["op"], auth: Auth): Command {
  if (requestKey.length > REQUEST_ID_LENGTH_MAX) throw new ZkError(ErrorCode.INVALID_ARGUMENT, `request key is ${requestKey.length} characters; the limit is ${REQUEST_ID_LENGTH_MAX}`);
  return { requestId: requestKey, timeMs: 0, nonce: 0, auth: { ids: [...auth] }, op };
}

export function unexpected(r: unknown): ZkError {
  return new ZkError(ErrorCode.INTERNAL, `unexpected result ${JSON.stringify(r)}`);
}
