// Watches: the events the tree emits as it applies the log, fanned out to every matching
// subscriber. A subscriber may start from a past zxid: it first replays the stored history
// (in pages, without blocking the event loop) while live events queue behind, so nothing is
// missed or repeated across the hand-over.
import { ErrorCode } from "./gen/zk/v1/types.js";
import type { WatchEvent } from "./gen/zk/v1/kv.js";
import type { ZkNode } from "./node.js";
import { ZkError } from "./net/errors.js";
import { WATCH_REPLAY_PAGE_SLOTS } from "./tree/index.js";

/** Events queued for one subscriber while it replays history; past it the watch fails. */
export const WATCH_QUEUE_MAX = 100_000;

export interface WatchSpec {
  readonly path: string;
  readonly recursive: boolean;
  /** First zxid to deliver; 0 = only what happens from now on. */
  readonly fromZxid: number;
}

/** Delivers an event; returns false when the consumer cannot keep up (the watch ends). */
export type WatchSink = (ev: WatchEvent) => boolean;

export function matches(spec: Pick<WatchSpec, "path" | "recursive">, ev: WatchEvent): boolean {
  if (ev.path === spec.path) return true;
  if (!spec.recursive) return false;
  return spec.path === "/" || ev.path.startsWith(spec.path + "/");
}

export class WatchHub {
  private readonly subs = new Set<{ spec: WatchSpec; deliver: (zxid: number, evs: readonly WatchEvent[]) => void; end: (e: ZkError) => void }>();

  constructor(private readonly node: ZkNode) {
    node.on("applied", (zxid, events) => {
      for (const s of this.subs) s.deliver(zxid, events);
    });
    // A snapshot replaced this node's state: the events between what a watch saw and the
    // snapshot's slot were never applied here, so every watch ends; it resumes elsewhere (or
    // is told COMPACTED here) rather than silently missing them.
    node.on("installed", (slot) => {
      for (const s of [...this.subs]) s.end(new ZkError(ErrorCode.COMPACTED, `this node installed a snapshot at zxid ${slot}; the events before it are not in its history: watch again (from another node, or from zxid ${slot + 1} after reading the current state)`));
    });
  }

  get size(): number {
    return this.subs.size;
  }

  /**
   * Start a watch. Throws COMPACTED if `fromZxid` is older than the history kept. `onEnd`
   * is called once if the watch ends on its own (the consumer fell too far behind).
   */
  subscribe(spec: WatchSpec, sink: WatchSink, onEnd: (e: ZkError) => void): () => void {
    // A follower applies in batches: catch up first, so the watch starts after every write
    // already chosen (the events of that apply go to the watches already here).
    this.node.applyChosen();
    const applied = this.node.appliedIndex;
    if (spec.fromZxid > 0 && spec.fromZxid <= applied) {
      const oldest = this.node.watchLog.oldestAvailable();
      if (spec.fromZxid < oldest) {
        throw new ZkError(ErrorCode.COMPACTED, `zxid ${spec.fromZxid} is compacted; the oldest zxid available is ${oldest}: read the current state and watch from there`, { path: spec.path });
      }
    }
    let replaying = spec.fromZxid > 0 && spec.fromZxid <= applied;
    const queued: WatchEvent[] = [];
    let ended = false;
    const end = (e: ZkError) => {
      if (ended) return;
      ended = true;
      this.subs.delete(sub);
      onEnd(e);
    };
    const send = (ev: WatchEvent) => {
      if (!ended && !sink(ev)) end(new ZkError(ErrorCode.OVERLOADED, `watcher too slow at zxid ${ev.zxid}; watch again from zxid ${ev.zxid}`));
    };
    const sub = {
      spec,
      end: (e: ZkError) => end(e),
      deliver: (zxid: number, evs: readonly WatchEvent[]) => {
        if (zxid < spec.fromZxid) return;
        for (const ev of evs) {
          if (!matches(spec, ev)) continue;
          if (replaying) {
            if (queued.length >= WATCH_QUEUE_MAX) return end(new ZkError(ErrorCode.OVERLOADED, `watch fell ${WATCH_QUEUE_MAX} events behind while replaying; watch again from zxid ${spec.fromZxid}`));
            queued.push(ev);
          } else send(ev);
        }
      },
    };
    this.subs.add(sub);
    if (replaying) {
      // History up to `applied` (fixed now); live events after it queue until the replay is done.
      let next = spec.fromZxid;
      const page = () => {
        if (ended) return;
        const to = Math.min(applied, next + WATCH_REPLAY_PAGE_SLOTS - 1);
        for (const ev of this.node.watchLog.read(next, to)) if (matches(spec, ev)) send(ev);
        next = to + 1;
        if (next <= applied) {
          setImmediate(page);
          return;
        }
        replaying = false;
        for (const ev of queued.splice(0)) send(ev);
      };
      page();
    }
    return () => {
      ended = true;
      this.subs.delete(sub);
    };
  }
}
