// Where the cluster is: --endpoints, else ZK_ENDPOINTS, else the manifest of the local
// cluster (--dir / ZK_CLUSTER_DIR / ./.zk-cluster). Kept free of gRPC so resolving is cheap.
import { CliError, EXIT_UNAVAILABLE, usageError } from "./errors.js";
import { clusterDir, readManifest } from "./manifest.js";

const ENDPOINT = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/;

export function parseEndpoints(spec: string, source: string): string[] {
  const list = spec.split(",").map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw usageError(`${source} is empty; expected host:port,...`);
  for (const e of list) {
    const m = ENDPOINT.exec(e);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw usageError(`invalid endpoint "${e}" in ${source}: expected host:port, e.g. 127.0.0.1:7001`);
  }
  return list;
}

export interface ResolvedEndpoints {
  readonly endpoints: string[];
  /** Node ids by address, when the endpoints came from (or match) the manifest. */
  readonly idsByAddress: ReadonlyMap<string, string>;
}

export function resolveEndpoints(flags: { endpoints?: string | undefined; dir?: string | undefined }): ResolvedEndpoints {
  const dir = clusterDir(flags.dir);
  const fromFlagOrEnv =
    flags.endpoints !== undefined ? parseEndpoints(flags.endpoints, "--endpoints")
    : process.env.ZK_ENDPOINTS ? parseEndpoints(process.env.ZK_ENDPOINTS, "ZK_ENDPOINTS")
    : null;
  let manifest = null;
  try {
    manifest = readManifest(dir);
  } catch (e) {
    if (!fromFlagOrEnv) throw e;
  }
  const idsByAddress = new Map((manifest?.nodes ?? []).map((n) => [n.address, n.id] as const));
  if (fromFlagOrEnv) return { endpoints: fromFlagOrEnv, idsByAddress };
  if (!manifest || manifest.nodes.length === 0) {
    throw new CliError(`no endpoints: pass --endpoints host:port,..., set ZK_ENDPOINTS, or start a local cluster with \`zk-cli cluster up\` (no manifest in ${dir})`, EXIT_UNAVAILABLE);
  }
  // Running nodes first: the client tries endpoints in order.
  const nodes = [...manifest.nodes].sort((a, b) => Number(b.state === "running") - Number(a.state === "running"));
  return { endpoints: nodes.map((n) => n.address), idsByAddress };
}
