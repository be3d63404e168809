// zk-node scavenges on its main thread (src/gc-tuning.ts) unless the operator chose otherwise
// through node's own flags: their choice is never overridden.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { SCAVENGE_FLAG, gcFlags } from "../src/gc-tuning.js";

const module = fileURLToPath(new URL("../src/gc-tuning.ts", import.meta.url));

/** What tuneGc() sets in a fresh node process started with `nodeArgs`. */
function tunedIn(nodeArgs: string[]): string[] {
  const out = execFileSync(process.execPath, [...nodeArgs, "--import", "tsx", "--input-type=module", "-e", `import { tuneGc } from ${JSON.stringify(module)}; console.log(JSON.stringify(tuneGc()));`], { encoding: "utf8", timeout: 30_000 });
  return JSON.parse(out.trim().split("\n").pop()!) as string[];
}

describe("gc tuning", () => {
  it("scavenges on the main thread by default", () => {
    assert.deepEqual(gcFlags([]), [SCAVENGE_FLAG]);
    assert.deepEqual(gcFlags(["--max-old-space-size=4096", "--enable-source-maps"]), [SCAVENGE_FLAG]);
  });

  it("leaves the scavenger to an operator who chose one", () => {
    for (const f of ["--parallel-scavenge", "--no-parallel-scavenge", "--parallel_scavenge", "--single-threaded-gc", "--single-threaded"]) {
      assert.deepEqual(gcFlags(["--max-old-space-size=512", f]), [], f);
    }
  });

  it("reads a real process's flags", () => {
    assert.deepEqual(tunedIn([]), [SCAVENGE_FLAG]);
    assert.deepEqual(tunedIn(["--parallel-scavenge"]), []);
  });
});
