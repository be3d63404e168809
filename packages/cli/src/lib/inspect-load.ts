// @zk/node's storage (better-sqlite3) and tree modules, imported from their compiled files at
// run time rather than bundled (see ui/load.ts). Only `inspect` loads them, so no other
// command pays for SQLite.
import type * as Storage from "@zk/node/storage";
import type * as Tree from "@zk/node/tree";
import { importPackage } from "../ui/load.js";

export function loadStorage(): Promise<typeof Storage> {
  return importPackage<typeof Storage>("@zk/node/storage");
}

export function loadTree(): Promise<typeof Tree> {
  return importPackage<typeof Tree>("@zk/node/tree");
}
