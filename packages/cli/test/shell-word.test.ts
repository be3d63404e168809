// Commands zk-cli prints for an operator to run (hints, remove-node's warning) quote each word,
// so a --dir or data dir with spaces or quotes in it, pasted into a shell, is the same path.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { dirFlag, shellWord } from "../src/lib/manifest.js";

const words = ["/tmp/plain-dir_1", "/tmp/my clusters/zk", "/tmp/it's here", "n1=127.0.0.1:7001,n2=127.0.0.1:7002", "a\"b$HOME`x`", ""];

test("shellWord: every word reaches a POSIX shell's command as itself", () => {
  const r = spawnSync("sh", ["-c", `printf '%s\\n' ${words.map(shellWord).join(" ")}`], { encoding: "utf8", timeout: 5000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.split("\n").slice(0, -1), words);
  assert.equal(shellWord("/tmp/plain-dir_1"), "/tmp/plain-dir_1", "plain words stay unquoted");
});

test("dirFlag quotes the --dir it names", () => {
  assert.equal(dirFlag("/tmp/my clusters/zk"), " --dir '/tmp/my clusters/zk'");
});
