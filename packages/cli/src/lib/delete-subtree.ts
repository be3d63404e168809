// `delete --recursive`: read the subtree, then delete it children-first through multi, so a
// subtree that fits one multi goes all or nothing. Every batch starts with a check of the top
// node's version when one is expected: a batch never deletes under a top node that changed.
import { ErrorCode, type Op, type ZkClient } from "@zk/node/client";
import { postOrder, walkTree } from "./tree-walk.js";
import { isZkError } from "./znode.js";

/** The server's limit on ops per multi (MULTI_OPS_MAX in packages/node/src/net/server.ts). */
const MULTI_OPS_MAX = 1000;
/** Walks started again when the subtree changed under us (a child appeared or went). */
const ATTEMPTS_MAX = 5;

export async function deleteSubtree(client: ZkClient, path: string, expectedVersion: number | undefined): Promise<{ zxid: number; deleted: number }> {
  for (let attempt = 1; ; attempt++) {
    const walk = await walkTree(client, path);
    const order = postOrder(walk).map((n) => n.path);
    const check: Op[] = expectedVersion === undefined ? [] : [{ op: { $case: "check", value: { path, expectedVersion } } }];
    const perBatch = MULTI_OPS_MAX - check.length;
    let zxid = 0;
    let deleted = 0;
    try {
      for (let i = 0; i < order.length; i += perBatch) {
        const ops: Op[] = [...check, ...order.slice(i, i + perBatch).map((p): Op => ({ op: { $case: "delete", value: { path: p } } }))];
        const r = await client.multi(ops);
        zxid = r.zxid;
        deleted += ops.length - check.length;
      }
      return { zxid, deleted };
    } catch (e) {
      // NOT_EMPTY: a child was created after the walk; NO_NODE below the top: one went away.
      const raced = isZkError(e) && (e.code === ErrorCode.NOT_EMPTY || (e.code === ErrorCode.NO_NODE && e.extra.path !== path));
      if (!raced || attempt >= ATTEMPTS_MAX) {
        // The batching is ours: name the node, not the op index inside a batch.
        if (isZkError(e)) e.message = e.message.replace(/^multi op \d+: /, "");
        throw e;
      }
    }
  }
}
