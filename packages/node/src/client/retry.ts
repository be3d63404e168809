// How the clients read a failed call: which answers another member (or the same one, later)
// may turn into a success, and whether a write may have been applied meanwhile. ZkClient
// (index.ts) and ZkSession (session.ts) classify errors here only. The messages matched are
// the server's own (machine.ts, net/peer-transport.ts); their tests are pause-failover.test
// and sessions-watch.test.
import * as grpc from "@grpc/grpc-js";
import { ErrorCode } from "../gen/zk/v1/types.js";
import type { ZkError } from "../net/errors.js";

/** Errors after which another member (or the same one, later) may succeed. */
export function isRetryable(z: ZkError): boolean {
  return z.code === ErrorCode.UNAVAILABLE || z.code === ErrorCode.NOT_LEADER || z.code === ErrorCode.TIMEOUT;
}

/**
 * A call the connection broke under, not an answer: grpc-js reports an HTTP/2 stream or
 * session reset (RST_STREAM, GOAWAY with an error, a session error) as INTERNAL, without the
 * server's error metadata. Like a dropped connection, the request may or may not have reached
 * the node; writes carry a deduplication key, so trying again is safe.
 */
export function isTransportReset(err: grpc.ServiceError): boolean {
  return err.code === grpc.status.INTERNAL && /RST_STREAM|GOAWAY|Session closed|ERR_HTTP2_/i.test(err.details ?? err.message ?? "");
}

/** The server's "I know no leader" (a follower that waited for an election in vain). */
export function isNoLeader(z: ZkError): boolean {
  return z.code === ErrorCode.UNAVAILABLE && /^no leader/.test(z.message);
}

/**
 * Whether a write that failed with this retryable error may have been applied (or may still
 * be): true unless the server says it never proposed it.
 */
export function writeMayHaveApplied(z: ZkError): boolean {
  if (z.code === ErrorCode.NOT_LEADER || isNoLeader(z)) return false;
  return !/\b(was not applied|was not proposed|not sent)\b/.test(z.message);
}

/**
 * An answer saying the leader changed under the request, not that there is none: the leader
 * the node forwarded to was replaced or its link broke, or the leader stepped down with a
 * successor known. Worth sending again. A leader deposed with no successor (no quorum) and a
 * node that knows no leader answer at once, as before: a retry could only wait for a quorum.
 */
export function leaderChangedUnder(z: ZkError): boolean {
  if (z.code !== ErrorCode.UNAVAILABLE) return false;
  if (/\bstopped leading\b/.test(z.message)) return (z.extra.leaderId ?? "") !== "";
  return /\bwas replaced\b|\blost the link to leader\b/.test(z.message);
}
