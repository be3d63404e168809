#!/usr/bin/env bash
# Two builds of zk-node side by side, in turn (A B B A ...), each run on a fresh 3-node
# cluster: the way to tell a change of the daemon from this machine's noise. A and B are
# copies of packages/node/dist (e.g. `cp -r packages/node/dist /tmp/distA` before the change,
# /tmp/distB after); each is copied into packages/node/dist for its runs, and the build that
# was there is put back on exit.
#
#   DIST_A=/tmp/distA DIST_B=/tmp/distB bash scripts/bench/abba.sh
#   PAIRS=4 SHAPES="put:1:follower put:64:spread" DURATION_MS=5000 bash scripts/bench/abba.sh
#   FLAGS_B="--tree-in-memory" bash scripts/bench/abba.sh   # one build (the current dist), two flag sets
#
# DIST_A and DIST_B default to the current packages/node/dist; FLAGS_A and FLAGS_B are extra
# zk-node flags for each variant's members (space-separated), NODE_FLAGS_A and NODE_FLAGS_B
# flags for the `node` that runs them (V8's, e.g. NODE_FLAGS_B="--max-semi-space-size=32").
# SHAPES: shape:clients:connect for scripts/bench/load.mts (put|get, spread|leader|follower).
# Prints one line per run and, at the end, the median ops/s, p50, p99 and server CPU a write
# of each build and shape. Raw JSON lines stay in $OUT/runs.jsonl. Every process it starts is
# stopped by PID on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The build in packages/node/dist now: put back on exit, and each variant's default.
SAVED="$(mktemp -d /tmp/zk-abba-dist.XXXXXX)"
cp -r "$ROOT/packages/node/dist/." "$SAVED/"
DIST_A="${DIST_A:-$SAVED}"
DIST_B="${DIST_B:-$SAVED}"
FLAGS_A="${FLAGS_A:-}"
FLAGS_B="${FLAGS_B:-}"
NODE_FLAGS_A="${NODE_FLAGS_A:-}"
NODE_FLAGS_B="${NODE_FLAGS_B:-}"
PAIRS="${PAIRS:-3}"
SHAPES="${SHAPES:-put:1:follower put:1:leader put:64:spread}"
DURATION_MS="${DURATION_MS:-5000}"
WARMUP_MS="${WARMUP_MS:-1500}"
BASE="${BASE_PORT:-27301}"
OUT="${OUT:-$(mktemp -d /tmp/zk-abba.XXXXXX)}"
mkdir -p "$OUT"
log() { printf '[abba] %s\n' "$*" >&2; }
PIDS=()
DATA=""
# shellcheck source=scripts/bench/pids.sh
source "$(dirname "${BASH_SOURCE[0]}")/pids.sh"
# shellcheck source=scripts/bench/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
cleanup() {
  [ "${#PIDS[@]}" -gt 0 ] && stop_pids TERM 150 "${PIDS[@]}"
  [ -n "$DATA" ] && rm -rf "$DATA"
  rm -rf "$ROOT/packages/node/dist" && cp -r "$SAVED" "$ROOT/packages/node/dist" && rm -rf "$SAVED"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for d in "$DIST_A" "$DIST_B"; do [ -f "$d/main.js" ] || { log "$d has no main.js: not a copy of packages/node/dist"; exit 2; }; done
# Each argument on a line of its own (start_nodes reads flags that way).
one_per_line() { [ "$#" -eq 0 ] || printf '%s\n' "$@"; }
# The variant's flags for node itself, and its extra zk-node flags (word-split on purpose).
# shellcheck disable=SC2086
variant_node_flags() { one_per_line $VARIANT_NODE_FLAGS; }
# shellcheck disable=SC2086
variant_flags() { one_per_line $VARIANT_FLAGS; }

order=()
for _ in $(seq 1 "$PAIRS"); do order+=(A B B A); done
run=0
for v in "${order[@]}"; do
  run=$((run + 1))
  src=$DIST_A
  VARIANT_FLAGS=$FLAGS_A
  VARIANT_NODE_FLAGS=$NODE_FLAGS_A
  [ "$v" = B ] && src=$DIST_B && VARIANT_FLAGS=$FLAGS_B && VARIANT_NODE_FLAGS=$NODE_FLAGS_B
  rm -rf "$ROOT/packages/node/dist" && cp -r "$src" "$ROOT/packages/node/dist"
  DATA="$(mktemp -d /tmp/zk-abba-data.XXXXXX)"
  start_nodes "$BASE" "$DATA" "$OUT" "zk-abba-$run" variant_node_flags variant_flags
  leader=$(wait_leader "$ENDPOINTS")
  if [ -z "$leader" ]; then log "run $run ($v): no leader; see $OUT/n*.log"; exit 1; fi
  pids=$(IFS=,; echo "${PIDS[*]}")
  for s in $SHAPES; do
    IFS=: read -r shape clients connect <<<"$s"
    line=$("$ROOT/node_modules/.bin/tsx" "$ROOT/scripts/bench/load.mts" --system zk --endpoints "$ENDPOINTS" --shape "$shape" \
      --clients "$clients" --connect "$connect" --duration "$DURATION_MS" --warmup "$WARMUP_MS" --pids "$pids" --label "$v" --run "$run")
    printf '%s\n' "$line" | node -e '
      const [v, s] = process.argv.slice(1); let t = "";
      process.stdin.on("data", (d) => (t += d)).on("end", () => {
        const r = JSON.parse(t); r.variant = v; r.shapeName = s; console.log(JSON.stringify(r));
      });' "$v" "$s" >>"$OUT/runs.jsonl"
    tail -1 "$OUT/runs.jsonl" | node -e '
      let t = ""; process.stdin.on("data", (d) => (t += d)).on("end", () => {
        const r = JSON.parse(t);
        console.log(`${r.variant} ${r.shapeName.padEnd(16)} ${String(r.opsPerSec).padStart(6)}/s p50 ${r.latencyMs.p50} ms p99 ${r.latencyMs.p99} ms cpu ${r.serverCpuUsPerOp} us/op errors ${r.errorCount}`);
      });'
  done
  stop_pids TERM 150 "${PIDS[@]}"
  PIDS=()
  rm -rf "$DATA"
  DATA=""
done

echo "== medians ($PAIRS pairs, $OUT/runs.jsonl) =="
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
  for (const shape of [...new Set(rows.map((r) => r.shapeName))]) {
    const by = (v) => rows.filter((r) => r.shapeName === shape && r.variant === v);
    const m = (v, f) => Math.round(med(by(v).map(f)) * 100) / 100;
    const a = m("A", (r) => r.opsPerSec), b = m("B", (r) => r.opsPerSec);
    const wins = by("B").filter((r, i) => by("A")[i] && r.opsPerSec > by("A")[i].opsPerSec).length;
    console.log(`${shape.padEnd(16)} A ${a}/s p50 ${m("A", (r) => r.latencyMs.p50)} p99 ${m("A", (r) => r.latencyMs.p99)} cpu ${m("A", (r) => r.serverCpuUsPerOp)} | B ${b}/s p50 ${m("B", (r) => r.latencyMs.p50)} p99 ${m("B", (r) => r.latencyMs.p99)} cpu ${m("B", (r) => r.serverCpuUsPerOp)} | B/A ${(b / a).toFixed(3)} (B faster in ${wins} of ${by("B").length})`);
  }' "$OUT/runs.jsonl"
