// What the cluster commands print: the member table joined with the manifest's process view.
import type { Manifest } from "./manifest.js";
import type { Column } from "./output.js";
import { isAlive } from "./processes.js";
import { MEMBER_COLUMNS, REACHABLE_COLUMN, rowJson, type MemberRow } from "./status.js";

export interface ClusterRow extends MemberRow {
  zkAddress: string | null;
  pid: number;
  alive: boolean;
  state: string;
}

export function joinManifest(m: Manifest, rows: readonly MemberRow[]): ClusterRow[] {
  return m.nodes.map((n, i) => {
    const r = rows[i]!;
    return { ...r, id: n.id, address: n.address, zkAddress: n.zkAddress ?? null, pid: n.pid, alive: isAlive(n.pid), state: n.state };
  });
}

export const CLUSTER_COLUMNS: readonly Column<ClusterRow>[] = [
  ...(MEMBER_COLUMNS as readonly Column<ClusterRow>[]).slice(0, 2),
  { header: "ZK-ADDRESS", get: (r) => r.zkAddress ?? "" },
  ...(MEMBER_COLUMNS as readonly Column<ClusterRow>[]).slice(2),
  { header: "PID", get: (r) => (r.pid > 0 ? r.pid : ""), right: true },
  { header: "ALIVE", get: (r) => r.alive },
  REACHABLE_COLUMN as Column<ClusterRow>,
];

export function clusterRowJson(r: ClusterRow): Record<string, unknown> {
  return { ...rowJson(r), zkAddress: r.zkAddress, pid: r.pid || null, alive: r.alive, state: r.state };
}
