#!/usr/bin/env bash
# Fail if the committed generated code (packages/node/src/gen) is not exactly what
# scripts/gen-proto.sh produces from proto/. Regenerates into a temporary folder, so the work
# tree is left alone. CI runs it; fix a failure with `pnpm gen` and commit the result.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

bash scripts/gen-proto.sh "$tmp"

gen="packages/node/src/gen"
if ! diff -r -u "$gen" "$tmp/$gen" >"$tmp/drift.diff" 2>&1; then
  echo "check-proto: $gen is out of date with proto/ (diff: committed -> regenerated):" >&2
  head -n 200 "$tmp/drift.diff" >&2
  echo >&2
  echo "check-proto: FAILED: run 'pnpm gen' and commit packages/node/src/gen." >&2
  exit 1
fi
echo "check-proto: OK: $gen matches proto/"
