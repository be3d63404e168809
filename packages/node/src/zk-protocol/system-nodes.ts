// ZooKeeper's own subtree, served on the ZooKeeper port only and never stored: /zookeeper,
// /zookeeper/quota (empty: zk keeps no quotas) and /zookeeper/config, the member list in
// ZooKeeper's dynamic-config format, which Curator's EnsembleTracker reads to rewrite its
// connection string: "server.N=host:port:port:participant;clientHost:clientPort".
import type { Stat } from "../gen/zk/v1/types.js";

export const SYSTEM_ROOT = "/zookeeper";
export const CONFIG_PATH = "/zookeeper/config";
export const QUOTA_PATH = "/zookeeper/quota";

export interface SystemNodeSource {
  /** Every member: its id, its peer (gRPC) address, its ZooKeeper-port address if known. */
  readonly configMembers: readonly { id: string; address: string; zkAddress: string | null }[];
}

export interface SystemNode {
  readonly data: Uint8Array;
  readonly stat: Stat;
  readonly children: string[];
}

/** The member list as ZooKeeper's dynamic config; members are numbered by their place in --peers. */
export function configText(src: SystemNodeSource): string {
  const lines = src.configMembers.map((m, i) => {
    const peer = m.address.replace(/:(\d+)$/, ":$1:$1");
    return `server.${i + 1}=${peer}:participant${m.zkAddress ? `;${m.zkAddress}` : ""}`;
  });
  return [...lines, "version=0"].join("\n");
}

export function systemNode(path: string, src: SystemNodeSource): SystemNode | null {
  const make = (data: Uint8Array, children: string[]): SystemNode => ({
    data,
    children,
    stat: { version: 0, cversion: 0, czxid: 0, mzxid: 0, ctimeMs: 0, mtimeMs: 0, ephemeralOwner: 0, numChildren: children.length, dataLength: data.length, pzxid: 0 },
  });
  switch (path) {
    case SYSTEM_ROOT:
      return make(new Uint8Array(0), ["config", "quota"]);
    case CONFIG_PATH:
      return make(Buffer.from(configText(src), "utf8"), []);
    case QUOTA_PATH:
      return make(new Uint8Array(0), []);
    default:
      return null;
  }
}
