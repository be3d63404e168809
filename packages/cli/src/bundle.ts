// The entry point of dist/zk-cli.cjs, the single-file bundle bin/run.js prefers (see
// scripts/bundle.mjs): the commands come with it, so oclif need not import them one by one.
import { COMMANDS } from "./commands.js";
import { main } from "./main.js";

export function runBundled(argv: string[], root: string): Promise<never> {
  return main(argv, root, COMMANDS);
}
