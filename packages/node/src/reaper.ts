// The leader's reaping of container and TTL nodes (ZooKeeper's ContainerManager): every
// REAP_CHECK_MS, while this node leads, it proposes a reap_node command for each container
// that had children and has none, and each TTL node without children not modified for its
// TTL. The command is checked again at apply, at the time the leader stamped on it
// (tree.ts reapNode), so every replica deletes the same nodes, a node that gained a child or
// a write meanwhile stays, and a proposal that a deposed leader left behind is harmless.
import type { Logger } from "./log.js";
import type { ZkNode } from "./node.js";

/** How often the leader looks for nodes to reap (ZooKeeper's default is 60 s; TTLs want finer). */
export const REAP_CHECK_MS = 1000;
/** How long one reap proposal may take before the next check proposes it again. */
const REAP_WRITE_MS = 5000;

export class Reaper {
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly node: ZkNode,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.check(), REAP_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private check(): void {
    if (this.node.role !== "leader" || this.node.cannotPersist) return;
    let paths: string[];
    try {
      paths = this.node.tree.reapable(Date.now());
    } catch (e) {
      this.log.warn({ err: (e as Error).message.split("\n")[0] }, "cannot look for container and TTL nodes to reap");
      return;
    }
    for (const path of paths) {
      if (this.inFlight.has(path)) continue;
      this.inFlight.add(path);
      this.node
        .write({ requestId: "", timeMs: 0, nonce: 0, op: { $case: "reapNode", value: { path } } }, Date.now() + REAP_WRITE_MS)
        .then(
          () => this.log.info({ path }, "reaped an empty container or expired TTL node"),
          () => undefined,
        )
        .finally(() => this.inFlight.delete(path));
    }
  }
}
