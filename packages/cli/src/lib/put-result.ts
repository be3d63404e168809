// How a put's result is printed, by `propose` and `propose --stdin` alike.
import type { PutResponse } from "@zk/node/client";

/**
 * With --stdin: the most writes in flight at once (and results waiting to be printed in
 * order). The leader batches what arrives together, so a wider window buys throughput;
 * the cap is what one Session stream takes in flight.
 */
export const WINDOW_DEFAULT = 2048;
export const WINDOW_MAX = 4096;

export function putResultLine(r: PutResponse): string {
  return `${r.path} zxid=${r.zxid} version=${r.version}${r.created ? " created" : ""}`;
}

export function putResultJson(r: PutResponse): { path: string; zxid: number; version: number; created: boolean } {
  return { path: r.path, zxid: r.zxid, version: r.version, created: r.created };
}
