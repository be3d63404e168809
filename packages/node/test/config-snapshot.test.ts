// zk-node's compaction settings: --snapshot-entries and --retain-entries (flags, environment,
// config file), their defaults and their bounds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, RETAIN_ENTRIES_DEFAULT, SNAPSHOT_ENTRIES_DEFAULT, parseNodeConfig, type NodeConfig } from "../src/config.js";

const base = ["--id", "n1", "--listen", "127.0.0.1:25400", "--peers", "n1=127.0.0.1:25400", "--data-dir", "/tmp/x"];
const parse = (args: string[], env: Record<string, string> = {}) => parseNodeConfig([...base, ...args], env) as NodeConfig;

test("defaults: a snapshot point every 10,000 entries, 5,000 kept", () => {
  const c = parse([]);
  assert.equal(c.snapshotEntries, SNAPSHOT_ENTRIES_DEFAULT);
  assert.equal(c.retainEntries, RETAIN_ENTRIES_DEFAULT);
  assert.equal(SNAPSHOT_ENTRIES_DEFAULT, 10_000);
});

test("flags win over the environment", () => {
  const c = parse(["--snapshot-entries", "1000", "--retain-entries", "0"], { ZK_SNAPSHOT_ENTRIES: "2000", ZK_RETAIN_ENTRIES: "7" });
  assert.equal(c.snapshotEntries, 1000);
  assert.equal(c.retainEntries, 0);
  const e = parse([], { ZK_SNAPSHOT_ENTRIES: "2000", ZK_RETAIN_ENTRIES: "7" });
  assert.equal(e.snapshotEntries, 2000);
  assert.equal(e.retainEntries, 7);
});

test("bad values are one line naming the flag", () => {
  for (const [args, re] of [
    [["--snapshot-entries", "10"], /invalid --snapshot-entries "10": expected an integer from 100/],
    [["--snapshot-entries", "x"], /invalid --snapshot-entries "x"/],
    [["--retain-entries=-1"], /invalid --retain-entries "-1"/],
  ] as [string[], RegExp][]) {
    assert.throws(() => parse(args), (e: Error) => e instanceof ConfigError && re.test(e.message) && !e.message.includes("\n"));
  }
});
