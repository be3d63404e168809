#!/usr/bin/env bash
# On-CPU profile of a 3-node zk cluster under load, with Linux perf: where the CPU goes in
# each member and in the load generator, native code included (SQLite, nghttp2, the kernel).
#
#   bash scripts/bench/perf-profile.sh                        # put, 64 clients, spread
#   WORKLOAD=get CLIENTS=64 bash scripts/bench/perf-profile.sh
#   BENCH_ARGS="--connect leader" bash scripts/bench/perf-profile.sh
#
# Why next to profile.sh: a V8 .cpuprofile samples wall time on the JavaScript thread, so a
# transaction blocked in fsync counts as time in better-sqlite3 although no CPU is used, and
# native code shows only as the JavaScript function that called it. perf samples what is on a
# CPU. Needs `perf` (Debian: apt-get install linux-perf) and perf_event_paranoid <= 1 or root.
# The nodes and the load generator run with --perf-basic-prof (V8 writes /tmp/perf-PID.map so
# perf can name JIT frames; the maps are removed on exit). A warm-up run first (JIT), then
# `perf record -a -g` for PERF_SECONDS in the middle of the measured run; the summary is
# scripts/bench/perf-top.mts. Every process it starts is stopped by PID on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORKLOAD="${WORKLOAD:-put}"
CLIENTS="${CLIENTS:-64}"
PERF_SECONDS="${PERF_SECONDS:-4}"
HZ="${HZ:-999}"
BASE="${BASE_PORT:-27151}"
BENCH_ARGS="${BENCH_ARGS:---connect spread}"
OUT="${OUT:-$(mktemp -d /tmp/zk-perf.XXXXXX)}"
DATA="$(mktemp -d /tmp/zk-perf-data.XXXXXX)"
mkdir -p "$OUT"
log() { printf '[perf-profile] %s\n' "$*" >&2; }

command -v perf >/dev/null || { log "perf is not installed (Debian: apt-get install linux-perf)"; exit 2; }

PIDS=()
LOAD_PID=""
# shellcheck source=scripts/bench/pids.sh
source "$(dirname "${BASH_SOURCE[0]}")/pids.sh"
cleanup() {
  local all=("${PIDS[@]}")
  [ -n "$LOAD_PID" ] && all+=("$LOAD_PID")
  [ "${#all[@]}" -gt 0 ] && stop_pids TERM 150 "${all[@]}"
  for p in "${all[@]}"; do rm -f "/tmp/perf-$p.map"; done
  rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/bench/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
perf_flags() { echo --perf-basic-prof; }
start_nodes "$BASE" "$DATA" "$OUT" zk-perf perf_flags
zkcli() { node "$ROOT/packages/cli/bin/run.js" "$@"; }

log "waiting for a leader"
leader=$(wait_leader "$ENDPOINTS")
[ -n "$leader" ] || { log "no leader; see $OUT/n*.log"; exit 1; }

log "leader: $leader; warm-up: bench $WORKLOAD, $CLIENTS clients, 4 s"
# shellcheck disable=SC2086
zkcli bench "$WORKLOAD" --endpoints "$ENDPOINTS" --clients "$CLIENTS" --duration 4000 --warmup 500 $BENCH_ARGS >/dev/null

RUN_MS=$(( (PERF_SECONDS + 3) * 1000 ))
log "measured run: $RUN_MS ms; perf records ${PERF_SECONDS} s of it from the 1.5 s mark"
# shellcheck disable=SC2086
node --perf-basic-prof "$ROOT/packages/cli/bin/run.js" bench "$WORKLOAD" --endpoints "$ENDPOINTS" --clients "$CLIENTS" \
  --duration "$RUN_MS" --warmup 0 --json $BENCH_ARGS >"$OUT/bench.jsonl" 2>"$OUT/bench.err" &
LOAD_PID=$!
sleep 1.5
perf record -a -g -F "$HZ" -o "$OUT/perf.data" -- sleep "$PERF_SECONDS" 2>"$OUT/perf-record.txt" >/dev/null
wait "$LOAD_PID" || { log "the bench failed: $(tail -1 "$OUT/bench.err")"; exit 1; }
opsPerSec=$(tail -1 "$OUT/bench.jsonl" | node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>console.log(JSON.parse(s).opsPerSec))')
log "bench: $opsPerSec ops/s; resolving symbols"
perf script -i "$OUT/perf.data" -F tid,ip,sym,dso >"$OUT/perf.txt" 2>/dev/null

PROCS=()
for i in 1 2 3; do
  name="n$i"
  [ "$name" = "$leader" ] && name="n$i (leader)"
  PROCS+=(--proc "$name=${PIDS[$((i - 1))]}")
done
PROCS+=(--proc "load generator=$LOAD_PID")
"$ROOT/node_modules/.bin/tsx" "$ROOT/scripts/bench/perf-top.mts" "$OUT/perf.txt" --hz "$HZ" --seconds "$PERF_SECONDS" \
  --ops-per-sec "$opsPerSec" --top "${TOP:-20}" "${PROCS[@]}" | tee "$OUT/summary.txt"
log "perf.data, perf.txt (stacks), summary.txt and logs in $OUT"
