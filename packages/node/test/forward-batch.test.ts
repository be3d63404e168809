// Forwarding from a follower to its leader (net/peer-transport.ts): requests forwarded in one
// turn of the event loop travel as one ForwardBatch message and every one gets its own answer;
// a leader that does not know ForwardBatch (an older node) gets the same requests one per
// message on Forward, each answered once.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { PeerService, type ForwardBatchRequest, type ForwardRequest, type ForwardResponse } from "../src/gen/zk/v1/peer.js";
import type { Command } from "../src/gen/zk/v1/types.js";
import { PeerTransport } from "../src/net/peer-transport.js";
import { TurnBatch } from "../src/net/turn-batch.js";

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never;

function put(path: string): Omit<ForwardRequest, "id"> {
  const command: Command = { requestId: `k${path}`, timeMs: 0, nonce: 0, op: { $case: "put", value: { path, data: new Uint8Array(10), expectedVersion: undefined } } };
  return { kind: { $case: "command", value: command } };
}

/** The leader's answer: the request's path length as the zxid, so each answer is told apart. */
function answer(req: ForwardRequest): ForwardResponse {
  const k = req.kind;
  const zxid = k?.$case === "command" && k.value.op?.$case === "put" ? k.value.op.value.path.length : 0;
  return { id: req.id, zxid };
}

/** A fake leader with Forward and, when `batched`, ForwardBatch; counts the messages it got. */
async function fakeLeader(batched: boolean): Promise<{ address: string; messages: number[]; stop: () => Promise<void> }> {
  const server = new grpc.Server();
  const messages: number[] = [];
  const impl: grpc.UntypedServiceImplementation = {
    send: (_call: unknown, cb: grpc.sendUnaryData<object>) => cb(null, {}),
    installSnapshot: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
    forward: (call: grpc.ServerDuplexStream<ForwardRequest, ForwardResponse>) => {
      call.on("data", (req: ForwardRequest) => {
        messages.push(1);
        call.write(answer(req));
      });
      call.on("end", () => call.end());
      call.on("error", () => undefined);
    },
  };
  if (batched) {
    impl.forwardBatch = (call: grpc.ServerDuplexStream<ForwardBatchRequest, unknown>) => {
      call.on("data", (b: ForwardBatchRequest) => {
        messages.push(b.requests.length);
        // Answered in reverse order: answers are matched by id, not by position.
        call.write({ responses: b.requests.map(answer).reverse() });
      });
      call.on("end", () => call.end());
      call.on("error", () => undefined);
    };
  }
  const service = batched ? PeerService : (({ forwardBatch: _drop, ...rest }) => rest)(PeerService);
  server.addService(service as grpc.ServiceDefinition, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, messages, stop: () => new Promise((r) => server.tryShutdown(() => r())) };
}

for (const batched of [true, false]) {
  test(batched ? "requests forwarded in one turn go as one ForwardBatch message, each answered" : "a leader without ForwardBatch gets the requests one per message on Forward, each answered once", async () => {
    const leader = await fakeLeader(batched);
    const t = new PeerTransport("n2", "c", new Map([["n1", leader.address], ["n2", "127.0.0.1:1"]]), quiet, () => true, null);
    try {
      const paths = Array.from({ length: 50 }, (_, i) => "/" + "x".repeat(i + 1));
      const answers = await Promise.all(paths.map((p) => t.forward("n1", put(p), 10_000)));
      assert.deepEqual(answers.map((a) => a.zxid), paths.map((p) => p.length));
      if (batched) {
        assert.equal(leader.messages.reduce((a, b) => a + b, 0), 50);
        assert.ok(leader.messages.length < 50, `50 requests in ${leader.messages.length} messages`);
      } else {
        assert.equal(leader.messages.length, 50, "each request once, on Forward");
      }
      // The stream stays usable for later turns.
      const later = await t.forward("n1", put("/abc"), 10_000);
      assert.equal(later.zxid, 4);
    } finally {
      t.close();
      await leader.stop();
    }
  });
}

test("a turn's batch is handed on whole, at its item or byte bound at once", async () => {
  const got: number[][] = [];
  const b = new TurnBatch<number>((items) => got.push(items), 3, 100);
  for (const i of [1, 2, 3, 4]) b.add(i, 10);
  assert.deepEqual(got, [[1, 2, 3]], "three items: handed on at once");
  b.add(5, 100);
  assert.deepEqual(got, [[1, 2, 3], [4], [5]], "over the byte bound: what was gathered goes first, then the item that reached it");
  b.add(6, 1);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got.at(-1), [6], "the rest at the end of the turn");
});
