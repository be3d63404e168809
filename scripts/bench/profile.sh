#!/usr/bin/env bash
# CPU profiles of a 3-node zk cluster under load: each node runs under `node --cpu-prof`, a
# `zk-cli bench` run loads it, then every node is stopped with SIGINT (so V8 writes its
# profile) and scripts/bench/profile-top.mts prints the leader's heaviest functions.
#
#   bash scripts/bench/profile.sh                       # 64-client put, 10 s, leader first
#   WORKLOAD=get CLIENTS=64 DURATION_MS=5000 bash scripts/bench/profile.sh
#   BENCH_ARGS="--connect spread" bash scripts/bench/profile.sh
#
# Profiles (*.cpuprofile, loadable in Chrome DevTools or speedscope) and logs stay in $OUT.
# Every process it starts is stopped by PID on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORKLOAD="${WORKLOAD:-put}"
CLIENTS="${CLIENTS:-64}"
DURATION_MS="${DURATION_MS:-10000}"
WARMUP_MS="${WARMUP_MS:-2000}"
BASE="${BASE_PORT:-27101}"
BENCH_ARGS="${BENCH_ARGS:-}"
OUT="${OUT:-$(mktemp -d /tmp/zk-profile.XXXXXX)}"
DATA="$(mktemp -d /tmp/zk-profile-data.XXXXXX)"
mkdir -p "$OUT"
log() { printf '[profile] %s\n' "$*" >&2; }

PIDS=()
# shellcheck source=scripts/bench/pids.sh
source "$(dirname "${BASH_SOURCE[0]}")/pids.sh"
stop_all() { stop_pids "$1" 150 "${PIDS[@]}"; }
cleanup() {
  [ "${#PIDS[@]}" -gt 0 ] && stop_all TERM
  rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/bench/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
cpu_prof_flags() { printf '%s\n' --cpu-prof "--cpu-prof-dir=$OUT/n$1"; }
start_nodes "$BASE" "$DATA" "$OUT" zk-profile cpu_prof_flags
zkcli() { node "$ROOT/packages/cli/bin/run.js" "$@"; }

log "waiting for a leader"
leader=$(wait_leader "$ENDPOINTS")
[ -n "$leader" ] || { log "no leader; see $OUT/n*.log"; exit 1; }
log "leader: $leader; running bench $WORKLOAD with $CLIENTS clients for $DURATION_MS ms"
# shellcheck disable=SC2086
zkcli bench "$WORKLOAD" --endpoints "$ENDPOINTS" --clients "$CLIENTS" --duration "$DURATION_MS" --warmup "$WARMUP_MS" $BENCH_ARGS | tee "$OUT/bench.txt"

log "stopping the nodes with SIGINT (V8 writes the profiles)"
stop_all INT
PIDS=()
for i in 1 2 3; do
  prof=$(ls "$OUT/n$i"/*.cpuprofile 2>/dev/null | head -1 || true)
  [ -n "$prof" ] || { log "n$i wrote no profile"; continue; }
  mv "$prof" "$OUT/n$i.cpuprofile"
  rmdir "$OUT/n$i" 2>/dev/null || true
done
echo
echo "== leader $leader =="
"$ROOT/node_modules/.bin/tsx" "$ROOT/scripts/bench/profile-top.mts" "$OUT/$leader.cpuprofile" --top "${TOP:-30}" | tee "$OUT/$leader.top.txt"
for i in 1 2 3; do
  [ "n$i" = "$leader" ] && continue
  [ -f "$OUT/n$i.cpuprofile" ] && "$ROOT/node_modules/.bin/tsx" "$ROOT/scripts/bench/profile-top.mts" "$OUT/n$i.cpuprofile" --top 15 >"$OUT/n$i.top.txt"
done
log "profiles and summaries in $OUT (followers: n*.top.txt)"
