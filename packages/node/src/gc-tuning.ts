// V8's garbage collector, tuned for zk-node. A write allocates short-lived objects on every
// member (decoded messages, promises, rows), so young-generation collections (scavenges) run
// all the time. By default V8 spreads each scavenge over worker threads; with three members
// and their clients on a few cores, those threads compete with the event loops they would
// relieve, and the hand-offs cost more than they save: at put ×64 parallel scavenges took 4.6%
// of the machine; without them put ×64 ran 1.08× and 1.01× in two ABBA series (8% and 2% less
// CPU a write) and 0.91× in a third, noisy one (docs/benchmarks.md, "Twentieth session").
// zk-node scavenges on its main thread.
// Major collections keep their concurrent marking (a large tree in memory must not pause
// the event loop for a whole mark). V8 reads the flag at each scavenge, so setting it at
// start takes effect.
import { setFlagsFromString } from "node:v8";

/** The flag zk-node sets: each scavenge on the main thread. */
export const SCAVENGE_FLAG = "--no-parallel-scavenge";

/**
 * The V8 flags to set at start, given node's own flags: none when the operator chose a
 * scavenger themselves (`node --parallel-scavenge zk-node ...`, either spelling, or
 * --single-threaded-gc, or --single-threaded, which implies it). NODE_OPTIONS cannot carry
 * these flags (node refuses them there).
 */
export function gcFlags(execArgv: readonly string[]): string[] {
  const chosen = execArgv.some((f) => /^--(no-)?parallel[-_]scavenge$|^--single[-_]threaded([-_]gc)?$/.test(f));
  return chosen ? [] : [SCAVENGE_FLAG];
}

/** Set gcFlags() for this process; returns what was set. */
export function tuneGc(): string[] {
  const flags = gcFlags(process.execArgv);
  for (const f of flags) setFlagsFromString(f);
  return flags;
}
