// Structured JSON logs (pino). Every line carries the node id; levels from ZK_LOG_LEVEL.
// Lines go to stdout with a synchronous write that never throws: when stdout is a file on a
// full or failing disk (ENOSPC, EIO) the line is dropped and counted, and the node carries on;
// a log line is never worth a crash (the disk alarm reports the disk itself).
import { writeSync } from "node:fs";
import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/** How many times a line meets EAGAIN (a full pipe) before it is dropped. */
const LOG_EAGAIN_RETRIES_MAX = 1000;

/** Log lines dropped because stdout could not take them. */
export let logLinesDropped = 0;

function safeStdout(fd: number): DestinationStream {
  const wait = new Int32Array(new SharedArrayBuffer(4));
  return {
    write(line: string): void {
      let buf = Buffer.from(line);
      let retries = 0;
      while (buf.length > 0) {
        try {
          buf = buf.subarray(writeSync(fd, buf));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "EAGAIN" && retries++ < LOG_EAGAIN_RETRIES_MAX) {
            Atomics.wait(wait, 0, 0, 1);
            continue;
          }
          logLinesDropped++;
          return;
        }
      }
    },
  };
}

export function createLogger(nodeId: string, level = process.env.ZK_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { node: nodeId }, timestamp: pino.stdTimeFunctions.isoTime }, safeStdout(1));
}

/** For tests and embedding: a logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
