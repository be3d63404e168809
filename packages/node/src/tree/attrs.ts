// What a znode has beyond ZooKeeper's Stat columns: its ACL and ACL version (aversion), and
// whether it is a container or a TTL node. One row in znode_attrs per node that has any of
// these not at its default (ACL world:anyone:cdrwa, aversion 0, a plain node): most trees
// have none, and the znodes table and its hot statements stay as they are. The row lives and
// dies with its node (ZnodeTree's insert and remove hooks), inside the same apply.
import type { SqliteDatabase } from "../storage/sqlite-store.js";
import { OPEN_ACL, decodeAcl, encodeAcl, isOpenAcl, type Acl } from "./acl.js";

/** A znode's kind, ZooKeeper's CreateMode beyond ephemeral and sequential. */
export const NodeKind = { plain: 0, container: 1, ttl: 2 } as const;
export type NodeKindValue = (typeof NodeKind)[keyof typeof NodeKind];

export interface NodeAttrs {
  readonly acl: readonly Acl[];
  readonly aversion: number;
  readonly kind: NodeKindValue;
  /** A TTL node's TTL; 0 otherwise. */
  readonly ttlMs: number;
}

export const DEFAULT_ATTRS: NodeAttrs = { acl: OPEN_ACL, aversion: 0, kind: NodeKind.plain, ttlMs: 0 };

interface AttrsRow {
  readonly acl: string;
  readonly aversion: number;
  readonly kind: number;
  readonly ttl_ms: number;
}

/** How many reap candidates one scan returns at most (the leader proposes them, then scans again). */
export const REAP_SCAN_MAX = 100;

export class ZnodeAttrs {
  private readonly s;

  constructor(db: SqliteDatabase) {
    this.s = {
      get: db.prepare<[string], AttrsRow>("SELECT acl, aversion, kind, ttl_ms FROM znode_attrs WHERE path = ?"),
      put: db.prepare<[string, string, number, number, number]>(
        "INSERT OR REPLACE INTO znode_attrs (path, acl, aversion, kind, ttl_ms) VALUES (?, ?, ?, ?, ?)",
      ),
      delete: db.prepare<[string]>("DELETE FROM znode_attrs WHERE path = ?"),
      reapableOne: db
        .prepare<[string, number], number>(
          `SELECT 1 FROM znode_attrs a JOIN znodes z ON z.path = a.path
           WHERE a.path = ? AND a.kind != 0 AND z.num_children = 0
             AND ((a.kind = 1 AND z.cversion > 0) OR (a.kind = 2 AND z.mtime_ms + a.ttl_ms <= ?))`,
        )
        .pluck(),
      // Containers that had a child and have none; TTL nodes without children not modified
      // for their TTL as of `now` (ZooKeeper's ContainerManager.getCandidates).
      reapable: db
        .prepare<[number, number], string>(
          `SELECT a.path FROM znode_attrs a JOIN znodes z ON z.path = a.path
           WHERE a.kind != 0 AND z.num_children = 0
             AND ((a.kind = 1 AND z.cversion > 0) OR (a.kind = 2 AND z.mtime_ms + a.ttl_ms <= ?))
           ORDER BY a.path LIMIT ?`,
        )
        .pluck(),
    };
  }

  get(path: string): NodeAttrs {
    const r = this.s.get.get(path);
    if (r === undefined) return DEFAULT_ATTRS;
    return { acl: decodeAcl(r.acl), aversion: r.aversion, kind: r.kind as NodeKindValue, ttlMs: r.ttl_ms };
  }

  /** A new node's attributes (no row when they are all the defaults). */
  created(path: string, acl: readonly Acl[], kind: NodeKindValue, ttlMs: number): void {
    if (isOpenAcl(acl) && kind === NodeKind.plain) return;
    this.s.put.run(path, encodeAcl(acl), 0, kind, ttlMs);
  }

  /** set_acl: the new ACL and the aversion after it. */
  setAcl(path: string, acl: readonly Acl[], aversion: number): void {
    const a = this.get(path);
    this.s.put.run(path, encodeAcl(acl), aversion, a.kind, a.ttlMs);
  }

  removed(path: string): void {
    this.s.delete.run(path);
  }

  /** Whether `path` may be reaped at leader time `nowMs` (the same rule as reapable). */
  isReapable(path: string, nowMs: number): boolean {
    return this.s.reapableOne.get(path, nowMs) !== undefined;
  }

  reapable(nowMs: number, limit = REAP_SCAN_MAX): string[] {
    return this.s.reapable.all(nowMs, limit);
  }
}
