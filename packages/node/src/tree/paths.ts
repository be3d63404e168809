// Znode paths, with ZooKeeper's rules (PathUtils.validatePath): absolute, '/'-separated, no
// empty, "." or ".." component, no trailing slash except the root, no character ZooKeeper
// rejects. Every replica must accept and reject exactly the same paths, so these rules are
// part of the replicated state machine: changing them is a protocol change.

/** The longest path, in UTF-8 bytes. */
export const PATH_BYTES_MAX = 4096;

/** Digits of a sequential node's suffix (zero-padded), as ZooKeeper's "%010d". */
export const SEQUENTIAL_DIGITS = 10;

/** The root of the tree. */
export const ROOT = "/";

/**
 * Why `path` is not a valid znode path, as one readable line, or null when it is valid.
 * For a sequential create, pass `sequential: true` with the prefix: it is checked as the
 * prefix plus a suffix (so "/q/" is a valid prefix, as in ZooKeeper).
 */
export function validatePath(path: string, opts?: { readonly sequential?: boolean }): string | null {
  const sequential = opts?.sequential === true;
  const problem = pathProblem(sequential ? path + sequentialSuffix(0) : path);
  if (problem === null) return null;
  return `invalid ${sequential ? "sequential prefix" : "path"} ${JSON.stringify(path)}: ${problem}`;
}

/** The parent of a valid path; "" for the root (which has none). */
export function parent(path: string): string {
  if (path === ROOT) return "";
  const i = path.lastIndexOf("/");
  return i <= 0 ? ROOT : path.slice(0, i);
}

/** The last component of a valid path; "" for the root. */
export function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The path of child `name` of `parentPath`. */
export function joinPath(parentPath: string, name: string): string {
  return parentPath === ROOT ? `/${name}` : `${parentPath}/${name}`;
}

/** A sequential node's suffix for a parent whose cversion is `counter`: "0000000042". */
export function sequentialSuffix(counter: number): string {
  return String(counter).padStart(SEQUENTIAL_DIGITS, "0");
}

// Works on UTF-16 code units, like ZooKeeper's Java check. Rejecting U+D800..U+F8FF rejects
// every surrogate, so a valid path is well-formed Unicode (it always encodes to valid UTF-8,
// at most 3 bytes a character), and the byte order SQLite sorts children by is the order of
// JS string comparison. A decoder's replacement character U+FFFD (invalid UTF-8 on the
// wire) falls in the rejected U+FFF0..U+FFFF.
function pathProblem(path: string): string | null {
  if (path.length === 0) return "is empty";
  if (path.charCodeAt(0) !== 0x2f) return 'must start with "/"';
  if (path.length === 1) return null;
  // Every code unit is at least one byte: bounds the work on a huge string.
  if (path.length > PATH_BYTES_MAX) return tooLong(Buffer.byteLength(path));
  if (path.charCodeAt(path.length - 1) === 0x2f) return 'must not end with "/"';
  let bytes = 0;
  let componentStart = 1;
  for (let i = 1; i <= path.length; i++) {
    const c = i === path.length ? 0x2f : path.charCodeAt(i);
    if (c === 0x2f) {
      const len = i - componentStart;
      if (len === 0) return `has an empty component at offset ${i}`;
      if (len <= 2 && path.charCodeAt(componentStart) === 0x2e && (len === 1 || path.charCodeAt(i - 1) === 0x2e)) {
        return `has a relative component "${len === 1 ? "." : ".."}"`;
      }
      componentStart = i + 1;
      if (i < path.length) bytes += 1;
      continue;
    }
    if (c === 0) return `has a NUL character at offset ${i}`;
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || c >= 0xfff0) {
      return `has the disallowed character U+${c.toString(16).toUpperCase().padStart(4, "0")} at offset ${i}`;
    }
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
  }
  bytes += 1; // the leading "/"
  if (bytes > PATH_BYTES_MAX) return tooLong(bytes);
  return null;
}

function tooLong(bytes: number): string {
  return `is ${bytes} bytes long, above the limit of ${PATH_BYTES_MAX}`;
}
