// How many writes `propose --stdin` keeps in flight. A deep window is what makes a bulk load
// fast (the leader batches what is in flight into one fsync), but every write in it waits for
// the ones ahead: at 500 writes/s (a slow or loaded machine) 2048 in flight means 4 s per
// write, near the 5 s --timeout, and the session's keepalives wait behind them too. So the
// window starts small, grows by one for each quick answer (doubling per round trip, as TCP's
// slow start) up to --window, and halves, once per round, when an answer takes longer than a
// quarter of --timeout. Time is passed in: the caller measures.

/** Where the window starts (or --window, if smaller). */
export const WINDOW_START = 64;
/** The window never shrinks below this (or --window, if smaller). */
export const WINDOW_FLOOR = 8;
/** An answer slower than --timeout divided by this halves the window. */
export const SLOW_ANSWER_FRACTION = 4;

export class WriteWindow {
  private size: number;
  private readonly floor: number;
  private launched = 0;
  /** Requests launched up to this one were in flight when the window last halved. */
  private cutAt = 0;

  constructor(
    private readonly max: number,
    private readonly slowMs: number,
  ) {
    this.size = Math.min(max, WINDOW_START);
    this.floor = Math.min(max, WINDOW_FLOOR);
  }

  /** For a --timeout of `timeoutMs`. */
  static forTimeout(max: number, timeoutMs: number): WriteWindow {
    return new WriteWindow(max, timeoutMs / SLOW_ANSWER_FRACTION);
  }

  /** How many writes may be in flight now. */
  get limit(): number {
    return this.size;
  }

  /** A write goes out; returns its ticket for answered(). */
  launch(): number {
    return ++this.launched;
  }

  /** The write with this ticket was answered (or failed) `ms` after it went out. */
  answered(ticket: number, ms: number): void {
    if (ms > this.slowMs) {
      // Every write in flight at the cut was slowed by the same queue: one cut per round.
      if (ticket > this.cutAt) {
        this.size = Math.max(this.floor, Math.floor(this.size / 2));
        this.cutAt = this.launched;
      }
      return;
    }
    if (ms <= this.slowMs / 2 && this.size < this.max) this.size++;
  }
}
