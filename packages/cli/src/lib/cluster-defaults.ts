// The local cluster's defaults, apart from the manager (lib/cluster.ts) so that flag
// definitions do not load child_process and friends for commands that never spawn anything.
export const NODE_COUNTS = [1, 3, 5] as const;
export const DEFAULT_BASE_PORT = 7001;
export const HOST = "127.0.0.1";
/** How long `cluster up` / `cluster start` wait for a leader (or for the node to serve). */
export const READY_WAIT_MS = 15_000;
