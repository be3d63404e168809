// Scenario tests of the protocol core: each drives a small cluster by hand through one
// situation Multi-Paxos must get right, and checks the exact outcome.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ACCEPT_AHEAD_SLOTS_MAX, InvariantError, PaxosCore, SeededRng, ZERO_BALLOT, compareBallots, formatBallot, type Message } from "../src/paxos/index.js";
import { Harness, dec, enc } from "./harness.js";

const three = ["n1", "n2", "n3"];
const five = ["n1", "n2", "n3", "n4", "n5"];
const among = (...ids: string[]) => (m: Message) => ids.includes(m.from) && ids.includes(m.to);

function proposeAndSettle(h: Harness, leader: string, values: string[]): void {
  const r = h.core(leader).propose(values.map(enc));
  assert.ok(r.ok, `propose on ${leader} failed`);
  h.flush();
  h.deliver();
}

describe("elections", () => {
  test("a 3-node cluster elects one leader and every node learns it", () => {
    const h = new Harness(three);
    h.runUntil(() => h.leader() !== null && h.ids.every((id) => h.core(id).leaderId === h.leader()));
    const leader = h.leader()!;
    const events = h.node(leader).events.map((e) => `${e.role}:${e.reason}`);
    assert.deepEqual(events.slice(-3), ["precandidate:election-timeout", "candidate:pre-vote-won", "leader:promise-quorum"]);
    assert.equal(h.core(leader).promisedBallot.nodeId, leader);
  });

  test("dueling proposers: both campaign at once, one ballot wins, the other yields", () => {
    const h = new Harness(three);
    // n1 and n2 time out together and both win their pre-votes before any Prepare lands.
    h.timeOut("n1");
    h.timeOut("n2");
    h.deliver((m) => m.type === "preVote" || m.type === "preVoteReply");
    assert.equal(h.core("n1").role, "candidate");
    assert.equal(h.core("n2").role, "candidate");
    const b1 = h.core("n1").promisedBallot;
    const b2 = h.core("n2").promisedBallot;
    assert.equal(b1.round, b2.round, "same round, so the node id breaks the tie");
    // n3 hears n1's Prepare first, then n2's higher ballot.
    h.deliver((m) => m.type === "prepare" && m.from === "n1" && m.to === "n3");
    h.deliver((m) => m.type === "prepare" && m.from === "n2" && m.to === "n3");
    h.deliver();
    h.runUntil(() => h.leader() !== null && h.ids.every((id) => h.core(id).leaderId === h.leader()));
    assert.equal(h.leader(), "n2", "the higher ballot (1.n2 > 1.n1) completes Phase 1");
    assert.ok(h.node("n1").events.some((e) => e.role === "follower" && e.reason === "higher-ballot"));
    proposeAndSettle(h, "n2", ["a", "b"]);
    h.tick(h.ids, 2);
    h.deliver();
    for (const id of three) assert.deepEqual(h.chosenLog(id).filter((v) => v !== "no-op"), ["a", "b"]);
  });

  test("a follower asked to propose answers with the leader hint", () => {
    const h = new Harness(three);
    h.elect("n1");
    h.tick(h.ids, 2);
    h.deliver();
    const r = h.core("n3").propose([enc("x")]);
    assert.deepEqual(r, { ok: false, reason: "not-leader", leaderHint: "n1" });
  });

  test("check-quorum: a leader cut off from the majority steps down", () => {
    const h = new Harness(three);
    h.elect("n1");
    assert.equal(h.core("n1").role, "leader");
    for (let t = 0; t < 25; t++) {
      h.tick(["n1"]);
      h.deliver(() => false, (m) => m.from === "n1" || m.to === "n1");
    }
    assert.notEqual(h.core("n1").role, "leader");
    assert.ok(h.node("n1").events.some((e) => e.role === "follower" && e.reason === "check-quorum-lost"));
  });

  test("pre-vote: a partitioned node rejoining does not disturb a healthy leader", () => {
    const h = new Harness(three);
    h.elect("n1");
    const ballot = h.core("n1").promisedBallot;
    // n3 is cut off for many election timeouts and keeps campaigning in vain.
    const healthy = among("n1", "n2");
    for (let t = 0; t < 100; t++) {
      h.tick();
      h.deliver(healthy, (m) => !healthy(m));
    }
    assert.ok(h.node("n3").events.filter((e) => e.reason === "election-timeout").length > 3);
    assert.equal(h.core("n3").promisedBallot.round, ballot.round, "pre-vote never raised n3's round");
    h.runUntil(() => h.core("n3").leaderId === "n1", 50);
    assert.deepEqual(h.core("n1").promisedBallot, ballot);
    assert.equal(h.core("n1").role, "leader");
  });
});

describe("Phase 1 recovery", () => {
  test("a value accepted by a minority is recovered when the new quorum holds it", () => {
    const h = new Harness(five);
    h.elect("n1");
    proposeAndSettle(h, "n1", ["a"]);
    h.tick(h.ids, 2); // the heartbeat tells everyone slot 1 is chosen
    h.deliver();
    // "x" reaches only n2: with n1 itself, 2 of 5 accepted it — not chosen.
    h.core("n1").propose([enc("x")]);
    h.flush();
    h.deliver((m) => m.type === "accept" && m.to === "n2", (m) => m.type === "accept" && m.to !== "n2");
    h.crash("n1");
    assert.equal(h.core("n2").entry(2) && dec(h.core("n2").entry(2)!.command), "x");
    // n3 campaigns with n2 in its Phase 1 quorum: n2 reports x, so x must be re-proposed.
    h.tick(["n2", "n3", "n4", "n5"], 25);
    h.queue = [];
    const q = among("n2", "n3", "n4");
    h.elect("n3", q);
    assert.equal(h.core("n3").role, "leader");
    h.runUntil(() => h.core("n3").chosen >= 2, 50, q);
    assert.deepEqual(h.chosenLog("n3"), ["a", "x"]);
  });

  test("a value accepted by a minority and absent from the new quorum becomes a no-op", () => {
    const h = new Harness(five);
    h.elect("n1");
    proposeAndSettle(h, "n1", ["a"]);
    h.core("n1").propose([enc("x")]);
    h.flush();
    h.deliver((m) => m.type === "accept" && m.to === "n2", (m) => m.type === "accept" && m.to !== "n2");
    h.crash("n1");
    h.tick(["n2", "n3", "n4", "n5"], 25);
    h.queue = [];
    const q = among("n3", "n4", "n5");
    h.elect("n3", q);
    assert.equal(h.core("n3").role, "leader");
    h.runUntil(() => h.core("n3").chosen >= 1, 50, q);
    // Slot 2 was never chosen; nobody in the quorum had it, so the log has no slot 2 yet.
    assert.equal(h.core("n3").lastLogSlot, 1);
    h.core("n3").propose([enc("y")]);
    h.flush();
    h.runUntil(() => h.core("n3").chosen >= 2, 50, q);
    assert.deepEqual(h.chosenLog("n3"), ["a", "y"]);
    // When n2 rejoins, its stale "x" at slot 2 is overwritten by the chosen "y".
    h.runUntil(() => h.core("n2").chosen >= 2, 100, (m) => m.from !== "n1" && m.to !== "n1");
    assert.deepEqual(h.chosenLog("n2"), ["a", "y"]);
  });

  test("holes below the highest accepted slot are filled with no-ops", () => {
    const h = new Harness(three);
    h.elect("n1");
    // Slots 1..3 proposed; only slot 3's Accept reaches n2 (pipelining with loss).
    h.core("n1").propose([enc("p1")]);
    h.flush();
    h.core("n1").propose([enc("p2")]);
    h.flush();
    h.core("n1").propose([enc("p3")]);
    h.flush();
    h.deliver((m) => m.type === "accept" && m.to === "n2" && m.firstSlot === 3, (m) => m.type === "accept" && !(m.to === "n2" && m.firstSlot === 3));
    assert.equal(h.core("n2").entry(3) && dec(h.core("n2").entry(3)!.command), "p3");
    assert.equal(h.core("n2").entry(1), undefined);
    h.crash("n1");
    h.tick(["n2", "n3"], 25);
    h.queue = [];
    h.elect("n3");
    h.runUntil(() => h.core("n3").chosen >= 3, 50, among("n2", "n3"));
    assert.deepEqual(h.chosenLog("n3"), ["no-op", "no-op", "p3"]);
  });
});

describe("acceptors", () => {
  test("a stale leader's Accept is rejected after a higher promise, and it steps down", () => {
    const h = new Harness(three);
    h.elect("n1");
    const old = h.core("n1").promisedBallot;
    // n1 is partitioned; n2 wins a higher ballot with n3.
    const q = among("n2", "n3");
    for (let t = 0; t < 40 && h.core("n2").role !== "leader" && h.core("n3").role !== "leader"; t++) {
      h.tick(["n2", "n3"]);
      h.deliver(q, (m) => !q(m));
    }
    const newLeader = ["n2", "n3"].find((id) => h.core(id).role === "leader")!;
    assert.ok(newLeader, "n2 or n3 leads");
    assert.ok(compareBallots(h.core(newLeader).promisedBallot, old) > 0);
    // The old leader still believes it leads and proposes; the partition heals.
    assert.equal(h.core("n1").role, "leader");
    h.core("n1").propose([enc("stale")]);
    h.flush();
    const accepts = h.queue.filter((m) => m.type === "accept" && m.from === "n1");
    assert.ok(accepts.length > 0);
    h.deliver((m) => m.from === "n1" || m.to === "n1");
    const replies = h.node("n1").events.at(-1)!;
    assert.equal(h.core("n1").role, "follower");
    assert.equal(replies.reason, "higher-ballot");
    h.runUntil(() => h.ids.every((id) => h.core(id).chosen === h.core(newLeader).lastLogSlot && h.core(id).leaderId === newLeader), 100);
    for (const id of three) assert.ok(!h.chosenLog(id).includes("stale"), `${id} chose the stale value`);
  });

  test("a restarted acceptor keeps its promise and refuses lower ballots", () => {
    const h = new Harness(three);
    h.elect("n2");
    const promised = h.core("n3").promisedBallot;
    assert.equal(promised.nodeId, "n2");
    h.crash("n3");
    h.start("n3");
    assert.deepEqual(h.core("n3").promisedBallot, promised);
    // A Prepare and an Accept at a lower ballot (round 0 is not a ballot, so craft round 1 of n1 < 1.n2).
    const low = { round: promised.round, nodeId: "n1" };
    assert.ok(compareBallots(low, promised) < 0);
    h.core("n3").step({ type: "prepare", from: "n1", to: "n3", ballot: low, fromSlot: 1, incarnations: {} });
    h.core("n3").step({ type: "accept", from: "n1", to: "n3", ballot: low, firstSlot: 1, commands: [enc("evil")], chosen: 1, seq: 0, yourIncarnation: 0, electionTail: 0 });
    h.flush();
    const answers = h.queue.filter((m) => m.from === "n3" && m.to === "n1");
    assert.deepEqual(answers.map((m) => m.type === "promise" || m.type === "acceptReply" ? m.ok : null), [false, false]);
    assert.equal(h.core("n3").entry(1), undefined);
    assert.equal(h.core("n3").chosen, 0);
  });

  test("messages from unknown nodes, malformed slots, forged ballots and duplicates change nothing", () => {
    const h = new Harness(three);
    h.elect("n1");
    proposeAndSettle(h, "n1", ["a"]);
    h.tick(h.ids, 2);
    h.deliver();
    const n3 = h.core("n3");
    const before = { promised: n3.promisedBallot, chosen: n3.chosen, last: n3.lastLogSlot };
    const big = { round: 99, nodeId: "mallory" };
    n3.step({ type: "prepare", from: "mallory", to: "n3", ballot: big, fromSlot: 1, incarnations: {} });
    n3.step({ type: "accept", from: "n2", to: "n3", ballot: { round: 99, nodeId: "n1" }, firstSlot: 2, commands: [enc("forged")], chosen: 2, seq: 0, yourIncarnation: 0, electionTail: 0 });
    n3.step({ type: "accept", from: "n1", to: "n3", ballot: { round: 99, nodeId: "n1" }, firstSlot: 0, commands: [enc("zero")], chosen: 0, seq: 0, yourIncarnation: 0, electionTail: 0 });
    n3.step({ type: "accept", from: "n1", to: "n3", ballot: { round: 99, nodeId: "n1" }, firstSlot: 1.5, commands: [enc("frac")], chosen: 0, seq: 0, yourIncarnation: 0, electionTail: 0 });
    n3.step({ type: "prepare", from: "n1", to: "n2", ballot: big, fromSlot: 1, incarnations: {} });
    assert.equal(n3.hasReady(), false, "nothing to persist or send");
    assert.deepEqual({ promised: n3.promisedBallot, chosen: n3.chosen, last: n3.lastLogSlot }, before);
    // A duplicate of an Accept already applied is acknowledged again but stores nothing new.
    const b = h.core("n1").promisedBallot;
    n3.step({ type: "accept", from: "n1", to: "n3", ballot: b, firstSlot: 1, commands: [enc("a")], chosen: 1, seq: 0, yourIncarnation: 0, electionTail: 0 });
    const rd = n3.ready();
    assert.equal(rd.entries.length, 0);
    assert.equal(rd.hardState, null);
    assert.equal(rd.messages.length, 1);
    n3.advance();
  });

  test("an Accept absurdly far past the chosen index is answered but not stored", () => {
    const h = new Harness(three);
    h.elect("n1");
    const b = h.core("n1").promisedBallot;
    const far = ACCEPT_AHEAD_SLOTS_MAX + 10;
    h.core("n3").step({ type: "accept", from: "n1", to: "n3", ballot: b, firstSlot: far, commands: [enc("far")], chosen: 0, seq: 0, yourIncarnation: 0, electionTail: 0 });
    h.core("n3").step({ type: "accept", from: "n1", to: "n3", ballot: b, firstSlot: 5, commands: [enc("near")], chosen: 0, seq: 0, yourIncarnation: 0, electionTail: 0 });
    const rd = h.core("n3").ready();
    assert.deepEqual(rd.entries.map((e) => e.slot), [5]);
    assert.equal(rd.messages.filter((m) => m.type === "acceptReply").length, 2, "both answered");
    h.core("n3").advance();
    assert.equal(h.core("n3").lastLogSlot, 5);
    // A Prepare gets exactly the (sparse) accepted entries, however far apart.
    h.core("n3").step({ type: "prepare", from: "n2", to: "n3", ballot: { round: b.round + 1, nodeId: "n2" }, fromSlot: 1, incarnations: {} });
    const promise = h.core("n3").ready().messages.find((m) => m.type === "promise");
    assert.ok(promise && promise.type === "promise" && promise.ok);
    assert.deepEqual(promise.entries.map((e) => e.slot), [5]);
  });

  test("an Accept that contradicts a chosen slot stops the node loudly", () => {
    const h = new Harness(three);
    h.elect("n1");
    proposeAndSettle(h, "n1", ["a"]);
    h.tick(h.ids, 2);
    h.deliver();
    assert.equal(h.core("n3").chosen, 1);
    const b = h.core("n1").promisedBallot;
    assert.throws(
      () => h.core("n3").step({ type: "accept", from: "n1", to: "n3", ballot: b, firstSlot: 1, commands: [enc("other")], chosen: 1, seq: 0, yourIncarnation: 0, electionTail: 0 }),
      InvariantError,
    );
  });
});

describe("replication", () => {
  test("a follower far behind catches up from the leader in pipelined batches", () => {
    const h = new Harness(three, { batchEntriesMax: 64, inflightBatchesMax: 4 });
    h.elect("n1");
    h.crash("n3");
    for (let i = 0; i < 20; i++) proposeAndSettle(h, "n1", Array.from({ length: 50 }, (_, j) => `v${i * 50 + j}`));
    h.tick(["n1", "n2"], 2);
    h.deliver();
    assert.equal(h.core("n1").chosen, 1000);
    h.start("n3");
    assert.equal(h.core("n3").chosen, 0);
    let maxBatch = 0;
    let maxInflight = 0;
    for (let t = 0; t < 200 && h.core("n3").chosen < 1000; t++) {
      h.tick();
      for (const m of h.queue) if (m.type === "accept" && m.to === "n3") maxBatch = Math.max(maxBatch, m.commands.length);
      maxInflight = Math.max(maxInflight, h.queue.filter((m) => m.type === "accept" && m.to === "n3" && m.commands.length > 0).length);
      h.deliver();
    }
    assert.equal(h.core("n3").chosen, 1000);
    assert.deepEqual(h.chosenLog("n3"), h.chosenLog("n1"));
    assert.ok(maxBatch <= 64, `batch of ${maxBatch} over the limit`);
    assert.ok(maxInflight <= 4, `${maxInflight} batches in flight over the window`);
  });

  test("the chosen index reaches followers right after it advances, without waiting for a heartbeat", () => {
    const h = new Harness(three);
    h.elect("n1");
    const ticks = h.ids.map((id) => h.core(id).tickCount);
    const r = h.core("n1").propose(["a", "b", "c"].map(enc));
    assert.ok(r.ok);
    h.flush();
    // Accepts out, replies back: the leader learns the slots are chosen...
    h.deliver((m) => m.type === "accept" || m.type === "acceptReply");
    assert.equal(h.core("n1").chosen, 3);
    // ...and the notification it sends at once teaches the followers; no tick happened.
    assert.deepEqual(h.ids.map((id) => h.core(id).tickCount), ticks);
    assert.equal(h.core("n2").chosen, 3);
    assert.equal(h.core("n3").chosen, 3);
    assert.deepEqual(h.chosenLog("n2"), ["a", "b", "c"]);
  });

  test("a leader's entries advanced before their fsync count toward a quorum only once persisted, in its own ballot", () => {
    const h = new Harness(three);
    h.elect("n1");
    h.tick(h.ids, 2);
    h.deliver();
    const leader = h.core("n1");
    const before = leader.chosen;
    assert.ok(leader.propose([enc("x")]).ok);
    // The leader's Ready: committed without its fsync (--fsync-off-loop), the core told so.
    const rd = leader.ready();
    h.node("n1").store.save(rd.hardState, rd.entries);
    h.queue.push(...rd.messages);
    leader.advance(false);
    const slot = rd.entries[rd.entries.length - 1]!.slot;
    // Only n2 gets the Accept: with the leader's own copy not yet durable, one acceptance is not a quorum.
    h.deliver((m) => (m.type === "accept" || m.type === "acceptReply") && m.from !== "n3" && m.to !== "n3");
    assert.equal(leader.chosen, before, "chosen on one durable acceptance");
    // A flush from another term proves nothing about this one's writes.
    leader.persisted({ round: leader.promisedBallot.round - 1, nodeId: "n1" }, slot);
    assert.equal(leader.chosen, before);
    leader.persisted(leader.promisedBallot, slot);
    assert.equal(leader.chosen, slot, "the leader's durable copy and n2's make a quorum");
  });

  test("a leader refuses proposals past its uncommitted limit", () => {
    const h = new Harness(three, { uncommittedEntriesMax: 10 });
    h.elect("n1");
    h.crash("n2");
    h.crash("n3");
    assert.ok(h.core("n1").propose(Array.from({ length: 10 }, (_, i) => enc(`v${i}`))).ok);
    assert.deepEqual(h.core("n1").propose([enc("one-too-many")]), { ok: false, reason: "busy", leaderHint: "n1" });
  });
});

describe("linearizable reads (read-index)", () => {
  test("a read is answered only after a quorum confirms, after it was asked, that the leader still leads", () => {
    const h = new Harness(three);
    h.elect("n1");
    proposeAndSettle(h, "n1", ["a", "b"]);
    h.tick(h.ids, 2);
    h.deliver();
    assert.equal(h.core("n2").readIndex(1), false, "followers do not answer linearizable reads");
    assert.ok(h.core("n1").readIndex(7));
    h.flush();
    assert.deepEqual(h.node("n1").reads, [], "not before the confirmation round");
    const beats = h.queue.filter((m) => m.type === "accept" && m.from === "n1");
    assert.equal(beats.length, 2, "one confirmation heartbeat per follower");
    // Answers to Accepts sent before the read do not confirm it.
    assert.ok(h.core("n1").readIndex(8));
    h.deliver((m) => m.to === "n2" || m.from === "n2", (m) => m.to === "n3" || m.from === "n3");
    assert.deepEqual(h.node("n1").reads, [7, 8], "n2's answer plus the leader are a quorum of 3");
  });

  test("an isolated leader never confirms a read, and drops it when it steps down", () => {
    const h = new Harness(three);
    h.elect("n1");
    proposeAndSettle(h, "n1", ["a"]);
    assert.ok(h.core("n1").readIndex(1));
    for (let t = 0; t < 30; t++) {
      h.tick(["n1"]);
      h.queue = h.queue.filter((m) => m.from !== "n1");
    }
    assert.notEqual(h.core("n1").role, "leader");
    assert.deepEqual(h.node("n1").reads, []);
    assert.equal(h.core("n1").readIndex(2), false);
  });
});

describe("quiet chosen-index notices", () => {
  /** n1 leads n2 and n3 and has proposed one value; its Accepts and their answers delivered, nothing after. */
  function oneWriteAccepted(): Harness {
    const h = new Harness(three);
    h.elect("n1");
    h.tick(h.ids, 2);
    h.deliver();
    assert.ok(h.core("n1").propose([enc("x")]).ok);
    h.flush();
    h.deliver((m) => (m.type === "accept" && m.commands.length > 0) || m.type === "acceptReply");
    return h;
  }

  test("the notice that a write was chosen goes unanswered, and the followers still learn it", () => {
    const h = oneWriteAccepted();
    const chosen = h.core("n1").chosen;
    const notices = h.queue.filter((m) => m.type === "accept" && m.commands.length === 0 && m.chosen === chosen);
    assert.deepEqual(notices.map((m) => [m.to, m.type === "accept" && m.quiet]), [["n2", true], ["n3", true]]);
    h.deliver((m) => m.type === "accept");
    assert.deepEqual(h.queue.filter((m) => m.type === "acceptReply"), [], "no answer to a quiet notice");
    for (const id of ["n2", "n3"]) assert.deepEqual(h.chosenLog(id).filter((v) => v !== "no-op"), ["x"]);
  });

  test("heartbeats and read confirmations are never quiet: reads are confirmed and the leader keeps its quorum", () => {
    const h = oneWriteAccepted();
    h.deliver();
    assert.ok(h.core("n1").readIndex(5));
    h.flush();
    const confirms = h.queue.filter((m) => m.type === "accept" && m.from === "n1");
    assert.equal(confirms.length, 2, "one confirmation per follower");
    assert.ok(confirms.every((m) => m.type === "accept" && m.quiet !== true), "a confirmation round wants answers");
    h.deliver();
    assert.deepEqual(h.node("n1").reads, [5]);
    for (let t = 0; t < 40; t++) {
      h.tick();
      // Nothing new is chosen here, so every Accept is a heartbeat.
      assert.ok(h.queue.every((m) => m.type !== "accept" || m.quiet !== true), "heartbeats are answered");
      h.deliver();
    }
    assert.equal(h.core("n1").role, "leader", "check-quorum still hears a majority");
  });

  test("a leader that keeps sending entries sends no heartbeats; idle, it sends them again; no one campaigns either way", () => {
    const heartbeatTicks = 2;
    const h = new Harness(three, { heartbeatTicks });
    h.elect("n1");
    h.deliver();
    const beats = () => h.queue.filter((m) => m.type === "accept" && m.from === "n1" && m.commands.length === 0 && m.quiet !== true).length;
    let busy = 0;
    for (let t = 0; t < 40; t++) {
      assert.ok(h.core("n1").propose([enc(`v${t}`)]).ok);
      h.flush();
      h.tick();
      busy += beats();
      h.deliver();
    }
    assert.equal(busy, 0, "entries sent within each interval stand for its heartbeats");
    let idle = 0;
    for (let t = 0; t < 40; t++) {
      h.tick();
      idle += beats();
      h.deliver();
    }
    assert.ok(idle >= 2 * (40 / heartbeatTicks - 1), `an idle leader sends each follower a heartbeat every ${heartbeatTicks} ticks (sent ${idle})`);
    for (const id of three) assert.equal(h.core(id).leaderId, "n1");
    assert.equal(h.core("n1").role, "leader", "check-quorum heard a majority through the entries' answers");
    assert.deepEqual(h.node("n2").events.concat(h.node("n3").events).filter((e) => e.role !== "follower"), [], "no follower campaigned");
    for (const id of ["n2", "n3"]) assert.equal(h.chosenLog(id).filter((v) => v !== "no-op").length, 40);
  });

  test("a follower answers a quiet notice that raised its promise", () => {
    const h = oneWriteAccepted();
    const notice = h.queue.find((m) => m.type === "accept" && m.to === "n2" && m.quiet === true);
    assert.ok(notice !== undefined && notice.type === "accept", "n1 sent n2 a quiet notice");
    h.queue = [];
    // The same notice from a leader of a higher ballot than n2 has promised (n2 missed its Phase 1).
    h.core("n2").step({ ...notice, ballot: { round: notice.ballot.round + 1, nodeId: "n1" } });
    h.flush();
    assert.equal(h.queue.filter((m) => m.type === "acceptReply" && m.from === "n2").length, 1);
  });

  test("a recovering follower answers a quiet notice of its leader's ballot: its answers are how the leader follows its catch-up", () => {
    const h = oneWriteAccepted();
    const notice = h.queue.find((m) => m.type === "accept" && m.to === "n3" && m.quiet === true);
    assert.ok(notice !== undefined && notice.type === "accept", "n1 sent n3 a quiet notice");
    // n3 lost its disk and was rebuilt: it follows n1 without voting.
    h.wipe("n3", 1_000);
    h.start("n3");
    h.queue = [];
    // A first Accept of n1's ballot raises n3's empty promise (answered for that alone); the
    // leader does not know of the rebuild yet (yourIncarnation 0), so n3 stays recovering.
    h.core("n3").step({ ...notice, quiet: false, chosen: 0, yourIncarnation: 0 });
    h.flush();
    assert.equal(compareBallots(h.core("n3").promisedBallot, notice.ballot), 0, "n3 promised n1's ballot");
    h.queue = [];
    // Now a quiet notice at that same ballot (no new promise): answered because n3 is recovering.
    h.core("n3").step({ ...notice, yourIncarnation: 0 });
    h.flush();
    assert.equal(h.core("n3").role, "recovering");
    const answers = h.queue.filter((m) => m.type === "acceptReply" && m.from === "n3");
    assert.equal(answers.length, 1, "one answer to the quiet notice");
    const a = answers[0]!;
    assert.ok(a.type === "acceptReply" && a.recovering && a.incarnation === 1_000, "the answer tells the leader n3 is rebuilt and recovering");
  });
});

describe("core contract", () => {
  test("ready() cannot be called twice without advance(), and nothing is sent before it is returned", () => {
    const core = new PaxosCore({ id: "n1", members: ["n1"], rng: new SeededRng(1) }, { hardState: { promised: ZERO_BALLOT, chosen: 0 }, entries: [] });
    for (let i = 0; i < 30 && core.role !== "leader"; i++) core.tick();
    assert.equal(core.role, "leader", "a single node elects itself");
    const rd = core.ready();
    assert.ok(rd.hardState && formatBallot(rd.hardState.promised) === formatBallot(core.promisedBallot));
    assert.throws(() => core.ready(), InvariantError);
    core.advance();
    const r = core.propose([enc("solo")]);
    assert.ok(r.ok);
    const rd2 = core.ready();
    assert.equal(rd2.entries.length, 1);
    assert.equal(rd2.committed.length, 0, "not chosen until its own acceptance is durable");
    core.advance();
    const rd3 = core.ready();
    assert.deepEqual(rd3.committed.map((e) => dec(e.command)), ["solo"]);
    core.advance();
  });

  test("a core refuses a stored log with a hole below its chosen index", () => {
    assert.throws(
      () => new PaxosCore({ id: "n1", members: ["n1"], rng: new SeededRng(1) }, { hardState: { promised: ZERO_BALLOT, chosen: 2 }, entries: [{ slot: 2, ballot: { round: 1, nodeId: "n1" }, command: enc("x") }] }),
      /chosen slot 1 is missing/,
    );
  });
});

describe("an acceptor that lost its disk", () => {
  // Slot 1 = X is chosen by {n1, n3}; n2 never saw it. n1 goes down and n3 loses its disk.
  function chosenThenWiped(asFresh: boolean): Harness {
    const h = new Harness(three);
    h.elect("n1", among("n1", "n3"));
    proposeAndSettle(h, "n1", []);
    const r = h.core("n1").propose([enc("X")]);
    assert.ok(r.ok);
    h.flush();
    h.deliver(among("n1", "n3"), (m) => !among("n1", "n3")(m));
    assert.deepEqual(h.chosenLog("n1").filter((v) => v !== "no-op"), ["X"]);
    h.crash("n1");
    h.wipe("n3", 1_000, { asFresh });
    h.start("n3");
    return h;
  }

  test("taken for a fresh member (the old behaviour), it lets a second value be chosen", () => {
    const h = chosenThenWiped(true);
    h.runUntil(() => h.leader() === "n2" || h.leader() === "n3");
    const leader = h.leader()!;
    proposeAndSettle(h, leader, ["Y"]);
    h.tick(h.ids.filter((id) => id !== "n1"), 3);
    h.deliver();
    assert.equal(h.chosenLog(leader)[0], "Y", "slot 1 chosen again with another value: what the recovery rule prevents");
  });

  test("rebuilt, it neither votes nor promises, so no quorum forms without the member that remembers", () => {
    const h = chosenThenWiped(false);
    assert.equal(h.core("n3").role, "recovering");
    for (let t = 0; t < 200; t++) {
      h.tick(["n2", "n3"]);
      h.deliver();
    }
    assert.equal(h.leader(), null, "n2 cannot win: n3 grants no pre-vote and makes no promise");
    assert.equal(h.core("n3").isRecovering, true);
    assert.ok(!h.node("n2").events.some((e) => e.role === "leader"));
    // n1 comes back: a leader is elected, re-runs Phase 1 with n3's rebuild known, and n3
    // catches up and votes again. X survives everywhere.
    h.start("n1");
    h.runUntil(() => h.leader() !== null && !h.core("n3").isRecovering && h.ids.every((id) => h.chosenLog(id)[0] === "X"), 1000);
    const leader = h.leader()!;
    assert.ok(h.node(leader).events.some((e) => e.role === "candidate" && e.reason === "member-rebuilt"), "the leader ran Phase 1 again for the rebuilt member");
    assert.ok(h.node("n3").events.some((e) => e.role === "follower" && e.reason === "recovered"));
    assert.equal(h.node("n3").store.durableHardState().recovering, false, "the end of recovery is durable");
    proposeAndSettle(h, leader, ["Z"]);
    h.tick(h.ids, 3);
    h.deliver();
    for (const id of three) assert.deepEqual(h.chosenLog(id).filter((v) => v !== "no-op"), ["X", "Z"], id);
  });

  test("a promise its old incarnation gave before the rebuild is void once any promiser knows of it", () => {
    const h = new Harness(five);
    h.timeOut("n1");
    h.deliver((m) => m.type === "preVote" || m.type === "preVoteReply");
    const core = h.core("n1");
    assert.equal(core.role, "candidate");
    const ballot = core.promisedBallot;
    h.queue = [];
    const promise = (from: string, incarnation: number, incarnations: Record<string, number>): Message => ({
      type: "promise", from, to: "n1", ballot, ok: true, promised: ballot, entries: [], chosen: 0, incarnation, incarnations, recovering: false, logStart: 1,
    });
    // n3's promise from before its rebuild arrives late; n2 has since learned n3's new
    // incarnation 500 (from n3's own replies or another Prepare) and says so.
    core.step(promise("n3", 0, {}));
    core.step(promise("n2", 0, { n3: 500 }));
    assert.equal(core.role, "candidate", "{n1, n2, stale n3} is no quorum");
    core.step(promise("n4", 0, { n3: 500 }));
    assert.equal(core.role, "leader", "{n1, n2, n4} is");
  });

  test("a leader catches up a follower that reports less than it believed", () => {
    const h = new Harness(three);
    h.elect("n1");
    proposeAndSettle(h, "n1", ["a", "b", "c"]);
    h.tick(h.ids, 3);
    h.deliver();
    assert.equal(h.core("n3").chosen, h.core("n1").chosen);
    h.wipe("n3", 7);
    h.start("n3");
    h.runUntil(() => !h.core("n3").isRecovering && h.core("n3").chosen >= h.core(h.leader() ?? "n1").chosen, 500);
    assert.deepEqual(h.chosenLog("n3").filter((v) => v !== "no-op"), ["a", "b", "c"]);
  });
});
