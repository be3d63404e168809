import * as Flags from "@oclif/core/flags";
import { ZkCommand, commonFlags } from "../../base.js";
import type { LogSink } from "../../lib/cluster.js";
import { DEFAULT_BASE_PORT, NODE_COUNTS, READY_WAIT_MS } from "../../lib/cluster-defaults.js";
import { clusterRowJson, CLUSTER_COLUMNS, joinManifest } from "../../lib/cluster-view.js";
import { formatLogLine } from "../../lib/logfmt.js";
import { clusterDir, dirFlag, readManifest, writeManifest } from "../../lib/manifest.js";
import { note, printJsonLines, printTable } from "../../lib/output.js";
import { stopPids } from "../../lib/processes.js";
import { fetchRows } from "../../lib/status.js";

export default class ClusterUp extends ZkCommand {
  static override summary = "Start a local cluster of zk-node processes on 127.0.0.1.";
  static override description =
    "Spawns --nodes members (ids n1.., ports from --base-port, data in <dir>/n1..), writes <dir>/cluster.json, waits until a leader is elected and prints the members. In the foreground it streams every node's log (prefixed with its id) and stops the cluster on Ctrl-C; with --detach it leaves the nodes running (logs in <dir>/n1.log ...) and exits. A stopped cluster in <dir> is started again with its data (and with the --tick-ms, --election-ticks, --heartbeat-ticks or --log-level given, which it keeps; --nodes and --base-port cannot change). A dir that holds node data but no cluster.json is refused (nothing in it is touched); --adopt rebuilds cluster.json from the stores' own cluster id and the newest configuration they applied (a removed member's leftover store is left alone) and starts that cluster. A member whose data dir holds no store (deleted, or a new disk) is not started, if the others are a majority: it rejoins from them with `cluster start <id> --rejoin`; fewer than a majority is refused with nothing started. If any node fails to start, every node already started is stopped and its one-line error is reported; only what this invocation created is removed.";

  static override examples = ["<%= config.bin %> cluster up --detach", "<%= config.bin %> cluster up --nodes 5 --base-port 7201 --dir /tmp/zk5"];

  static override flags = {
    ...commonFlags,
    nodes: Flags.integer({ description: "Number of members (1, 3 or 5).", default: 3, options: NODE_COUNTS.map(String) }),
    "base-port": Flags.integer({ description: "Port of n1; n2 gets the next one, and so on.", default: DEFAULT_BASE_PORT, min: 1, max: 65535 }),
    detach: Flags.boolean({ description: "Leave the cluster running in the background and exit.", default: false }),
    adopt: Flags.boolean({ description: "Start the cluster whose data is in <dir> but whose cluster.json is gone, rebuilding it from the stores.", default: false }),
    "wait-ms": Flags.integer({ description: "How long to wait for a leader.", default: READY_WAIT_MS, min: 1 }),
    "tick-ms": Flags.integer({ description: "zk-node --tick-ms for every member.", min: 1 }),
    "election-ticks": Flags.integer({ description: "zk-node --election-ticks for every member.", min: 2 }),
    "heartbeat-ticks": Flags.integer({ description: "zk-node --heartbeat-ticks for every member.", min: 1 }),
    "log-level": Flags.option({ options: ["debug", "info", "warn", "error"] as const, description: "zk-node --log-level for every member." })(),
  };

  async run(): Promise<void> {
    const { flags, raw } = await this.parse(ClusterUp);
    const { clusterUp, runningNodes } = await import("../../lib/cluster.js");
    const dir = clusterDir(flags.dir);
    const given = (name: string) => raw.some((r) => r.type === "flag" && r.flag === name);
    const tuning = { tickMs: flags["tick-ms"], electionTicks: flags["election-ticks"], heartbeatTicks: flags["heartbeat-ticks"], logLevel: flags["log-level"] };
    const sink: LogSink | undefined = flags.detach
      ? undefined
      : flags.json
        ? (_id, line) => process.stdout.write(line + "\n")
        : (id, line) => process.stdout.write(formatLogLine(id, line) + "\n");

    // In the foreground a signal during startup must still stop what was started: the
    // handlers are installed first and read the PIDs from the manifest when they fire.
    let stopping: Promise<void> | null = null;
    const stopAll = () => {
      stopping ??= (async () => {
        const m = readManifest(dir);
        if (!m) return;
        await stopPids(m.nodes.map((n) => n.pid));
        // A failed startup may have removed the manifest meanwhile; do not bring it back.
        const now = readManifest(dir);
        if (!now) return;
        for (const n of now.nodes) n.state = "stopped";
        writeManifest(dir, now);
      })();
      return stopping;
    };
    let signalled: NodeJS.Signals | null = null;
    let onSignal: ((sig: NodeJS.Signals) => void) | null = null;
    if (!flags.detach) {
      onSignal = (sig) => {
        signalled ??= sig;
        note(`zk-cli: ${sig}: stopping the cluster`);
        void stopAll();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
    }

    const up = await clusterUp({
      dir,
      count: flags.nodes,
      basePort: flags["base-port"],
      explicit: { count: given("nodes"), basePort: given("base-port"), tuning: Object.values(tuning).some((v) => v !== undefined) },
      tuning,
      adopt: flags.adopt,
      detached: flags.detach,
      sink,
      waitMs: flags["wait-ms"],
      fetchStatus: (m) => {
        const targets = m.nodes.map((n) => ({ id: n.id, address: n.address }));
        let client: Awaited<ReturnType<typeof this.clientFor>> | null = null;
        return async () => {
          client ??= await this.clientFor(targets.map((t) => t.address), Math.min(flags.timeout, 1000));
          return fetchRows(client, targets);
        };
      },
    }).catch((e: unknown) => {
      if (signalled) return null; // stopped on purpose; not a failure to report
      throw e;
    });

    if (!up || signalled) {
      await stopAll();
      return;
    }
    const rows = joinManifest(up.manifest, up.rows);
    if (flags.json) printJsonLines(rows.map((r) => ({ clusterId: up.manifest.clusterId, ...clusterRowJson(r) })));
    else {
      printTable(rows, CLUSTER_COLUMNS);
      note(`cluster ${up.manifest.clusterId} ${up.resumed ? "started again" : "is up"} in ${dir}${flags.detach ? `; stop it with \`zk-cli cluster down${dirFlag(dir)}\`` : "; Ctrl-C stops it"}`);
    }
    // Written in --json mode too (to stderr): a member left stopped is the one thing to act on.
    for (const n of up.notStarted) {
      note(`zk-cli: ${n.id} was not started: its data dir ${n.dataDir} holds no store (its data is gone); rebuild it from the others with \`zk-cli cluster start ${n.id} --rejoin${dirFlag(dir)}\``);
    }
    if (flags.detach) return;

    // Foreground: run until a signal, or until no member is left running (members restarted
    // with `cluster start` run detached, so they are looked up in the manifest).
    await new Promise<void>((resolve) => {
      let left = up.spawned.length;
      const poll = setInterval(() => {
        const m = readManifest(dir);
        if (left === 0 && (!m || runningNodes(m).length === 0)) done();
      }, 1000);
      for (const s of up.spawned) {
        void s.exited.then((r) => {
          if (!stopping) note(`zk-cli: ${s.node.id} exited (${r.signal ? `signal ${r.signal}` : `code ${r.code}`})`);
          left--;
        });
      }
      const done = () => {
        clearInterval(poll);
        resolve();
      };
      const check = () => (stopping ? stopping.then(done) : undefined);
      process.on("SIGINT", check);
      process.on("SIGTERM", check);
    });
    await stopAll();
  }
}
