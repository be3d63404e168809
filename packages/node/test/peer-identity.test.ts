// The member list as part of a cluster's identity on the wire (net/peer-transport.ts): the
// canonical form and hash, the one-line mismatch description, and the stream check.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { ErrorCode } from "../src/gen/zk/v1/types.js";
import { checkPeerIdentity, describeMemberMismatch, membersHash, membersSpec } from "../src/net/peer-transport.js";

const three = new Map([["n1", "h:1"], ["n2", "h:2"], ["n3", "h:3"]]);
const five = new Map([...three, ["n4", "h:4"], ["n5", "h:5"]]);

test("the hash is of the sorted member list, ids and addresses", () => {
  assert.equal(membersSpec(new Map([["n2", "h:2"], ["n1", "h:1"]])), "n1=h:1,n2=h:2");
  assert.equal(membersHash(new Map([["n2", "h:2"], ["n1", "h:1"]])), membersHash(new Map([["n1", "h:1"], ["n2", "h:2"]])));
  assert.notEqual(membersHash(three), membersHash(new Map([["n1", "h:1"], ["n2", "h:2"], ["n3", "h:9"]])), "an address is part of it");
});

test("a mismatch reads as the operator would say it", () => {
  assert.equal(describeMemberMismatch("n4", membersSpec(five), three), "n4 has members [n1..n5], we have [n1..n3]");
  assert.equal(describeMemberMismatch("n2", "n1=h:1,n2=h:2,n3=h:9", three), "n2 has members [n3=h:9], we have [n3=h:3]");
  assert.equal(describeMemberMismatch("a", "a=h:1,c=h:3", new Map([["a", "h:1"], ["b", "h:2"]])), "a has members [a,c], we have [a,b]");
});

test("a stream from another member list or cluster is refused; one without the header (older peer) is let in", () => {
  const md = (cluster: string, members: Map<string, string> | null) => {
    const m = new grpc.Metadata();
    m.set("zk-cluster-id", cluster);
    m.set("zk-from", "n4");
    if (members) {
      m.set("zk-members-hash", membersHash(members));
      m.set("zk-members", membersSpec(members));
    }
    return m;
  };
  assert.equal(checkPeerIdentity(md("c", three), "c", three), null);
  assert.equal(checkPeerIdentity(md("c", null), "c", three), null);
  const bad = checkPeerIdentity(md("c", five), "c", three);
  assert.equal(bad?.refusal.code, ErrorCode.CLUSTER_MISMATCH);
  assert.equal(bad?.alarm, "n4 has members [n1..n5], we have [n1..n3]");
  // What to do: not "restart with the same --peers" (the lists compared are the stores' own).
  assert.match(bad!.advice, /move its zk\.db, zk\.db-wal and zk\.db-shm aside, and start it with --rejoin/);
  assert.ok(bad!.refusal.message.endsWith(bad!.advice) && !/\n/.test(bad!.refusal.message));
  assert.equal(checkPeerIdentity(md("other", three), "c", three)?.alarm, "n4 belongs to cluster other, we are c");
});
