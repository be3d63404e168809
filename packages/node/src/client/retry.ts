// How the clients read a failed call: which answers another member (or the same one, later)
// may turn into a success, and whether a write may have been applied meanwhile. ZkClient
// (index.ts) and ZkSession (session.ts) classify errors here only, from the error's code and
// ErrorDetail's outcome and no_leader fields, never from its message (which is for people).
// Their tests are pause-failover.test, sessions-watch.test and retry-classify.test.
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, Outcome } from "../gen/zk/v1/types.js";
import { ZkError } from "../net/errors.js";

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
  return z.code === ErrorCode.UNAVAILABLE && z.extra.noLeader === true;
}

/**
 * Whether a write that failed with this retryable error may have been applied (or may still
 * be): an outcome the answer states decides; without one, true unless it is NOT_LEADER (never
 * proposed there). An error without an outcome (an older node's) counts as unknown.
 */
export function writeMayHaveApplied(z: ZkError): boolean {
  if (z.extra.outcome === Outcome.UNKNOWN) return true;
  if (z.extra.outcome === Outcome.NOT_APPLIED) return false;
  return z.code !== ErrorCode.NOT_LEADER;
}

/**
 * Whether a session sends a request again (after a pause, until its deadline) after this
 * answer: the leader changed or stepped down under it (with or without a successor known
 * yet), or the node it reached is between leaders. A write goes again with its deduplication
 * key, so the cluster applies it at most once. Not after "no leader" (the node already waited
 * a few election timeouts for one), nor after any other kind of answer.
 */
export function worthResending(z: ZkError): boolean {
  if (z.code === ErrorCode.NOT_LEADER) return true;
  return z.code === ErrorCode.UNAVAILABLE && !isNoLeader(z);
}

/**
 * The error for a write that was sent again after `earlier` (which left its outcome unknown)
 * and then failed with `last`: if `last` says the write was not applied, that holds for the
 * last attempt only, so the answer keeps `earlier`'s "may or may not have been applied".
 * ZkSession uses it for its resends, and a node for a write it sent to the next leader after
 * the first refused it with CANNOT_PERSIST (machine.ts).
 */
export function afterResend(earlier: ZkError, last: ZkError): ZkError {
  if (writeMayHaveApplied(last)) return last;
  return new ZkError(last.code, `${earlier.message}; sent again: ${last.message}`, { ...last.extra, outcome: Outcome.UNKNOWN });
}
