// Where a watch resumes after a reconnect. One zxid can carry several events (deleting a
// node fires DELETED for it and CHILDREN_CHANGED for its parent), and a stream can break
// between them: resuming from the zxid after the last event would lose the rest of that
// zxid's events, so a resume starts at that zxid again and drops the ones already delivered.
// The server sends a zxid's events in the same order live and from its history (by seq).

export class WatchCursor {
  /** The zxid of the last event delivered (0: none yet) and how many of its events were. */
  private lastZxid = 0;
  private seenAtLast = 0;
  /** Events at `lastZxid` still to drop on the current registration. */
  private skip = 0;

  /** `fromZxid`: where the first registration starts (0: from now). */
  constructor(private fromZxid: number) {}

  /** The fromZxid for a (re)registration; resets what it must drop. */
  register(): number {
    if (this.lastZxid === 0) return this.fromZxid;
    this.skip = this.seenAtLast;
    return this.lastZxid;
  }

  /** The first registration answered at `zxid` with nothing asked from the past. */
  registered(zxid: number): void {
    if (this.lastZxid === 0 && this.fromZxid === 0) this.fromZxid = zxid + 1;
  }

  /** An event arrived on the current registration: false if it was delivered already. */
  accept(zxid: number): boolean {
    if (this.skip > 0 && zxid === this.lastZxid) {
      this.skip--;
      return false;
    }
    this.skip = 0;
    if (zxid === this.lastZxid) this.seenAtLast++;
    else {
      this.lastZxid = zxid;
      this.seenAtLast = 1;
    }
    return true;
  }
}
