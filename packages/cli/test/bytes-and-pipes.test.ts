// What a shell script relies on: every byte of output arrives through a pipe (a slow reader,
// a reader that closes early), every byte of input is stored as given or refused with exit 2,
// and every error is one line with the table's exit code. Real pipes through bash, as a
// script has them; a 3-node cluster on 127.0.0.1:21010-21012.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { oneLine } from "../src/lib/errors.js";
import { parseLine } from "../src/lib/propose.js";
import { argBytes, decodeBase64, nonUtf8Line } from "../src/lib/values.js";
import { CLI, cli, clusterCli, destroyCluster, oneErrorLine, tempClusterDir } from "./helpers.js";

const BASE_PORT = 21010;
const BIG_BYTES = 600_000;
const CHILDREN = 2500;
/** A child's name: 32 bytes a line of plain `ls`, so each listing is past a pipe's 64 KiB. */
const child = (i: number) => `c${String(i).padStart(5, "0")}-${"n".repeat(24)}`;

/** Run `script` in bash with `zk-cli` a function calling the built CLI; stdout/stderr as bytes. */
function sh(script: string, env: Record<string, string>, cwd: string): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(childEnv)) if (k.startsWith("ZK_")) delete childEnv[k];
  Object.assign(childEnv, env);
  const prelude = `zk-cli() { "${process.execPath}" "${CLI}" "$@"; }\n`;
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", prelude + script], { cwd, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`bash -c ${script} did not finish within 60 s`));
    }, 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString("utf8") });
    });
  });
}

describe("input and output helpers", () => {
  it("oclif's multi-line parse errors become one line that keeps what each line said", () => {
    assert.equal(oneLine("Missing 1 required arg:\nkey  Key (k means /k) or absolute path\nSee more help with --help"), "Missing 1 required arg: key (Key (k means /k) or absolute path); see --help");
    assert.equal(oneLine("Parsing --timeout \n\tExpected an integer but received: abc\nSee more help with --help"), "Parsing --timeout: Expected an integer but received: abc; see --help");
    assert.equal(oneLine("\nplain message\n"), "plain message");
  });

  it("base64 is decoded strictly", () => {
    assert.deepEqual(decodeBase64("aGVsbG8="), Buffer.from("hello"));
    assert.deepEqual(decodeBase64(""), Buffer.alloc(0));
    for (const bad of ["aGVsbG8=@@", "aGVsbG8", "aGV sbG8=", "a===", "aGVsbG8=\n"]) assert.equal(decodeBase64(bad), null, bad);
  });

  it("a line that is not UTF-8 is found by number; an argument's raw bytes are recovered", () => {
    assert.equal(nonUtf8Line(Buffer.from("a\nb\n")), null);
    assert.equal(nonUtf8Line(Buffer.from([0x61, 0x0a, 0x62, 0x0a, 0xff, 0x0a])), 3);
    const raw = Buffer.from([0xff, 0xfe, 0x41]);
    assert.deepEqual(argBytes(raw.toString("utf8"), () => [Buffer.from("node"), raw]), raw);
    assert.deepEqual(argBytes("caf\u00e9"), Buffer.from("caf\u00e9"));
    // No raw command line to read: refused rather than stored with U+FFFD.
    assert.throws(() => argBytes(raw.toString("utf8"), () => []), /not valid UTF-8/);
  });

  it("propose --stdin lines: text lines must be UTF-8; NDJSON base64 carries any bytes", () => {
    assert.match((parseLine(Buffer.from([0x6b, 0x20, 0xff])) as { error: string }).error, /not valid UTF-8/);
    assert.deepEqual(parseLine(Buffer.from('{"key":"k","value":"//4A","encoding":"base64"}')), { key: "k", value: Buffer.from([0xff, 0xfe, 0x00]) });
    assert.match((parseLine(Buffer.from('{"key":"k","value":"aGVsbG8=@@","encoding":"base64"}')) as { error: string }).error, /"value" is not valid base64/);
    assert.deepEqual(parseLine(Buffer.from("k hello world")), { key: "k", value: Buffer.from("hello world") });
  });
});

describe("zk-cli in pipelines", { timeout: 180_000 }, () => {
  const dir = tempClusterDir("pipes");
  const { env, zk, ok } = clusterCli(dir);
  const run = (script: string) => sh(script, env, dir);
  const big = Buffer.alloc(BIG_BYTES);
  for (let i = 0; i < big.length; i++) big[i] = 0x61 + (i % 26);

  before(async () => {
    const up = await cli(["cluster", "up", "--detach", "--base-port", String(BASE_PORT), "--dir", dir]);
    assert.equal(up.code, 0, `cluster up failed: ${up.stderr}`);
    writeFileSync(join(dir, "big.txt"), big);
    await ok(["create", "/big", "--file", join(dir, "big.txt")]);
  });

  after(async () => {
    await destroyCluster(dir);
  });

  it(`get of a ${BIG_BYTES}-byte value through a slow reader: every byte, exit 0`, async () => {
    const r = await run("zk-cli get /big | { sleep 0.5; wc -c; }; echo \"status ${PIPESTATUS[*]}\"");
    assert.equal(r.stdout.toString().trim(), `${BIG_BYTES}\nstatus 0 0`, r.stderr);
    const j = await run("zk-cli get /big --json | { sleep 0.5; cat; }");
    const parsed = JSON.parse(j.stdout.toString()) as { value: string; dataLength: number };
    assert.equal(parsed.value, big.toString("utf8"));
    assert.equal(parsed.dataLength, BIG_BYTES);
  });

  it(`ls of ${CHILDREN} children: all of them through a pipe, in a table, in NDJSON and with -R`, async () => {
    const lines = Array.from({ length: CHILDREN }, (_, i) => `/many/${child(i)} v${i}`).join("\n") + "\n";
    await ok(["create", "/many"]);
    const p = await zk(["propose", "--stdin"], lines);
    assert.equal(p.code, 0, p.stderr.slice(-500));
    const names = await run("zk-cli ls /many | { sleep 0.5; cat; }");
    assert.equal(names.stdout.toString().split("\n").filter(Boolean).length, CHILDREN);
    assert.ok(names.stdout.length > 65_536, `the listing (${names.stdout.length} bytes) is longer than a pipe holds`);
    const json = await run("zk-cli ls /many --json | { sleep 0.5; cat; }");
    const objs = json.stdout.toString().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { name: string; path: string });
    assert.equal(objs.length, CHILDREN);
    assert.equal(new Set(objs.map((o) => o.name)).size, CHILDREN);
    assert.deepEqual(objs[CHILDREN - 1], { name: child(CHILDREN - 1), path: `/many/${child(CHILDREN - 1)}` });
    const stat = await run("zk-cli ls /many --stat | { sleep 0.5; wc -l; }");
    assert.equal(stat.stdout.toString().trim(), String(CHILDREN + 1)); // the header and a row each
    const rec = await run("zk-cli ls /many -R --json | { sleep 0.5; wc -l; }");
    assert.equal(rec.stdout.toString().trim(), String(CHILDREN + 1)); // /many and its children
  });

  it("a reader that closes early: zk-cli stops quietly with exit 141, as cat does", async () => {
    const r = await run("zk-cli get /big | head -c 10; s=\"${PIPESTATUS[*]}\"; echo; echo \"status $s\"");
    assert.equal(r.stdout.toString(), `${big.subarray(0, 10).toString()}\nstatus 141 0\n`);
    assert.equal(r.stderr, "");
    const ls = await run("zk-cli ls /many --json | head -1 >/dev/null; echo \"status ${PIPESTATUS[*]}\"");
    assert.match(ls.stdout.toString(), /^status (141|0) 0\n$/); // 0 when everything fit in the pipe before head closed it
    assert.equal(ls.stderr, "");
  });

  it("values go in as bytes: an argument, a file, stdin and base64 NDJSON, and come out untouched with --raw / --output-file", async () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    writeFileSync(join(dir, "all.bin"), all);
    // A command-line argument that is not UTF-8 (bash's $'...' gives the raw bytes).
    const arg = await run("zk-cli create /bin-arg $'\\xff\\xfe\\x80ok' && zk-cli get /bin-arg --raw");
    assert.equal(arg.code, 0, arg.stderr);
    assert.deepEqual(arg.stdout.subarray(arg.stdout.indexOf("\n") + 1), Buffer.from([0xff, 0xfe, 0x80, 0x6f, 0x6b]));
    await ok(["propose", "/bin-file", "--file", join(dir, "all.bin")]);
    await ok(["get", "/bin-file", "--output-file", join(dir, "out.bin")]);
    assert.deepEqual(readFileSync(join(dir, "out.bin")), all);
    const piped = await run(`zk-cli set /bin-file - < all.bin >/dev/null && zk-cli propose /bin-stdin - < all.bin >/dev/null && zk-cli get /bin-stdin --raw`);
    assert.deepEqual(piped.stdout, all, piped.stderr);
    const nd = await zk(["propose", "--stdin"], `${JSON.stringify({ key: "bin-nd", value: all.toString("base64"), encoding: "base64" })}\n`);
    assert.equal(nd.code, 0, nd.stderr);
    const raw = await run("zk-cli get bin-nd --raw");
    assert.deepEqual(raw.stdout, all);
    const asJson = JSON.parse((await ok(["get", "bin-nd", "--json"])).trim()) as { value: string; encoding: string };
    assert.deepEqual([Buffer.from(asJson.value, "base64"), asJson.encoding], [all, "base64"]);
  });

  it("input that would be changed is refused with exit 2, naming the line or the field, and nothing is written for it", async () => {
    // A "key value" line that is not UTF-8.
    const bad = await run("printf 'ok1 fine\\nbad1 \\xff\\xfe\\nok2 fine\\n' | zk-cli propose --stdin");
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /^zk-cli: line 2: not valid UTF-8; send binary values as NDJSON/m);
    assert.equal((await zk(["get", "bad1"])).code, 3);
    assert.equal(await ok(["get", "ok2"]), "fine");
    // Invalid base64 in NDJSON.
    const b64 = await zk(["propose", "--stdin", "--json"], `{"key":"nd-ok","value":"aGk="}\n{"key":"nd-bad","value":"aGVsbG8=@@","encoding":"base64"}\n`);
    assert.equal(b64.code, 2);
    assert.match(b64.stderr, /^zk-cli: line 2: "value" is not valid base64/m);
    assert.equal((await zk(["get", "nd-bad"])).code, 3);
    // Invalid base64 in a txn: nothing applied.
    const txn = await zk(["txn"], JSON.stringify([{ op: "create", path: "/txn-a", data: "x" }, { op: "create", path: "/txn-b", data: "aGVsbG8=@@", encoding: "base64" }]));
    assert.equal(txn.code, 2);
    assert.match(oneErrorLine(txn.stderr), /op 1: "data" is not valid base64/);
    assert.equal((await zk(["get", "/txn-a"])).code, 3);
    // txn input that is not UTF-8.
    const txn8 = await run(`printf '{"op":"create","path":"/txn-c","data":"\\xff"}\\n' | zk-cli txn`);
    assert.equal(txn8.code, 2);
    assert.match(oneErrorLine(txn8.stderr), /line 1 of stdin is not valid UTF-8/);
  });

  it("a 100 MB value: the size limit in one line, exit 2 (not gRPC's words and exit 5)", async () => {
    const r = await run("head -c 100000000 /dev/zero | zk-cli propose /huge -");
    assert.equal(r.code, 2, r.stderr);
    assert.match(oneErrorLine(r.stderr), /^zk-cli: data is 100000000 bytes; the limit is 16777216 bytes at most/);
    const two = await run("head -c 2000000 /dev/zero | zk-cli create /huge2 -");
    assert.equal(two.code, 2, two.stderr);
    assert.match(oneErrorLine(two.stderr), /data is 2000000 bytes; the limit is 1048576 bytes/);
  });

  it("propose is an upsert: relative keys, missing parents created; --stdin likewise", async () => {
    assert.match(await ok(["propose", "app/deep/config", "v1"]), /^\/app\/deep\/config zxid=\d+ version=0 created\n$/);
    assert.match(await ok(["propose", "app/deep/config", "v2"]), /^\/app\/deep\/config zxid=\d+ version=1\n$/);
    assert.equal(await ok(["get", "app/deep/config"]), "v2");
    assert.equal(await ok(["get", "/app/deep"]), "");
    const many = await zk(["propose", "--stdin"], "tree/a/x 1\ntree/a/y 2\ntree/b/z 3\n");
    assert.equal(many.code, 0, many.stderr);
    assert.equal(await ok(["ls", "/tree", "-R"]), "/tree\n/tree/a\n/tree/a/x\n/tree/a/y\n/tree/b\n/tree/b/z\n");
  });

  it("watch, lock and create --ephemeral with no node up: one line naming each endpoint once, exit 5", async () => {
    const dead = ["127.0.0.1:21998", "127.0.0.1:21999"];
    const flags = ["--endpoints", dead.join(","), "--timeout", "1000"];
    for (const args of [["watch", "/x", ...flags], ["lock", "l", ...flags, "--", "true"], ["create", "/e", "--ephemeral", ...flags]]) {
      const r = await cli(args);
      assert.equal(r.code, 5, r.stderr);
      const line = oneErrorLine(r.stderr);
      for (const e of dead) assert.equal(line.split(e).length - 1, 1, `${args[0]}: ${e} once in: ${line}`);
      assert.doesNotMatch(line, /Resolution note|may or may not have been applied/);
    }
  });

  it("usage errors are one line with exit 2: a missing argument, a bad flag value", async () => {
    const missing = await cli(["get"]);
    assert.equal(missing.code, 2);
    assert.match(oneErrorLine(missing.stderr), /^zk-cli: Missing 1 required arg: key \(Key .*\); see --help$/);
    const parsing = await cli(["get", "/x", "--timeout", "abc"]);
    assert.equal(parsing.code, 2);
    assert.match(oneErrorLine(parsing.stderr), /^zk-cli: Parsing --timeout: Expected an integer but received: abc; see --help$/);
  });
});
