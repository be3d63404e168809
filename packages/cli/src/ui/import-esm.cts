// import() for code that runs inside the single-file bundle. bin/run.js runs dist/zk-cli.cjs
// through vm.Script, and Node 20 refuses an import() made from such a script ("A dynamic import
// callback was ..."); a file Node's own CommonJS loader compiled may import() anything. So the
// bundle require()s this file from disk (dist/ui/import-esm.cjs) and imports through it.
module.exports = (specifier: string): Promise<unknown> => import(specifier);
