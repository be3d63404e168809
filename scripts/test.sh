#!/usr/bin/env bash
# The whole test suite, as `pnpm test` and CI run it: generated code in sync with proto/,
# types, a fresh build (end-to-end tests run the compiled zk-node and zk-cli), then every
# test file of every package in ONE node:test run, so the closing lines count them all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/check-proto.sh
pnpm -r run typecheck
pnpm -r run build
mapfile -t files < <(find packages/*/test -name '*.test.ts' | sort)
# One file at a time: the end-to-end files each run real clusters, and this machine has 2 cores.
exec node --import tsx --test --test-reporter=spec --test-concurrency=1 "${files[@]}"
