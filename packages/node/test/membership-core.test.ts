// Membership in the protocol core (src/paxos/config.ts, core.ts): configuration commands in the
// log, quorums per configuration, learners, the barrier after a configuration, Phase 1 across
// configurations, and leader transfer. Hand-driven: the test decides which messages arrive.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Harness, enc } from "./harness.js";
import { UNKNOWN_CONFIG, encodeConfig, initialConfig, type ClusterConfig, type Message, type NodeId } from "../src/paxos/index.js";

const addr = (id: NodeId) => `${id}:1`;
const C0 = initialConfig(["n1", "n2", "n3"].map((id) => ({ id, address: addr(id) })));

/** C0 with `id` added (a learner unless `voter`). */
function withMember(base: ClusterConfig, id: NodeId, voter: boolean): ClusterConfig {
  return { ...base, version: base.version + 1, members: [...base.members, { id, address: addr(id), voter }], change: `add ${id}` };
}

/** n1..n3 voters of C0; n4 (and n5) new members that know no configuration yet. */
function cluster(ids: NodeId[] = ["n1", "n2", "n3", "n4"], overrides = {}): Harness {
  return new Harness(ids, overrides, (id) => (["n1", "n2", "n3"].includes(id) ? C0 : UNKNOWN_CONFIG));
}

const among = (...ids: NodeId[]) => (m: Message) => ids.includes(m.from) && ids.includes(m.to);

function settle(h: Harness, allowed: (m: Message) => boolean = () => true, ticks = 6): void {
  for (let i = 0; i < ticks; i++) {
    h.tick(h.ids.filter((id) => h.nodes.get(id)?.core), 1);
    h.deliver(allowed, (m) => !allowed(m));
  }
}

describe("configurations in the log", () => {
  test("a learner receives the log but counts in no quorum; a promoted one does", () => {
    const h = cluster();
    h.elect("n1");
    const c1 = withMember(C0, "n4", false);
    assert.equal(h.core("n1").proposeConfig(encodeConfig(c1)).ok, true);
    settle(h);
    assert.equal(h.core("n4").role, "learner");
    assert.deepEqual(h.core("n4").config, c1, "the learner learnt the configuration from the log");
    // n2 and n3 cut off: n1 and the learner are no majority of the voters n1..n3.
    const before = h.core("n1").chosen;
    assert.equal(h.core("n1").propose([enc("x")]).ok, true);
    settle(h, among("n1", "n4"));
    assert.equal(h.core("n1").chosen, before, "nothing is chosen with a learner's acceptance");
    assert.ok(h.core("n4").lastLogSlot > before, "the learner holds the entry");
    settle(h, among("n1", "n2", "n4"));
    assert.equal(h.core("n1").chosen, before + 1);
    // Promote n4: now n1..n4 vote, and a majority is 3: n1 and n2 alone choose nothing more.
    const c2: ClusterConfig = { ...c1, version: c1.version + 1, members: c1.members.map((m) => ({ ...m, voter: true })), change: "promote n4" };
    assert.equal(h.core("n1").proposeConfig(encodeConfig(c2)).ok, true);
    settle(h, among("n1", "n2", "n4"));
    assert.equal(h.core("n4").role, "follower", "a voter now");
    const at = h.core("n1").chosen;
    h.core("n1").propose([enc("y")]);
    settle(h, among("n1", "n2"));
    assert.equal(h.core("n1").chosen, at, "two of four voters are no majority");
    settle(h, among("n1", "n2", "n4"));
    assert.equal(h.core("n1").chosen, at + 1);
  });

  test("nothing is proposed past an unchosen configuration, and a second change is refused", () => {
    const h = cluster();
    h.elect("n1");
    const leader = h.core("n1");
    assert.equal(leader.proposeConfig(encodeConfig(withMember(C0, "n4", false))).ok, true);
    assert.deepEqual(leader.propose([enc("x")]), { ok: false, reason: "busy", leaderHint: "n1" });
    assert.deepEqual(leader.proposeConfig(encodeConfig(withMember(C0, "n5", false), 2)), { ok: false, reason: "in-flight" });
    assert.equal(leader.configInFlight?.config.change, "add n4");
    settle(h);
    assert.equal(leader.configInFlight, null);
    assert.equal(leader.propose([enc("x")]).ok, true, "proposals resume once it is chosen");
  });

  test("a leader removed by a configuration steps down once it is chosen, and never campaigns", () => {
    const h = cluster(["n1", "n2", "n3"]);
    h.elect("n1");
    const c1: ClusterConfig = { ...C0, version: 2, members: C0.members.filter((m) => m.id !== "n1"), removed: ["n1"], change: "remove n1" };
    h.core("n1").proposeConfig(encodeConfig(c1));
    settle(h);
    assert.equal(h.core("n1").role, "learner");
    assert.equal(h.node("n1").events.at(-1)?.reason, "removed");
    // The others learnt that it is chosen before n1 went quiet, and elect a leader of their own.
    assert.equal(h.core("n2").config.version, 2);
    h.runUntil(() => h.leader() !== null && h.leader() !== "n1", 200);
    h.tick(["n1"], 100);
    assert.notEqual(h.core("n1").role, "precandidate");
    assert.notEqual(h.core("n1").role, "candidate");
  });
});

describe("a removed leader that alone knows its removal is chosen", () => {
  /**
   * C1 = {n1,n2} (n3 removed); n1 leads and proposes C2 = {n2} (remove n1). n2 accepts it, but
   * no empty Accept reaches it (no heartbeat, not n1's farewell): n1 counts C2 chosen and steps
   * down, while n2 still counts C1, whose quorums need n1.
   */
  function lastWitness(overrides = {}) {
    const h = cluster(["n1", "n2", "n3"], overrides);
    h.elect("n1");
    const c1: ClusterConfig = { ...C0, version: 2, members: C0.members.filter((m) => m.id !== "n3"), removed: ["n3"], change: "remove n3" };
    h.core("n1").proposeConfig(encodeConfig(c1));
    settle(h);
    assert.equal(h.core("n2").config.version, 2);
    h.crash("n3");
    const c2: ClusterConfig = { ...c1, version: 3, members: c1.members.filter((m) => m.id !== "n1"), removed: ["n3", "n1"], change: "remove n1" };
    h.core("n1").proposeConfig(encodeConfig(c2));
    h.flush();
    const batches = (m: Message) => among("n1", "n2")(m) && (m.type !== "accept" || m.commands.length > 0);
    h.deliver(batches, (m) => !batches(m));
    assert.equal(h.core("n1").role, "learner", "n1 counts its removal chosen and steps down");
    assert.equal(h.core("n2").config.version, 2, "n2 holds C2 but does not know it is chosen");
    h.queue = [];
    return h;
  }

  test("it grants the staying voter's pre-vote, whose Phase 1 then learns C2 from its promise", () => {
    const h = lastWitness();
    h.runUntil(() => h.leader() === "n2", 300, among("n1", "n2"));
    h.runUntil(() => h.core("n2").config.version === 3, 100, among("n1", "n2"));
    const at = h.core("n2").chosen;
    h.core("n2").propose([enc("alone")]);
    settle(h, among("n2"));
    assert.equal(h.core("n2").chosen, at + 1, "n2 alone is a majority of C2");
  });

  test("planted bug: refusing a pre-vote to a candidate that knows less of the chosen log leaves no leader", () => {
    const h = lastWitness({ plantedBugs: { removedPreVoteNeedsChosen: true } });
    assert.throws(() => h.runUntil(() => h.leader() === "n2", 300, among("n1", "n2")), /condition not reached/);
  });
});

describe("a voter added after all that a member behind knows", () => {
  /**
   * n4 joins C0 = {n1,n2,n3} as a voter while n3 is cut off: n3 knows C0 only, and not n4.
   * Then n1 chooses one more slot and only n4 hears it chosen before n1 dies. n2, n3 and n4
   * must all vote now (3 of the 4); n4 alone knows every chosen slot, so n2 and n3 are refused
   * as behind, and n4 is a stranger to n3.
   */
  function behindMember(overrides = {}) {
    const h = cluster(["n1", "n2", "n3", "n4"], overrides);
    h.elect("n1");
    const c1 = withMember(C0, "n4", false);
    h.core("n1").proposeConfig(encodeConfig(c1));
    settle(h, among("n1", "n2", "n4"));
    const c2: ClusterConfig = { ...c1, version: c1.version + 1, members: c1.members.map((m) => ({ ...m, voter: true })), change: "promote n4" };
    h.core("n1").proposeConfig(encodeConfig(c2));
    settle(h, among("n1", "n2", "n4"));
    assert.equal(h.core("n2").config.version, c2.version);
    assert.equal(h.core("n3").config.version, C0.version, "n3 never heard of n4");
    h.core("n1").propose([enc("last")]);
    h.flush();
    // The Accepts reach n2 and n4, their answers n1; n1's notice of the chosen index reaches n4 only.
    h.deliver((m) => m.from === "n1" && m.type === "accept" && m.commands.length > 0, () => false);
    h.deliver((m) => m.to === "n1", () => false);
    h.deliver((m) => m.from === "n1" && m.to === "n4", (m) => m.from === "n1" && m.to !== "n4");
    h.crash("n1");
    h.queue = [];
    assert.ok(h.core("n4").chosen > h.core("n2").chosen, "n4 alone knows the last chosen slot");
    return h;
  }

  test("the member behind hears the new voter's campaign, which wins and catches it up", () => {
    const h = behindMember();
    const live = among("n2", "n3", "n4");
    h.runUntil(() => h.leader() === "n4", 300, live);
    h.runUntil(() => h.core("n3").config.version === h.core("n4").config.version, 100, live);
    assert.deepEqual(h.chosenLog("n3").filter((c) => c === "last"), ["last"]);
  });

  test("planted bug: a stranger's campaign ignored leaves no leader", () => {
    const h = behindMember({ plantedBugs: { strangerBehindBlocks: true } });
    assert.throws(() => h.runUntil(() => h.leader() !== null, 300, among("n2", "n3", "n4")), /condition not reached/);
  });
});

describe("a member that holds its own removal, not known chosen", () => {
  /**
   * n3 leads C0 = {n1,n2,n3} and proposes C1 = {n2,n3} (remove n1). Only n1 accepts it (n2 is
   * cut off), so n3 counts it chosen and then crashes before telling anyone: n1 holds C1 but
   * does not know it is chosen; n2 never saw it.
   */
  function removedUnknowing(overrides = {}) {
    const h = cluster(["n1", "n2", "n3"], overrides);
    h.elect("n3");
    settle(h);
    const c1: ClusterConfig = { ...C0, version: 2, members: C0.members.filter((m) => m.id !== "n1"), removed: ["n1"], change: "remove n1" };
    h.core("n3").proposeConfig(encodeConfig(c1));
    h.flush();
    const batches = (m: Message) => among("n1", "n3")(m) && (m.type !== "accept" || m.commands.length > 0);
    h.deliver(batches, (m) => !batches(m));
    assert.equal(h.core("n3").config.version, 2, "n3 counts C1 chosen");
    assert.equal(h.core("n1").config.version, 1, "n1 holds C1, not known chosen");
    h.crash("n3");
    h.queue = [];
    return h;
  }
  const campaigned = (h: Harness, id: NodeId) => h.node(id).events.some((e) => e.role === "candidate" || e.role === "precandidate");

  test("it does not campaign (it could not win, and its ballots would outbid the staying voters' candidates); the staying voters elect", () => {
    const h = removedUnknowing();
    const before = h.node("n1").events.length;
    settle(h, among("n1", "n2"), 100);
    assert.ok(!h.node("n1").events.slice(before).some((e) => e.role === "candidate" || e.role === "precandidate"), "n1 waits");
    h.start("n3");
    h.runUntil(() => h.leader() === "n2" || h.leader() === "n3", 300);
    h.runUntil(() => h.core("n1").role === "learner", 100);
  });

  test("planted bug: counting the chosen configuration only, it campaigns", () => {
    const h = removedUnknowing({ plantedBugs: { preVoteChosenConfigOnly: true } });
    const before = h.node("n1").events.length;
    settle(h, among("n1", "n2"), 100);
    assert.ok(h.node("n1").events.slice(before).some((e) => e.role === "candidate"), "n1 wins n2's pre-vote and campaigns");
    assert.ok(campaigned(h, "n1"));
  });
});

describe("Phase 1 across configurations", () => {
  /**
   * n1 leads C0 = {n1,n2,n3} with n2 cut off, adds n4 as a voter (C1 = {n1..n4}, chosen by
   * n1 and n3), and has "a" chosen by n1, n3, n4 under C1. Then n1 goes down and stale n2
   * campaigns: its own configuration is still C0.
   */
  function staleCandidate(overrides = {}) {
    const h = cluster(["n1", "n2", "n3", "n4"], overrides);
    h.elect("n1");
    settle(h, () => true, 2);
    const ballot = h.core("n1").promisedBallot;
    const c1 = withMember(C0, "n4", true);
    h.core("n1").proposeConfig(encodeConfig(c1));
    h.flush();
    // n3 and n4 accept C1; with n1 that is a majority of C0, so n1 counts it chosen. Only
    // batches with commands get through (no heartbeat), so n3 does not learn that yet.
    const batches = (m: Message) => among("n1", "n3", "n4")(m) && (m.type !== "accept" || m.commands.length > 0);
    h.deliver(batches, (m) => !batches(m));
    const s = h.core("n1").chosen;
    assert.equal(h.core("n1").config.version, 2);
    assert.equal(h.core("n3").config.version, 1, "n3 holds C1 but does not know it is chosen");
    h.crash("n1");
    h.queue = [];
    // n2 (which missed C1 entirely) is told to campaign (as by a leader transfer from n1).
    h.core("n2").step({ type: "timeoutNow", from: "n1", to: "n2", ballot });
    h.flush();
    assert.equal(h.core("n2").role, "candidate");
    // Only n3's promise arrives: n2 and n3 are a majority of C0.
    h.deliver((m) => (m.type === "prepare" && m.to === "n3") || (m.type === "promise" && m.from === "n3"), () => false);
    return { h, aSlot: s };
  }

  test("a candidate whose promises report a newer configuration needs a majority of it too", () => {
    const { h, aSlot } = staleCandidate();
    assert.equal(h.core("n2").role, "candidate", "n2 and n3 are a majority of C0 but not of C1 = {n1..n4} reported by n3");
    assert.ok(h.queue.some((m) => m.type === "prepare" && m.from === "n2" && m.to === "n4"), "n2 asks n4, a voter of C1 it learnt of from n3's promise");
    h.deliver((m) => (m.type === "prepare" && m.to === "n4") || (m.type === "promise" && m.from === "n4"), () => false);
    assert.equal(h.core("n2").role, "leader");
    settle(h, (m) => m.from !== "n1" && m.to !== "n1");
    assert.equal(h.core("n2").config.version, 2, "the C1 that n1 counted chosen is what n2 chose there");
    assert.ok(h.core("n2").chosen >= aSlot);
    // Under C1 (four voters) n2 needs three: with n4 cut off, n2 and n3 choose nothing new.
    const at = h.core("n2").chosen;
    h.core("n2").propose([enc("b")]);
    settle(h, among("n2", "n3"));
    assert.equal(h.core("n2").chosen, at);
  });

  test("planted bug: counting the candidate's own configuration only elects it with a minority of C1", () => {
    const { h } = staleCandidate({ plantedBugs: { phase1ChosenConfigOnly: true } });
    assert.equal(h.core("n2").role, "leader", "the check above is what stops this");
  });
});

describe("leader transfer", () => {
  test("the leader stops taking proposals, catches the target up, and the target takes over in one Phase 1", () => {
    const h = cluster(["n1", "n2", "n3"]);
    h.elect("n1");
    settle(h, () => true, 2);
    h.core("n1").propose([enc("a")]);
    // n3 misses "a" for now: the transfer must catch it up first.
    h.deliver(among("n1", "n2"), (m) => !among("n1", "n2")(m));
    assert.deepEqual(h.core("n1").transferLeadership("n3"), { ok: true });
    assert.equal(h.core("n1").transferTarget, "n3");
    assert.equal(h.core("n1").propose([enc("b")]).ok, false, "no proposals while transferring");
    assert.ok(!h.queue.some((m) => m.type === "timeoutNow"), "not before n3 holds the whole log");
    settle(h, () => true, 3);
    assert.equal(h.core("n3").role, "leader");
    assert.equal(h.node("n3").events.find((e) => e.role === "candidate")?.reason, "leader-transfer");
    assert.equal(h.core("n1").role, "follower");
    settle(h);
    assert.deepEqual(h.chosenLog("n3").filter((c) => c !== "no-op"), ["a"]);
    assert.equal(h.core("n3").propose([enc("b")]).ok, true);
  });

  test("to a learner or a non-member it is refused; a target that never answers gives the lead back", () => {
    const h = cluster();
    h.elect("n1");
    h.core("n1").proposeConfig(encodeConfig(withMember(C0, "n4", false)));
    settle(h);
    assert.deepEqual(h.core("n1").transferLeadership("n4"), { ok: false, reason: "not-a-voter" });
    assert.deepEqual(h.core("n1").transferLeadership("n9"), { ok: false, reason: "not-a-voter" });
    assert.equal(h.core("n1").transferLeadership("n3").ok, true);
    h.crash("n3");
    settle(h, among("n1", "n2", "n4"), 25);
    assert.equal(h.core("n1").transferTarget, null);
    assert.equal(h.core("n1").role, "leader");
    assert.equal(h.core("n1").propose([enc("c")]).ok, true, "proposals resume");
  });
});
