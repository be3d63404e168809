// The flags of `zk-cli bench put|get|mixed|failover`, and their translation into options.
import * as Flags from "@oclif/core/flags";
import { clientFlags } from "../base.js";
import type { BenchOptions, Workload } from "./bench.js";
import { usageError } from "./errors.js";

export const CLIENTS_MAX = 4096;
export const VALUE_SIZE_MAX = 1024 * 1024;
export const KEYS_MAX = 1_000_000;

const ratio = Flags.custom<number>({
  parse: async (input) => {
    const v = Number(input);
    if (input.trim() === "" || !Number.isFinite(v) || v < 0 || v > 1) throw new Error(`expected a number from 0 to 1, got "${input}"`);
    return v;
  },
});

/** Flags every load benchmark has. */
export const loadFlags = {
  ...clientFlags,
  clients: Flags.integer({ description: "Closed-loop clients, each with one request in flight.", default: 16, min: 1, max: CLIENTS_MAX }),
  conns: Flags.integer({ description: "Connections (sessions, or unary clients) the clients share, round-robin [default: --clients, one each].", min: 1, max: CLIENTS_MAX }),
  duration: Flags.integer({ description: "How long to measure, in milliseconds.", default: 10_000, min: 1 }),
  warmup: Flags.integer({ description: "How long to run before measuring, in milliseconds.", default: 1000, min: 0 }),
  "value-size": Flags.integer({ description: "Bytes per value written.", default: 100, min: 0, max: VALUE_SIZE_MAX }),
  keys: Flags.integer({ description: "Size of the key space (keys <prefix>/k0..); each operation picks one at random.", default: 1000, min: 1, max: KEYS_MAX }),
  prefix: Flags.string({ description: "Parent znode of the benchmark's keys (created or overwritten).", default: "/bench" }),
  transport: Flags.option({ options: ["session", "unary"] as const, description: "session: pipelined Session streams (the hot path); unary: one RPC per operation.", default: "session" as const })(),
  connect: Flags.option({ options: ["leader", "spread"] as const, description: "leader: every connection goes to the leader first; spread: connection i starts at endpoint i mod n (writes through followers are forwarded).", default: "leader" as const })(),
};

export const consistencyFlag = {
  consistency: Flags.option({ options: ["linearizable", "local"] as const, description: "Read consistency.", default: "linearizable" as const })(),
};

export const readRatioFlag = {
  "read-ratio": ratio({ description: "Fraction of operations that are reads (0..1).", default: 0.9 }),
};

export interface LoadFlagValues {
  clients: number;
  conns?: number | undefined;
  duration: number;
  warmup: number;
  "value-size": number;
  keys: number;
  prefix: string;
  transport: "session" | "unary";
  connect: "leader" | "spread";
  timeout: number;
  consistency?: "linearizable" | "local" | undefined;
  "read-ratio"?: number | undefined;
}

export function benchOptions(workload: Workload, flags: LoadFlagValues, endpoints: readonly string[]): BenchOptions {
  const conns = flags.conns ?? flags.clients;
  if (conns > flags.clients) throw usageError(`--conns ${conns} is more than --clients ${flags.clients}: every connection needs a client`);
  const prefix = flags.prefix.replace(/\/+$/, "");
  if (!prefix.startsWith("/") || prefix === "") throw usageError(`--prefix "${flags.prefix}" must be an absolute path below the root, e.g. /bench`);
  return {
    workload,
    endpoints,
    clients: flags.clients,
    conns,
    durationMs: flags.duration,
    warmupMs: flags.warmup,
    valueSize: flags["value-size"],
    readRatio: workload === "put" ? 0 : workload === "get" ? 1 : (flags["read-ratio"] ?? 0.9),
    consistency: flags.consistency ?? "linearizable",
    keys: flags.keys,
    prefix,
    transport: flags.transport,
    connect: flags.connect,
    timeoutMs: flags.timeout,
  };
}
