// ACLs, container and TTL nodes in the znode state machine: ZooKeeper's checks and their
// order, decided at apply from the principals a command carries; the attributes stored in
// znode_attrs, covered by the tree hash, and gone with their node.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SqliteAcceptorStore } from "../src/storage/index.js";
import { ZnodeTree, treeHash } from "../src/tree/index.js";
import type { ApplyOutcome } from "../src/tree/index.js";
import { Perm, digestOf, digestPrincipals, parseAclText, aclText, fixupAcl, allowed } from "../src/tree/acl.js";
import { ErrorCode } from "../src/gen/zk/v1/types.js";
import type { Acl, Command, Principal } from "../src/gen/zk/v1/types.js";

let tmp = "";
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "zk-tree-acl-"));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let files = 0;

class Node {
  readonly store = SqliteAcceptorStore.open(path.join(tmp, `t${files++}.db`), { clusterId: "c", nodeId: "n1" });
  readonly tree = new ZnodeTree(this.store.db);
  zxid = 0;
  time = 1_000;

  apply(op: Command["op"], auth: readonly Principal[] | null = [], timeMs?: number): ApplyOutcome {
    const zxid = ++this.zxid;
    this.time = timeMs ?? this.time + 10;
    const cmd: Command = { requestId: "", timeMs: this.time, nonce: 0, auth: auth === null ? undefined : { ids: [...auth] }, op };
    return this.store.transaction(() => {
      const out = this.tree.apply(zxid, cmd);
      this.store.setApplied(zxid);
      return out;
    });
  }
}

const b = (s: string) => new TextEncoder().encode(s);
const create = (p: string, acl: Acl[] = [], o: { container?: boolean; ttlMs?: number } = {}): Command["op"] => ({
  $case: "create",
  value: { path: p, data: b(""), ephemeral: false, sequential: false, sessionId: 0, options: { acl, container: o.container ?? false, ttlMs: o.ttlMs ?? 0 } },
});
const set = (p: string, data = "x"): Command["op"] => ({ $case: "set", value: { path: p, data: b(data) } });
const del = (p: string): Command["op"] => ({ $case: "delete", value: { path: p } });
const setAcl = (p: string, acl: Acl[], expectedAversion?: number): Command["op"] => ({ $case: "setAcl", value: { path: p, acl, expectedAversion } });
const reap = (p: string): Command["op"] => ({ $case: "reapNode", value: { path: p } });

function ok(o: ApplyOutcome) {
  if ("error" in o) assert.fail(`expected success, got ${ErrorCode[o.error.code]}: ${o.error.message}`);
  return o.result;
}
function fails(o: ApplyOutcome, code: ErrorCode): string {
  if (!("error" in o)) assert.fail(`expected ${ErrorCode[code]}, got ${JSON.stringify(o.result)}`);
  assert.equal(ErrorCode[o.error.code], ErrorCode[code], o.error.message);
  return o.error.message;
}

const ip = (a: string): Principal => ({ scheme: "ip", id: a });
const bob = [ip("127.0.0.1"), ...digestPrincipals("bob:secret", undefined)];
const alice = [ip("127.0.0.1"), ...digestPrincipals("alice:pw", undefined)];
const anon = [ip("127.0.0.1")];
const bobOnly: Acl[] = [{ perms: Perm.all, scheme: "digest", id: digestOf("bob:secret") }];

test("digests are ZooKeeper's: user:base64(sha1(user:password))", () => {
  // The value zkCli.sh's DigestAuthenticationProvider.generateDigest gives for super:admin.
  assert.equal(digestOf("super:admin"), "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=");
  assert.equal(aclText(parseAclText("digest:bob:abc=:cdrwa,world:anyone:r")), "digest:bob:abc=:cdrwa,world:anyone:r");
  assert.throws(() => parseAclText("world:anyone:rx"), /permission "x"/);
  assert.throws(() => parseAclText("world"), /scheme:id:perms/);
});

test("an ACL limits who reads, writes, creates children, deletes them and changes it", () => {
  const n = new Node();
  ok(n.apply(create("/p", bobOnly), bob));
  assert.equal(n.tree.permits("/p", anon, Perm.read), false);
  assert.equal(n.tree.permits("/p", bob, Perm.read), true);
  fails(n.apply(set("/p"), anon), ErrorCode.NO_AUTH);
  fails(n.apply(set("/p"), alice), ErrorCode.NO_AUTH);
  ok(n.apply(set("/p"), bob));
  fails(n.apply(create("/p/c"), alice), ErrorCode.NO_AUTH);
  ok(n.apply(create("/p/c"), bob));
  // DELETE on the parent is checked before the node is looked up (ZooKeeper's order).
  fails(n.apply(del("/p/missing"), alice), ErrorCode.NO_AUTH);
  fails(n.apply(del("/p/missing"), bob), ErrorCode.NO_NODE);
  fails(n.apply(del("/p/c"), alice), ErrorCode.NO_AUTH);
  ok(n.apply(del("/p/c"), bob));
  // A command without principals (the node's own) is not checked.
  ok(n.apply(set("/p"), null));
  // The super principal passes everything.
  const sup = digestPrincipals("root:pw", digestOf("root:pw"));
  assert.equal(sup[0]!.scheme, "super");
  ok(n.apply(set("/p"), sup));
});

test("setAcl needs ADMIN, checks the aversion, and is checked in ZooKeeper's order", () => {
  const n = new Node();
  ok(n.apply(create("/a", [{ perms: Perm.read | Perm.write, scheme: "world", id: "anyone" }, { perms: Perm.admin, scheme: "digest", id: digestOf("bob:secret") }]), anon));
  fails(n.apply(setAcl("/a", []), bob), ErrorCode.INVALID_ACL);
  fails(n.apply(setAcl("/missing", parseAclText("world:anyone:r")), bob), ErrorCode.NO_NODE);
  fails(n.apply(setAcl("/a", parseAclText("world:anyone:r")), anon), ErrorCode.NO_AUTH);
  fails(n.apply(setAcl("/a", parseAclText("world:anyone:r"), 3), bob), ErrorCode.BAD_VERSION);
  const r = ok(n.apply(setAcl("/a", parseAclText("world:anyone:r,auth::cdrwa"), 0), bob));
  assert.equal(r.result?.$case === "setAcl" && r.result.value.aversion, 1);
  const a = n.tree.attrsOf("/a")!;
  assert.equal(a.aversion, 1);
  // auth expands into the requester's digest principals; ip never counts as authenticated.
  assert.deepEqual(a.acl, [{ perms: Perm.read, scheme: "world", id: "anyone" }, { perms: Perm.all, scheme: "digest", id: digestOf("bob:secret") }]);
  fails(n.apply(setAcl("/a", parseAclText("auth::r")), anon), ErrorCode.INVALID_ACL);
  fails(n.apply(create("/b", [{ perms: Perm.read, scheme: "digest", id: "nohash" }]), anon), ErrorCode.INVALID_ACL);
});

test("malformed ACLs are InvalidACL, as fixupACL", () => {
  for (const bad of ["digest:bob:r", "ip:10.0.0.256:r", "ip:10.0.0.0/33:r", "world:everyone:r", "sasl:bob:r", "auth::r"]) {
    assert.equal(fixupAcl(parseAclText(bad), anon), null, bad);
  }
  assert.deepEqual(fixupAcl(parseAclText("world:anyone:r,world:anyone:r"), anon), parseAclText("world:anyone:r"));
  assert.ok(allowed(parseAclText("ip:10.1.0.0/16:r"), [ip("10.1.200.3")], Perm.read));
  assert.ok(!allowed(parseAclText("ip:10.1.0.0/16:r"), [ip("10.2.0.3")], Perm.read));
  assert.ok(!allowed(parseAclText("ip:10.1.0.0/16:r"), [ip("10.1.200.3")], Perm.write));
  assert.ok(allowed(parseAclText("ip:::1:r"), [ip("::1")], Perm.read));
});

test("a node's ACL goes with it, and the tree hash covers ACLs", () => {
  const n = new Node();
  const m = new Node();
  ok(n.apply(create("/x", bobOnly), bob));
  ok(m.apply(create("/x"), bob));
  assert.notEqual(treeHash(n.store.db), treeHash(m.store.db));
  ok(n.apply(del("/x"), bob));
  ok(m.apply(del("/x"), bob));
  assert.equal(treeHash(n.store.db), treeHash(m.store.db));
  ok(n.apply(create("/x"), alice));
  assert.equal(n.tree.attrsOf("/x")!.aversion, 0);
  assert.ok(n.tree.permits("/x", anon, Perm.all));
});

test("containers are reaped once their last child goes; TTL nodes once unmodified for their TTL", () => {
  const n = new Node();
  ok(n.apply(create("/c", [], { container: true })));
  assert.deepEqual(n.tree.reapable(n.time + 1e9), [], "a container that never had a child stays");
  fails(n.apply(reap("/c")), ErrorCode.INVALID_ARGUMENT);
  ok(n.apply(create("/c/k")));
  assert.deepEqual(n.tree.reapable(n.time), []);
  ok(n.apply(del("/c/k")));
  assert.deepEqual(n.tree.reapable(n.time), ["/c"]);
  ok(n.apply(reap("/c")));
  assert.equal(n.tree.exists("/c"), null);
  assert.equal(n.tree.attrsOf("/c"), null);

  ok(n.apply(create("/t", [], { ttlMs: 1000 }), [], 10_000));
  assert.deepEqual(n.tree.reapable(10_999), []);
  ok(n.apply(set("/t"), [], 10_500));
  assert.deepEqual(n.tree.reapable(11_000), [], "a write restarts the TTL");
  ok(n.apply(create("/t/k"), [], 10_600));
  assert.deepEqual(n.tree.reapable(20_000), [], "a TTL node with children stays");
  ok(n.apply(del("/t/k"), [], 10_700));
  // The reap is decided at the command's time, not the proposer's.
  fails(n.apply(reap("/t"), null, 11_400), ErrorCode.INVALID_ARGUMENT);
  ok(n.apply(reap("/t"), null, 11_500));
  assert.equal(n.tree.exists("/t"), null);
  fails(n.apply(create("/e", [], { container: true, ttlMs: 5 })), ErrorCode.INVALID_ARGUMENT);
});
