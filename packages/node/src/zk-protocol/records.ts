// ZooKeeper's client protocol constants and the records zk reads and writes, laid out as in
// ZooKeeper's zookeeper.jute (org.apache.zookeeper.proto and .data) and ZooDefs.OpCode.
import type { Stat } from "../gen/zk/v1/types.js";
import { ErrorCode } from "../gen/zk/v1/types.js";
import type { Acl } from "../tree/acl.js";
import { JuteReader, JuteWriter } from "./jute.js";

/** ZooDefs.OpCode. */
export const Op = {
  notification: 0,
  create: 1,
  delete: 2,
  exists: 3,
  getData: 4,
  setData: 5,
  getACL: 6,
  setACL: 7,
  getChildren: 8,
  sync: 9,
  ping: 11,
  getChildren2: 12,
  check: 13,
  multi: 14,
  create2: 15,
  reconfig: 16,
  checkWatches: 17,
  removeWatches: 18,
  createContainer: 19,
  deleteContainer: 20,
  createTTL: 21,
  multiRead: 22,
  auth: 100,
  setWatches: 101,
  sasl: 102,
  getEphemerals: 103,
  getAllChildrenNumber: 104,
  setWatches2: 105,
  addWatch: 106,
  whoAmI: 107,
  createSession: -10,
  closeSession: -11,
  error: -1,
} as const;

/** Special xids (ClientCnxn). */
export const Xid = { notification: -1, ping: -2, auth: -4, setWatches: -8 } as const;

/** KeeperException.Code. */
export const Err = {
  ok: 0,
  systemError: -1,
  runtimeInconsistency: -2,
  marshallingError: -5,
  unimplemented: -6,
  badArguments: -8,
  noNode: -101,
  noAuth: -102,
  badVersion: -103,
  noChildrenForEphemerals: -108,
  nodeExists: -110,
  notEmpty: -111,
  sessionExpired: -112,
  invalidAcl: -114,
  authFailed: -115,
  noWatcher: -121,
} as const;

/** AddWatchMode, and Watcher.WatcherType of removeWatches/checkWatches. */
export const WatchMode = { persistent: 0, persistentRecursive: 1 } as const;
export const WatcherType = { children: 1, data: 2, any: 3, persistent: 4, persistentRecursive: 5 } as const;

/** Watcher.Event.EventType and KeeperState. */
export const EventType = { nodeCreated: 1, nodeDeleted: 2, nodeDataChanged: 3, nodeChildrenChanged: 4 } as const;
export const KeeperState = { syncConnected: 3 } as const;

/** CreateMode flags. */
export const CreateFlags = { ephemeral: 1, sequential: 2, container: 4, ttl: 5, ttlSequential: 6 } as const;


/**
 * A zk error that the client should see as a reply's err, or null when ZooKeeper would have
 * dropped the connection instead (no quorum, a write whose outcome is unknown): the client
 * then sees ConnectionLoss and reconnects, as with a ZooKeeper server that lost its quorum.
 */
export function zkErrOf(code: ErrorCode): number | null {
  switch (code) {
    case ErrorCode.NO_NODE:
      return Err.noNode;
    case ErrorCode.NODE_EXISTS:
      return Err.nodeExists;
    case ErrorCode.BAD_VERSION:
      return Err.badVersion;
    case ErrorCode.NOT_EMPTY:
      return Err.notEmpty;
    case ErrorCode.NO_CHILDREN_FOR_EPHEMERALS:
      return Err.noChildrenForEphemerals;
    case ErrorCode.INVALID_PATH:
    case ErrorCode.INVALID_ARGUMENT:
      return Err.badArguments;
    case ErrorCode.SESSION_EXPIRED:
      return Err.sessionExpired;
    case ErrorCode.NO_AUTH:
      return Err.noAuth;
    case ErrorCode.INVALID_ACL:
      return Err.invalidAcl;
    case ErrorCode.INTERNAL:
      return Err.systemError;
    default:
      return null;
  }
}

export interface ConnectRequest {
  readonly protocolVersion: number;
  readonly lastZxidSeen: number;
  readonly timeOut: number;
  readonly sessionId: number;
  readonly passwd: Buffer;
  readonly readOnly: boolean;
}

export function readConnectRequest(r: JuteReader): ConnectRequest {
  const protocolVersion = r.int();
  const lastZxidSeen = r.long();
  const timeOut = r.int();
  const sessionId = r.long();
  const passwd = r.buffer() ?? Buffer.alloc(0);
  // Older clients (node-zookeeper-client among them) do not send the read-only flag.
  const readOnly = r.remaining > 0 ? r.bool() : false;
  return { protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly };
}

export function connectResponse(timeOut: number, sessionId: number, passwd: Uint8Array): Buffer {
  return new JuteWriter().int(0).int(timeOut).long(sessionId).buffer(passwd).bool(false).frame();
}

export function replyHeader(w: JuteWriter, xid: number, zxid: number, err: number): JuteWriter {
  return w.int(xid).long(zxid).int(err);
}

/**
 * A Stat as this port shows it: the tree's, with the node's ACL version. (A container or TTL
 * node shows ephemeralOwner 0, as ZooKeeper's DataNode.copyStat hides their encoded kind.)
 */
export interface ZkStat extends Stat {
  readonly aversion?: number;
}

/** Stat, field by field. */
export function writeStat(w: JuteWriter, s: ZkStat): JuteWriter {
  return w
    .long(s.czxid)
    .long(s.mzxid)
    .long(s.ctimeMs)
    .long(s.mtimeMs)
    .int(s.version)
    .int(s.cversion)
    .int(s.aversion ?? 0)
    .long(s.ephemeralOwner)
    .int(s.dataLength)
    .int(s.numChildren)
    .long(s.pzxid);
}

export function readAcl(r: JuteReader): Acl {
  return { perms: r.int(), scheme: r.ustring() ?? "", id: r.ustring() ?? "" };
}

export function writeAcl(w: JuteWriter, a: Acl): void {
  w.int(a.perms).ustring(a.scheme).ustring(a.id);
}


export function writeWatcherEvent(w: JuteWriter, type: number, path: string): JuteWriter {
  return w.int(type).int(KeeperState.syncConnected).ustring(path);
}

/** Four-letter words ZooKeeper knows; zk answers the whitelisted ones (FOUR_LETTER_WORDS_ENABLED). */
export const FOUR_LETTER_WORDS_KNOWN: ReadonlySet<string> = new Set([
  "ruok", "srvr", "stat", "mntr", "conf", "isro", "envi", "cons", "crst", "dump", "srst", "wchs", "wchc", "wchp", "dirs", "gtmk", "stmk", "hash", "kill", "reqs",
]);
export const FOUR_LETTER_WORDS_ENABLED: ReadonlySet<string> = new Set(["ruok", "srvr", "stat", "mntr", "conf", "isro"]);
