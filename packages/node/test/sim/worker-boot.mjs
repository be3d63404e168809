// A worker thread's entry: worker threads do not inherit the main thread's `--import tsx`
// loader, so this registers tsx's loader in the thread, then loads the TypeScript module that
// workerData.entry names (pool.ts: seed-worker.ts).
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
