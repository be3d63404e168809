// ZooKeeper's access control, as its server does it: an ACL is a list of (perms, scheme, id)
// entries; a requester holds principals (scheme, id) it authenticated as; an op needs one
// permission bit and is allowed when some entry with that bit matches some principal.
// Schemes: world (id "anyone", matches everyone), digest ("user:base64(sha1(user:password))",
// matches the same principal, got by `addauth digest user:password`), ip (an address or
// address/bits, matches the connection's address), auth (only in a request: expanded into the
// requester's digest principals). The principal super (the node's configured super digest)
// is allowed everything. Pure functions: the tree calls them at apply, with the principals
// the command carries, so every replica decides the same.
import { createHash } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import type { Acl, Principal } from "../gen/zk/v1/types.js";

export type { Acl, Principal };

/** ZooDefs.Perms. */
export const Perm = { read: 1, write: 2, create: 4, delete: 8, admin: 16, all: 31 } as const;

/** ZooDefs.Ids.OPEN_ACL_UNSAFE: what a node without an ACL of its own has. */
export const OPEN_ACL: readonly Acl[] = [{ perms: Perm.all, scheme: "world", id: "anyone" }];

/** The principal every request of the super user carries besides its digest. */
export const SUPER_PRINCIPAL: Principal = { scheme: "super", id: "" };

/** DigestAuthenticationProvider.generateDigest: "user:" + base64(sha1("user:password")). */
export function digestOf(userPassword: string): string {
  const user = userPassword.split(":", 1)[0] ?? "";
  return `${user}:${createHash("sha1").update(userPassword, "utf8").digest("base64")}`;
}

/**
 * The principals `addauth digest user:password` gives: the digest id, and super as well when
 * it equals the node's configured super digest (zookeeper.DigestAuthenticationProvider.superDigest).
 */
export function digestPrincipals(userPassword: string, superDigest: string | undefined): Principal[] {
  const id = digestOf(userPassword);
  const out: Principal[] = [];
  if (superDigest !== undefined && superDigest !== "" && id === superDigest) out.push(SUPER_PRINCIPAL);
  out.push({ scheme: "digest", id });
  return out;
}

/** Whether `s` is a super digest as --zk-super-digest takes it ("user:base64 of 20 bytes"). */
export function isDigestId(s: string): boolean {
  return javaSplit(s, ":").length === 2;
}

/** Whether an ACL with these entries lets `principals` do `perm` (ZooKeeperServer.checkACL). */
export function allowed(acl: readonly Acl[], principals: readonly Principal[], perm: number): boolean {
  if (acl.length === 0) return true;
  if (principals.some((p) => p.scheme === "super")) return true;
  for (const a of acl) {
    if ((a.perms & perm) === 0) continue;
    if (a.scheme === "world" && a.id === "anyone") return true;
    for (const p of principals) {
      if (p.scheme !== a.scheme) continue;
      if (a.scheme === "digest" && p.id === a.id) return true;
      if (a.scheme === "ip" && ipMatches(a.id, p.id)) return true;
    }
  }
  return false;
}

/**
 * The ACL a create or set_acl stores (PrepRequestProcessor.fixupACL): duplicates removed,
 * each entry checked, auth expanded into the requester's digest principals. null: invalid
 * (InvalidACL), as an empty list is.
 */
export function fixupAcl(acl: readonly Acl[], principals: readonly Principal[]): Acl[] | null {
  const uniq: Acl[] = [];
  for (const a of acl) if (!uniq.some((u) => u.perms === a.perms && u.scheme === a.scheme && u.id === a.id)) uniq.push(a);
  if (uniq.length === 0) return null;
  const out: Acl[] = [];
  for (const a of uniq) {
    if (a.scheme === "world" && a.id === "anyone") {
      out.push(a);
    } else if (a.scheme === "auth") {
      // ZooKeeper expands auth into every principal whose provider says it is authenticated:
      // digest ones (ip never is; super has no provider).
      const mine = principals.filter((p) => p.scheme === "digest");
      if (mine.length === 0) return null;
      for (const p of mine) out.push({ perms: a.perms, scheme: p.scheme, id: p.id });
    } else if ((a.scheme === "digest" && isDigestId(a.id)) || (a.scheme === "ip" && ipValid(a.id))) {
      out.push(a);
    } else {
      return null;
    }
  }
  return out;
}

/**
 * What getACL shows a requester without ADMIN on the node: digest ids with the hash replaced
 * by "x" (ZooKeeper 3.6+, FinalRequestProcessor).
 */
export function redacted(acl: readonly Acl[]): Acl[] {
  return acl.map((a) => (a.scheme === "digest" ? { ...a, id: a.id.replace(/:.*/s, ":x") } : a));
}

// ---- Storage ------------------------------------------------------------------------------

/** The canonical text of an ACL in the tree's table (and its hash): JSON [[perms, scheme, id], ...]. */
export function encodeAcl(acl: readonly Acl[]): string {
  return JSON.stringify(acl.map((a) => [a.perms, a.scheme, a.id]));
}

export function decodeAcl(text: string): Acl[] {
  const v = JSON.parse(text) as [number, string, string][];
  return v.map(([perms, scheme, id]) => ({ perms, scheme, id }));
}

export function isOpenAcl(acl: readonly Acl[]): boolean {
  return acl.length === 1 && acl[0]!.scheme === "world" && acl[0]!.id === "anyone" && acl[0]!.perms === Perm.all;
}

// ---- zkCli.sh's text form -------------------------------------------------------------------

const PERM_LETTERS: readonly [string, number][] = [["c", Perm.create], ["d", Perm.delete], ["r", Perm.read], ["w", Perm.write], ["a", Perm.admin]];

/** "cdrwa" for 31, as zkCli.sh prints perms. */
export function permsText(perms: number): string {
  return PERM_LETTERS.filter(([, bit]) => (perms & bit) !== 0).map(([l]) => l).join("");
}

/**
 * zkCli.sh's ACL syntax: entries scheme:id:perms separated by commas, the perms the last
 * colon's part ("digest:bob:hash=:cdrwa,world:anyone:r,ip:10.0.0.0/8:rw"). Throws a one-line
 * Error on anything else.
 */
export function parseAclText(text: string): Acl[] {
  const out: Acl[] = [];
  for (const part of text.split(",")) {
    const entry = part.trim();
    const first = entry.indexOf(":");
    const last = entry.lastIndexOf(":");
    if (first < 0 || last === first) throw new Error(`ACL entry ${JSON.stringify(entry)} is not scheme:id:perms (e.g. world:anyone:cdrwa)`);
    const letters = entry.slice(last + 1);
    let perms = 0;
    for (const ch of letters) {
      const bit = PERM_LETTERS.find(([l]) => l === ch.toLowerCase());
      if (!bit) throw new Error(`ACL entry ${JSON.stringify(entry)} has permission ${JSON.stringify(ch)}; permissions are letters of cdrwa`);
      perms |= bit[1];
    }
    out.push({ perms, scheme: entry.slice(0, first), id: entry.slice(first + 1, last) });
  }
  return out;
}

/** One entry as zkCli.sh's getAcl prints it: "'scheme,'id" then ": perms". */
export function aclText(acl: readonly Acl[]): string {
  return acl.map((a) => `${a.scheme}:${a.id}:${permsText(a.perms)}`).join(",");
}

// ---- ip ------------------------------------------------------------------------------------

/** IPAuthenticationProvider.isValid: an address, or address/bits with bits within its length. */
function ipValid(id: string): boolean {
  const [addr, bitsText] = javaSplitLimit(id, "/", 2);
  const bytes = addrBytes(addr ?? "");
  if (bytes === null) return false;
  if (bitsText === undefined) return true;
  if (!/^[0-9]+$/.test(bitsText)) return false;
  const bits = Number(bitsText);
  return bits >= 0 && bits <= bytes.length * 8;
}

/** IPAuthenticationProvider.matches: the principal's address within the entry's prefix. */
function ipMatches(aclId: string, address: string): boolean {
  const [addr, bitsText] = javaSplitLimit(aclId, "/", 2);
  const want = addrBytes(addr ?? "");
  const have = addrBytes(address);
  if (want === null || have === null || want.length !== have.length) return false;
  let bits = want.length * 8;
  if (bitsText !== undefined) {
    if (!/^[0-9]+$/.test(bitsText)) return false;
    bits = Number(bitsText);
    if (bits > want.length * 8) return false;
  }
  for (let i = 0; i < want.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    if ((want[i]! & mask) !== (have[i]! & mask)) return false;
  }
  return true;
}

/** An IPv4 or IPv6 address as bytes (an IPv4-mapped IPv6 address as IPv4), or null. */
function addrBytes(s: string): number[] | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  if (mapped) s = mapped[1]!;
  if (isIPv4(s)) return s.split(".").map(Number);
  if (!isIPv6(s)) return null;
  const [head, tail] = s.split("::") as [string, string | undefined];
  const groups = (x: string) => (x === "" ? [] : x.split(":"));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill("0"), ...t];
  if (all.length !== 8 || all.some((g) => g.includes("."))) return null;
  return all.flatMap((g) => {
    const v = parseInt(g, 16);
    return [v >> 8, v & 0xff];
  });
}

/** Java's String.split(sep): trailing empty strings dropped. */
function javaSplit(s: string, sep: string): string[] {
  const parts = s.split(sep);
  while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** Java's String.split(sep, limit) for limit 2. */
function javaSplitLimit(s: string, sep: string, _limit: 2): [string, string?] {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + sep.length)];
}
