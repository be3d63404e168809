// The ports of a NodeMachine that a test drives by hand (machine-*.test.ts, tree-in-memory.test.ts):
// nothing is sent, forwarded, transferred or observed unless the test passes its own port.
import assert from "node:assert/strict";
import type { Clock, MachineLogger, MachinePorts } from "../src/machine.js";

export const quiet: MachineLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export function handPorts(clock: Clock, over: Partial<MachinePorts> = {}): MachinePorts {
  return {
    clock,
    log: quiet,
    send: () => undefined,
    forward: () => assert.fail("this test forwards nothing"),
    cancelForwards: () => undefined,
    schedule: () => undefined,
    defer: (fn) => fn(),
    applied: () => undefined,
    election: () => undefined,
    sendSnapshot: (_to, _minSlot, done) => done(false),
    ...over,
  };
}
