// Items gathered during one turn of the event loop and handed on together: the peer streams
// send what one turn produced as one message instead of one message per item (grpc-js costs
// about as much per message as a small write costs SQLite). setImmediate runs after the I/O
// callbacks of the current turn, so a batch waits for nothing but the work already queued.
// The node also hands every batch on right before and right after its Ready loop runs
// (flushTurnBatches, node.ts): a forward must not wait behind a transaction's fsync, and the
// answers a Ready settles leave as soon as it is done, as they did one message at a time.

/** Batches holding items, for flushTurnBatches. */
const holding = new Set<TurnBatch<unknown>>();
/** Some batch was handed on since the last flushTurnBatches(). */
let handedOn = false;

/**
 * Hand on every batch that holds items now. True when any batch was handed on since the last
 * call (by this call or by a batch's own end of turn): its gRPC writes reach the socket only in
 * the next turn (HTTP/2 sends from a native immediate), so the caller may want to wait for it.
 */
export function flushTurnBatches(): boolean {
  for (const b of [...holding]) b.flush();
  const r = handedOn;
  handedOn = false;
  return r;
}

export class TurnBatch<T> {
  private items: T[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(
    /** Receives each batch, never empty; in the order items were added. */
    private readonly flushTo: (items: T[]) => void,
    /** Items per batch at most: a full batch is handed on at once. */
    private readonly itemsMax: number,
    /** Bytes per batch at most (as the caller counts them); an item above it alone goes alone. */
    private readonly bytesMax = Number.POSITIVE_INFINITY,
  ) {
    if (!Number.isSafeInteger(itemsMax) || itemsMax < 1) throw new RangeError(`zk: bug: batch size ${itemsMax}`);
  }

  add(item: T, bytes = 0): void {
    if (this.items.length > 0 && this.bytes + bytes > this.bytesMax) this.flush();
    this.items.push(item);
    this.bytes += bytes;
    holding.add(this as TurnBatch<unknown>);
    if (this.items.length >= this.itemsMax || this.bytes >= this.bytesMax) {
      this.flush();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  /** Hand on what is gathered now. */
  flush(): void {
    holding.delete(this as TurnBatch<unknown>);
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.bytes = 0;
    handedOn = true;
    this.flushTo(items);
  }

  /** Take what is gathered without handing it on (the stream it was for is gone). */
  clear(): T[] {
    holding.delete(this as TurnBatch<unknown>);
    const items = this.items;
    this.items = [];
    this.bytes = 0;
    return items;
  }
}
