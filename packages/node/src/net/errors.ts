// One error type from the tree to the CLI: a zk ErrorCode with a readable one-line message,
// carried over gRPC as a status code plus the encoded ErrorDetail in trailing metadata.
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, ErrorDetail, Outcome } from "../gen/zk/v1/types.js";

export const ERROR_METADATA_KEY = "zk-error-bin";
/** The metadata key carrying a unary write's deduplication key (see SessionRequest.request_key). */
export const REQUEST_KEY_METADATA = "zk-request-key";
/**
 * The metadata key carrying a client's credentials, one entry per identity, each the bytes of
 * "digest:USER:PASSWORD" (ZooKeeper's addauth digest). Binary, so that several entries stay
 * apart (text values of one key are joined with ", " on the way). The node turns them into
 * principals (net/auth.ts).
 */
export const AUTH_METADATA = "zk-auth-bin";

const GRPC_STATUS: Record<number, grpc.status> = {
  [ErrorCode.NO_NODE]: grpc.status.NOT_FOUND,
  [ErrorCode.NODE_EXISTS]: grpc.status.ALREADY_EXISTS,
  [ErrorCode.BAD_VERSION]: grpc.status.FAILED_PRECONDITION,
  [ErrorCode.NOT_EMPTY]: grpc.status.FAILED_PRECONDITION,
  [ErrorCode.NO_CHILDREN_FOR_EPHEMERALS]: grpc.status.FAILED_PRECONDITION,
  [ErrorCode.INVALID_PATH]: grpc.status.INVALID_ARGUMENT,
  [ErrorCode.INVALID_ARGUMENT]: grpc.status.INVALID_ARGUMENT,
  [ErrorCode.NOT_LEADER]: grpc.status.UNAVAILABLE,
  [ErrorCode.UNAVAILABLE]: grpc.status.UNAVAILABLE,
  [ErrorCode.SESSION_EXPIRED]: grpc.status.FAILED_PRECONDITION,
  [ErrorCode.COMPACTED]: grpc.status.OUT_OF_RANGE,
  [ErrorCode.TIMEOUT]: grpc.status.DEADLINE_EXCEEDED,
  [ErrorCode.OVERLOADED]: grpc.status.RESOURCE_EXHAUSTED,
  [ErrorCode.CLUSTER_MISMATCH]: grpc.status.FAILED_PRECONDITION,
  [ErrorCode.CANNOT_PERSIST]: grpc.status.UNAVAILABLE,
  [ErrorCode.MEMBERSHIP_CONFLICT]: grpc.status.FAILED_PRECONDITION,
  [ErrorCode.INTERNAL]: grpc.status.INTERNAL,
  [ErrorCode.NO_AUTH]: grpc.status.PERMISSION_DENIED,
  [ErrorCode.INVALID_ACL]: grpc.status.INVALID_ARGUMENT,
};

/** What an error carries besides its code and message (ErrorDetail's other fields). */
export interface ErrorExtra {
  path?: string;
  leaderId?: string;
  leaderHint?: string;
  opIndex?: number;
  /** With UNAVAILABLE or TIMEOUT: whether the request may still take effect (ErrorDetail.outcome). */
  outcome?: Outcome;
  /** With UNAVAILABLE: the node knows no leader (ErrorDetail.no_leader). */
  noLeader?: boolean;
}

/** The extra of an error for a request that was certainly not applied. */
export const NOT_APPLIED: ErrorExtra = Object.freeze({ outcome: Outcome.NOT_APPLIED });

export class ZkError extends Error {
  override readonly name = "ZkError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: ErrorExtra = {},
  ) {
    super(message);
  }

  get grpcStatus(): grpc.status {
    return GRPC_STATUS[this.code] ?? grpc.status.UNKNOWN;
  }

  /** Worth retrying elsewhere or later: the request may not have been applied. */
  get retryable(): boolean {
    return this.code === ErrorCode.NOT_LEADER || this.code === ErrorCode.UNAVAILABLE || this.code === ErrorCode.OVERLOADED;
  }

  toDetail(): ErrorDetail {
    return {
      code: this.code,
      message: this.message,
      path: this.extra.path ?? "",
      leaderHint: this.extra.leaderHint ?? "",
      leaderId: this.extra.leaderId ?? "",
      opIndex: this.extra.opIndex,
      outcome: this.extra.outcome ?? Outcome.UNSPECIFIED,
      noLeader: this.extra.noLeader ?? false,
    };
  }

  static fromDetail(d: ErrorDetail): ZkError {
    return new ZkError(d.code, d.message, {
      path: d.path || undefined,
      leaderHint: d.leaderHint || undefined,
      leaderId: d.leaderId || undefined,
      opIndex: d.opIndex,
      outcome: d.outcome || undefined,
      noLeader: d.noLeader || undefined,
    });
  }

  /** As a grpc-js error for a unary callback or a stream's destroy(). */
  toServiceError(): Partial<grpc.ServiceError> {
    const metadata = new grpc.Metadata();
    metadata.set(ERROR_METADATA_KEY, Buffer.from(ErrorDetail.encode(this.toDetail()).finish()));
    return { code: this.grpcStatus, details: this.message, metadata };
  }

  /** Read a grpc-js client error back: the typed detail when the server sent one. */
  static fromServiceError(e: grpc.ServiceError): ZkError {
    const raw = e.metadata?.get(ERROR_METADATA_KEY)[0];
    if (raw instanceof Buffer) {
      try {
        return ZkError.fromDetail(ErrorDetail.decode(raw));
      } catch {
        // fall through to the status code
      }
    }
    const code =
      e.code === grpc.status.UNAVAILABLE ? ErrorCode.UNAVAILABLE
      : e.code === grpc.status.DEADLINE_EXCEEDED ? ErrorCode.TIMEOUT
      : e.code === grpc.status.INVALID_ARGUMENT ? ErrorCode.INVALID_ARGUMENT
      : e.code === grpc.status.RESOURCE_EXHAUSTED ? ErrorCode.OVERLOADED
      : ErrorCode.INTERNAL;
    return new ZkError(code, e.details || e.message);
  }
}

/** Anything thrown inside a handler, as a ZkError (a bug becomes INTERNAL, not a crash). */
export function asZkError(e: unknown): ZkError {
  if (e instanceof ZkError) return e;
  return new ZkError(ErrorCode.INTERNAL, e instanceof Error ? e.message : String(e));
}
