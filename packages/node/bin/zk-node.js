#!/usr/bin/env node
// zk-node runs the compiled daemon (pnpm build); see src/main.ts.
import "../dist/main.js";
