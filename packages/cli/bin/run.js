#!/usr/bin/env node
// zk-cli. Runs the single-file bundle dist/zk-cli.cjs (scripts/bundle.mjs) through V8's code
// cache, so a short command spends its time on the request rather than on loading and
// compiling ~250 modules; falls back to the compiled tree dist/main.js when the bundle is
// missing or older than what it was built from. Set ZK_CLI_NO_BUNDLE=1 to force the fallback.
import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { createRequire, Module } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const bundle = join(dist, "zk-cli.cjs");
const argv = process.argv.slice(2);

function mtimeMs(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return Number.NaN;
  }
}

function bundleIsFresh() {
  if (process.env.ZK_CLI_NO_BUNDLE) return false;
  const built = mtimeMs(bundle);
  if (Number.isNaN(built)) return false;
  // tsc rewrites every output, so one file per compiled tree tells whether it was rebuilt.
  const inputs = [join(dist, "main.js")];
  try {
    inputs.push(createRequire(bundle).resolve("@zk/node/client"));
  } catch {
    return false;
  }
  return inputs.every((f) => !(mtimeMs(f) > built));
}

// V8's code cache for the bundle. A run that loaded the gRPC client compiles more of the
// bundle, so its cache ("full") is preferred and replaces one from a run that did not ("lite").
// A cache V8 rejects (another Node version) is rewritten; writes are atomic (temp + rename).
function runBundle() {
  const source = readFileSync(bundle, "utf8");
  const caches = { full: `${bundle}.full.cache`, lite: `${bundle}.lite.cache` };
  let used = null;
  let cachedData;
  for (const kind of ["full", "lite"]) {
    try {
      cachedData = readFileSync(caches[kind]);
      used = kind;
      break;
    } catch {
      // none of this kind
    }
  }
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData, importModuleDynamically: (specifier) => import(specifier) });
  const rejected = cachedData !== undefined && script.cachedDataRejected === true;
  process.once("exit", () => {
    const full = globalThis.__zkClientLoaded === true;
    const want = full ? "full" : "lite";
    if (!rejected && (used === "full" || used === want)) return;
    try {
      const tmp = `${caches[want]}.${process.pid}.tmp`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, caches[want]);
    } catch {
      // a read-only install just runs without the cache
    }
  });
  const module = { exports: {} };
  const require = createRequire(bundle);
  script.runInThisContext()(module.exports, require, module, bundle, dirname(bundle));
  return module.exports.runBundled(argv, import.meta.url);
}

if (bundleIsFresh()) {
  await runBundle();
} else {
  const { main } = await import("../dist/main.js");
  await main(argv, import.meta.url);
}
