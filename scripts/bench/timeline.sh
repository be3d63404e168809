#!/usr/bin/env bash
# Where a write's time goes: a fresh 3-node zk cluster traces every Nth log slot (zk-node
# --trace-file, --trace-every), a `zk-cli bench` run loads it, the nodes are stopped and
# scripts/bench/timeline.mts prints each step's median and p90 (hops between nodes, each
# node's write, the wait for a quorum, the apply). The nodes share CLOCK_MONOTONIC, so a hop is
# one node's timestamp minus another's.
#
#   bash scripts/bench/timeline.sh                                   # 1 client on the leader
#   CLIENTS=64 BENCH_ARGS="--connect spread" bash scripts/bench/timeline.sh
#   NODE_ARGS="--fsync-off-loop" bash scripts/bench/timeline.sh
#
# Trace files and logs stay in $OUT. Every process it starts is stopped by PID on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLIENTS="${CLIENTS:-1}"
DURATION_MS="${DURATION_MS:-5000}"
WARMUP_MS="${WARMUP_MS:-1000}"
EVERY="${EVERY:-16}"
BASE="${BASE_PORT:-27131}"
BENCH_ARGS="${BENCH_ARGS:---connect leader}"
NODE_ARGS="${NODE_ARGS:-}"
OUT="${OUT:-$(mktemp -d /tmp/zk-timeline.XXXXXX)}"
DATA="$(mktemp -d /tmp/zk-timeline-data.XXXXXX)"
mkdir -p "$OUT"
log() { printf '[timeline] %s\n' "$*" >&2; }

PIDS=()
# shellcheck source=scripts/bench/pids.sh
source "$(dirname "${BASH_SOURCE[0]}")/pids.sh"
cleanup() {
  [ "${#PIDS[@]}" -gt 0 ] && stop_pids TERM 150 "${PIDS[@]}"
  rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/bench/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
no_node_flags() { :; }
# zk-node's flags for member $1: its own trace file, then NODE_ARGS.
traced() {
  rm -f "$OUT/n$1.trace"
  printf '%s\n' --trace-file "$OUT/n$1.trace" --trace-every "$EVERY"
  # shellcheck disable=SC2086
  [ -n "$NODE_ARGS" ] && printf '%s\n' $NODE_ARGS
  return 0
}
start_nodes "$BASE" "$DATA" "$OUT" zk-timeline no_node_flags traced
log "waiting for a leader"
leader=$(wait_leader "$ENDPOINTS")
[ -n "$leader" ] || { log "no leader; see $OUT/n*.log"; exit 1; }
log "leader: $leader; bench put, $CLIENTS clients, $DURATION_MS ms, every ${EVERY}th slot traced"
# shellcheck disable=SC2086
node "$ROOT/packages/cli/bin/run.js" bench put --endpoints "$ENDPOINTS" --clients "$CLIENTS" --duration "$DURATION_MS" --warmup "$WARMUP_MS" $BENCH_ARGS | tee "$OUT/bench.txt"
log "stopping the nodes (they write the rest of their traces)"
stop_pids TERM 150 "${PIDS[@]}"
PIDS=()
"$ROOT/node_modules/.bin/tsx" "$ROOT/scripts/bench/timeline.mts" "$OUT"/n1.trace "$OUT"/n2.trace "$OUT"/n3.trace | tee "$OUT/timeline.txt"
log "traces and logs in $OUT"
