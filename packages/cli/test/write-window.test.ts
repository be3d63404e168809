// propose --stdin against a cluster slower than its window: the window must shrink so that
// writes are answered within --timeout instead of timing out behind each other. A fake
// target serves one write at a time at a fixed rate and fails any write that waited past its
// deadline, as a session does; no cluster.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { ErrorCode, ZkError, type PutResponse } from "@zk/node/client";
import { proposeStream } from "../src/lib/propose.js";
import { WINDOW_FLOOR, WINDOW_START, WriteWindow } from "../src/lib/write-window.js";

/** Serves queued writes one every `perMs`; a write that waited past `timeoutMs` fails with TIMEOUT. */
function slowTarget(perMs: number, timeoutMs: number) {
  const queue: { path: string; at: number; resolve: (r: PutResponse) => void; reject: (e: unknown) => void }[] = [];
  let zxid = 0;
  let maxInFlight = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    // Past their deadline: failed, as the session's timer would.
    while (queue.length > 0 && now - queue[0]!.at > timeoutMs) queue.shift()!.reject(new ZkError(ErrorCode.TIMEOUT, `did not answer within ${timeoutMs} ms; a write may still take effect`));
    const w = queue.shift();
    if (w) w.resolve({ path: w.path, zxid: ++zxid, version: 0, created: true } as PutResponse);
  }, perMs);
  return {
    target: {
      put(path: string): Promise<PutResponse> {
        return new Promise((resolve, reject) => {
          queue.push({ path, at: performance.now(), resolve, reject });
          maxInFlight = Math.max(maxInFlight, queue.length);
        });
      },
      create(): Promise<never> {
        return Promise.reject(new Error("not used"));
      },
    },
    get maxInFlight() {
      return maxInFlight;
    },
    stop: () => clearInterval(timer),
  };
}

describe("propose --stdin window", { timeout: 60_000 }, () => {
  it("starts small, grows by one per quick answer up to --window, halves once per round on a slow one", () => {
    const w = new WriteWindow(100, 1000);
    assert.equal(w.limit, WINDOW_START);
    for (let i = 0; i < 200; i++) w.answered(w.launch(), 10);
    assert.equal(w.limit, 100, "never above --window");
    const inFlight = Array.from({ length: 100 }, () => w.launch());
    for (const t of inFlight) w.answered(t, 5000);
    assert.equal(w.limit, 50, "the writes in flight at the cut do not cut again");
    w.answered(w.launch(), 5000);
    assert.equal(w.limit, 25, "a write sent after the cut that is slow too: another halving");
    for (let i = 0; i < 20; i++) w.answered(w.launch(), 5000);
    assert.equal(w.limit, WINDOW_FLOOR);
    w.answered(w.launch(), 700);
    assert.equal(w.limit, WINDOW_FLOOR, "between half and all of the slow bound: no change");
    assert.equal(new WriteWindow(3, 1000).limit, 3, "--window below the start");
  });

  it("a cluster answering 1000 writes/s, --window 2048, --timeout 1000 ms: every one of 2000 lines is written", async () => {
    const slow = slowTarget(1, 1000);
    const lines = Array.from({ length: 2000 }, (_, i) => `/w/k${i} v${i}`).join("\n") + "\n";
    let out = "";
    let err = "";
    try {
      const code = await proposeStream(slow.target, Readable.from([Buffer.from(lines)]), {
        json: false,
        window: 2048,
        timeoutMs: 1000,
        write: (to, text) => (to === "out" ? (out += text) : (err += text)),
      });
      // Without the adaptive window all 2000 go at once and those past the first ~1000 time out.
      assert.equal(code, 0, err.slice(0, 500));
      assert.equal(out.split("\n").filter(Boolean).length, 2000);
      assert.match(err, /^proposed 2000 of 2000 in /);
      assert.ok(slow.maxInFlight < 1000, `at most ${slow.maxInFlight} in flight: what the target answers within the timeout`);
    } finally {
      slow.stop();
    }
  });
});
