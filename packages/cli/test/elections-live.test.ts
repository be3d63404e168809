// `zk-cli elections watch` against a real 3-node cluster on 127.0.0.1:17500-17502: the TUI's
// root component rendered in-process (ink-testing-library) and fed by the real WatchElections
// streams, with its keys killing, restarting and pausing real zk-node processes; and the
// NDJSON mode of a real `zk-cli elections watch` process in a pipe while the leader is killed.
// Set ZK_CLI_CAPTURE_DIR to keep the frames (plain text) for the docs.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { stripVTControlCharacters } from "node:util";
import { ZkClient } from "@zk/node/client";
import { render } from "ink-testing-library";
import { createElement as h } from "react";
import { readManifest, type Manifest } from "../src/lib/manifest.js";
import { localControls } from "../src/ui/cluster-controls.js";
import { ElectionFeed } from "../src/ui/election-feed.js";
import { ElectionStore } from "../src/ui/election-model.js";
import { ElectionsApp } from "../src/ui/elections-view.js";
import { CLI, cli, destroyCluster, jsonLines, tempClusterDir, waitUntil } from "./helpers.js";

const BASE_PORT = 17500;
const WAIT_MS = 20_000;
const captureDir = process.env.ZK_CLI_CAPTURE_DIR;

function capture(name: string, frame: string): void {
  if (captureDir) writeFileSync(join(captureDir, name), frame.replace(/[ \t]+$/gm, "") + "\n");
}

describe("elections watch against a local 3-node cluster", { timeout: 120_000 }, () => {
  const dir = tempClusterDir("elections");
  let manifest: Manifest;
  let client: ZkClient;

  before(async () => {
    const up = await cli(["cluster", "up", "--detach", "--nodes", "3", "--base-port", String(BASE_PORT), "--dir", dir, "--json"]);
    assert.equal(up.code, 0, `cluster up failed: ${up.stderr}`);
    manifest = readManifest(dir)!;
    client = new ZkClient({ endpoints: manifest.nodes.map((n) => n.address), timeoutMs: 2000 });
  });

  after(async () => {
    client?.close();
    await destroyCluster(dir);
  });

  it("the TUI shows the cluster, the new leader and the election after k kills the leader; r brings it back; p pauses a follower", async () => {
    const targets = manifest.nodes.map((n) => ({ id: n.id, address: n.address }));
    const store = new ElectionStore(targets);
    const feed = new ElectionFeed(client, targets.map((t) => t.address), store.dispatch);
    const controls = localControls(dir, client);
    feed.start();
    const app = render(h(ElectionsApp, { store, controls, title: "zk elections: 3 nodes of the local cluster", onRestarted: (a: string) => feed.reconnect(a) }));
    const frame = () => stripVTControlCharacters(app.lastFrame() ?? "");
    const row = (id: string) => frame().split("\n").find((l) => new RegExp(`^.\\s+${id}\\s`).test(l)) ?? "";
    const select = async (id: string) => {
      for (let i = 0; i < targets.length && !/^>/.test(row(id)); i++) {
        app.stdin.write("\u001B[B"); // down
        await sleep(80);
      }
      assert.match(row(id), /^>/, `${id} is selected:\n${frame()}`);
    };
    try {
      const leader = await waitUntil(() => {
        const m = /Leader: (n\d) ballot/.exec(frame());
        return m && targets.every((t) => / up$/.test(row(t.id))) ? m[1]! : null;
      }, WAIT_MS, "every node up and a leader");
      // Writes move every row's chosen and applied index.
      for (let i = 1; i <= 3; i++) await client.put(`/elections-${i}`, Buffer.from(`v${i}`));
      await waitUntil(() => targets.every((t) => /\s3\s+3\s+0\s/.test(row(t.id))), WAIT_MS, "every node at chosen 3, applied 3, lag 0");
      capture("elections-steady.txt", frame());

      await select(leader);
      app.stdin.write("k");
      const next = await waitUntil(() => {
        const m = /Leader: (n\d) ballot (\d+)\.(n\d) for/.exec(frame());
        return m && m[1] !== leader && /down: /.test(row(leader)) ? m[1]! : null;
      }, WAIT_MS, `a new leader after killing ${leader}`);
      const f = frame();
      assert.match(f, new RegExp(`you: killed ${leader} \\(SIGKILL, pid \\d+\\)`));
      assert.match(f, new RegExp(`${leader}\\s+unreachable: `));
      assert.match(f, new RegExp(`${next}\\s+leader\\s+\\d+\\.${next}\\s+promise-quorum`), f);
      assert.match(row(next), /leader\s+\d+\.n\d\s+n\d/);
      // Wait for the new leader to be followed by the survivor, for the capture.
      const survivor = targets.map((t) => t.id).find((id) => id !== leader && id !== next)!;
      await waitUntil(() => new RegExp(`follower\\s+\\d+\\.${next}\\s+${next}\\s`).test(row(survivor)), WAIT_MS, `${survivor} following ${next}`);
      capture("elections-after-kill.txt", frame());

      app.stdin.write("r");
      await waitUntil(() => new RegExp(`follower\\s+\\d+\\.${next}\\s+${next}\\s.*up$`).test(row(leader)), WAIT_MS, `${leader} back as a follower`);
      assert.match(frame(), new RegExp(`you: started ${leader} \\(pid \\d+\\)`), "a killed node is started again");
      assert.match(frame(), new RegExp(`${leader}\\s+reachable again`));

      // Pausing a follower: the view says so, its stream goes silent and comes back on resume.
      await select(survivor);
      app.stdin.write("p");
      await waitUntil(() => / paused$/.test(row(survivor)) && new RegExp(`${survivor}\\s+unreachable: silent`).test(frame()), WAIT_MS, `${survivor} paused and silent`);
      capture("elections-paused.txt", frame());
      app.stdin.write("p");
      await waitUntil(() => / up$/.test(row(survivor)), WAIT_MS, `${survivor} resumed`);
      assert.match(frame(), new RegExp(`you: resumed ${survivor} \\(SIGCONT`));
      assert.equal(currentLeaderLine(frame()), `Leader: ${next}`, "pausing a follower does not disturb the leader");
    } finally {
      app.unmount();
      feed.stop();
      controls.resumeAll();
    }
  });

  it("--duration: runs for that long and exits 0; in a pipe, NDJSON: one status per node", async () => {
    const r = await cli(["elections", "watch", "--duration", "700", "--dir", dir]);
    assert.equal(r.code, 0, r.stderr);
    const statuses = jsonLines<{ type: string; node: string; up: boolean }>(r.stdout).filter((o) => o.type === "status");
    assert.deepEqual([...new Set(statuses.map((s) => s.node))].sort(), ["n1", "n2", "n3"]);
    assert.ok(statuses.every((s) => s.up));
  });

  it("NDJSON in a pipe while the leader is killed: the old leader goes down, another node reports promise-quorum; SIGTERM ends it with 0", async () => {
    const child = spawn(process.execPath, [CLI, "elections", "watch", "--dir", dir, "--duration", "30000"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString("utf8")));
    child.stderr.on("data", (b: Buffer) => (err += b.toString("utf8")));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    try {
      type Line = { type: string; node: string; up?: boolean; role?: string | null; reason?: string; ballot?: { round: number; nodeId: string } | null; leader?: string | null };
      const lines = () => jsonLines<Line>(out.slice(0, out.lastIndexOf("\n") + 1));
      const leader = await waitUntil(() => {
        const st = lines().filter((l) => l.type === "status" && l.up);
        return new Set(st.map((l) => l.node)).size === 3 ? st.find((l) => l.role === "leader")?.node : null;
      }, WAIT_MS, "a status of every node, one of them the leader");
      const killed = await cli(["cluster", "kill", leader, "--dir", dir]);
      assert.equal(killed.code, 0, killed.stderr);
      const won = await waitUntil(() => lines().find((l) => l.type === "event" && l.reason === "promise-quorum"), WAIT_MS, "a promise-quorum event");
      assert.notEqual(won.node, leader);
      assert.equal(won.role, "leader");
      assert.equal(won.ballot?.nodeId, won.node);
      assert.ok(lines().some((l) => l.type === "status" && l.node === leader && l.up === false), `${leader} reported down`);
      child.kill("SIGTERM");
      assert.equal(await exited, 0, err);
      for (const l of lines()) assert.ok(l.type === "status" || l.type === "event");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});

function currentLeaderLine(frame: string): string {
  return /^Leader: n\d/m.exec(frame)?.[0] ?? "";
}
