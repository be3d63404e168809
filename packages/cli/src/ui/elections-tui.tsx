// Runs the elections TUI on the terminal until `q`, Ctrl-C, SIGTERM or --duration: the feed
// (one stream per node) fills the store, ink draws it. Loaded through load.ts only.
import { render } from "ink";
import type { ZkClient } from "@zk/node/client";
import { localControls } from "./cluster-controls.js";
import { ElectionFeed } from "./election-feed.js";
import { ElectionStore, type WatchTarget } from "./election-model.js";
import { ElectionsApp } from "./elections-view.js";

export interface TuiOptions {
  readonly client: ZkClient;
  readonly targets: readonly WatchTarget[];
  /** The local cluster's dir, for the k/r/p keys; null without a manifest. */
  readonly clusterDir: string | null;
  readonly title: string;
  readonly durationMs?: number | undefined;
}

/** Resolves when the view has closed; returns the ids of nodes it resumed on the way out. */
export async function runElectionsTui(opts: TuiOptions): Promise<string[]> {
  const store = new ElectionStore(opts.targets);
  const feed = new ElectionFeed(opts.client, opts.targets.map((t) => t.address), store.dispatch);
  const controls = opts.clusterDir ? localControls(opts.clusterDir, opts.client) : null;
  // Members added while it runs get rows (the reducer adds them) and streams (here).
  const unwatch = store.subscribe(() => {
    for (const n of store.getState().nodes) feed.watch(n.key);
  });
  feed.start();
  const rows = process.stdout.rows ?? 40;
  // What is left of the screen below the title, tenure, table and footer goes to the timeline.
  const timelineRows = Math.max(5, rows - opts.targets.length - 9);
  const app = render(<ElectionsApp store={store} controls={controls} title={opts.title} timelineRows={timelineRows} onRestarted={(a) => feed.reconnect(a)} />, {
    exitOnCtrlC: true,
  });
  const close = () => app.unmount();
  // Ctrl-C reaches ink as a key in raw mode; without a terminal on stdin it is a signal.
  process.once("SIGINT", close);
  process.once("SIGTERM", close);
  const timer = opts.durationMs !== undefined ? setTimeout(close, opts.durationMs) : null;
  try {
    await app.waitUntilExit();
  } finally {
    if (timer) clearTimeout(timer);
    process.off("SIGINT", close);
    process.off("SIGTERM", close);
    unwatch();
    feed.stop();
  }
  return controls?.resumeAll() ?? [];
}
