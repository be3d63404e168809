// `zk-cli inspect` without a cluster: one line per command, the slot window of --from/--to/
// --limit, and the --diff logic on made-up logs with every kind of difference a learner
// should see (ballots and values differing, entries not known chosen, holes, nodes behind).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeCommand, describeData, type Command } from "../src/lib/inspect-format.js";
import { diffLogs, slotWindow, type DbReport, type DiffNode, type EntryReport } from "../src/lib/inspect.js";
import { formatDiff, reportJson, reportLines } from "../src/lib/inspect-print.js";

const bytes = (s: string) => new TextEncoder().encode(s);
const cmd = (op: Command["op"]): Command => ({ requestId: "", timeMs: 0, nonce: 0, op });

describe("inspect: commands in one line", () => {
  it("every op", () => {
    const cases: [Command, string][] = [
      [cmd({ $case: "put", value: { path: "/a", data: bytes("value"), expectedVersion: undefined } }), 'put /a "value" v=any'],
      [cmd({ $case: "put", value: { path: "/a", data: bytes(""), expectedVersion: 3 } }), 'put /a "" v=3'],
      [cmd({ $case: "create", value: { path: "/locks/l-", data: bytes("x"), ephemeral: true, sequential: true, sessionId: 31 } }), 'create /locks/l- "x" ephemeral session=0x1f sequential'],
      [cmd({ $case: "set", value: { path: "/cfg", data: bytes('{"k":1}'), expectedVersion: -1 } }), 'set /cfg "{\\"k\\":1}" v=any'],
      [cmd({ $case: "delete", value: { path: "/old", expectedVersion: 7 } }), "delete /old v=7"],
      [
        cmd({
          $case: "multi",
          value: {
            ops: [
              { op: { $case: "check", value: { path: "/a", expectedVersion: 2 } } },
              { op: { $case: "set", value: { path: "/a", data: bytes("n"), expectedVersion: undefined } } },
              { op: { $case: "delete", value: { path: "/b", expectedVersion: undefined } } },
            ],
          },
        }),
        'multi [check /a v=2; set /a "n" v=any; delete /b v=any]',
      ],
      [cmd({ $case: "openSession", value: { sessionId: 255, ttlMs: 10000 } }), "open-session 0xff ttl=10000ms"],
      [cmd({ $case: "closeSession", value: { sessionId: 255 } }), "close-session 0xff"],
      [cmd({ $case: "expireSession", value: { sessionId: 255 } }), "expire-session 0xff"],
      [cmd({ $case: "noop", value: {} }), "no-op"],
    ];
    for (const [c, line] of cases) assert.equal(describeCommand(c), line);
  });

  it("values: printable text quoted and cut, anything else as hex with its size", () => {
    assert.equal(describeData(bytes("héllo\nworld")), '"héllo\\nworld"');
    assert.equal(describeData(bytes("x".repeat(100))), `"${"x".repeat(40)}"... (100 bytes)`);
    assert.equal(describeData(new Uint8Array([0, 1, 2, 255])), "0x000102ff (4 bytes)");
    assert.equal(describeData(new Uint8Array(20).fill(0xab)), `0x${"ab".repeat(16)}... (20 bytes)`);
  });

  it("slot window: the last --limit by default, from --from on otherwise", () => {
    assert.deepEqual(slotWindow({}, 100), { from: 81, to: 100, limit: 20 });
    assert.deepEqual(slotWindow({}, 5), { from: 1, to: 5, limit: 20 });
    assert.deepEqual(slotWindow({ from: 10, limit: 5 }, 100), { from: 10, to: 100, limit: 5 });
    assert.deepEqual(slotWindow({ to: 50, limit: 10 }, 100), { from: 41, to: 50, limit: 10 });
    assert.throws(() => slotWindow({ from: 10, to: 5 }, 100), /--to 5 is below --from 10/);
  });
});

describe("inspect: a node that holds its tree in memory", () => {
  const report = (treeInMemory: boolean): DbReport => ({
    file: "/x/n1/zk.db", dbBytes: 4096, walBytes: null, nodeId: "n1", clusterId: "zk-test", schemaVersion: 6, promised: { round: 2, nodeId: "n1" },
    chosen: 1500, applied: 1000, entryCount: 600, firstSlot: 901, lastSlot: 1500, compactedThrough: 900, snapshotIndex: 900, firstEntrySlot: 901, watchHistoryFrom: 1, treeInMemory,
  });

  it("says that its applied index is the last checkpoint's, in text and in --json", () => {
    assert.match(reportLines(report(true)).join("\n"), /^applied\s+1000 \(the last checkpoint: the node runs with --tree-in-memory and applies the chosen log after it in memory\)$/m);
    assert.match(reportLines(report(false)).join("\n"), /^applied\s+1000$/m);
    assert.equal(reportJson(report(true)).treeInMemory, true);
    assert.equal(reportJson(report(false)).treeInMemory, false);
  });
});

describe("inspect --diff on made-up logs", () => {
  function report(id: string, chosen: number, slots: number[], firstEntrySlot = 1): DbReport {
    return {
      file: `/x/${id}/zk.db`,
      dbBytes: 4096,
      walBytes: null,
      nodeId: id,
      clusterId: "zk-test",
      schemaVersion: 3,
      promised: { round: 3, nodeId: "n2" },
      chosen,
      applied: chosen,
      entryCount: slots.length,
      firstSlot: slots.length ? Math.min(...slots) : 0,
      lastSlot: slots.length ? Math.max(...slots) : 0,
      compactedThrough: firstEntrySlot > 1 ? firstEntrySlot - 1 : null,
      snapshotIndex: firstEntrySlot > 1 ? firstEntrySlot - 1 : 0,
      firstEntrySlot,
      watchHistoryFrom: 1,
      treeInMemory: false,
    };
  }
  function entry(slot: number, round: number, node: string, value: string, chosen: number): EntryReport {
    const raw = bytes(value);
    return { slot, ballot: { round, nodeId: node }, chosen: slot <= chosen, command: value === "" ? "no-op" : `put /k "${value}" v=any`, op: "put", path: "/k", requestId: null, timeMs: null, bytes: raw.length, raw };
  }

  it("marks ballots and values that differ, entries not chosen yet, holes and nodes behind", () => {
    // n1 led at ballot 1.n1 and accepted slot 4 alone before it died; n2 won ballot 3.n2,
    // recovered 1-3, filled slot 4 with a no-op, and went on; n3 missed slot 3 and 5-6.
    const n1 = [entry(1, 1, "n1", "a", 3), entry(2, 1, "n1", "b", 3), entry(3, 1, "n1", "c", 3), entry(4, 1, "n1", "lost", 3)];
    const n2 = [entry(1, 1, "n1", "a", 6), entry(2, 1, "n1", "b", 6), entry(3, 3, "n2", "c", 6), entry(4, 3, "n2", "", 6), entry(5, 3, "n2", "e", 6), entry(6, 3, "n2", "f", 6)];
    const n3 = [entry(1, 1, "n1", "a", 2), entry(2, 1, "n1", "b", 2), entry(4, 3, "n2", "", 2)];
    const nodes: DiffNode[] = [
      { id: "n1", file: "/x/n1/zk.db", running: false, report: report("n1", 3, [1, 2, 3, 4]), error: null },
      { id: "n2", file: "/x/n2/zk.db", running: true, report: report("n2", 6, [1, 2, 3, 4, 5, 6]), error: null },
      { id: "n3", file: "/x/n3/zk.db", running: true, report: report("n3", 2, [1, 2, 4]), error: null },
    ];
    const d = diffLogs(nodes, [n1, n2, n3], slotWindow({}, 6));
    assert.deepEqual(
      d.rows.map((r) => [r.slot, r.command, r.notes]),
      [
        [1, 'put /k "a" v=any', []],
        [2, 'put /k "b" v=any', []],
        [3, 'put /k "c" v=any', ["ballots differ", "hole on n3"]],
        [4, "no-op", ["ballots differ", 'values differ: n1 has put /k "lost" v=any', "not chosen yet on n1, n3"]],
        [5, 'put /k "e" v=any', ["missing on n1 (log ends at 4), n3 (log ends at 4)"]],
        [6, 'put /k "f" v=any', ["missing on n1 (log ends at 4), n3 (log ends at 4)"]],
      ],
    );
    const text = formatDiff(d);
    assert.match(text, /^SLOT\s+n1\s+n2\s+n3\s+COMMAND\s+DIFFERENCES$/m);
    assert.match(text, /^\s+4\s+1\.n1\*\s+3\.n2\s+3\.n2\*\s+no-op\s+ballots differ; values differ/m);
    assert.match(text, /^\s+3\s+1\.n1\s+3\.n2\s+-\s+put/m);
    assert.match(text, /4 of 6 differ/);
  });

  it("slots below a node's log start are compacted (in its snapshot), not missing or a difference", () => {
    // n1 kept its whole log; n2 compacted below 3; n3 installed a snapshot at slot 4 and holds nothing yet.
    const n1 = [entry(1, 1, "n1", "a", 4), entry(2, 1, "n1", "b", 4), entry(3, 1, "n1", "c", 4), entry(4, 1, "n1", "d", 4)];
    const n2 = [entry(3, 1, "n1", "c", 4), entry(4, 1, "n1", "d", 4)];
    const nodes: DiffNode[] = [
      { id: "n1", file: "/x/n1/zk.db", running: true, report: report("n1", 4, [1, 2, 3, 4]), error: null },
      { id: "n2", file: "/x/n2/zk.db", running: true, report: report("n2", 4, [3, 4], 3), error: null },
      { id: "n3", file: "/x/n3/zk.db", running: true, report: report("n3", 4, [], 5), error: null },
    ];
    const d = diffLogs(nodes, [n1, n2, []], slotWindow({}, 4));
    assert.deepEqual(
      d.rows.map((r) => [r.slot, r.notes, r.compacted]),
      [
        [1, [], ["n2", "n3"]],
        [2, [], ["n2", "n3"]],
        [3, [], ["n3"]],
        [4, [], ["n3"]],
      ],
    );
    const text = formatDiff(d);
    assert.match(text, /^\s+1\s+1\.n1\s+compacted\s+compacted\s+put .*compacted on n2, n3 \(in its snapshot\)$/m);
    assert.match(text, /n3\s+running.*empty \(compacted below 5\)/);
    assert.match(text, /every node holds the same chosen entries/);
    assert.doesNotMatch(text, /missing on/);
  });

  it("--limit caps the slots shown; an unreadable node is shown with its error", () => {
    const nodes: DiffNode[] = [
      { id: "n1", file: "/x/n1/zk.db", running: true, report: report("n1", 3, [1, 2, 3]), error: null },
      { id: "n2", file: "/x/n2/zk.db", running: false, report: null, error: "no such file: /x/n2/zk.db" },
    ];
    const d = diffLogs(nodes, [[entry(1, 1, "n1", "a", 3), entry(2, 1, "n1", "b", 3), entry(3, 1, "n1", "c", 3)], []], slotWindow({ from: 1, limit: 2 }, 3));
    assert.deepEqual(d.rows.map((r) => r.slot), [1, 2]);
    assert.deepEqual(d.rows[0]!.notes, []);
    const text = formatDiff(d);
    assert.match(text, /n2\s+stopped.*no such file: \/x\/n2\/zk\.db/);
    assert.match(text, /^\s+1\s+1\.n1\s+\?\s+put/m);
  });
});
