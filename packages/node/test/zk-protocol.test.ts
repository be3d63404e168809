// The ZooKeeper port's pieces that need no cluster: the jute codec, which watches an event
// fires, /zookeeper/config's text, and the --zk-* flags. Clients against real clusters:
// packages/cli/test/zookeeper-protocol.test.ts and zookeeper-differential.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, parseNodeConfig } from "../src/config.js";
import { EventType as ZkEventType } from "../src/gen/zk/v1/kv.js";
import { triggered } from "../src/zk-protocol/connection.js";
import { JuteError, JuteReader, JuteWriter } from "../src/zk-protocol/jute.js";
import { EventType } from "../src/zk-protocol/records.js";
import { configText } from "../src/zk-protocol/system-nodes.js";

describe("jute", () => {
  it("round-trips every type, with a length-prefixed frame", () => {
    const w = new JuteWriter().int(-7).long(2 ** 40 + 3).bool(true).buffer(Buffer.from("ab")).buffer(null).ustring("/a/é").vector(["x", "yz"], (x, s) => x.ustring(s)).vector(null, () => undefined);
    const f = w.frame();
    assert.equal(f.readInt32BE(0), f.length - 4);
    const r = new JuteReader(f.subarray(4));
    assert.equal(r.int(), -7);
    assert.equal(r.long(), 2 ** 40 + 3);
    assert.equal(r.bool(), true);
    assert.deepEqual(r.buffer(), Buffer.from("ab"));
    assert.equal(r.buffer(), null);
    assert.equal(r.ustring(), "/a/é");
    assert.deepEqual(r.vector((x) => x.path()), ["x", "yz"]);
    assert.equal(r.vector((x) => x.int()), null);
    assert.equal(r.remaining, 0);
  });

  it("refuses a short record, a vector count larger than the record and a long beyond 2^53", () => {
    assert.throws(() => new JuteReader(Buffer.from([0, 0])).int(), JuteError);
    assert.throws(() => new JuteReader(new JuteWriter().int(1_000_000).bytes()).vector((x) => x.int()), JuteError);
    assert.throws(() => new JuteReader(new JuteWriter().int(5).bytes()).buffer(), JuteError);
    const big = Buffer.alloc(8);
    big.writeBigInt64BE(2n ** 60n);
    assert.throws(() => new JuteReader(big).long(), JuteError);
  });
});

describe("watch triggers, as ZooKeeper's WatchManager", () => {
  const ev = (type: ZkEventType, path: string) => ({ type, path, zxid: 1 });

  it("fires a one-shot watch once and forgets it", () => {
    const data = new Set(["/a"]);
    const child = new Set<string>();
    assert.equal(triggered(ev(ZkEventType.CHANGED, "/a"), data, child), EventType.nodeDataChanged);
    assert.equal(triggered(ev(ZkEventType.CHANGED, "/a"), data, child), null);
  });

  it("sends one NodeDeleted for a node with both a data and a child watch", () => {
    const data = new Set(["/a"]);
    const child = new Set(["/a"]);
    assert.equal(triggered(ev(ZkEventType.DELETED, "/a"), data, child), EventType.nodeDeleted);
    assert.equal(data.size + child.size, 0);
  });

  it("fires an exists watch on creation and a child watch on a child's change only", () => {
    const data = new Set(["/new"]);
    const child = new Set(["/p"]);
    assert.equal(triggered(ev(ZkEventType.CHILDREN_CHANGED, "/new"), data, child), null);
    assert.equal(triggered(ev(ZkEventType.CREATED, "/new"), data, child), EventType.nodeCreated);
    assert.equal(triggered(ev(ZkEventType.CHANGED, "/p"), data, child), null);
    assert.equal(triggered(ev(ZkEventType.CHILDREN_CHANGED, "/p"), data, child), EventType.nodeChildrenChanged);
  });
});

describe("/zookeeper/config", () => {
  it("lists every member in ZooKeeper's dynamic-config format, with its client address when known", () => {
    const text = configText({
      configMembers: [
        { id: "n1", address: "127.0.0.1:7001", zkAddress: "127.0.0.1:7101" },
        { id: "n2", address: "127.0.0.1:7002", zkAddress: null },
      ],
    });
    assert.equal(text, "server.1=127.0.0.1:7001:7001:participant;127.0.0.1:7101\nserver.2=127.0.0.1:7002:7002:participant\nversion=0");
  });
});

describe("zk-node --zk-listen", () => {
  const base = ["--id", "n1", "--listen", "127.0.0.1:7001", "--peers", "n1=127.0.0.1:7001,n2=127.0.0.1:7002", "--data-dir", "/tmp/x"];
  const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const c = parseNodeConfig([...base, ...args], env);
    assert.notEqual(c, "help");
    return c as Exclude<typeof c, "help">;
  };

  it("is off by default, and read from the flag or ZK_ZK_LISTEN", () => {
    assert.equal(parse([]).zkListen, null);
    assert.equal(parse(["--zk-listen", "127.0.0.1:7101"]).zkListen, "127.0.0.1:7101");
    const fromEnv = parse([], { ZK_ZK_LISTEN: "127.0.0.1:7101", ZK_ZK_PEERS: "n1=127.0.0.1:7101,n2=127.0.0.1:7102", ZK_ZK_LINEARIZABLE_READS: "1" });
    assert.equal(fromEnv.zkListen, "127.0.0.1:7101");
    assert.deepEqual(fromEnv.zkPeers.map((p) => p.address), ["127.0.0.1:7101", "127.0.0.1:7102"]);
    assert.equal(fromEnv.zkLinearizableReads, true);
  });

  it("refuses a bad address, the gRPC address, an unknown member and ZooKeeper settings without a port", () => {
    assert.throws(() => parse(["--zk-listen", "nowhere"]), (e: Error) => e instanceof ConfigError && /--zk-listen/.test(e.message));
    assert.throws(() => parse(["--zk-listen", "127.0.0.1:7001"]), /is the --listen address/);
    assert.throws(() => parse(["--zk-listen", "127.0.0.1:7101", "--zk-peers", "n9=127.0.0.1:7109"]), /n9, which is not in --peers/);
    assert.throws(() => parse(["--zk-linearizable-reads"]), /add --zk-listen/);
  });
});
