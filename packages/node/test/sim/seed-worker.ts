// One thread of a SeedPool (pool.ts): runs the seeds it is sent, one at a time, and posts
// each result back.
import { parentPort } from "node:worker_threads";
import { runSeed, type SimOptions } from "./simulator.js";

parentPort!.on("message", (opts: SimOptions) => {
  try {
    parentPort!.postMessage({ result: runSeed(opts) });
  } catch (err) {
    parentPort!.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
