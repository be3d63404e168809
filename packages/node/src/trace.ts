// The write path's timeline (zk-node --trace-file): for every Nth log slot, when it reached
// each stage on each node (machine.ts TraceStage), on CLOCK_MONOTONIC, which every process on a
// Linux machine shares, so one node's "accept-sent" and another's "accept-received" subtract to
// the hop between them. One line per event: `<ns> <node> <stage> <slot> <peer or ->`.
// scripts/bench/timeline.sh traces a loaded cluster; summarizeTimeline() below reads the files.
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import type { TraceStage } from "./machine.js";

/** Lines buffered before they are written (a node killed meanwhile loses at most these). */
const TRACE_LINES_BUFFERED = 64;

export class TraceWriter {
  private readonly fd: number;
  private lines: string[] = [];
  /** Why the file stopped taking lines (a full disk...): tracing stopped, the node runs on. */
  private failed: Error | null = null;

  /**
   * Appends to `path` (created if missing); throws if it cannot be opened, or if it holds
   * something other than a trace: appending to a store, its log or any other file by mistake
   * (a slip in --trace-file) would corrupt it.
   */
  constructor(
    path: string,
    private readonly node: string,
    /** Told once when a write fails: the trace is dropped from then on, never thrown into the Ready loop. */
    private readonly onError: (err: Error) => void = () => undefined,
  ) {
    const fd = openSync(path, "a+");
    try {
      const head = Buffer.alloc(256);
      const n = readSync(fd, head, 0, head.length, 0);
      if (n > 0 && parseTrace(head.subarray(0, n).toString("latin1").split("\n")[0]! + "\n").length === 0) {
        throw new Error(`${path} holds something other than a zk trace; name a new file (or an earlier trace to append to)`);
      }
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    this.fd = fd;
  }

  write(stage: TraceStage, slot: number, peer: string | null): void {
    if (this.failed !== null) return;
    this.lines.push(`${process.hrtime.bigint()} ${this.node} ${stage} ${slot} ${peer ?? "-"}\n`);
    if (this.lines.length >= TRACE_LINES_BUFFERED) this.flush();
  }

  /** Write the buffered lines; a failure stops the trace (onError) and does not throw. */
  flush(): void {
    if (this.lines.length === 0 || this.failed !== null) return;
    const text = this.lines.join("");
    this.lines = [];
    try {
      writeSync(this.fd, text);
    } catch (e) {
      this.failed = e as Error;
      this.onError(this.failed);
    }
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

export interface TraceEvent {
  readonly ns: bigint;
  readonly node: string;
  readonly stage: TraceStage;
  readonly slot: number;
  readonly peer: string | null;
}

const STAGES: ReadonlySet<string> = new Set<TraceStage>(["accept-sent", "accept-received", "written", "acknowledged", "reply-received", "chosen", "applied"]);

/** The events of trace files' text; lines that are not events (a torn last line) are skipped. */
export function parseTrace(text: string): TraceEvent[] {
  const out: TraceEvent[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f.length !== 5 || !/^\d+$/.test(f[0]!) || !STAGES.has(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    out.push({ ns: BigInt(f[0]!), node: f[1]!, stage: f[2] as TraceStage, slot: Number(f[3]), peer: f[4] === "-" ? null : f[4]! });
  }
  return out;
}

/** One step of a write's way, over the slots that have both ends: microseconds. */
export interface TimelineStep {
  readonly step: string;
  readonly slots: number;
  readonly p50Us: number;
  readonly p90Us: number;
}

/**
 * Where a write's time goes, from the leader's Accept to its answer: per sampled slot, each
 * follower's hop in (accept-sent to accept-received), its write (to written), its reply's way
 * out (to acknowledged) and back (to reply-received); the leader's own write; the wait for a
 * quorum (accept-sent to chosen) and the apply (chosen to applied). Medians over slots, each
 * step over the followers alike. The leader is the node that sent the slot's Accepts.
 */
export function summarizeTimeline(events: readonly TraceEvent[]): TimelineStep[] {
  const bySlot = new Map<number, TraceEvent[]>();
  for (const e of events) {
    const list = bySlot.get(e.slot);
    if (list) list.push(e);
    else bySlot.set(e.slot, [e]);
  }
  const steps = new Map<string, number[]>();
  const add = (step: string, from: bigint | undefined, to: bigint | undefined) => {
    if (from === undefined || to === undefined) return;
    let list = steps.get(step);
    if (!list) steps.set(step, (list = []));
    list.push(Number(to - from) / 1000);
  };
  for (const list of bySlot.values()) {
    // The first time each (node, stage, peer) saw the slot: a resend does not move it.
    const first = new Map<string, bigint>();
    for (const e of list) {
      const k = `${e.node} ${e.stage} ${e.peer ?? "-"}`;
      const t = first.get(k);
      if (t === undefined || e.ns < t) first.set(k, e.ns);
    }
    const sent = list.filter((e) => e.stage === "accept-sent");
    if (sent.length === 0) continue;
    const leader = sent[0]!.node;
    const at = (node: string, stage: TraceStage, peer: string | null = null) => first.get(`${node} ${stage} ${peer ?? "-"}`);
    const sentAt = sent.reduce((m, e) => (e.ns < m ? e.ns : m), sent[0]!.ns);
    add("leader: written (own write after its Accepts left)", sentAt, at(leader, "written"));
    add("leader: chosen (Accepts sent to a quorum's answers counted)", sentAt, at(leader, "chosen"));
    add("leader: applied (chosen to applied and answered)", at(leader, "chosen"), at(leader, "applied"));
    for (const f of new Set(sent.map((e) => e.peer!))) {
      add("hop leader -> follower (accept-sent to accept-received)", at(leader, "accept-sent", f), at(f, "accept-received", leader));
      add("follower: written (accept-received to its write done)", at(f, "accept-received", leader), at(f, "written"));
      add("follower: acknowledged (written to its reply sent)", at(f, "written"), at(f, "acknowledged", leader));
      add("hop follower -> leader (acknowledged to reply-received)", at(f, "acknowledged", leader), at(leader, "reply-received", f));
    }
  }
  const out: TimelineStep[] = [];
  for (const [step, list] of steps) {
    list.sort((a, b) => a - b);
    out.push({ step, slots: list.length, p50Us: Math.round(list[Math.floor(list.length / 2)]!), p90Us: Math.round(list[Math.floor(list.length * 0.9)]!) });
  }
  return out;
}
