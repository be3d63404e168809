// Encoding a write's command with a new protobuf writer per call (the generated default)
// against the shared writer of packages/node/src/tree/encode.ts, which the write path uses.
//   node_modules/.bin/tsx scripts/bench/encode.mts
import { Command } from "../../packages/node/src/gen/zk/v1/types.js";
import { encodeShared } from "../../packages/node/src/tree/encode.js";

const N = 200_000;
// A put as the bench writes it: a time-ordered request id, a 100-byte value.
const cmd = Command.fromPartial({ requestId: "1733150000000-abcdef0123456789", timeMs: Date.now(), nonce: 12345, op: { $case: "set", value: { path: "/bench/k00042", data: new Uint8Array(100).fill(7), version: -1 } } } as Parameters<typeof Command.fromPartial>[0]);
console.log(`command: ${Command.encode(cmd).finish().length} bytes, ${N} encodes per measurement`);
const time = (f: () => void): number => {
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) f();
  return Number(process.hrtime.bigint() - t) / N;
};
for (let round = 1; round <= 3; round++) {
  const fresh = time(() => Command.encode(cmd).finish());
  const shared = time(() => encodeShared(Command.encode, cmd));
  console.log(`round ${round}: new writer ${fresh.toFixed(0)} ns, shared writer ${shared.toFixed(0)} ns (${(fresh / shared).toFixed(2)}x)`);
}
