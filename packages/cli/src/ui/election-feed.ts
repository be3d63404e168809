// One WatchElections stream per node, kept open for as long as the watcher runs: a lost stream
// (the node was killed or restarted) is reported as "down" and reopened with backoff; a
// stream that goes silent (a paused node keeps its TCP connection but sends nothing; a
// healthy one sends a status every 250 ms) is reported as down until it speaks again.
// Everything it learns goes to one callback as a FeedUpdate (election-model.ts).
import type { ElectionUpdate, ZkClient } from "@zk/node/client";
import type { FeedUpdate } from "./election-model.js";

/** First wait before reopening a lost stream; doubles up to the max while the node stays down. */
export const RECONNECT_BACKOFF_MIN_MS = 200;
export const RECONNECT_BACKOFF_MAX_MS = 2000;
/** A node sends a status every 250 ms; this long without one and it is shown down. */
export const SILENT_AFTER_MS = 1500;
const WATCHDOG_EVERY_MS = 250;

/** A grpc-js server stream (named through the client: @grpc/grpc-js is @zk/node's dependency). */
type ElectionStream = ReturnType<ZkClient["watchElections"]>;

/** Where streams come from: ZkClient in the CLI. */
export interface ElectionStreamSource {
  watchElections(endpoint: string): ElectionStream;
}

interface Watched {
  readonly address: string;
  stream: ElectionStream | null;
  retry: NodeJS.Timeout | null;
  backoffMs: number;
  /** When the current stream last said something (or was opened). */
  lastHeardMs: number;
  silent: boolean;
}

export class ElectionFeed {
  private readonly watched: Watched[];
  private watchdog: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly source: ElectionStreamSource,
    addresses: readonly string[],
    private readonly onUpdate: (u: FeedUpdate) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.watched = addresses.map((address) => ({ address, stream: null, retry: null, backoffMs: RECONNECT_BACKOFF_MIN_MS, lastHeardMs: 0, silent: false }));
  }

  start(): void {
    for (const w of this.watched) this.open(w);
    this.watchdog = setInterval(() => this.checkSilence(), WATCHDOG_EVERY_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    for (const w of this.watched) {
      if (w.retry) clearTimeout(w.retry);
      w.retry = null;
      const s = w.stream;
      w.stream = null;
      s?.cancel();
    }
  }

  /** Watch one more node (a member added since the watcher started); a no-op for one watched. */
  watch(address: string): void {
    if (this.stopped || this.watched.some((x) => x.address === address)) return;
    const w: Watched = { address, stream: null, retry: null, backoffMs: RECONNECT_BACKOFF_MIN_MS, lastHeardMs: 0, silent: false };
    this.watched.push(w);
    if (this.watchdog) this.open(w);
  }

  /** Reopen a node's stream now, skipping the backoff wait (it was just restarted). */
  reconnect(address: string): void {
    const w = this.watched.find((x) => x.address === address);
    if (!w || this.stopped) return;
    if (w.retry) clearTimeout(w.retry);
    w.retry = null;
    w.backoffMs = RECONNECT_BACKOFF_MIN_MS;
    const s = w.stream;
    w.stream = null;
    s?.cancel();
    this.open(w);
  }

  private open(w: Watched): void {
    if (this.stopped) return;
    const stream = this.source.watchElections(w.address);
    w.stream = stream;
    w.lastHeardMs = this.now();
    w.silent = false;
    stream.on("data", (u: ElectionUpdate) => {
      if (w.stream !== stream) return;
      const atMs = this.now();
      w.lastHeardMs = atMs;
      w.silent = false;
      w.backoffMs = RECONNECT_BACKOFF_MIN_MS;
      const up = u.update;
      if (up?.$case === "status") this.onUpdate({ kind: "status", key: w.address, atMs, status: up.value });
      else if (up?.$case === "event") this.onUpdate({ kind: "event", key: w.address, atMs, event: up.value });
    });
    // Cancelled streams still emit their error: always listened to, acted on only for the current one.
    stream.on("error", (e: Error & { details?: string }) => this.lost(w, stream, e.details || e.message));
    stream.on("end", () => this.lost(w, stream, "stream ended"));
  }

  private lost(w: Watched, stream: ElectionStream, reason: string): void {
    if (this.stopped || w.stream !== stream) return;
    w.stream = null;
    stream.cancel();
    this.onUpdate({ kind: "down", key: w.address, atMs: this.now(), reason: describeLoss(reason) });
    const wait = w.backoffMs;
    w.backoffMs = Math.min(RECONNECT_BACKOFF_MAX_MS, w.backoffMs * 2);
    w.retry = setTimeout(() => {
      w.retry = null;
      this.open(w);
    }, wait);
  }

  private checkSilence(): void {
    const now = this.now();
    for (const w of this.watched) {
      if (w.stream && !w.silent && now - w.lastHeardMs > SILENT_AFTER_MS) {
        w.silent = true;
        this.onUpdate({ kind: "down", key: w.address, atMs: now, reason: `silent ${((now - w.lastHeardMs) / 1000).toFixed(1)} s (paused?)` });
      }
    }
  }
}

/** grpc-js's words for a refused connection are long; the watcher's row has little room. */
function describeLoss(reason: string): string {
  if (/ECONNREFUSED|Connection refused|No connection established/i.test(reason)) return "connection refused";
  if (/ECONNRESET|Connection dropped|socket hang up/i.test(reason)) return "connection lost";
  return reason.split("\n")[0]!.slice(0, 80);
}
