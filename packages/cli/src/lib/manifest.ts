// The local cluster's manifest, <dir>/cluster.json: what `zk-cli cluster up` started, so that
// every later command (down, status, kill, start, propose without --endpoints) knows the
// members, their addresses, data dirs, logs and process ids. Written atomically (temp file +
// rename) so a reader never sees half a manifest.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CliError, EXIT_USAGE } from "./errors.js";

export const DEFAULT_CLUSTER_DIR = ".zk-cluster";
export const MANIFEST_FILE = "cluster.json";
export const MANIFEST_VERSION = 1;

export type NodeState = "running" | "stopped";

export interface ManifestNode {
  readonly id: string;
  readonly address: string;
  /** Its ZooKeeper-protocol address (zk-node --zk-listen); absent in manifests of older zk-cli. */
  readonly zkAddress?: string;
  /** The last process started for this node; kept after it stops, for the record. */
  pid: number;
  state: NodeState;
  readonly dataDir: string;
  readonly logFile: string;
  /** zk-node's flags, so `cluster start` restarts the node exactly as `cluster up` did. */
  readonly args: readonly string[];
}

export interface Manifest {
  readonly version: number;
  readonly clusterId: string;
  readonly createdAt: string;
  readonly basePort: number;
  readonly nodes: ManifestNode[];
  /**
   * Members removed through consensus (`cluster remove-node`): their ids are never reused, and
   * `cluster add-node` picks ports past theirs. Absent in manifests of older zk-cli.
   */
  removed?: { readonly id: string; readonly address: string }[];
}

/** The cluster dir: --dir, else ZK_CLUSTER_DIR, else ./.zk-cluster; absolute. */
export function clusterDir(flag: string | undefined): string {
  return resolve(flag ?? (process.env.ZK_CLUSTER_DIR || DEFAULT_CLUSTER_DIR));
}

/**
 * The `--dir` a printed zk-cli command needs to act on `dir`: none for the default cluster
 * (ZK_CLUSTER_DIR or ./.zk-cluster), so that a hint followed as printed reaches this cluster
 * and no other (`cluster down --purge` without it would delete the default one's data).
 */
export function dirFlag(dir: string): string {
  if (resolve(dir) === clusterDir(undefined)) return "";
  return ` --dir ${shellWord(dir)}`;
}

/** `s` as one word for a POSIX shell: as is when it is plain, else single-quoted. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

export function manifestPath(dir: string): string {
  return join(dir, MANIFEST_FILE);
}

/** The manifest in `dir`, or null when there is none. */
export function readManifest(dir: string): Manifest | null {
  let text: string;
  try {
    text = readFileSync(manifestPath(dir), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new CliError(`cannot read ${manifestPath(dir)}: ${(e as Error).message}`);
  }
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch (e) {
    throw new CliError(`${manifestPath(dir)} is not valid JSON (${(e as Error).message}); remove it or pick another --dir`);
  }
  if (typeof m !== "object" || m === null || !Array.isArray(m.nodes) || typeof m.clusterId !== "string") {
    throw new CliError(`${manifestPath(dir)} is not a zk-cli cluster manifest; remove it or pick another --dir`);
  }
  if (m.version > MANIFEST_VERSION) {
    throw new CliError(`${manifestPath(dir)} was written by a newer zk-cli (manifest version ${m.version}); use that version`);
  }
  return m;
}

/** The manifest in `dir`; a usage error naming the dir when there is none. */
export function requireManifest(dir: string): Manifest {
  const m = readManifest(dir);
  if (!m) throw new CliError(`no cluster in ${dir} (no ${MANIFEST_FILE}); start one with \`zk-cli cluster up${dirFlag(dir)}\` or pass the --dir of an existing one`, EXIT_USAGE);
  return m;
}

export function writeManifest(dir: string, m: Manifest): void {
  const path = manifestPath(dir);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(m, null, 2) + "\n");
  renameSync(tmp, path);
}
