#!/usr/bin/env bash
# Regenerate the TypeScript code of the protobuf schemas:
#   proto/zk/v1/*.proto  ->  packages/node/src/gen/zk/v1/*.ts   (committed)
#
# Usage: pnpm gen            (or: bash scripts/gen-proto.sh [OUT_BASE])
#
# Lints the schemas with buf, then runs buf generate with ts-proto as a local plugin; the
# plugins, options and output folder are in buf.gen.yaml, the lint rules in buf.yaml. Both
# tools are pinned devDependencies of the root package, so this needs no network once
# `pnpm install` has run. With OUT_BASE, the output goes to OUT_BASE/packages/node/src/gen
# instead (scripts/check-proto.sh uses that to compare without touching the tree).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

buf="node_modules/.bin/buf"
plugin="node_modules/.bin/protoc-gen-ts_proto"
for tool in "$buf" "$plugin"; do
  if [[ ! -x "$tool" ]]; then
    echo "gen-proto: $tool is missing; run 'pnpm install' at the repository root first" >&2
    exit 1
  fi
done

out_base="${1:-}"

"$buf" lint
if [[ -n "$out_base" ]]; then
  "$buf" generate --output "$out_base"
  node scripts/gen-proto-int64.mjs "$out_base/packages/node/src/gen" >/dev/null
else
  "$buf" generate
  # 64-bit integers without BigInt (packages/node/src/wire-int64.ts).
  node scripts/gen-proto-int64.mjs packages/node/src/gen
  echo "gen-proto: generated packages/node/src/gen from proto/ ($(find packages/node/src/gen -name '*.ts' | wc -l | tr -d ' ') files)"
fi
