// Structured JSON logs (pino). Every line carries the node id; levels from ZK_LOG_LEVEL.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(nodeId: string, level = process.env.ZK_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { node: nodeId }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** For tests and embedding: a logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
