#!/usr/bin/env bash
# Snapshot and compaction numbers, in one process on real store files (no cluster, no ports):
# database size over many writes with and without compaction, the longest compaction step,
# and snapshot create / verify / install times for a state of about STATE_MB.
#
#   bash scripts/bench/snapshot.sh
#   WRITES=1000000 STATE_MB=100 bash scripts/bench/snapshot.sh
#
# Settings (environment): WRITES, VALUE_BYTES, KEYS, SNAPSHOT_ENTRIES, RETAIN_ENTRIES, STATE_MB,
# DIR (kept when given). See packages/node/scripts/bench-snapshot.ts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT/packages/node"
exec node --import tsx scripts/bench-snapshot.ts
