// A subtree read with one List per node (a few in flight at once), for `ls --recursive` and
// `delete --recursive`. Not a snapshot: each listing is linearizable on its own, and a node
// deleted while the walk runs is left out rather than failing it.
import type { ZkClient } from "@zk/node/client";
import { CODE, isZkError, joinPath, type Stat } from "./znode.js";

/** Lists in flight at once. */
const LIST_CONCURRENCY = 16;

export interface WalkedNode {
  readonly path: string;
  /** From the parent's listing (the root's from its own); undefined unless stats were asked for. */
  readonly stat: Stat | undefined;
  /** Child names, sorted byte-wise. */
  children: string[];
}

export interface Walk {
  readonly root: string;
  readonly nodes: Map<string, WalkedNode>;
  /** The highest zxid any listing was served at. */
  readonly zxid: number;
}

/** Read the subtree at `root`. Throws NO_NODE if `root` does not exist. */
export async function walkTree(client: ZkClient, root: string, opts: { includeStats?: boolean; consistency?: "linearizable" | "local" } = {}): Promise<Walk> {
  const nodes = new Map<string, WalkedNode>();
  let zxid = 0;
  const first = await client.list(root, { includeStats: opts.includeStats ?? false, consistency: opts.consistency });
  zxid = first.zxid;
  const queue: WalkedNode[] = [];
  const add = (path: string, stat: Stat | undefined, children: readonly { name: string; stat?: Stat | undefined }[]) => {
    const node: WalkedNode = { path, stat, children: children.map((c) => c.name).sort(byteOrder) };
    nodes.set(path, node);
    for (const c of children) queue.push({ path: joinPath(path, c.name), stat: c.stat, children: [] });
  };
  add(root, first.stat, first.children);
  const gone = new Set<string>();
  const worker = async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const n = next;
      try {
        const r = await client.list(n.path, { includeStats: opts.includeStats ?? false, consistency: opts.consistency });
        zxid = Math.max(zxid, r.zxid);
        add(n.path, n.stat, r.children);
      } catch (e) {
        if (!isZkError(e, CODE.NO_NODE)) throw e;
        gone.add(n.path);
      }
    }
  };
  // Workers drain the queue; one that finds it empty exits, so keep starting rounds until
  // no listing added more work.
  while (queue.length > 0) await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, queue.length) }, worker));
  for (const p of gone) {
    const parent = nodes.get(p.slice(0, Math.max(1, p.lastIndexOf("/"))));
    if (parent) parent.children = parent.children.filter((c) => joinPath(parent.path, c) !== p);
  }
  return { root, nodes, zxid };
}

/** Paths in depth-first pre-order (a node before its children, siblings sorted). */
export function preOrder(w: Walk): WalkedNode[] {
  const out: WalkedNode[] = [];
  const visit = (path: string) => {
    const n = w.nodes.get(path);
    if (!n) return;
    out.push(n);
    for (const c of n.children) visit(joinPath(path, c));
  };
  visit(w.root);
  return out;
}

/** Paths children-first (every node after all of its descendants). */
export function postOrder(w: Walk): WalkedNode[] {
  const out: WalkedNode[] = [];
  const visit = (path: string) => {
    const n = w.nodes.get(path);
    if (!n) return;
    for (const c of n.children) visit(joinPath(path, c));
    out.push(n);
  };
  visit(w.root);
  return out;
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
