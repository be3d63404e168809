// A ZkSession as the long-running commands (create --ephemeral, watch, lock, elect) use it:
// idempotent calls retried across the session's reconnects, waits for one watch event that
// end on a stop signal or when the session is gone, and a close that releases ephemeral
// nodes even when the stream is between nodes. Loaded only by those commands (it pulls in
// the gRPC client).
import { fstatSync } from "node:fs";
import { ErrorCode, ZkError, ZkSession, type WatchEvent } from "@zk/node/client";
export type { SessionState } from "@zk/node/client";

/** The server clamps TTLs to at least this. */
export const SESSION_TTL_MIN_MS = 1000;
/** Signals that end a long-running command cleanly (SIGHUP: its terminal went away). */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
/** Pause before retrying a call that failed because the stream was moving to another node. */
const RETRY_PAUSE_MS = 100;

/** Errors after which an idempotent call is worth sending again (the stream moved, no leader yet). */
export function isTransient(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return (
    (e as Error)?.name === "ZkError" &&
    (code === ErrorCode.UNAVAILABLE || code === ErrorCode.TIMEOUT || code === ErrorCode.NOT_LEADER || code === ErrorCode.OVERLOADED)
  );
}

export function hasCode(e: unknown, code: ErrorCode): boolean {
  return (e as Error)?.name === "ZkError" && (e as ZkError).code === code;
}

/**
 * The client's "no zk node reachable at A, B (lost the connection to B (...gRPC's words...);
 * the request may or may not have been applied)" names B twice and speaks of a request when
 * none was made: as one line, each endpoint once, and why in a word.
 */
export function unreachableOnce(e: unknown, endpoints: readonly string[]): unknown {
  if (!hasCode(e, ErrorCode.UNAVAILABLE) || !(e as Error).message.startsWith("no zk node reachable at ")) return e;
  const m = (e as Error).message;
  const why =
    /ECONNREFUSED/.test(m) ? " (connection refused)"
    : /ENOTFOUND|EAI_AGAIN/.test(m) ? " (host not found)"
    : /deadline|timed out|timeout/i.test(m) ? " (no answer in time)"
    : "";
  (e as Error).message = `no zk node reachable at ${endpoints.join(", ")}${why}; is the cluster up? (zk-cli cluster status)`;
  return e;
}

export class CliSession {
  /** Why the session is over (expired, or could not reconnect within its TTL); null while it lives. */
  expired: ZkError | null = null;
  private readonly expiryWaiters = new Set<(e: ZkError) => void>();
  private readonly reconnectWaiters = new Set<() => void>();

  private constructor(readonly session: ZkSession) {
    session.on("expired", (e) => {
      this.expired = e;
      for (const w of [...this.expiryWaiters]) w(e);
      this.expiryWaiters.clear();
      this.wakeReconnectWaiters();
    });
    session.on("reconnected", () => this.wakeReconnectWaiters());
  }

  /**
   * Open a session. Opening is a write through the log, so it waits for a leader: a
   * transient failure (no leader at the moment, e.g. during an election) is retried until
   * `timeoutMs` has passed.
   */
  static async open(endpoints: readonly string[], ttlMs: number, timeoutMs: number, auth: readonly string[] = []): Promise<CliSession> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return new CliSession(await ZkSession.open({ endpoints, ttlMs, timeoutMs, auth }));
      } catch (e) {
        if (!isTransient(e) || Date.now() + RETRY_PAUSE_MS >= deadline) throw unreachableOnce(e, endpoints);
        await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS * 2));
      }
    }
  }

  get sessionId(): number {
    return this.session.sessionId;
  }

  /** How long a call keeps being retried: long enough for the session to move to another node. */
  get retryWindowMs(): number {
    return Math.max(this.session.ttlMs, SESSION_TTL_MIN_MS) + 2000;
  }

  /**
   * Run an idempotent call, again after each transient failure (the stream broke and the
   * session is reconnecting, or there is no leader for a moment), until it succeeds, fails
   * for good, the session is gone, or the retry window passes.
   */
  async retrying<T>(f: (s: ZkSession) => Promise<T>, deadline = Date.now() + this.retryWindowMs): Promise<T> {
    for (;;) {
      if (this.expired) throw this.expired;
      try {
        return await f(this.session);
      } catch (e) {
        if (this.expired) throw this.expired;
        if (!isTransient(e) || Date.now() >= deadline) throw e;
        await this.reconnectedOr(RETRY_PAUSE_MS);
      }
    }
  }

  /** Create `path` as an empty persistent node, with its missing ancestors; existing ones are fine. */
  async ensurePath(path: string): Promise<void> {
    const parts = path.split("/").filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = "/" + parts.slice(0, i).join("/");
      await this.retrying(async (s) => {
        try {
          await s.create(p, new Uint8Array(0));
        } catch (e) {
          if (!hasCode(e, ErrorCode.NODE_EXISTS)) throw e;
        }
      });
    }
  }

  /**
   * Wait for the first event on `path` (not its subtree) from `fromZxid` on that `accept`s.
   * Rejects when the watch fails (e.g. COMPACTED), the session is gone, or `abort` fires
   * (with its reason).
   */
  waitForEvent(path: string, fromZxid: number, accept: (ev: WatchEvent) => boolean, abort: AbortSignal): Promise<WatchEvent> {
    return new Promise<WatchEvent>((resolve, reject) => {
      let unwatch: (() => void) | null = null;
      let done = false;
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        abort.removeEventListener("abort", onAbort);
        unwatch?.();
        settle();
      };
      const onAbort = () => finish(() => reject(abort.reason));
      if (abort.aborted) return reject(abort.reason);
      abort.addEventListener("abort", onAbort);
      this.retrying((s) =>
        s.watch(
          path,
          { fromZxid },
          (ev) => {
            if (accept(ev)) finish(() => resolve(ev));
          },
          (e) => finish(() => reject(e)),
        ),
      ).then(
        (u) => {
          if (done) u();
          else unwatch = u;
        },
        (e: unknown) => finish(() => reject(e)),
      );
    });
  }

  /** Resolves when `abort` fires; rejects when the session is gone first. */
  idle(abort: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.expired) return reject(this.expired);
      if (abort.aborted) return resolve();
      const onExpired = (e: ZkError) => {
        abort.removeEventListener("abort", onAbort);
        reject(e);
      };
      const onAbort = () => {
        this.expiryWaiters.delete(onExpired);
        resolve();
      };
      this.expiryWaiters.add(onExpired);
      abort.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * End the session: delete `ephemerals` first (retried across a reconnect, so a lock is
   * released now even if the stream is between nodes), then close it, which deletes any
   * other ephemeral node it owns. Never throws; returns the ones of `ephemerals` that may
   * still exist (neither the deletes nor the close got through): they go when the session
   * expires, within its TTL.
   */
  async close(ephemerals: readonly string[] = []): Promise<string[]> {
    const left: string[] = [];
    if (!this.expired) {
      const deadline = Date.now() + Math.min(this.retryWindowMs, 5000);
      for (const p of ephemerals) {
        try {
          await this.retrying(async (s) => {
            try {
              await s.delete(p);
            } catch (e) {
              if (!hasCode(e, ErrorCode.NO_NODE)) throw e;
            }
          }, deadline);
        } catch {
          left.push(p);
        }
      }
    }
    try {
      await this.session.close();
      return [];
    } catch {
      this.session.abandon();
      return this.expired ? [] : left;
    }
  }

  /** close(), with a warning on stderr for each node left to the session's expiry. */
  async closeAndReport(ephemerals: readonly string[] = []): Promise<void> {
    const left = await this.close(ephemerals);
    for (const p of left) {
      process.stderr.write(`warning: could not delete ${p} now (no leader?); it goes when session ${this.sessionId} expires, within ${this.session.ttlMs} ms\n`);
    }
  }

  private reconnectedOr(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.reconnectWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.reconnectWaiters.add(done);
    });
  }

  private wakeReconnectWaiters(): void {
    for (const w of [...this.reconnectWaiters]) w();
  }
}

/**
 * An AbortSignal that fires on the first SIGINT, SIGTERM or SIGHUP (its reason is the signal's name),
 * with the handlers removed by `dispose`. Also fires at EOF of stdin when `stdinEof` and
 * stdin is a pipe or socket: never a terminal (a background job reading it would be stopped)
 * and never /dev/null (where a background job's stdin usually points).
 */
export function stopSignal(opts: { stdinEof?: boolean } = {}): { signal: AbortSignal; abort: (reason: string) => void; stopped: Promise<void>; dispose: () => void } {
  const ac = new AbortController();
  const onSig = (sig: NodeJS.Signals) => ac.abort(sig);
  for (const sig of STOP_SIGNALS) process.on(sig, onSig);
  let onEnd: (() => void) | null = null;
  if (opts.stdinEof && stdinIsPipe()) {
    onEnd = () => ac.abort("EOF");
    process.stdin.on("end", onEnd);
    process.stdin.on("error", onEnd);
    process.stdin.resume();
  }
  return {
    signal: ac.signal,
    abort: (reason) => ac.abort(reason),
    stopped: new Promise<void>((resolve) => (ac.signal.aborted ? resolve() : ac.signal.addEventListener("abort", () => resolve(), { once: true }))),
    dispose: () => {
      for (const sig of STOP_SIGNALS) process.off(sig, onSig);
      if (onEnd) {
        process.stdin.off("end", onEnd);
        process.stdin.off("error", onEnd);
        process.stdin.pause();
      }
    },
  };
}

function stdinIsPipe(): boolean {
  try {
    const st = fstatSync(0);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

/** The sequence number of a sequential node's name (its last 10 digits), or NaN. */
export function sequenceOf(name: string): number {
  const m = /(\d{10})$/.exec(name);
  return m ? Number(m[1]) : Number.NaN;
}
