// Modules zk-cli loads from disk at run time rather than from the single-file bundle
// (scripts/bundle.mjs): the TUI, because ink depends on yoga-layout, an ES module with
// top-level await that cannot be require()d into the bundle's CommonJS (and the other
// commands must not pay for React and ink); and better-sqlite3, whose native binary a
// bundled copy cannot find. Everything is imported by absolute URL, which esbuild leaves
// alone, through importOutsideBundle.
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import type * as ElectionsTui from "./elections-tui.js";

/** Bundled, import.meta.url is dist/zk-cli.cjs (scripts/bundle.mjs defines it); compiled, this is dist/ui/load.js. */
const IN_BUNDLE = import.meta.url.endsWith(".cjs");

/** The compiled tree's root, dist/. */
function distUrl(): URL {
  return new URL(IN_BUNDLE ? "./" : "../", import.meta.url);
}

/** import() of an absolute file URL, from the bundle too (see import-esm.cts). */
export function importOutsideBundle<T>(url: string): Promise<T> {
  if (!IN_BUNDLE) return import(url) as Promise<T>;
  const viaCommonJs = createRequire(import.meta.url)(fileURLToPath(new URL("ui/import-esm.cjs", distUrl()))) as (s: string) => Promise<unknown>;
  return viaCommonJs(url) as Promise<T>;
}

/** A package's entry point (e.g. "@zk/node/storage"), resolved from zk-cli's own dependencies. */
export function importPackage<T>(specifier: string): Promise<T> {
  return importOutsideBundle<T>(pathToFileURL(createRequire(import.meta.url).resolve(specifier)).href);
}

export function loadElectionsTui(): Promise<typeof ElectionsTui> {
  return importOutsideBundle<typeof ElectionsTui>(new URL("ui/elections-tui.js", distUrl()).href);
}
