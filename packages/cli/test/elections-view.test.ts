// The elections view without a cluster: the reducer (rows, timeline, tenure, lag), the NDJSON
// printer, and the ink components rendered with ink-testing-library (text only; colours are
// not asserted), including the keys of the app against fake controls.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { stripVTControlCharacters } from "node:util";
import { render } from "ink-testing-library";
import { createElement as h } from "react";
import type { NodeControls } from "../src/ui/cluster-controls.js";
import { jsonPrinter } from "../src/ui/election-json.js";
import { ElectionStore, currentTenure, initialState, lagOf, reduce, type ElectionState, type FeedUpdate } from "../src/ui/election-model.js";
import { ElectionsApp, NodeTable, TenureLine, Timeline, formatTime } from "../src/ui/elections-view.js";
import { waitUntil } from "./helpers.js";

const T0 = 1_700_000_000_000;
const targets = ["n1", "n2", "n3"].map((id, i) => ({ id, address: `127.0.0.1:${17590 + i}` }));
const key = (id: string) => targets.find((t) => t.id === id)!.address;
const ROLE = { follower: 1, precandidate: 2, candidate: 3, leader: 4 } as const;

function status(id: string, role: keyof typeof ROLE, ballot: [number, string], leader: string, chosen: number, atMs = T0, heartbeat = 20, alarms: string[] = []): FeedUpdate {
  return {
    kind: "status",
    key: key(id),
    atMs,
    status: {
      nodeId: id,
      address: key(id),
      role: ROLE[role],
      ballot: { round: ballot[0], nodeId: ballot[1] },
      leaderId: leader,
      leaderAddress: leader ? key(leader) : "",
      chosenIndex: chosen,
      appliedIndex: chosen,
      clusterId: "zk-test",
      members: [],
      lastHeartbeatMsAgo: heartbeat,
      alarms,
      logStart: 1,
      snapshotTransfers: [],
    },
  };
}

function event(id: string, role: keyof typeof ROLE, ballot: [number, string], leader: string, reason: string, unixMs: number): FeedUpdate {
  return { kind: "event", key: key(id), atMs: unixMs, event: { nodeId: id, role: ROLE[role], ballot: { round: ballot[0], nodeId: ballot[1] }, leaderId: leader, reason, unixMs } };
}

/** n1 leads at ballot 1.n1; n2 and n3 follow; n3 is 3 slots behind. */
function steady(): ElectionState {
  let s = initialState(targets);
  s = reduce(s, status("n1", "leader", [1, "n1"], "n1", 10));
  s = reduce(s, status("n2", "follower", [1, "n1"], "n1", 10));
  s = reduce(s, status("n3", "follower", [1, "n1"], "n1", 7));
  return s;
}

/** n1 dies; n2 runs an election and wins at 2.n2; n3 follows it. */
function failover(s: ElectionState): ElectionState {
  s = reduce(s, { kind: "down", key: key("n1"), atMs: T0 + 1000, reason: "connection lost" });
  s = reduce(s, event("n2", "precandidate", [1, "n1"], "", "election-timeout", T0 + 1200));
  s = reduce(s, event("n2", "candidate", [2, "n2"], "", "pre-vote-won", T0 + 1210));
  s = reduce(s, event("n2", "leader", [2, "n2"], "n2", "promise-quorum", T0 + 1220));
  s = reduce(s, event("n3", "follower", [2, "n2"], "n2", "leader-heard", T0 + 1240));
  return s;
}

const text = (frame: string | undefined) => stripVTControlCharacters(frame ?? "");

describe("election model", () => {
  it("rows follow the nodes' statuses; lag is behind the leader's chosen index", () => {
    const s = steady();
    assert.deepEqual(
      s.nodes.map((n) => [n.id, n.up, n.role, n.leader, n.chosen]),
      [
        ["n1", true, "leader", "n1", 10],
        ["n2", true, "follower", "n1", 10],
        ["n3", true, "follower", "n1", 7],
      ],
    );
    assert.deepEqual(s.nodes.map((n) => lagOf(s, n)), [0, 0, 3]);
    const t = currentTenure(s);
    assert.equal(t?.leaderId, "n1");
    assert.equal(t?.exact, false, "a leader first seen by its status led before the watch");
  });

  it("a failover: the old leader is down, the timeline has the events in time order, the new tenure starts at promise-quorum", () => {
    const s = failover(steady());
    assert.equal(s.nodes[0]!.up, false);
    assert.equal(s.nodes[0]!.downReason, "connection lost");
    assert.deepEqual(
      s.timeline.map((e) => [e.nodeId, e.kind, e.reason]),
      [
        ["n1", "watch", "unreachable: connection lost"],
        ["n2", "event", "election-timeout"],
        ["n2", "event", "pre-vote-won"],
        ["n2", "event", "promise-quorum"],
        ["n3", "event", "leader-heard"],
      ],
    );
    assert.deepEqual(currentTenure(s), { leaderId: "n2", ballot: { round: 2, nodeId: "n2" }, sinceMs: T0 + 1220, exact: true });
    // The status that follows the event keeps the exact start.
    const after = reduce(s, status("n2", "leader", [2, "n2"], "n2", 12, T0 + 1300));
    assert.equal(currentTenure(after)?.sinceMs, T0 + 1220);
    assert.equal(lagOf(after, after.nodes[2]!), 5);
  });

  it("events from different streams are put in time order", () => {
    let s = steady();
    s = reduce(s, event("n3", "follower", [2, "n2"], "n2", "leader-heard", T0 + 50));
    s = reduce(s, event("n2", "leader", [2, "n2"], "n2", "promise-quorum", T0 + 40));
    assert.deepEqual(s.timeline.map((e) => e.reason), ["promise-quorum", "leader-heard"]);
  });

  it("two nodes claiming to lead (a paused old leader): the higher ballot is the leader", () => {
    let s = steady();
    s = reduce(s, status("n2", "leader", [2, "n2"], "n2", 10));
    assert.equal(currentTenure(s)?.leaderId, "n2");
  });

  it("the NDJSON printer prints events, and a status only when something other than the heartbeat age changed", () => {
    const lines: string[] = [];
    const p = jsonPrinter(initialState(targets), (l) => lines.push(l));
    p.feed(status("n1", "leader", [1, "n1"], "n1", 10));
    p.feed(status("n1", "leader", [1, "n1"], "n1", 10, T0 + 250, 5));
    p.feed(status("n1", "leader", [1, "n1"], "n1", 11, T0 + 500));
    p.feed({ kind: "down", key: key("n1"), atMs: T0 + 600, reason: "connection lost" });
    p.feed({ kind: "down", key: key("n1"), atMs: T0 + 900, reason: "connection refused" });
    p.feed(event("n2", "leader", [2, "n2"], "n2", "promise-quorum", T0 + 1000));
    const objs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      objs.map((o) => [o.type, o.node, o.up ?? null, o.chosen ?? null, o.reason ?? null]),
      [
        ["status", "n1", true, 10, null],
        ["status", "n1", true, 11, null],
        ["status", "n1", false, null, null],
        ["event", "n2", null, null, "promise-quorum"],
        ["status", "n2", true, null, null],
      ],
    );
    assert.deepEqual(objs[3]!.ballot, { round: 2, nodeId: "n2" });
    assert.equal(objs[2]!.error, "connection lost");
  });
});

describe("elections view components", () => {
  it("NodeTable: a row per node with role, ballot, leader, indexes, lag, heartbeat and up/down", () => {
    const s = reduce(steady(), { kind: "down", key: key("n3"), atMs: T0 + 10, reason: "connection refused" });
    const { lastFrame, unmount } = render(h(NodeTable, { state: s, selected: 1 }));
    const lines = text(lastFrame()).split("\n");
    unmount();
    assert.match(lines[0]!, /^\s+NODE\s+ROLE\s+BALLOT\s+LEADER\s+CHOSEN\s+APPLIED\s+LAG\s+HEARTBEAT\s+STATE$/);
    assert.match(lines[1]!, /^\s+n1\s+leader\s+1\.n1\s+n1\s+10\s+10\s+0\s+20 ms\s+up$/);
    assert.match(lines[2]!, /^>\s+n2\s+follower\s+1\.n1\s+n1\s+10\s+10\s+0\s+20 ms\s+up$/);
    // A node that is down keeps its last known indexes; the rest is unknown.
    assert.match(lines[3]!, /^\s+n3\s+-\s+-\s+-\s+7\s+7\s+-\s+-\s+down: connection refused$/);
  });

  it("a node's alarm shows in its row, in the timeline when raised and cleared, and in the JSON status", () => {
    const alarm = "n2: disk full at /data/n2/zk.db, writes refused";
    let s = reduce(steady(), status("n2", "follower", [1, "n1"], "", 10, T0 + 100, 20, [alarm]));
    const { lastFrame, unmount } = render(h(NodeTable, { state: s }));
    const frame = text(lastFrame());
    unmount();
    assert.match(frame, /n2\s+follower.*up, ALARM/);
    assert.match(frame, /^ALARM n2: disk full at \/data\/n2\/zk\.db, writes refused$/m);
    assert.deepEqual(s.timeline.map((e) => e.reason), [`ALARM ${alarm}`]);
    const lines: string[] = [];
    const p = jsonPrinter(steady(), (l) => lines.push(l));
    p.feed(status("n2", "follower", [1, "n1"], "", 10, T0 + 100, 20, [alarm]));
    assert.deepEqual(JSON.parse(lines.at(-1)!).alarms, [alarm]);
    s = reduce(s, status("n2", "follower", [1, "n1"], "n1", 10, T0 + 200));
    assert.deepEqual(s.timeline.map((e) => e.reason), [`ALARM ${alarm}`, `alarm cleared: ${alarm}`]);
    assert.deepEqual(s.nodes[1]!.alarms, []);
  });

  it("membership changes from the leader's status: one timeline line each, a row for a member added since, learners by role", () => {
    const withMembers = (u: FeedUpdate, members: { id: string; learner?: boolean }[]): FeedUpdate =>
      u.kind !== "status" ? u : { ...u, status: { ...u.status, members: members.map((m) => ({ id: m.id, address: m.id === "n4" ? "127.0.0.1:17593" : key(m.id), learner: m.learner ?? false, hasProgress: false, lag: 0, caughtUp: false, lastHeardMsAgo: 0, heard: false })) } };
    const three = [{ id: "n1" }, { id: "n2" }, { id: "n3" }];
    let s = reduce(steady(), withMembers(status("n1", "leader", [1, "n1"], "n1", 10, T0 + 100), three));
    assert.deepEqual(s.timeline, [], "the first configuration seen is no change");
    // A follower's (possibly older) member list changes nothing.
    s = reduce(s, withMembers(status("n2", "follower", [1, "n1"], "n1", 10, T0 + 150), [{ id: "n1" }]));
    s = reduce(s, withMembers(status("n1", "leader", [1, "n1"], "n1", 11, T0 + 200), [...three, { id: "n4", learner: true }]));
    s = reduce(s, withMembers(status("n1", "leader", [1, "n1"], "n1", 12, T0 + 300), [...three, { id: "n4", learner: true }]));
    s = reduce(s, withMembers(status("n1", "leader", [1, "n1"], "n1", 13, T0 + 400), [{ id: "n1" }, { id: "n2" }, { id: "n4" }]));
    assert.deepEqual(
      s.timeline.map((e) => e.reason),
      ["membership: n4 added (learner) at 127.0.0.1:17593", "membership: n4 promoted to voter; n3 removed"],
    );
    assert.deepEqual(s.nodes.map((n) => n.id), ["n1", "n2", "n3", "n4"]);
    const lines: string[] = [];
    const p = jsonPrinter(steady(), (l) => lines.push(l));
    p.feed(withMembers(status("n1", "leader", [1, "n1"], "n1", 10, T0 + 100), three));
    p.feed(withMembers(status("n1", "leader", [1, "n1"], "n1", 11, T0 + 200), [...three, { id: "n4", learner: true }]));
    const changes = lines.map((l) => JSON.parse(l) as { type: string; change?: string }).filter((l) => l.type === "membership");
    assert.deepEqual(changes.map((c) => c.change), ["n4 added (learner) at 127.0.0.1:17593"]);
    s = reduce(s, { kind: "status", key: "127.0.0.1:17593", atMs: T0 + 450, status: { ...(status("n1", "follower", [1, "n1"], "n1", 13) as Extract<FeedUpdate, { kind: "status" }>).status, nodeId: "n4", address: "127.0.0.1:17593", role: 6 } });
    assert.equal(s.nodes[3]!.role, "learner");
  });

  it("NodeTable: a node not heard from yet is connecting; a paused one says so", () => {
    const s = initialState(targets);
    const { lastFrame, unmount } = render(h(NodeTable, { state: reduce(s, status("n2", "follower", [1, "n1"], "n1", 3)), isPaused: (id: string) => id === "n2" }));
    const frame = text(lastFrame());
    unmount();
    assert.match(frame, /n1\s+-.*connecting/);
    assert.match(frame, /n2\s+follower.*paused/);
  });

  it("TenureLine: the leader, its ballot and for how long", () => {
    const s = failover(steady());
    const { lastFrame, rerender, unmount } = render(h(TenureLine, { tenure: currentTenure(s), now: T0 + 1220 + 4500 }));
    assert.equal(text(lastFrame()), `Leader: n2 ballot 2.n2 for 4.5 s (since ${formatTime(T0 + 1220)})`);
    rerender(h(TenureLine, { tenure: currentTenure(steady()), now: T0 + 2000 }));
    assert.equal(text(lastFrame()), "Leader: n1 ballot 1.n1 for at least 2.0 s (it led before the watch saw it)");
    rerender(h(TenureLine, { tenure: null, now: T0 }));
    assert.match(text(lastFrame()), /^Leader: none/);
    unmount();
  });

  it("Timeline: events with time, node, role, ballot and reason; the newest rows when it is long", () => {
    const s = failover(steady());
    const { lastFrame, rerender, unmount } = render(h(Timeline, { entries: s.timeline }));
    const lines = text(lastFrame()).split("\n");
    assert.equal(lines[0]!.trim(), "Timeline");
    assert.equal(lines[1], `${formatTime(T0 + 1000)}  n1    unreachable: connection lost`);
    assert.match(lines[4]!, new RegExp(`^${formatTime(T0 + 1220).replaceAll(".", "\\.")}  n2    leader\\s+2\\.n2\\s+promise-quorum$`));
    assert.match(lines[5]!, /n3\s+follower\s+2\.n2\s+leader-heard \(follows n2\)$/);
    rerender(h(Timeline, { entries: s.timeline, rows: 2 }));
    const short = text(lastFrame()).split("\n");
    unmount();
    assert.equal(short.length, 3);
    assert.match(short[0]!, /Timeline \(3 earlier\)/);
    assert.match(short[2]!, /leader-heard/);
  });

  it("ElectionsApp: draws the store live; arrows select, k/r/p call the controls, the result lands in the timeline, q quits", async () => {
    const store = new ElectionStore(targets);
    for (const u of [status("n1", "leader", [1, "n1"], "n1", 10), status("n2", "follower", [1, "n1"], "n1", 10), status("n3", "follower", [1, "n1"], "n1", 10)]) store.dispatch(u);
    const calls: string[] = [];
    const paused = new Set<string>();
    const controls: NodeControls = {
      kill: async (id) => (calls.push(`kill ${id}`), `killed ${id} (SIGKILL, pid 1)`),
      restart: async (id) => (calls.push(`restart ${id}`), `restarted ${id}`),
      togglePause: async (id) => (calls.push(`pause ${id}`), paused.add(id), `paused ${id}`),
      isPaused: (id) => paused.has(id),
      resumeAll: () => [...paused],
    };
    const restarted: string[] = [];
    const app = render(h(ElectionsApp, { store, controls, title: "test cluster", onRestarted: (a: string) => restarted.push(a) }));
    const frame = () => text(app.lastFrame());
    try {
      await waitUntil(() => /Leader: n1 ballot 1\.n1/.test(frame()), 2000, "the first frame");
      assert.match(frame(), /^test cluster$/m);
      assert.match(frame(), /^>\s+n1\s+leader/m);
      app.stdin.write("\u001B[B"); // down
      await waitUntil(() => /^>\s+n2\s+follower/m.test(frame()), 2000, "n2 selected");
      app.stdin.write("k");
      await waitUntil(() => /you: killed n2 \(SIGKILL, pid 1\)/.test(frame()), 2000, "the kill in the timeline");
      assert.deepEqual(calls, ["kill n2"]);
      // The feed reports what happened next; the view follows.
      store.dispatch({ kind: "down", key: key("n2"), atMs: Date.now(), reason: "connection lost" });
      await waitUntil(() => /n2\s+-.*down: connection lost/.test(frame()), 2000, "n2 down");
      app.stdin.write("r");
      await waitUntil(() => calls.length === 2 && restarted.length === 1, 2000, "the restart");
      assert.deepEqual(restarted, [key("n2")]);
      app.stdin.write("\u001B[B");
      await waitUntil(() => /^>\s+n3/m.test(frame()), 2000, "n3 selected");
      app.stdin.write("p");
      await waitUntil(() => /n3\s+follower.*paused/.test(frame()), 2000, "n3 paused");
      assert.deepEqual(calls, ["kill n2", "restart n2", "pause n3"]);
      // q exits the app (ink unmounts it): later changes draw no frame.
      app.stdin.write("q");
      await sleep(100);
      const frames = app.frames.length;
      store.dispatch(status("n1", "leader", [1, "n1"], "n1", 99));
      await sleep(100);
      assert.equal(app.frames.length, frames);
    } finally {
      app.unmount();
    }
  });

  it("ElectionsApp: keys arriving in one chunk act in order, each on the row selected when it arrived", async () => {
    const store = new ElectionStore(targets);
    for (const u of [status("n1", "leader", [1, "n1"], "n1", 10), status("n2", "follower", [1, "n1"], "n1", 10), status("n3", "follower", [1, "n1"], "n1", 10)]) store.dispatch(u);
    const calls: string[] = [];
    const paused = new Set<string>();
    const controls: NodeControls = {
      kill: async (id) => (calls.push(`kill ${id}`), `killed ${id}`),
      restart: async (id) => (calls.push(`restart ${id}`), `restarted ${id}`),
      togglePause: async (id) => (calls.push(`pause ${id}`), paused.has(id) ? paused.delete(id) : paused.add(id), `paused ${id}`),
      isPaused: (id) => paused.has(id),
      resumeAll: () => [...paused],
    };
    const app = render(h(ElectionsApp, { store, controls }));
    const frame = () => text(app.lastFrame());
    try {
      await waitUntil(() => /^>\s+n1\s+leader/m.test(frame()), 2000, "the first frame, n1 selected");
      // down + p in one write, as a terminal delivers keys typed (or pasted) quickly.
      app.stdin.write("\u001B[Bp");
      await waitUntil(() => calls.length === 1, 2000, "the pause");
      assert.deepEqual(calls, ["pause n2"]);
      await waitUntil(() => /^>\s+n2/m.test(frame()) && /n2\s+follower.*paused/.test(frame()), 2000, "n2 selected and paused");
      // Two moves then an action, then a move back up and another action, all in one chunk:
      // the first action takes n1 (wrapped around), the second n3.
      await sleep(50);
      app.stdin.write("\u001B[B\u001B[Bk");
      await waitUntil(() => calls.length === 2, 2000, "the kill");
      assert.deepEqual(calls, ["pause n2", "kill n1"]);
      await waitUntil(() => /^>\s+n1/m.test(frame()), 2000, "n1 selected");
      await sleep(50);
      app.stdin.write("\u001B[Ar");
      await waitUntil(() => calls.length === 3, 2000, "the restart");
      assert.deepEqual(calls, ["pause n2", "kill n1", "restart n3"]);
    } finally {
      app.unmount();
    }
  });

  it("ElectionsApp without controls (no local cluster): no keys but q, said so in the footer", () => {
    const store = new ElectionStore(targets);
    const app = render(h(ElectionsApp, { store }));
    const frame = text(app.lastFrame());
    app.unmount();
    assert.match(frame, /q quit \(k\/r\/p need a local cluster/);
    assert.doesNotMatch(frame, /^>/m);
  });
});
