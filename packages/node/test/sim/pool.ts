// Seeds on worker threads. A seed is CPU-bound and deterministic (its result depends on its
// options alone), so a sweep spread over the machine's cores gives the same results as one
// run in turn, sooner. Results come back in the order asked for, whichever thread ran them.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import type { SimOptions, SimResult } from "./simulator.js";

/** Threads by default: one per core, at most this many. */
export const SEED_THREADS_MAX = 8;

interface Job {
  readonly opts: SimOptions;
  readonly resolve: (r: SimResult) => void;
  readonly reject: (e: Error) => void;
}

export class SeedPool {
  private readonly idle: Worker[] = [];
  private readonly queue: Job[] = [];
  private readonly running = new Map<Worker, Job>();
  private closed = false;

  /** `threads`: how many seeds run at once (default: the cores, at most SEED_THREADS_MAX). */
  constructor(readonly threads = Math.min(SEED_THREADS_MAX, availableParallelism())) {
    if (!Number.isSafeInteger(threads) || threads < 1) throw new RangeError(`a seed pool needs at least 1 thread, not ${threads}`);
    const boot = fileURLToPath(new URL("./worker-boot.mjs", import.meta.url));
    const entry = new URL("./seed-worker.ts", import.meta.url).href;
    for (let i = 0; i < threads; i++) {
      const w = new Worker(boot, { workerData: { entry } });
      w.on("message", (m: { result?: SimResult; error?: string }) => {
        const job = this.running.get(w);
        if (job === undefined) return; // closed meanwhile: its promise is settled
        this.running.delete(w);
        if (m.error !== undefined) job.reject(new Error(`seed ${job.opts.seed}: ${m.error}`));
        else job.resolve(m.result!);
        this.idle.push(w);
        this.next();
      });
      // A thread that dies fails its seed and everything still waiting: nothing hangs.
      w.on("error", (e) => this.fail(w, e));
      w.on("exit", (code) => {
        if (!this.closed) this.fail(w, new Error(`a seed thread exited with code ${code}`));
      });
      this.idle.push(w);
    }
  }

  /** The seed's result, as runSeed(opts) would give it (opts without a trace callback). */
  run(opts: SimOptions): Promise<SimResult> {
    if (this.closed) return Promise.reject(new Error("the seed pool is closed"));
    if (opts.trace !== undefined) return Promise.reject(new Error("a trace callback cannot cross to a worker thread; use runSeed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ opts, resolve, reject });
      this.next();
    });
  }

  /** Every seed's result, in the order of `all`. */
  runAll(all: readonly SimOptions[]): Promise<SimResult[]> {
    return Promise.all(all.map((o) => this.run(o)));
  }

  /**
   * The first seed in `seeds` (in their order) whose result `wanted` accepts, or undefined:
   * seeds run a pool's width at a time, so the answer is the one a search in turn gives.
   */
  async findFirst(seeds: readonly SimOptions[], wanted: (r: SimResult) => boolean): Promise<SimResult | undefined> {
    for (let i = 0; i < seeds.length; i += this.threads) {
      const results = await this.runAll(seeds.slice(i, i + this.threads));
      const hit = results.find(wanted);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  /** Stops every thread; seeds still waiting or running are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = [...this.idle, ...this.running.keys()];
    for (const job of [...this.queue.splice(0), ...this.running.values()]) job.reject(new Error("the seed pool was closed"));
    this.running.clear();
    this.idle.length = 0;
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private next(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.running.set(w, job);
      w.postMessage(job.opts);
    }
  }

  private fail(w: Worker, e: Error): void {
    const job = this.running.get(w);
    this.running.delete(w);
    job?.reject(e);
    if (!this.closed) void this.close();
  }
}
