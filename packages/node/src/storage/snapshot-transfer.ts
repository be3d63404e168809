// Moving a snapshot file between nodes, resumably: the sender writes the snapshot once to a
// file (writeSnapshotFile: its size and sha256 are then known) and sends byte ranges of it
// (readSnapshotRange); the receiver appends them in order to a partial file beside its store
// (SnapshotReceiver), which survives a broken connection and a restart, so a transfer resumes
// at receiver.nextOffset instead of starting over. Nothing is installed until the whole file
// is there, fsynced, and matches the announced size and checksum. The transport is the
// caller's (the peer stream); nothing here opens a socket or reads a clock.
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { SnapshotError, fsyncDir, readSnapshotFile, type SnapshotInfo } from "./snapshot.js";

/** What a sender announces before the bytes: the receiver checks the finished file against it. */
export interface SnapshotOffer {
  readonly slot: number;
  readonly bytes: number;
  readonly sha256: string;
}

/** The longest range readSnapshotRange hands out at once. */
export const SNAPSHOT_RANGE_BYTES_MAX = 4 * 1024 * 1024;

/** `maxBytes` of `file` from `offset` (fewer at its end; empty past it). */
export function readSnapshotRange(file: string, offset: number, maxBytes: number): Buffer {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`zk: snapshot offset ${offset} is not a byte offset`);
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1 || maxBytes > SNAPSHOT_RANGE_BYTES_MAX) throw new RangeError(`zk: snapshot range of ${maxBytes} bytes (1..${SNAPSHOT_RANGE_BYTES_MAX})`);
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const n = Math.max(0, Math.min(maxBytes, size - offset));
    const b = Buffer.allocUnsafe(n);
    let done = 0;
    while (done < n) {
      const r = readSync(fd, b, done, n - done, offset + done);
      if (r === 0) break;
      done += r;
    }
    return b.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

/**
 * A deadline for a whole transfer that grows with its size: `baseMs` plus the time the bytes
 * take at `bytesPerSecondMin` (a transfer slower than that is presumed stuck, and resumed).
 */
export function transferDeadlineMs(bytes: number, opts: { readonly baseMs?: number; readonly bytesPerSecondMin?: number } = {}): number {
  const base = opts.baseMs ?? 10_000;
  const rate = opts.bytesPerSecondMin ?? 1024 * 1024;
  return base + Math.ceil((bytes / rate) * 1000);
}

/**
 * The receiving end: `path` is where the finished snapshot goes; `path`.part holds what has
 * arrived and `path`.offer the offer it belongs to, so a receiver opened again for the same
 * offer resumes, and one for another offer starts afresh.
 */
export class SnapshotReceiver {
  private fd: number | null;
  private size: number;

  private constructor(
    readonly path: string,
    readonly offer: SnapshotOffer,
    fd: number,
    size: number,
  ) {
    this.fd = fd;
    this.size = size;
  }

  static open(path: string, offer: SnapshotOffer): SnapshotReceiver {
    if (!Number.isSafeInteger(offer.bytes) || offer.bytes < 1 || !/^[0-9a-f]{64}$/.test(offer.sha256)) {
      throw new SnapshotError(`snapshot offer for ${path} is not valid (${offer.bytes} bytes, sha256 ${JSON.stringify(offer.sha256)})`);
    }
    const part = `${path}.part`;
    const offerFile = `${path}.offer`;
    let same = false;
    try {
      const prior = JSON.parse(readFileSync(offerFile, "utf8")) as SnapshotOffer;
      same = prior.bytes === offer.bytes && prior.sha256 === offer.sha256 && prior.slot === offer.slot;
    } catch {
      same = false;
    }
    if (!same) {
      rmSync(part, { force: true });
      writeFileSync(offerFile, JSON.stringify(offer));
      fsyncDir(dirname(path));
    }
    const fd = openSync(part, existsSync(part) ? "r+" : "w+");
    const size = fstatSync(fd).size;
    if (size > offer.bytes) {
      // More than announced cannot be the same snapshot: start again.
      closeSync(fd);
      rmSync(part, { force: true });
      return SnapshotReceiver.open(path, offer);
    }
    return new SnapshotReceiver(path, offer, fd, size);
  }

  /** Where the sender should (re)start: the bytes that have arrived. */
  get nextOffset(): number {
    return this.size;
  }

  get complete(): boolean {
    return this.size === this.offer.bytes;
  }

  /**
   * Bytes of the file from `offset`. A range that starts at or before nextOffset is taken from
   * nextOffset on (a resend after a reconnect overlaps); one that starts beyond it is a gap and
   * refused. Durable only after sync() (or finish()).
   */
  write(offset: number, data: Uint8Array): void {
    const fd = this.openFd();
    if (!Number.isSafeInteger(offset) || offset < 0) throw new SnapshotError(`snapshot bytes at offset ${offset} for ${this.path}`);
    if (offset > this.size) throw new SnapshotError(`snapshot bytes for ${this.path} from ${offset}, but only ${this.size} have arrived; resend from ${this.size}`);
    const skip = this.size - offset;
    if (skip >= data.length) return;
    const fresh = data.subarray(skip);
    if (this.size + fresh.length > this.offer.bytes) throw new SnapshotError(`snapshot for ${this.path} runs past its announced ${this.offer.bytes} bytes`);
    let done = 0;
    while (done < fresh.length) done += writeSync(fd, fresh, done, fresh.length - done, this.size + done);
    this.size += fresh.length;
  }

  /** Make what has arrived durable (so a restart resumes from nextOffset). */
  sync(): void {
    fsyncSync(this.openFd());
  }

  /**
   * The whole file is there: fsync it, check it (structure and sha256, and the offer's), and
   * rename it to `path`. A file that fails the check is removed (the next offer starts afresh).
   */
  finish(): SnapshotInfo {
    const fd = this.openFd();
    if (!this.complete) throw new SnapshotError(`snapshot for ${this.path} has ${this.size} of ${this.offer.bytes} bytes; resend from ${this.size}`);
    fsyncSync(fd);
    closeSync(fd);
    this.fd = null;
    const part = `${this.path}.part`;
    let info: SnapshotInfo;
    try {
      info = readSnapshotFile(part);
      if (info.sha256 !== this.offer.sha256 || info.header.slot !== this.offer.slot) {
        throw new SnapshotError(`snapshot for ${this.path} is not the one offered (sha256 ${info.sha256}, slot ${info.header.slot}; offered ${this.offer.sha256}, slot ${this.offer.slot})`);
      }
    } catch (e) {
      this.abort();
      throw e;
    }
    renameSync(part, this.path);
    rmSync(`${this.path}.offer`, { force: true });
    fsyncDir(dirname(this.path));
    return info;
  }

  /** Give up: remove the partial file and the offer. */
  abort(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
    rmSync(`${this.path}.part`, { force: true });
    rmSync(`${this.path}.offer`, { force: true });
  }

  /** Stop for now (a broken connection): what arrived stays for a resume. */
  close(): void {
    if (this.fd !== null) {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = null;
    }
  }

  private openFd(): number {
    if (this.fd === null) throw new Error(`zk: bug: snapshot receiver for ${this.path} used after close()`);
    return this.fd;
  }
}
