// A hand-driven cluster for scenario tests: the test decides which messages arrive, in
// what order, and when nodes tick, crash and restart. Readies are persisted to in-memory
// stores before their messages are queued, as the real driver does.
import {
  PaxosCore,
  SeededRng,
  decodeConfig,
  isConfigCommand,
  type ClusterConfig,
  type Command,
  type CoreConfig,
  type Entry,
  type Message,
  type NodeId,
  type RoleChangeEvent,
} from "../src/paxos/index.js";
import { MemAcceptorStore } from "../src/storage/mem-store.js";

export const enc = (s: string): Command => new TextEncoder().encode(s);
export const dec = (c: Command): string => (c.length === 0 ? "no-op" : new TextDecoder().decode(c));

export interface HarnessNode {
  readonly id: NodeId;
  store: MemAcceptorStore;
  /** The store's incarnation (0 until a wipe rebuilds it). */
  incarnation: number;
  core: PaxosCore | null;
  readonly applied: Entry[];
  readonly events: RoleChangeEvent[];
  /** Read contexts confirmed by this node, in order. */
  readonly reads: number[];
}

export class Harness {
  readonly nodes = new Map<NodeId, HarnessNode>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  private seed = 1;

  constructor(
    ids: readonly NodeId[],
    private readonly overrides: Partial<CoreConfig> = {},
    /** Each node's first configuration (default: every id a voter); configurations it applies since win. */
    private readonly firstConfig?: (id: NodeId) => ClusterConfig,
  ) {
    for (const id of ids) {
      const node: HarnessNode = { id, store: new MemAcceptorStore(), incarnation: 0, core: null, applied: [], events: [], reads: [] };
      this.nodes.set(id, node);
    }
    for (const id of ids) this.start(id);
  }

  get ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  node(id: NodeId): HarnessNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  core(id: NodeId): PaxosCore {
    const c = this.node(id).core;
    if (!c) throw new Error(`${id} is down`);
    return c;
  }

  start(id: NodeId): void {
    const n = this.node(id);
    n.applied.length = n.store.applied();
    // The configuration at the applied index, as the machine keeps it in its store.
    let membership = this.firstConfig?.(id);
    for (const e of n.applied) if (isConfigCommand(e.command)) membership = decodeConfig(e.command);
    n.core = new PaxosCore(
      { id, members: this.ids, ...(membership ? { membership } : {}), rng: new SeededRng(this.seed++), electionTimeoutTicks: 10, heartbeatTicks: 2, ...this.overrides, applied: n.store.applied(), incarnation: n.incarnation },
      n.store.load(),
    );
    this.flush();
  }

  crash(id: NodeId): void {
    this.node(id).core = null;
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
  }

  /**
   * The node's disk is lost: it is down, and comes back (start) on an empty store. Rebuilt
   * properly, the store is recovering under a new incarnation; `asFresh` is the unsafe
   * way, an empty store taken for a new member.
   */
  wipe(id: NodeId, incarnation: number, opts: { asFresh?: boolean } = {}): void {
    const n = this.node(id);
    this.crash(id);
    n.store = new MemAcceptorStore({ recovering: opts.asFresh !== true });
    n.incarnation = opts.asFresh === true ? 0 : incarnation;
    n.applied.length = 0;
  }

  /** Persist and "send" every pending Ready. */
  flush(): void {
    for (let round = 0; round < 100; round++) {
      let any = false;
      for (const n of this.nodes.values()) {
        const core = n.core;
        if (!core?.hasReady()) continue;
        any = true;
        const rd = core.ready();
        n.store.save(rd.hardState, rd.entries);
        this.queue.push(...rd.messages);
        n.applied.push(...rd.committed);
        if (rd.committed.length) n.store.setApplied(rd.committed[rd.committed.length - 1]!.slot);
        n.events.push(...rd.events);
        n.reads.push(...rd.readStates.map((r) => r.ctx));
        core.advance();
      }
      if (!any) return;
    }
    throw new Error("readies did not settle");
  }

  /** Deliver queued messages matching `filter` (all by default); drop those `drop` matches. */
  deliver(filter: (m: Message) => boolean = () => true, drop: (m: Message) => boolean = () => false): number {
    let delivered = 0;
    for (let round = 0; round < 1000; round++) {
      const now = this.queue;
      this.queue = [];
      let progressed = false;
      for (const m of now) {
        if (drop(m)) continue;
        if (!filter(m)) {
          this.queue.push(m);
          continue;
        }
        const to = this.nodes.get(m.to)?.core;
        if (to) {
          to.step(m);
          delivered++;
          progressed = true;
        }
      }
      this.flush();
      if (!progressed) return delivered;
    }
    throw new Error("deliveries did not settle");
  }

  tick(ids: readonly NodeId[] = this.ids, times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const id of ids) this.nodes.get(id)?.core?.tick();
      this.flush();
    }
  }

  /** Tick everyone, delivering everything, until `pred` holds (bounded). */
  runUntil(pred: () => boolean, maxTicks = 500, allowed: (m: Message) => boolean = () => true): void {
    for (let t = 0; t < maxTicks; t++) {
      if (pred()) return;
      this.tick();
      this.deliver(allowed, (m) => !allowed(m));
    }
    if (!pred()) throw new Error(`condition not reached in ${maxTicks} ticks`);
  }

  leader(): NodeId | null {
    const ls = this.ids.filter((id) => this.nodes.get(id)?.core?.role === "leader");
    return ls.length === 1 ? ls[0]! : null;
  }

  /**
   * Make `id` time out and campaign now; deliver only `allowed` messages (others are lost,
   * as across a partition). Returns when the campaign has no more messages to deliver.
   */
  elect(id: NodeId, allowed: (m: Message) => boolean = () => true): void {
    this.timeOut(id);
    this.deliver(allowed, (m) => !allowed(m));
  }

  /** Tick `id` alone until its election timer fires; its pre-votes stay queued. */
  timeOut(id: NodeId): void {
    const n = this.node(id);
    const before = n.events.length;
    for (let i = 0; i < 100; i++) {
      this.core(id).tick();
      this.flush();
      if (n.events.slice(before).some((e) => e.reason === "election-timeout")) return;
    }
    throw new Error(`${id} never timed out`);
  }

  chosenLog(id: NodeId): string[] {
    return this.node(id).applied.map((e) => dec(e.command));
  }
}
