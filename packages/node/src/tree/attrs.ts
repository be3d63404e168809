// What a znode has beyond ZooKeeper's Stat columns: its ACL and ACL version (aversion), and
// whether it is a container or a TTL node. One row in znode_attrs per node that has any of
// these not at its default (ACL world:anyone:cdrwa, aversion 0, a plain node): most trees
// have none, and the znodes table and its hot statements stay as they are. The row lives and
// dies with its node (ZnodeTree's insert and remove hooks), inside the same apply. Stored
// by a TreeTables (tables.ts) as a znode_attrs row.
import type { TreeTables } from "./tables.js";
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

/** How many reap candidates one scan returns at most (the leader proposes them, then scans again). */
export const REAP_SCAN_MAX = 100;

export class ZnodeAttrs {
  constructor(private readonly t: TreeTables) {}

  get(path: string): NodeAttrs {
    const r = this.t.attrs(path);
    if (r === undefined) return DEFAULT_ATTRS;
    return { acl: decodeAcl(r.acl), aversion: r.aversion, kind: r.kind as NodeKindValue, ttlMs: r.ttl_ms };
  }

  /** A new node's attributes (no row when they are all the defaults). */
  created(path: string, acl: readonly Acl[], kind: NodeKindValue, ttlMs: number): void {
    if (isOpenAcl(acl) && kind === NodeKind.plain) return;
    this.t.putAttrs(path, { acl: encodeAcl(acl), aversion: 0, kind, ttl_ms: ttlMs });
  }

  /** set_acl: the new ACL and the aversion after it. */
  setAcl(path: string, acl: readonly Acl[], aversion: number): void {
    const a = this.get(path);
    this.t.putAttrs(path, { acl: encodeAcl(acl), aversion, kind: a.kind, ttl_ms: a.ttlMs });
  }

  removed(path: string): void {
    this.t.deleteAttrs(path);
  }

  /** Whether `path` may be reaped at leader time `nowMs` (the same rule as reapable). */
  isReapable(path: string, nowMs: number): boolean {
    return this.t.isReapable(path, nowMs);
  }

  reapable(nowMs: number, limit = REAP_SCAN_MAX): string[] {
    return this.t.reapable(nowMs, limit);
  }
}
