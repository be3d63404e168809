// Snapshot transfer between nodes (Peer.InstallSnapshot): a leader streams a snapshot file of
// its state machine to a follower that is behind its log start, in bounded chunks; a transfer
// that breaks resumes where the follower's partial file ends; the follower verifies the whole
// file before it installs it, in one transaction (storage/snapshot.ts, sqlite-store.ts).
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import type { InstallSnapshotChunk, InstallSnapshotProgress } from "../gen/zk/v1/peer.js";
import { verifySnapshotFile, writeSnapshotFile, type SnapshotInfo } from "../storage/snapshot.js";
import type { Logger } from "../log.js";

/** Bytes per chunk on the wire: bounded, well under grpc's 4 MiB message limit. */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** A transfer's deadline: this much, plus the time its size takes at the slowest rate we accept. */
const TRANSFER_BASE_MS = 10_000;
const TRANSFER_BYTES_PER_S_MIN = 5 * 1024 * 1024;
/** An outgoing snapshot file is reused for retries and resumes for this long. */
const OUTGOING_REUSE_MS = 60_000;

export function transferDeadlineMs(bytes: number): number {
  return TRANSFER_BASE_MS + Math.ceil((bytes / TRANSFER_BYTES_PER_S_MIN) * 1000);
}

/** The snapshot files a node makes to send; the newest is reused while it is fresh. */
export class OutgoingSnapshots {
  private current: { info: SnapshotInfo; file: string; madeAt: number } | null = null;
  private making: Promise<{ info: SnapshotInfo; file: string }> | null = null;

  constructor(
    private readonly dir: string,
    private readonly dbPath: string,
  ) {}

  /** A snapshot file at `minSlot` or later: the one made before if it is fresh and late enough, else a new one. */
  async get(minSlot: number): Promise<{ info: SnapshotInfo; file: string }> {
    const c = this.current;
    if (c && c.info.header.slot >= minSlot && Date.now() - c.madeAt < OUTGOING_REUSE_MS) return c;
    if (this.making) {
      const made = await this.making;
      if (made.info.header.slot >= minSlot) return made;
    }
    this.making = (async () => {
      mkdirSync(this.dir, { recursive: true });
      const file = join(this.dir, `outgoing-${Date.now()}.zksnap`);
      const info = await writeSnapshotFile(this.dbPath, file, { chunkBytes: SNAPSHOT_CHUNK_BYTES });
      const old = this.current;
      this.current = { info, file, madeAt: Date.now() };
      if (old) rmSync(old.file, { force: true });
      return this.current;
    })();
    try {
      return await this.making;
    } finally {
      this.making = null;
    }
  }

  close(): void {
    if (this.current) rmSync(this.current.file, { force: true });
    this.current = null;
  }
}

/**
 * Stream `snap` over `call` (opened by the caller with a deadline from transferDeadlineMs):
 * the identity first, then the bytes from where the follower's answer says it has them.
 * Resolves true once the follower installed it.
 */
export function streamSnapshot(call: grpc.ClientDuplexStream<InstallSnapshotChunk, InstallSnapshotProgress>, snap: { info: SnapshotInfo; file: string }, progress: (bytesDone: number) => void = () => undefined): Promise<boolean> {
  const { info, file } = snap;
  const head = { sha256: info.sha256, slot: info.header.slot, totalBytes: info.bytes };
  return new Promise<boolean>((resolve) => {
    let fd: number | null = null;
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      if (fd !== null) closeSync(fd);
      fd = null;
      if (!ok) call.cancel();
      resolve(ok);
    };
    // Opened now: a newer snapshot may replace (unlink) the file while this one streams.
    try {
      fd = openSync(file, "r");
    } catch {
      return finish(false);
    }
    let sending = false;
    const sendFrom = (offset: number) => {
      if (sending || fd === null) return;
      sending = true;
      let at = offset;
      const pump = () => {
        while (!settled && at < info.bytes) {
          const n = Math.min(SNAPSHOT_CHUNK_BYTES, info.bytes - at);
          const data = Buffer.allocUnsafe(n);
          let got = 0;
          while (got < n) got += readSync(fd!, data, got, n - got, at + got);
          at += n;
          progress(at);
          // Flow control: wait for the stream to drain before reading more of the file.
          if (!call.write({ ...head, offset: at - n, data })) {
            call.once("drain", pump);
            return;
          }
        }
        if (!settled) call.end();
      };
      pump();
    };
    call.on("data", (p: InstallSnapshotProgress) => {
      if (p.installed) return finish(true);
      sendFrom(Math.min(p.offset, info.bytes));
    });
    call.on("error", () => finish(false));
    call.on("end", () => finish(false));
    call.write({ ...head, offset: 0, data: Buffer.alloc(0) });
  });
}

/**
 * The follower's side: keep what arrives in a partial file named by the snapshot's sha256
 * (so a broken transfer resumes), and once it is whole, verify it and `install` it.
 */
export function receiveSnapshot(
  call: grpc.ServerDuplexStream<InstallSnapshotChunk, InstallSnapshotProgress>,
  dir: string,
  install: (file: string, info: SnapshotInfo) => void,
  log: Logger,
  progress: (p: { slot: number; bytesDone: number; totalBytes: number } | null) => void = () => undefined,
): void {
  let file: string | null = null;
  let fd: number | null = null;
  let have = 0;
  let total = 0;
  let slot = 0;
  const fail = (why: string) => {
    if (fd !== null) closeSync(fd);
    fd = null;
    progress(null);
    log.warn({ why }, "snapshot transfer failed");
    call.destroy(new Error(why));
  };
  call.on("data", (c: InstallSnapshotChunk) => {
    try {
      if (file === null) {
        if (!/^[0-9a-f]{64}$/.test(c.sha256)) return fail("a snapshot chunk without a valid sha256");
        mkdirSync(dir, { recursive: true });
        // Partial files of other snapshots are stale: only the newest transfer resumes.
        for (const f of readdirSync(dir)) if (f.startsWith("incoming-") && f !== `incoming-${c.sha256}.part`) rmSync(join(dir, f), { force: true });
        file = join(dir, `incoming-${c.sha256}.part`);
        total = c.totalBytes;
        fd = openSync(file, existsSync(file) ? "r+" : "w");
        have = Math.min(fstatSync(fd).size, total);
        slot = c.slot;
        progress({ slot, bytesDone: have, totalBytes: total });
        call.write({ offset: have, installed: false });
        return;
      }
      if (c.data.length === 0) return;
      if (c.offset !== have) return fail(`snapshot chunk at ${c.offset}, expected ${have}`);
      let done = 0;
      while (done < c.data.length) done += writeSync(fd!, c.data, done, c.data.length - done, have + done);
      have += c.data.length;
      progress({ slot, bytesDone: have, totalBytes: total });
      if (have < total) return;
      closeSync(fd!);
      fd = null;
      const whole = file;
      try {
        install(whole, verifySnapshotFile(whole));
      } finally {
        // Installed, or damaged / refused: either way this file is done with.
        rmSync(whole, { force: true });
      }
      progress(null);
      call.write({ offset: have, installed: true });
      call.end();
    } catch (e) {
      fail((e as Error).message.split("\n")[0]!);
    }
  });
  call.on("error", () => {
    if (fd !== null) closeSync(fd);
    fd = null;
    progress(null);
  });
  call.on("cancelled", () => progress(null));
}
