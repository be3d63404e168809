// Smoke test of the generated protobuf code (packages/node/src/gen, from proto/ by
// scripts/gen-proto.sh): binary round trips, and a real grpc-js server and client.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";

import {
  ClusterClient,
  ClusterService,
  NodeStatus,
  Role,
  type MemberChangeResponse,
  type ClusterServer,
} from "../src/gen/zk/v1/cluster.js";
import { PeerEnvelope } from "../src/gen/zk/v1/peer.js";
import { Command, ErrorCode, ErrorDetail, Outcome, Stat } from "../src/gen/zk/v1/types.js";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { int64FastPath, readInt64, readUint64, writeInt64, writeUint64 } from "../src/wire-int64.js";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

test("Command round-trips through the binary encoding", () => {
  const create: Command = {
    requestId: "session-7:42",
    timeMs: 1_732_752_000_123,
    nonce: 7,
    auth: { ids: [{ scheme: "ip", id: "127.0.0.1" }, { scheme: "digest", id: "bob:abc=" }] },
    op: {
      $case: "create",
      value: {
        path: "/app/lock-",
        data: bytes("owner=a"),
        ephemeral: true,
        sequential: true,
        sessionId: 2 ** 53 - 1,
        options: { acl: [{ perms: 1, scheme: "world", id: "anyone" }], container: false, ttlMs: 0 },
      },
    },
  };
  const decoded = Command.decode(Command.encode(create).finish());
  assert.deepEqual(decoded, create);

  const multi: Command = {
    requestId: "",
    timeMs: 0,
    nonce: 0,
    // Absent: a command without ACL checks (the node's own, or logged before zk had ACLs).
    auth: undefined,
    op: {
      $case: "multi",
      value: {
        ops: [
          { op: { $case: "check", value: { path: "/app", expectedVersion: 3 } } },
          { op: { $case: "set", value: { path: "/app/config", data: bytes("v2"), expectedVersion: -1 } } },
          { op: { $case: "delete", value: { path: "/app/old", expectedVersion: undefined } } },
        ],
      },
    },
  };
  const decodedMulti = Command.decode(Command.encode(multi).finish());
  assert.deepEqual(decodedMulti, multi);
  // An absent optional scalar stays absent (it means "any version"), unlike -1 or 0.
  const del = decodedMulti.op?.$case === "multi" ? decodedMulti.op.value.ops[2]?.op : undefined;
  assert.ok(del?.$case === "delete");
  assert.equal(del.value.expectedVersion, undefined);
});

test("PeerEnvelope with an accept message round-trips", () => {
  const command = Command.encode({
    requestId: "r1",
    nonce: 1,
    timeMs: 1000,
    op: { $case: "put", value: { path: "/a", data: bytes("x") } },
  }).finish();
  const envelope: PeerEnvelope = {
    clusterId: "c-1",
    from: "n1",
    to: "n2",
    messages: [
      {
        kind: {
          $case: "accept",
          value: {
            ballot: { round: 7, nodeId: "n1" },
            firstSlot: 12,
            // A real command, then the no-op (empty bytes) a new leader fills holes with.
            commands: [command, new Uint8Array(0)],
            chosen: 11,
            seq: 3,
            yourIncarnation: 1764633600000,
            electionTail: 12,
            quiet: true,
          },
        },
      },
      {
        kind: {
          $case: "promise",
          value: {
            ballot: { round: 7, nodeId: "n1" },
            ok: true,
            promised: { round: 7, nodeId: "n1" },
            entries: [{ slot: 12, ballot: { round: 6, nodeId: "n3" }, command }],
            chosen: 11,
            incarnation: 0,
            incarnations: { n3: 1764633600000 },
            recovering: false,
            logStart: 3,
          },
        },
      },
      { kind: { $case: "preVoteReply", value: { round: 8, granted: false, promisedRound: 9 } } },
    ],
  };
  const wire = PeerEnvelope.encode(envelope).finish();
  const decoded = PeerEnvelope.decode(wire);
  assert.deepEqual(decoded, envelope);

  const accept = decoded.messages[0]?.kind;
  assert.ok(accept?.$case === "accept");
  assert.ok(accept.value.commands[0] instanceof Uint8Array);
  const inner = Command.decode(accept.value.commands[0]);
  // Decoded messages carry every field, an absent optional one as an explicit undefined.
  assert.deepEqual(inner.op, { $case: "put", value: { path: "/a", data: bytes("x"), expectedVersion: undefined, options: undefined } });
  assert.equal(accept.value.commands[1]?.length, 0);
});

test("64-bit fields above 2^53 - 1 are refused, not rounded", () => {
  const varint = (n: bigint): number[] => {
    const out: number[] = [];
    for (; n >= 0x80n; n >>= 7n) out.push(Number(n & 0x7fn) | 0x80);
    return [...out, Number(n)];
  };
  const chosenIndex = (n: bigint) => Uint8Array.from([(7 << 3) | 0, ...varint(n)]); // NodeStatus field 7
  assert.equal(NodeStatus.decode(chosenIndex(2n ** 53n - 1n)).chosenIndex, Number.MAX_SAFE_INTEGER);
  assert.throws(() => NodeStatus.decode(chosenIndex(2n ** 53n)), /MAX_SAFE_INTEGER/);
});

test("64-bit fields take the BigInt-free path and give the library's own bytes and values", () => {
  assert.equal(int64FastPath, true, "src/wire-int64.ts fell back to the library's path: has @bufbuild/protobuf changed?");
  const values = [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12_345, 1_764_700_000_123, Number.MAX_SAFE_INTEGER];
  for (const v of values) {
    // Stat: version and ctime_ms are int64, czxid uint64 (fields 1, 5 and 3).
    const ours = Stat.encode({ version: v, cversion: 0, czxid: v, mzxid: 0, ctimeMs: v, mtimeMs: 0, ephemeralOwner: 0, numChildren: 0, dataLength: 0, pzxid: 0 }).finish();
    const lib = new BinaryWriter().uint32(8).int64(v).uint32(24).uint64(v).uint32(40).int64(v).finish();
    assert.deepEqual(ours, v === 0 ? new Uint8Array() : lib, `bytes of ${v}`);
    const back = Stat.decode(lib);
    assert.deepEqual([back.version, back.czxid, back.ctimeMs], [v, v, v], `values of ${v}`);
  }
  // A negative int64 (a PutOp's expected version -1 means any) round-trips; a uint64 refuses it, as the library does.
  for (const v of [-1, -(2 ** 31), -(2 ** 40), Number.MIN_SAFE_INTEGER]) {
    assert.equal(readInt64(new BinaryReader(new BinaryWriter().int64(v).finish())), v);
    assert.deepEqual(writeInt64(new BinaryWriter(), v).finish(), new BinaryWriter().int64(v).finish());
    assert.throws(() => writeUint64(new BinaryWriter(), v));
  }
  assert.equal(readUint64(new BinaryReader(new BinaryWriter().uint64(2 ** 53 - 1).finish())), Number.MAX_SAFE_INTEGER);
});

test("a grpc-js server and client speak the generated Cluster service", async (t) => {
  const status: NodeStatus = {
    nodeId: "n1",
    address: "127.0.0.1:7001",
    role: Role.LEADER,
    ballot: { round: 3, nodeId: "n1" },
    leaderId: "n1",
    leaderAddress: "127.0.0.1:7001",
    chosenIndex: 120,
    appliedIndex: 118,
    clusterId: "c-1",
    members: [
      { id: "n1", address: "127.0.0.1:7001", learner: false, hasProgress: true, lag: 0, caughtUp: true, lastHeardMsAgo: 0, heard: true },
      // A learner 2^40 slots behind: 64-bit lag survives the round trip.
      { id: "n2", address: "127.0.0.1:7002", learner: true, hasProgress: true, lag: 2 ** 40, caughtUp: false, lastHeardMsAgo: 1500, heard: true },
    ],
    lastHeartbeatMsAgo: 4,
    alarms: [],
    logStart: 1,
    snapshotTransfers: [{ peer: "n3", direction: "sending", slot: 1200, bytesDone: 1048576, totalBytes: 5000000 }],
  };
  const impl: ClusterServer = {
    status: (_call, callback) => callback(null, status),
    members: (_call, callback) => callback({ code: grpc.status.UNIMPLEMENTED, details: "not in this test" }),
    memberAdd: (call, callback) =>
      callback(null, { configVersion: 2, configSlot: 121, members: [{ id: call.request.id, address: call.request.address, learner: call.request.learner, hasProgress: false, lag: 0, caughtUp: false, lastHeardMsAgo: 0, heard: false }], leaderId: "n1" }),
    memberPromote: (_call, callback) => callback({ code: grpc.status.UNIMPLEMENTED, details: "not in this test" }),
    memberRemove: (_call, callback) => callback({ code: grpc.status.UNIMPLEMENTED, details: "not in this test" }),
    leaderTransfer: (_call, callback) => callback({ code: grpc.status.UNIMPLEMENTED, details: "not in this test" }),
    watchElections: (call) => call.end(),
    saveSnapshot: (call) => call.end(),
    stepDown: (_call, callback) => {
      const metadata = new grpc.Metadata();
      metadata.set(
        "zk-error-bin",
        Buffer.from(ErrorDetail.encode({ code: ErrorCode.NOT_LEADER, message: "not the leader", path: "", leaderHint: "127.0.0.1:7002", leaderId: "n2", outcome: Outcome.UNSPECIFIED, noLeader: false }).finish()),
      );
      callback({ code: grpc.status.UNAVAILABLE, details: "not the leader", metadata });
    },
  };

  const server = new grpc.Server();
  server.addService(ClusterService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.after(() => server.forceShutdown());
  assert.ok(port > 0);

  const client = new ClusterClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const deadline = () => new Date(Date.now() + 5000);

  const got = await new Promise<NodeStatus>((resolve, reject) =>
    client.status({}, new grpc.Metadata(), { deadline: deadline() }, (err, res) => (err ? reject(err) : resolve(res))),
  );
  assert.deepEqual(got, status);

  // A membership change: the request's learner flag arrives as sent (false is a voter).
  for (const learner of [true, false]) {
    const added = await new Promise<MemberChangeResponse>((resolve, reject) =>
      client.memberAdd({ id: "n4", address: "127.0.0.1:7004", learner }, new grpc.Metadata(), { deadline: deadline() }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    assert.equal(added.configVersion, 2);
    assert.equal(added.members[0]?.learner, learner);
  }

  // The error convention of the API: a gRPC status plus an ErrorDetail in `zk-error-bin`.
  const err = await new Promise<grpc.ServiceError>((resolve, reject) =>
    client.stepDown({}, new grpc.Metadata(), { deadline: deadline() }, (e) => (e ? resolve(e) : reject(new Error("expected an error")))),
  );
  assert.equal(err.code, grpc.status.UNAVAILABLE);
  const raw = err.metadata.get("zk-error-bin")[0];
  assert.ok(Buffer.isBuffer(raw));
  const detail = ErrorDetail.decode(raw);
  assert.equal(detail.code, ErrorCode.NOT_LEADER);
  assert.equal(detail.leaderHint, "127.0.0.1:7002");
});
