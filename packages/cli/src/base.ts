// The base of every zk-cli command: the shared flags, and a client built from them. Errors are
// not printed here: they propagate to the entry point (main.ts), which owns the one-line
// `zk-cli: <message>` report and the exit code table.
import { Command } from "@oclif/core/command";
import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import type { ZkClient } from "@zk/node/client";
import { resolveEndpoints, type ResolvedEndpoints } from "./lib/endpoints.js";
import { usageError } from "./lib/errors.js";

export const DEFAULT_TIMEOUT_MS = 5000;
const LEADER_PROBE_TIMEOUT_MS = 1000;

/** Flags every command has. */
export const commonFlags = {
  json: Flags.boolean({ description: "Print one JSON object per line.", default: false }),
  timeout: Flags.integer({ description: "Per-request deadline in milliseconds.", env: "ZK_TIMEOUT", default: DEFAULT_TIMEOUT_MS, min: 1 }),
  dir: Flags.string({ description: "Local cluster dir holding cluster.json [default: .zk-cluster]", env: "ZK_CLUSTER_DIR" }),
};

/** Flags of commands that talk to a cluster. */
export const clientFlags = {
  ...commonFlags,
  endpoints: Flags.string({ description: "Comma-separated host:port list (env ZK_ENDPOINTS) [default: the local cluster's manifest]" }),
  // Not oclif's env option: with `multiple` it would split ZK_AUTH into characters.
  auth: Flags.string({ description: "Act as this digest user, USER:PASSWORD, for znode ACLs (ZooKeeper's addauth digest); repeat for several (env ZK_AUTH: one).", multiple: true, multipleNonGreedy: true }),
};

/** Flags of commands that read the tree. */
export const readFlags = {
  ...clientFlags,
  consistency: Flags.option({ options: ["linearizable", "local"] as const, description: "Read consistency.", default: "linearizable" as const })(),
};

/** The one argument of a command about one znode. */
export const pathArgs = {
  path: Args.string({ ignoreStdin: true, description: "Path (app/config means /app/config)", required: true }),
};

/** The --auth credentials, checked: each USER:PASSWORD. */
export function authOf(flags: { auth?: string[] | undefined }): string[] {
  const fromEnv = process.env.ZK_AUTH;
  const all = flags.auth ?? (fromEnv ? [fromEnv] : []);
  for (const a of all) {
    if (a.indexOf(":") <= 0) throw usageError(`--auth ${JSON.stringify(a)} is not USER:PASSWORD`);
  }
  return all;
}

export abstract class ZkCommand extends Command {
  private client: ZkClient | null = null;

  /** A client for the endpoints from --endpoints, ZK_ENDPOINTS or the manifest. */
  protected async connect(flags: { endpoints?: string | undefined; dir?: string | undefined; timeout: number; auth?: string[] | undefined }, resolved?: ResolvedEndpoints): Promise<ZkClient> {
    const auth = authOf(flags);
    const { endpoints } = resolved ?? resolveEndpoints(flags);
    return this.clientFor(endpoints, flags.timeout, auth);
  }

  /**
   * Like connect, but with the leader's endpoint first (asked of the nodes once), so that a
   * stream of writes is not forwarded by a follower: for bulk work, worth one status round.
   */
  protected async connectLeaderFirst(flags: { endpoints?: string | undefined; dir?: string | undefined; timeout: number; auth?: string[] | undefined }): Promise<ZkClient> {
    const auth = authOf(flags);
    const { endpoints } = resolveEndpoints(flags);
    if (endpoints.length > 1) {
      const probe = await this.clientFor(endpoints, Math.min(flags.timeout, LEADER_PROBE_TIMEOUT_MS));
      const statuses = await probe.statusAll();
      const leader = statuses.find((s) => s.status?.leaderAddress)?.status?.leaderAddress;
      if (leader && endpoints.includes(leader)) endpoints.sort((a, b) => Number(b === leader) - Number(a === leader));
    }
    return this.clientFor(endpoints, flags.timeout, auth);
  }

  /** A client for explicit endpoints (the cluster commands use the manifest's). */
  protected async clientFor(endpoints: readonly string[], timeoutMs: number, auth: readonly string[] = []): Promise<ZkClient> {
    const { ZkClient } = await import("@zk/node/client");
    // Tells bin/run.js that this run compiled the client's code (for the code cache it keeps).
    (globalThis as { __zkClientLoaded?: boolean }).__zkClientLoaded = true;
    this.client?.close();
    this.client = new ZkClient({ endpoints, timeoutMs, auth });
    return this.client;
  }

  /** Errors are reported once, by the entry point. */
  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    throw err;
  }

  protected override async finally(_: Error | undefined): Promise<unknown> {
    this.client?.close();
    this.client = null;
    return undefined;
  }
}
