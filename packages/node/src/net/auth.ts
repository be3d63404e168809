// Who a client is, as both client ports see it: the principals a request runs with (the
// tree's ACL checks, src/tree/acl.ts). A gRPC client sends its credentials in the metadata
// key zk-auth-bin ("digest:USER:PASSWORD", one entry per identity); every client also has its
// address as an ip principal, as a ZooKeeper connection does. The node that took the request
// computes them and puts them on the write's command, so the leader and every replica check
// the same principals at apply; a password never enters the log, only its digest.
import type * as grpc from "@grpc/grpc-js";
import { ErrorCode, type Principal } from "../gen/zk/v1/types.js";
import { digestPrincipals } from "../tree/acl.js";
import { AUTH_METADATA, ZkError } from "./errors.js";

/** Credentials one request may carry at most. */
export const AUTH_ENTRIES_MAX = 16;

/** The ip principal of a peer address as grpc-js (`call.getPeer()`) or net give it. */
export function ipPrincipal(address: string): Principal {
  let a = address.replace(/^ipv[46]:/, "");
  const bracket = /^\[([^\]]*)\](?::\d+)?$/.exec(a);
  if (bracket) a = bracket[1]!;
  else if (/^[0-9.]+:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(":"));
  return { scheme: "ip", id: a.replace(/^::ffff:/i, "") };
}

/** The principals of one gRPC call: its address, then each zk-auth-bin credential's. */
export function grpcPrincipals(md: grpc.Metadata, peer: string, superDigest: string | undefined): Principal[] {
  const out: Principal[] = [ipPrincipal(peer)];
  const values = md.get(AUTH_METADATA);
  if (values.length > AUTH_ENTRIES_MAX) throw new ZkError(ErrorCode.INVALID_ARGUMENT, `at most ${AUTH_ENTRIES_MAX} zk-auth-bin credentials per request`);
  for (const v of values) out.push(...credentialPrincipals(Buffer.isBuffer(v) ? v.toString("utf8") : String(v), superDigest));
  return out;
}

/** "digest:USER:PASSWORD" as principals; any other scheme is refused (ZooKeeper: AuthFailed). */
export function credentialPrincipals(credential: string, superDigest: string | undefined): Principal[] {
  const colon = credential.indexOf(":");
  const scheme = colon < 0 ? credential : credential.slice(0, colon);
  if (scheme !== "digest" || colon < 0) {
    throw new ZkError(ErrorCode.INVALID_ARGUMENT, `zk-auth-bin credential of scheme ${JSON.stringify(scheme)}: only digest:USER:PASSWORD is known`);
  }
  return digestPrincipals(credential.slice(colon + 1), superDigest);
}
