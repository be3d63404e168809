// A client's credentials on the wire: one zk-auth-bin metadata entry "digest:USER:PASSWORD" per
// identity (src/net/auth.ts turns them into the principals the cluster checks ACLs with).
import * as grpc from "@grpc/grpc-js";
import { AUTH_METADATA } from "../net/errors.js";

/** Add credentials "USER:PASSWORD" to `md` as zk-auth-bin entries. */
export function authMetadata(md: grpc.Metadata, auth: readonly string[] | undefined): grpc.Metadata {
  for (const a of auth ?? []) md.add(AUTH_METADATA, Buffer.from(`digest:${a}`, "utf8"));
  return md;
}
