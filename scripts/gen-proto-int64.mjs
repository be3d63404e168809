// Part of scripts/gen-proto.sh: point ts-proto's 64-bit integer reads and writes at
// packages/node/src/wire-int64.ts (no BigInt on the hot path; see that file). Rewrites, in
// every generated .ts file under the folder given:
//   longToNumber(reader.uint64())        -> readUint64(reader)
//   longToNumber(reader.int64())         -> readInt64(reader)
//   writer.uint32(T).uint64(X)           -> writeUint64(writer.uint32(T), X)   (int64 alike)
//   writer.uint64(v)                     -> writeUint64(writer, v)             (packed repeated)
// adds the import, and drops longToNumber where nothing calls it any more. Fails if a 64-bit
// read or write is left in a form it does not know, so a ts-proto upgrade cannot silently
// bring the slow path back.
//
//   node scripts/gen-proto-int64.mjs packages/node/src/gen
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative, dirname, sep } from "node:path";

const genDir = process.argv[2];
if (!genDir) {
  console.error("usage: node scripts/gen-proto-int64.mjs GEN_DIR");
  process.exit(2);
}
// The helper sits next to the gen folder: packages/node/src/wire-int64.ts.
const helper = join(genDir, "..", "wire-int64.js");

function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

let changed = 0;
for (const file of files(genDir)) {
  let s = readFileSync(file, "utf8");
  const before = s;
  s = s.replace(/longToNumber\(reader\.(u?)int64\(\)\)/g, (_m, u) => (u ? "readUint64(reader)" : "readInt64(reader)"));
  s = s.replace(/writer\.uint32\((\d+)\)\.(u?)int64\(([^;]*)\);/g, (_m, tag, u, value) => `${u ? "writeUint64" : "writeInt64"}(writer.uint32(${tag}), ${value});`);
  s = s.replace(/writer\.(u?)int64\(v\);/g, (_m, u) => `${u ? "writeUint64" : "writeInt64"}(writer, v);`);
  if (s === before) continue;

  const leftover = /reader\.u?int64\(\)|\.u?int64\(message\.|writer\.u?int64\(/.exec(s);
  if (leftover) throw new Error(`gen-proto-int64: ${file}: a 64-bit read or write in a form this script does not rewrite: ${leftover[0]}`);
  // longToNumber is ts-proto's; remove it once unused (the TypeScript build forbids unused locals).
  if (!/longToNumber\(/.test(s.replace(/function longToNumber\(/, ""))) {
    s = s.replace(/\nfunction longToNumber\([^]*?\n}\n/, "\n");
  }
  const used = ["readUint64", "readInt64", "writeUint64", "writeInt64"].filter((f) => new RegExp(`\\b${f}\\(`).test(s));
  let spec = relative(dirname(file), helper).split(sep).join("/");
  if (!spec.startsWith(".")) spec = `./${spec}`;
  const importLine = `import { ${used.join(", ")} } from "${spec}";\n`;
  // After the last import of the file's header.
  const lastImport = [...s.matchAll(/^import [^;]*;\n/gm)].pop();
  if (!lastImport) throw new Error(`gen-proto-int64: ${file}: no import to put ours after`);
  const at = lastImport.index + lastImport[0].length;
  s = s.slice(0, at) + importLine + s.slice(at);
  writeFileSync(file, s);
  changed++;
}
console.log(`gen-proto-int64: ${changed} generated files use src/wire-int64.ts`);
