import * as Args from "@oclif/core/args";
import * as Flags from "@oclif/core/flags";
import type { WatchEvent } from "@zk/node/client";
import { ZkCommand, authOf, clientFlags } from "../base.js";
import { resolveEndpoints } from "../lib/endpoints.js";
import { keyToPath } from "../lib/keys.js";
import { note, printLine } from "../lib/output.js";
import { statJson } from "../lib/znode.js";

/** EventType by wire value, as the names --json prints. */
const EVENT_NAMES: Record<number, string> = { 1: "created", 2: "changed", 3: "deleted", 4: "children_changed" };
const DELETED = 3;

export function eventJson(ev: WatchEvent): Record<string, unknown> {
  const base = { type: EVENT_NAMES[ev.type] ?? "unknown", path: ev.path, zxid: ev.zxid };
  return ev.type === DELETED || !ev.stat ? base : { ...base, ...statJson(ev.stat) };
}

export function eventLine(ev: WatchEvent): string {
  const name = (EVENT_NAMES[ev.type] ?? "unknown").padEnd(16);
  const st = ev.stat && ev.type !== DELETED ? statJson(ev.stat) : null;
  const detail =
    st === null ? ""
    : ev.type === 4 ? ` children=${st.numChildren}`
    : ` version=${st.version} bytes=${st.dataLength}`;
  return `zxid=${ev.zxid} ${name} ${ev.path}${detail}`;
}

export default class Watch extends ZkCommand {
  static override summary = "Stream the changes to a znode (or a subtree) as they happen.";
  static override description = [
    'Prints one event per change: created, changed (data), deleted, children_changed (a child was created or deleted), each with the zxid that made it. On a terminal as lines ("zxid=12 changed  /app/config version=1 bytes=11"); in a pipe or with --json as NDJSON {"type","path","zxid",...stat} (no stat for deleted). A note naming the starting zxid goes to stderr.',
    "Without --recursive it watches the node itself and its list of children; with --recursive every node below it too (the path need not exist yet). --from-zxid N first replays the stored changes from zxid N on: N = the last zxid you saw misses nothing and repeats that zxid's events; N = that zxid + 1 repeats nothing, but misses the rest of that zxid if the stream was cut inside it (a delete's DELETED and its parent's CHILDREN_CHANGED share one zxid); exit 1 when they are no longer kept (COMPACTED, naming the oldest zxid available).",
    "Runs until SIGINT/SIGTERM (exit 0) or --count events; keeps going when the node it is connected to dies (the session moves to another node and resumes from the last delivered zxid).",
  ].join("\n\n");

  static override examples = [
    "<%= config.bin %> watch /app/config",
    "<%= config.bin %> watch /app --recursive --json | jq .",
    "<%= config.bin %> watch /app --recursive --from-zxid 42",
  ];

  static override args = {
    path: Args.string({ ignoreStdin: true, description: "Path (app/config means /app/config)", required: true }),
  };

  static override flags = {
    ...clientFlags,
    recursive: Flags.boolean({ char: "r", description: "Also watch every descendant.", default: false }),
    "from-zxid": Flags.integer({ description: "Replay the changes from this zxid on (inclusive) before following new ones.", min: 1 }),
    count: Flags.integer({ description: "Exit 0 after this many events.", min: 1 }),
    ttl: Flags.integer({ description: "The watching session's TTL in milliseconds (how long it may be between nodes).", default: 10_000, min: 1000 }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Watch);
    const path = await keyToPath(args.path);
    const json = flags.json || !process.stdout.isTTY;
    const { endpoints } = resolveEndpoints(flags);
    const { CliSession, stopSignal } = await import("../lib/session.js");
    const stop = stopSignal();
    const cs = await CliSession.open(endpoints, flags.ttl, flags.timeout, authOf(flags));
    let seen = 0;
    let lastZxid = 0;
    const from = flags["from-zxid"] ?? null;
    try {
      cs.session.on("reconnected", (endpoint) => note(`reconnected to ${endpoint}; resuming ${lastZxid ? `after zxid ${lastZxid}` : "where it started"}`));
      // Settles only with the watch's end: COMPACTED, or the session gone for good.
      const failed = new Promise<never>((_, reject) => {
        const onEvent = (ev: WatchEvent) => {
          if (stop.signal.aborted) return;
          lastZxid = ev.zxid;
          printLine(json ? JSON.stringify(eventJson(ev)) : eventLine(ev));
          if (flags.count !== undefined && ++seen >= flags.count) stop.abort("count");
        };
        cs.session.watch(path, { recursive: flags.recursive, fromZxid: from ?? 0 }, onEvent, reject).then(() => {
          if (stop.signal.aborted) return;
          const what = `${path}${flags.recursive ? " and below" : ""}`;
          note(`watching ${what} ${from === null ? "from now" : `from zxid ${from}`}`);
        }, reject);
      });
      await Promise.race([failed, stop.stopped]);
    } finally {
      stop.dispose();
      await cs.close();
    }
  }
}
