// The TUI's keys on a local cluster: kill (SIGKILL), restart (stop + start with the same
// flags), pause/resume (SIGSTOP/SIGCONT) one member, by the PID in the manifest, through the
// same cluster manager as `zk-cli cluster kill|restart`. The manifest is read afresh for
// every action: another shell may have restarted a node meanwhile.
import type { ZkClient } from "@zk/node/client";
import { requireManifest } from "../lib/manifest.js";
import { isAlive, signal } from "../lib/processes.js";

export interface NodeControls {
  kill(id: string): Promise<string>;
  restart(id: string): Promise<string>;
  /** Pause a running member, or resume one this watcher paused. */
  togglePause(id: string): Promise<string>;
  isPaused(id: string): boolean;
  /** SIGCONT every member this watcher paused (on quit: never leave a node stopped behind). */
  resumeAll(): string[];
}

/** Start-up wait for `r`: shorter than `cluster start`'s, the TUI shows the outcome. */
const RESTART_WAIT_MS = 10_000;

export function localControls(dir: string, client: ZkClient): NodeControls {
  /** Member id -> the PID this watcher sent SIGSTOP. */
  const paused = new Map<string, number>();
  const resume = (id: string): void => {
    const pid = paused.get(id);
    paused.delete(id);
    if (pid !== undefined) signal(pid, "SIGCONT");
  };
  return {
    async kill(id) {
      const { killNode } = await import("../lib/cluster.js");
      const r = await killNode(dir, requireManifest(dir), id);
      paused.delete(id);
      return r.wasRunning ? `killed ${id} (SIGKILL, pid ${r.pid})` : `${id} was not running`;
    },
    async restart(id) {
      const { startNode, stopNode } = await import("../lib/cluster.js");
      resume(id); // a stopped process would only handle SIGTERM once continued
      const m = requireManifest(dir);
      const stopped = await stopNode(dir, m, id);
      const probe = (address: string) => client.status(address).then(() => true, () => false);
      const r = await startNode(dir, m, id, probe, RESTART_WAIT_MS);
      return stopped.wasRunning ? `restarted ${id} (pid ${stopped.pid} -> ${r.pid})` : `started ${id} (pid ${r.pid})`;
    },
    async togglePause(id) {
      if (paused.has(id)) {
        const pid = paused.get(id)!;
        resume(id);
        return `resumed ${id} (SIGCONT, pid ${pid})`;
      }
      const m = requireManifest(dir);
      const n = m.nodes.find((x) => x.id === id);
      if (!n) throw new Error(`no node "${id}" in ${dir}`);
      if (!isAlive(n.pid) || !signal(n.pid, "SIGSTOP")) return `${id} is not running`;
      paused.set(id, n.pid);
      return `paused ${id} (SIGSTOP, pid ${n.pid}); p again resumes it`;
    },
    isPaused: (id) => paused.has(id),
    resumeAll() {
      const ids = [...paused.keys()];
      for (const id of ids) resume(id);
      return ids;
    },
  };
}
