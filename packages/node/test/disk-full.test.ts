// A full disk never crashes a node, never makes it ack what it did not persist, and never
// loses an acknowledged write: real zk-node processes with their data dirs on a small tmpfs
// (mounted here as root; skipped, saying why, where mounting is not allowed). A node that
// cannot persist refuses writes (exit 6 in zk-cli), keeps serving status and local reads,
// raises an alarm in status, and resumes by itself once space is freed. 127.0.0.1:22300-22312.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import { ErrorCode, ZkError } from "../src/client/index.js";
import { TestCluster, sleep } from "./support/nodes.js";

const CLI = fileURLToPath(new URL("../../cli/bin/run.js", import.meta.url));
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Mount a 4 MiB tmpfs on `dir`; the reason when this machine does not allow it. */
function mountTmpfs(dir: string): string | null {
  mkdirSync(dir, { recursive: true });
  if (process.platform !== "linux") return "tmpfs mounts need Linux";
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dir], { encoding: "utf8" });
  if (r.error) return `cannot run mount: ${r.error.message}`;
  if (r.status !== 0) return `mount -t tmpfs is not allowed here (${(r.stderr || "").trim() || `exit ${r.status}`}); run as root to test a full disk`;
  return null;
}

function unmount(dir: string): void {
  spawnSync("umount", ["-l", dir]);
}

/** Fill the filesystem of `dir` to the last byte with one file; returns its path. */
function fill(dir: string): string {
  const path = join(dir, "filler");
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (let i = 0; i < 10_000; i++) {
      try {
        writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
        // the last partial chunk: as many single KiB as still fit
        for (let j = 0; j < 64; j++) {
          try {
            writeSync(fd, chunk.subarray(0, 1024));
          } catch {
            break;
          }
        }
        return path;
      }
    }
  } finally {
    closeSync(fd);
  }
  throw new Error(`${dir} did not fill up`);
}

async function until<T>(f: () => Promise<T | null | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

/**
 * A write retried as a careful client would while a node fails over: a write in flight on a
 * leader whose disk filled is refused as "may or may not take effect", and the next leader
 * takes it (a put is an upsert, so a retry is safe).
 */
async function putRetrying(client: { put(path: string, data: Uint8Array): Promise<{ zxid: number }> }, path: string, value: string): Promise<number> {
  let last: unknown = null;
  for (let i = 0; i < 100; i++) {
    try {
      return (await client.put(path, enc(value))).zxid;
    } catch (e) {
      if (!(e instanceof ZkError) || ![ErrorCode.CANNOT_PERSIST, ErrorCode.UNAVAILABLE, ErrorCode.NOT_LEADER, ErrorCode.TIMEOUT].includes(e.code)) throw e;
      last = e;
      await sleep(100);
    }
  }
  throw new Error(`${path} was never acknowledged: ${(last as Error).message}`);
}

function noStackTrace(output: string, who: string): void {
  assert.doesNotMatch(output, /^\s+at .+\(.+:\d+:\d+\)$/m, `${who} printed a stack trace:\n${output.slice(-3000)}`);
}

describe("one node's disk is full", () => {
  const c = new TestCluster(3, 22300, "disk-one");
  const n3 = c.node("n3");
  const skip = mountTmpfs(n3.dataDir);
  after(async () => {
    await c.stopAll();
    unmount(n3.dataDir);
    await c.cleanup();
  });

  test("it refuses writes (zk-cli exit 6) and says so in status, the others carry on, and it resumes when space is freed", { skip: skip ?? false }, async () => {
    const logFile = join(n3.dataDir, "n3.log"); // the node's own log is on the full disk too
    c.start("n1");
    c.start("n2");
    c.start("n3", [], { logFile });
    await c.waitForLeader();
    const all = c.client(undefined, 5000);
    const viaN3 = c.client(["n3"], 3000);
    const others = c.client(["n1", "n2"], 5000);
    try {
      await all.put("/before", enc("b"));
      await until(async () => (await viaN3.get("/before", { consistency: "local" })).data.length > 0, 5000, "n3 to apply /before");
      const filler = fill(n3.dataDir);

      // A majority can still write: every write through n1/n2 succeeds while n3 cannot persist.
      for (let i = 0; i < 30; i++) await putRetrying(others, `/during-${i}`, `v${i}`);
      const alarm = `n3: disk full at ${join(n3.dataDir, "zk.db")}, writes refused`;
      await until(async () => (await viaN3.status(n3.address)).alarms.includes(alarm), 10_000, "n3's disk alarm in its status");
      assert.equal(n3.proc!.exitCode, null, "n3 is still running");

      // Writes through n3 are refused with their own code; the CLI exits 6 with one line.
      await assert.rejects(viaN3.put("/refused", enc("x")), (e: ZkError) => e.code === ErrorCode.CANNOT_PERSIST && /disk full/.test(e.message));
      const cli = spawnSync(process.execPath, [CLI, "propose", "/refused", "x", "--endpoints", n3.address], { encoding: "utf8", timeout: 20_000 });
      assert.equal(cli.status, 6, cli.stderr);
      assert.match(cli.stderr, /^zk-cli: n3: disk full at .*zk\.db, writes refused; use another node meanwhile\n$/);
      const status = spawnSync(process.execPath, [CLI, "status", "--endpoints", c.nodes.map((n) => n.address).join(",")], { encoding: "utf8", timeout: 20_000 });
      assert.equal(status.status, 0, status.stderr);
      assert.ok(status.stdout.includes(`ALARM ${alarm}`), status.stdout);
      // Status and local reads keep working on it.
      assert.equal(dec((await viaN3.get("/before", { consistency: "local" })).data), "b");
      await putRetrying(others, "/during-last", "last");

      rmSync(filler);
      await until(async () => (await viaN3.status(n3.address)).alarms.length === 0, 15_000, "n3's alarm to clear");
      await until(async () => dec((await viaN3.get("/during-last", { consistency: "local" })).data) === "last", 15_000, "n3 to catch up");
      for (let i = 0; i < 30; i++) assert.equal(dec((await viaN3.get(`/during-${i}`, { consistency: "local" })).data), `v${i}`);
      assert.ok((await viaN3.put("/after", enc("a"))).zxid > 0, "n3 takes writes again");
    } finally {
      all.close();
      viaN3.close();
      others.close();
    }
    await c.stop("n3", "SIGTERM");
    noStackTrace(n3.output, "n3");
    // Its log is on the full disk too: the alarm's line was dropped (not thrown), the rest is there.
    assert.match(n3.output, /n3: the disk takes writes again at .*zk\.db; resuming/);
  });
});

describe("every node's disk is full", () => {
  const c = new TestCluster(3, 22310, "disk-all");
  const skip = mountTmpfs(c.dir);
  after(async () => {
    await c.stopAll();
    unmount(c.dir);
    await c.cleanup();
  });

  test("no node crashes, nothing acknowledged is lost, and the cluster recovers when space is freed", { skip: skip ?? false }, async () => {
    c.startAll();
    await c.waitForLeader().catch((e: Error) => {
      throw new Error(`${e.message}; ${c.nodes.map((n) => `${n.id}: ${n.output.slice(-500)}`).join(" | ")}`);
    });
    const client = c.client(undefined, 2000);
    // One client per node: a node that refuses (CANNOT_PERSIST) is not a reason to stop
    // writing through the others, as an operator's retry loop would.
    const perNode = c.nodes.map((n) => c.client([n.id], 2000));
    const acked = new Map<string, string>();
    const refusals = new Set<string>();
    const diag = async () => {
      const st = await Promise.all(c.nodes.map((n) => client.status(n.address).then((x) => `${x.nodeId} role ${x.role} leader ${x.leaderId} alarms ${x.alarms.join(";")}`, (err: Error) => err.message)));
      const df = spawnSync("sh", ["-c", `df -k ${c.dir}; ls -la ${c.dir}/*`], { encoding: "utf8" }).stdout;
      return `${st.join(" | ")} | ${c.nodes.map((n) => `${n.id}: ${n.output.slice(-400)}`).join(" | ")}\n${df}`;
    };
    let stop = false;
    let lastAckAt = Date.now();
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; !stop && i < 100_000; i++) {
        const key = `/w${w}-${i}`;
        const value = `${w}-${i}-${"x".repeat(200)}`;
        try {
          await perNode[(w + i) % perNode.length]!.put(key, enc(value));
          acked.set(key, value);
          lastAckAt = Date.now();
        } catch (e) {
          assert.ok(e instanceof ZkError, String(e));
          refusals.add(`${ErrorCode[e.code] ?? String(e.code)}: ${e.message.slice(0, 80)}`);
          await sleep(20);
        }
      }
    });
    try {
      // Fill it early: on 4 MiB the nodes' own WALs would fill it within a second, and only
      // the filler's space can be given back.
      await until(async () => acked.size >= 3, 10_000, "some writes to be acknowledged");
      const filler = fill(c.dir);
      // Writes stop being acknowledged once a majority cannot persist, and they say why.
      let statuses: unknown[] = [];
      await until(
        async () => {
          statuses = await Promise.all(c.nodes.map((n) => client.status(n.address).then((s) => s.alarms, () => null)));
          return statuses.filter((a) => (a as string[] | null)?.some((x) => /disk full at .*writes refused/.test(x))).length >= 2;
        },
        30_000,
        "a majority to raise the disk alarm",
      ).catch((e: Error) => {
        throw new Error(`${e.message}: ${JSON.stringify(statuses)}`);
      });
      await until(async () => Date.now() - lastAckAt > 2000, 30_000, "writes to stop being acknowledged");
      for (const n of c.nodes) assert.equal(n.proc!.exitCode, null, `${n.id} is still running`);

      // The writers stop before space is freed: 4 MiB shared by three WALs would fill up again
      // within a few hundred writes, and what is tested next is that the cluster recovers.
      stop = true;
      await Promise.all(writers);
      rmSync(filler);
      await putRetrying(client, "/after-free", "yes").catch(async (e: Error) => {
        throw new Error(`${e.message}: ${await diag()} refusals ${[...refusals].join(",")}`);
      });
      acked.set("/after-free", "yes");
    } finally {
      stop = true;
      await Promise.all(writers);
    }
    assert.ok(acked.size > 3, `only ${acked.size} writes were acknowledged`);
    assert.ok(refusals.size > 0, "some writes were refused while the disk was full");
    await c.waitForLeader(undefined, 30_000).catch(async (e: Error) => {
      throw new Error(`${e.message}: ${await diag()}`);
    });
    const reader = c.client(undefined, 5000);
    try {
      for (const [key, value] of acked) assert.equal(dec((await reader.get(key)).data), value, `${key} was acknowledged and lost`);
    } finally {
      reader.close();
      client.close();
      for (const p of perNode) p.close();
    }
    for (const n of c.nodes) noStackTrace(n.output, n.id);
  });
});
