// Bundles the compiled CLI (dist/bundle.js) with @oclif/core, @zk/node's client and grpc-js
// into one CommonJS file, dist/zk-cli.cjs. Loading one file instead of ~250 modules is what
// keeps a `zk-cli propose` process fast (scripts call it thousands of times); bin/run.js
// also keeps V8's code cache for it. The compiled tree in dist/ stays the source of truth:
// bin/run.js falls back to it when the bundle is missing or older than its inputs.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

await build({
  absWorkingDir: root,
  entryPoints: ["dist/bundle.js"],
  outfile: "dist/zk-cli.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  // oclif requires typescript only to run uncompiled TypeScript plugins, which zk-cli has not.
  external: ["typescript"],
  // The compiled ESM uses import.meta.url (to resolve @zk/node); give it the bundle's own URL.
  define: { "import.meta.url": "__zkBundleUrl" },
  banner: { js: 'const __zkBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  legalComments: "none",
  minify: true,
  keepNames: true,
  logLevel: "warning",
});
