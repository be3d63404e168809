// What `zk-cli snapshot save|status|restore` do: take a consistent snapshot of a running
// cluster into a file (through a member's linearizable barrier, streamed in chunks, written
// atomically and verified), describe a snapshot file offline, and build a new local cluster
// from one (a new cluster id; every member's store holds the snapshot's state) that
// `zk-cli cluster up --dir DIR` starts. Typed results only; the commands print them.
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { SnapshotChunk, SnapshotDone, ZkClient } from "@zk/node/client";
import type { SnapshotInfo } from "@zk/node/storage";
import { CliError, EXIT_CONFLICT, EXIT_ERROR, EXIT_NOT_FOUND, EXIT_USAGE, zkExitCode } from "./errors.js";
import { DB_FILE } from "./inspect.js";
import { loadStorage } from "./inspect-load.js";
import { MANIFEST_FILE, readManifest, writeManifest, type Manifest } from "./manifest.js";
import { nodeDataIn, planCluster, type TuningFlags } from "./cluster.js";

export interface SnapshotReport {
  readonly file: string;
  readonly slot: number;
  readonly bytes: number;
  readonly sha256: string;
  readonly clusterId: string;
  /** The member it was read from. */
  readonly nodeId: string;
  readonly treeHash: string;
  readonly znodes: number;
  readonly sessions: number;
  readonly createdAt: string;
}

function report(file: string, info: SnapshotInfo): SnapshotReport {
  return {
    file,
    slot: info.header.slot,
    bytes: info.bytes,
    sha256: info.sha256,
    clusterId: info.header.clusterId,
    nodeId: info.header.nodeId,
    treeHash: info.summary.treeHash,
    znodes: info.summary.rows.znodes ?? 0,
    sessions: info.summary.rows.sessions ?? 0,
    createdAt: new Date(info.header.createdAtMs).toISOString(),
  };
}

/**
 * Check `file` offline. A missing file is EXIT_NOT_FOUND; a truncated, corrupted or foreign one
 * EXIT_USAGE with the one line that says why.
 */
export async function snapshotStatus(file: string): Promise<SnapshotReport> {
  if (!existsSync(file)) throw new CliError(`no such file: ${file}`, EXIT_NOT_FOUND);
  const { verifySnapshotFile, SnapshotError } = await loadStorage();
  try {
    return report(file, verifySnapshotFile(file));
  } catch (e) {
    if (e instanceof SnapshotError) throw new CliError(e.message, EXIT_USAGE);
    throw e;
  }
}

/**
 * Save a snapshot of the cluster behind `client` to `file`: asked of each endpoint in turn until
 * one streams it whole (a member that cannot be reached, has no quorum or fails mid-transfer
 * is left for the next: a snapshot is started afresh, never stitched from two members). The
 * file appears only complete (temp file, fsync, rename) and is verified against what the
 * member said it sent.
 */
export async function saveSnapshot(client: ZkClient, endpoints: readonly string[], file: string, opts: { readonly idleMs: number }): Promise<SnapshotReport> {
  const { writeChunksToFile, verifySnapshotFile } = await loadStorage();
  const into = dirname(resolve(file));
  if (!existsSync(into)) throw new CliError(`cannot write ${file}: the directory ${into} does not exist; create it or pick another FILE`, EXIT_USAGE);
  const errors: string[] = [];
  let last: unknown = null;
  for (const endpoint of endpoints) {
    try {
      const done = await writeChunksToFile(dataOf(client.saveSnapshot(endpoint, { idleMs: opts.idleMs }), endpoint), file);
      const info = verifySnapshotFile(file);
      if (info.sha256 !== done.sha256 || info.bytes !== done.bytes) {
        rmSync(file, { force: true });
        throw new CliError(`${endpoint} sent a snapshot that does not match its own description (sha256 ${done.sha256}, got ${info.sha256}); try again`);
      }
      return report(file, info);
    } catch (e) {
      last = e;
      errors.push(`${endpoint}: ${(e as Error).message}`);
    }
  }
  if (endpoints.length === 1) throw last;
  // The exit code of the last failure (e.g. 5 when no member has a quorum), every reason in the line.
  const err = last as Error & { exitCode?: number };
  let code = err.name === "CliError" && typeof err.exitCode === "number" ? err.exitCode : EXIT_ERROR;
  if (err.name === "ZkError") {
    const lib = await import("@zk/node/client");
    code = zkExitCode(lib, err as InstanceType<typeof lib.ZkError>);
  }
  throw new CliError(`no member could send a snapshot (${errors.join("; ")})`, code);
}

/** The bytes of a SaveSnapshot stream, in order; its return value is the last chunk's description. */
async function* dataOf(chunks: AsyncGenerator<SnapshotChunk, void, void>, endpoint: string): AsyncGenerator<Uint8Array, SnapshotDone, void> {
  let offset = 0;
  for await (const c of chunks) {
    if (c.offset !== offset) throw new CliError(`${endpoint} sent snapshot bytes from ${c.offset}, expected ${offset}; try again`);
    if (c.data.length > 0) yield c.data;
    offset += c.data.length;
    if (c.done) {
      if (c.done.bytes !== offset) throw new CliError(`${endpoint} ended the snapshot at ${offset} bytes, announcing ${c.done.bytes}; try again`);
      return c.done;
    }
  }
  throw new CliError(`${endpoint} ended the snapshot stream after ${offset} bytes without finishing it; try again`);
}

export interface RestoreResult {
  readonly manifest: Manifest;
  readonly snapshot: SnapshotReport;
}

/**
 * A new local cluster in `dir` from the snapshot in `file`: verified first (nothing is created
 * for a bad file), then a plan like `cluster up`'s with a NEW cluster id, every member's store
 * built from the snapshot (SqliteAcceptorStore.createFromSnapshot: temp file + rename), and the
 * manifest with every member stopped. A dir that holds a cluster or node data is refused,
 * nothing in it touched; on a failure part way, only what this call created is removed.
 */
export async function restoreSnapshot(opts: { file: string; dir: string; count: number; basePort: number; tuning: TuningFlags }): Promise<RestoreResult> {
  const snapshot = await snapshotStatus(opts.file);
  const existing = readManifest(opts.dir);
  if (existing) {
    throw new CliError(`${opts.dir} already holds cluster ${existing.clusterId} (${MANIFEST_FILE}); restore into a new --dir (nothing was changed)`, EXIT_CONFLICT);
  }
  const manifest = planCluster(opts.dir, opts.count, opts.basePort, opts.tuning);
  const found = nodeDataIn(opts.dir, manifest.nodes.map((n) => n.dataDir));
  if (found.length > 0) throw new CliError(`${opts.dir} holds node data (${found.join(", ")}); restore into a new --dir (nothing was changed)`, EXIT_CONFLICT);

  const { SqliteAcceptorStore, SnapshotError } = await loadStorage();
  const dirExisted = existsSync(opts.dir);
  const created: string[] = [];
  try {
    mkdirSync(opts.dir, { recursive: true });
    const members = manifest.nodes.map((n) => ({ id: n.id, address: n.address }));
    for (const n of manifest.nodes) {
      mkdirSync(n.dataDir, { recursive: true });
      created.push(n.dataDir);
      SqliteAcceptorStore.createFromSnapshot(opts.file, join(n.dataDir, DB_FILE), { clusterId: manifest.clusterId, nodeId: n.id }, members);
    }
    writeManifest(opts.dir, manifest);
    return { manifest, snapshot };
  } catch (e) {
    for (const d of created) rmSync(d, { recursive: true, force: true });
    if (!dirExisted && existsSync(opts.dir) && readdirSync(opts.dir).length === 0) rmSync(opts.dir, { recursive: true, force: true });
    if (e instanceof SnapshotError) throw new CliError(e.message, EXIT_USAGE);
    throw e;
  }
}
