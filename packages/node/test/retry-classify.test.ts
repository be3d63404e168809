// How the clients classify a failed call: from the error's code and ErrorDetail's outcome and
// no_leader fields, which survive the wire, and never from the message (which may be reworded).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as grpc from "@grpc/grpc-js";
import { ErrorCode, Outcome } from "../src/gen/zk/v1/types.js";
import { NOT_APPLIED, ZkError } from "../src/net/errors.js";
import { afterResend, isNoLeader, worthResending, writeMayHaveApplied } from "../src/client/retry.js";

/** Through the gRPC error metadata and back, as a client receives it. */
function overTheWire(z: ZkError): ZkError {
  return ZkError.fromServiceError(z.toServiceError() as grpc.ServiceError);
}

describe("retry classification", () => {
  it("outcome and no_leader cross the wire; an error without them reads as unknown, not as its message says", () => {
    const notApplied = overTheWire(new ZkError(ErrorCode.UNAVAILABLE, "anything at all", NOT_APPLIED));
    assert.equal(notApplied.extra.outcome, Outcome.NOT_APPLIED);
    assert.equal(writeMayHaveApplied(notApplied), false);
    // The words are for people: without the field, a message saying "not applied" is not believed.
    const worded = overTheWire(new ZkError(ErrorCode.UNAVAILABLE, "it was not applied, retry"));
    assert.equal(worded.extra.outcome, undefined);
    assert.equal(writeMayHaveApplied(worded), true);
    assert.equal(writeMayHaveApplied(overTheWire(new ZkError(ErrorCode.NOT_LEADER, "node n1 is not the leader"))), false, "NOT_LEADER: never proposed there");

    const noLeader = overTheWire(new ZkError(ErrorCode.UNAVAILABLE, "reworded", { noLeader: true, outcome: Outcome.NOT_APPLIED }));
    assert.equal(isNoLeader(noLeader), true);
    assert.equal(isNoLeader(overTheWire(new ZkError(ErrorCode.UNAVAILABLE, "no leader: is a majority of the cluster up and connected?"))), false);
  });

  it("a session sends again on UNAVAILABLE and NOT_LEADER, except 'no leader'; never on an answer", () => {
    assert.equal(worthResending(new ZkError(ErrorCode.UNAVAILABLE, "node n2 stopped leading before slot 9 was chosen")), true);
    assert.equal(worthResending(new ZkError(ErrorCode.NOT_LEADER, "node n2 stopped leading")), true);
    assert.equal(worthResending(new ZkError(ErrorCode.UNAVAILABLE, "x", { noLeader: true })), false);
    for (const code of [ErrorCode.NO_NODE, ErrorCode.BAD_VERSION, ErrorCode.TIMEOUT, ErrorCode.OVERLOADED, ErrorCode.CANNOT_PERSIST]) {
      assert.equal(worthResending(new ZkError(code, "x")), false, ErrorCode[code]);
    }
  });

  it("a write resent after an unknown outcome stays unknown when the last attempt was not applied", () => {
    const earlier = new ZkError(ErrorCode.UNAVAILABLE, "node n2 stopped leading before slot 9 was chosen; the write may or may not have been applied");
    const last = new ZkError(ErrorCode.UNAVAILABLE, "no leader: is a majority of the cluster up and connected?", { noLeader: true, outcome: Outcome.NOT_APPLIED });
    const z = afterResend(earlier, last);
    assert.equal(z.message, `${earlier.message}; sent again: ${last.message}`);
    assert.equal(writeMayHaveApplied(z), true);
    assert.equal(isNoLeader(z), true, "still says why the last attempt failed");
    assert.equal(afterResend(earlier, z), z, "a second pass adds nothing");
    // NOT_LEADER says only that the last attempt was not proposed there.
    const refused = afterResend(earlier, new ZkError(ErrorCode.NOT_LEADER, "node n3 is not the leader"));
    assert.equal(refused.code, ErrorCode.NOT_LEADER);
    assert.equal(writeMayHaveApplied(refused), true);
    assert.equal(writeMayHaveApplied(overTheWire(refused)), true, "and so it reads after crossing the wire");
    const unknown = new ZkError(ErrorCode.TIMEOUT, "did not answer within 5000 ms; a write may still take effect");
    assert.equal(afterResend(earlier, unknown), unknown);
  });
});
