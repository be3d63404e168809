#!/usr/bin/env bash
# zk next to etcd and ZooKeeper on this machine, same workload shapes, one table with ratios.
#
#   bash scripts/bench/compare.sh            # everything, medians of RUNS runs per shape
#   RUNS=5 DURATION_MS=5000 bash scripts/bench/compare.sh
#   SYSTEMS="zk" bash scripts/bench/compare.sh   # only zk (e.g. while tuning the daemon)
#   SYSTEMS="zookeeper zk zk-zkport" bash scripts/bench/compare.sh
#   SYSTEMS="zookeeper zk" ROUNDS=3 RUNS=1 bash scripts/bench/compare.sh   # systems in turn
#
# Installs etcd-server and zookeeper from Debian when missing (as root). Starts a 3-member
# etcd, a 3-member ZooKeeper and a 3-node zk cluster on 127.0.0.1, one system at a time (an
# idle system still costs CPU on a small machine), runs scripts/bench/load.mts against each,
# and prints the table (scripts/bench/report.mts). Systems: etcd, zookeeper, zk (through its
# gRPC API) and zk-zkport (the same zk cluster driven through its ZooKeeper port, --zk-listen,
# by load.mts's node-zookeeper-client driver, as ZooKeeper is). Every process it starts is stopped by PID
# on exit; nothing is killed by name. Results (JSON lines) and logs stay in $OUT.
#
# Shapes, as in issue 6: put with 1 client; put with 64 clients; linearizable get with 64
# clients (ZooKeeper and zk-zkport: sync + getData; these two also run plain getData with 64
# clients); leader kill -9 and the longest write gap (8 writers).
# Closed-loop clients, one request in flight each, one connection per client, 100-byte values.
# ROUNDS (default 1) repeats the whole sequence of systems, each on fresh data: with ROUNDS=3
# RUNS=1 ZooKeeper and zk take turns (ZooKeeper, zk, ZooKeeper, zk, ...), so a machine whose
# speed drifts during the invocation moves both systems' medians alike, and their ratio less.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUNS="${RUNS:-3}"
ROUNDS="${ROUNDS:-1}"
ROUND=1
FAILOVER_RUNS="${FAILOVER_RUNS:-$RUNS}"
DURATION_MS="${DURATION_MS:-3000}"
WARMUP_MS="${WARMUP_MS:-1000}"
SYSTEMS="${SYSTEMS:-etcd zookeeper zk zk-zkport}"
BASE="${BASE_PORT:-27000}"
OUT="${OUT:-$(mktemp -d /tmp/zk-compare.XXXXXX)}"
STEP_TIMEOUT_S="${STEP_TIMEOUT_S:-90}"
# Failover writers give up on a request after this long and send the next one (every system
# alike): otherwise a write stuck at a dead leader holds its writer for a whole deadline.
FAILOVER_TIMEOUT_MS="${FAILOVER_TIMEOUT_MS:-1000}"
TOTAL_BUDGET_S="${TOTAL_BUDGET_S:-900}"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
WORK="$(mktemp -d /tmp/zk-compare-data.XXXXXX)"
STARTED_AT=$SECONDS

log() { printf '[compare %3ds] %s\n' "$((SECONDS - STARTED_AT))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- processes, by PID ------------------------------------------------------------------------
PIDS=()
ZK_DIR="$WORK/zk"
# alive, stop_pids: SIGTERM, then SIGKILL after 3 s (the data dirs are temporary; an etcd leader stopped with
# its peers gone would otherwise spend seconds trying to hand over its leadership).
# shellcheck source=scripts/bench/pids.sh
source "$(dirname "${BASH_SOURCE[0]}")/pids.sh"
zk_manifest_pids() {
  [ -f "$ZK_DIR/cluster.json" ] || return 0
  node -e 'for (const n of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).nodes) console.log(n.pid)' "$ZK_DIR/cluster.json"
}
cleanup() {
  local code=$?
  local all=("${PIDS[@]}")
  [ -n "$LOAD_PID" ] && all+=("$LOAD_PID")
  mapfile -t zkpids < <(zk_manifest_pids || true)
  all+=("${zkpids[@]}")
  [ "${#all[@]}" -gt 0 ] && stop_pids TERM 30 "${all[@]}"
  rm -rf "$WORK"
  [ "$code" = 0 ] || log "failed (exit $code); logs and partial results in $OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Whole-run budget: a step that would start after it is skipped rather than overrun.
budget_left() { [ $((SECONDS - STARTED_AT)) -lt "$TOTAL_BUDGET_S" ]; }

# ---- prerequisites ------------------------------------------------------------------------------
install_incumbents() {
  local missing=()
  case " $SYSTEMS " in *" etcd "*) command -v etcd >/dev/null || missing+=(etcd-server) ;; esac
  case " $SYSTEMS " in *" zookeeper "*) [ -f /usr/share/java/zookeeper.jar ] || missing+=(zookeeper) ;; esac
  [ "${#missing[@]}" = 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}: install them (apt-get install -y ${missing[*]}) or run as root"
  log "installing ${missing[*]} from Debian"
  apt-get update -qq >"$OUT/apt.log" 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$OUT/apt.log" 2>&1 || die "apt-get install failed; see $OUT/apt.log"
}

build_zk() {
  if [ ! -d "$ROOT/node_modules" ] || [ ! -f "$ROOT/packages/cli/dist/zk-cli.cjs" ] || [ ! -f "$ROOT/packages/node/dist/main.js" ]; then
    log "installing and building the workspace (pnpm install)"
    (cd "$ROOT" && pnpm install --frozen-lockfile >"$OUT/pnpm.log" 2>&1) || die "pnpm install failed; see $OUT/pnpm.log"
  fi
}

TSX="$ROOT/node_modules/.bin/tsx"
# In the background and waited for, so that a signal is handled at once (bash runs a trap only
# after a foreground child ends); the cleanup stops it by PID.
LOAD_PID=""
load() {
  timeout "$STEP_TIMEOUT_S" "$TSX" "$ROOT/scripts/bench/load.mts" "$@" &
  LOAD_PID=$!
  local rc=0
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  return "$rc"
}

# ---- etcd ---------------------------------------------------------------------------------------
ETCD_CLIENT=("$((BASE + 1))" "$((BASE + 2))" "$((BASE + 3))")
ETCD_PEER=("$((BASE + 11))" "$((BASE + 12))" "$((BASE + 13))")
ETCD_PIDS=()
etcd_start_member() {
  local i=$1 cluster=""
  for j in 0 1 2; do cluster+="${cluster:+,}e$j=http://127.0.0.1:${ETCD_PEER[$j]}"; done
  etcd --name "e$i" --data-dir "$WORK/etcd/e$i" \
    --listen-client-urls "http://127.0.0.1:${ETCD_CLIENT[$i]}" --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token zk-compare \
    --logger zap --log-level warn >>"$OUT/etcd-e$i.log" 2>&1 &
  ETCD_PIDS[$i]=$!
  PIDS+=("$!")
  disown "$!" # no job notices; the kills are ours
}
etcd_endpoints() { echo "127.0.0.1:${ETCD_CLIENT[0]},127.0.0.1:${ETCD_CLIENT[1]},127.0.0.1:${ETCD_CLIENT[2]}"; }
etcd_pids() { (IFS=,; echo "${ETCD_PIDS[*]}"); }

# ---- ZooKeeper ----------------------------------------------------------------------------------
ZK_CLIENT=("$((BASE + 21))" "$((BASE + 22))" "$((BASE + 23))")
ZK_QUORUM=("$((BASE + 31))" "$((BASE + 32))" "$((BASE + 33))")
ZK_ELECT=("$((BASE + 41))" "$((BASE + 42))" "$((BASE + 43))")
ZOOKEEPER_PIDS=()
zookeeper_config() {
  local i=$1 dir="$WORK/zookeeper/z$i"
  mkdir -p "$dir/data"
  echo "$((i + 1))" >"$dir/data/myid"
  {
    # Debian's example zoo.cfg timings; fsync on (forceSync default), as etcd and zk do.
    echo "tickTime=2000"
    echo "initLimit=10"
    echo "syncLimit=5"
    echo "dataDir=$dir/data"
    echo "clientPortAddress=127.0.0.1"
    echo "clientPort=${ZK_CLIENT[$i]}"
    echo "maxClientCnxns=0"
    echo "admin.enableServer=false"
    echo "4lw.commands.whitelist=srvr,ruok"
    for j in 0 1 2; do echo "server.$((j + 1))=127.0.0.1:${ZK_QUORUM[$j]}:${ZK_ELECT[$j]}"; done
  } >"$dir/zoo.cfg"
}
zookeeper_start_member() {
  local i=$1 dir="$WORK/zookeeper/z$i"
  java -Xmx512m -cp "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar" \
    -Dzookeeper.log.dir="$dir" -Dzookeeper.admin.enableServer=false \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" >>"$OUT/zookeeper-z$i.log" 2>&1 &
  ZOOKEEPER_PIDS[$i]=$!
  PIDS+=("$!")
  disown "$!"
}
zookeeper_endpoints() { echo "127.0.0.1:${ZK_CLIENT[0]},127.0.0.1:${ZK_CLIENT[1]},127.0.0.1:${ZK_CLIENT[2]}"; }
zookeeper_pids() { (IFS=,; echo "${ZOOKEEPER_PIDS[*]}"); }

# ---- zk -----------------------------------------------------------------------------------------
ZK_BASE=$((BASE + 51))
zkcli() { node "$ROOT/packages/cli/bin/run.js" "$@" --dir "$ZK_DIR"; }
zk_endpoints() { echo "127.0.0.1:$ZK_BASE,127.0.0.1:$((ZK_BASE + 1)),127.0.0.1:$((ZK_BASE + 2))"; }
zk_pids() { zk_manifest_pids | paste -sd, -; }
# zk-zkport: the same cluster, its nodes' ZooKeeper ports (zkAddress in `cluster status --json`,
# in the manifest's node order so that they line up with zk_pids; base port + 100 if absent).
zk_zkport_endpoints() {
  local status
  status=$(zkcli cluster status --json 2>/dev/null) || status=""
  node -e '
    const [manifest, status, base] = [process.argv[1], process.argv[2], Number(process.argv[3])];
    const byId = new Map();
    for (const l of status.split("\n")) { try { const r = JSON.parse(l); if (r.id && r.zkAddress) byId.set(r.id, r.zkAddress); } catch {} }
    const nodes = JSON.parse(require("fs").readFileSync(manifest, "utf8")).nodes;
    console.log(nodes.map((n, i) => byId.get(n.id) ?? n.zkAddress ?? `127.0.0.1:${base + 100 + i}`).join(","));' \
    "$ZK_DIR/cluster.json" "$status" "$ZK_BASE"
}
zk_zkport_pids() { zk_pids; }

# ---- running one system -------------------------------------------------------------------------
system_up() {
  case $1 in
    etcd) for i in 0 1 2; do etcd_start_member "$i"; done ;;
    zookeeper) for i in 0 1 2; do zookeeper_config "$i"; zookeeper_start_member "$i"; done ;;
    # A fresh cluster (own dir) for each: zk-zkport does not inherit zk's keys and log.
    zk | zk-zkport) ZK_DIR="$WORK/$1-$ROUND"; zkcli cluster up --detach --base-port "$ZK_BASE" >"$OUT/$1-up.log" 2>&1 || die "$1: zk cluster up failed; see $OUT/$1-up.log" ;;
  esac
}
system_down() {
  case $1 in
    etcd) stop_pids TERM 30 "${ETCD_PIDS[@]}" ;;
    zookeeper) stop_pids TERM 30 "${ZOOKEEPER_PIDS[@]}" ;;
    zk | zk-zkport) zkcli cluster down >/dev/null 2>&1 || true; mapfile -t p < <(zk_manifest_pids); stop_pids TERM 30 "${p[@]}" ;;
  esac
}
restart_member() {
  local sys=$1 i=$2
  case $sys in
    etcd) etcd_start_member "$i" ;;
    zookeeper) zookeeper_start_member "$i" ;;
    zk | zk-zkport) zkcli cluster start "n$((i + 1))" >/dev/null ;;
  esac
}

run_system() {
  local sys=$1 eps pids fn=${1//-/_} first=$(((ROUND - 1) * RUNS))
  log "$sys: starting 3 members (round $ROUND/$ROUNDS)"
  system_up "$sys"
  eps=$("${fn}_endpoints")
  load --system "$sys" --endpoints "$eps" --shape ready >/dev/null || die "$sys did not become ready; see $OUT"
  pids=$("${fn}_pids")
  local common=(--system "$sys" --endpoints "$eps" --pids "$pids" --duration "$DURATION_MS" --warmup "$WARMUP_MS")
  # Unmeasured: warms the servers' JIT (V8, HotSpot) and caches before the first measured run.
  log "$sys: warming up"
  load --system "$sys" --endpoints "$eps" --shape put --clients 64 --duration 2000 --warmup 0 --label warmup >/dev/null || true
  # The last shapes are extra: every client on the leader (no forwarding through followers);
  # one client on a follower (put ×1 spread is on the first member, which leads in some
  # rounds and not in others, and ZooKeeper's leader is usually the last); plain getData (no
  # sync) where the driver speaks ZooKeeper's protocol.
  local shapes=("put 1 spread" "put 64 spread" "get 64 spread" "put 64 leader" "put 1 follower")
  case $sys in zookeeper | zk-zkport) shapes+=("getdata 64 spread") ;; esac
  for shape in "${shapes[@]}"; do
    set -- $shape
    for r in $(seq 1 "$RUNS"); do
      budget_left || { log "time budget spent; skipping the rest of $sys"; break 2; }
      log "$sys: $1 with $2 clients ($3), run $r/$RUNS of round $ROUND/$ROUNDS"
      load "${common[@]}" --shape "$1" --clients "$2" --connect "$3" --run "$((first + r))" >>"$RESULTS" || log "$sys $1 $2 $3 run $r failed"
    done
  done
  for r in $(seq 1 "$FAILOVER_RUNS"); do
    budget_left || { log "time budget spent; skipping $sys failover"; break; }
    log "$sys: leader kill -9, run $r/$FAILOVER_RUNS"
    pids=$("${fn}_pids")
    local line file="$OUT/$sys-failover-$ROUND-$r.json"
    load --system "$sys" --endpoints "$eps" --pids "$pids" --shape failover --clients 8 --timeout "$FAILOVER_TIMEOUT_MS" --run "$((first + r))" >"$file" || { log "$sys failover run $r failed"; break; }
    line=$(cat "$file")
    echo "$line" >>"$RESULTS"
    local killed
    killed=$(node -e 'console.log(JSON.parse(process.argv[1]).killedIndex)' "$line")
    restart_member "$sys" "$killed"
    load --system "$sys" --endpoints "$eps" --shape ready >/dev/null || die "$sys did not recover after the failover run; see $OUT"
  done
  log "$sys: stopping"
  system_down "$sys"
  # The next round starts this system on fresh data (zk's dirs are per round already).
  case $sys in etcd | zookeeper) rm -rf "${WORK:?}/$sys" ;; esac
}

machine() {
  node -e '
    const os = require("os");
    const v = (cmd) => { try { return require("child_process").execSync(cmd, { stdio: ["ignore", "pipe", "ignore"] }).toString().trim(); } catch { return null; } };
    console.log(JSON.stringify({ machine: true, nproc: os.cpus().length, cpu: os.cpus()[0]?.model ?? "", memGiB: Math.round(os.totalmem() / 2 ** 30),
      kernel: os.release(), node: process.version, loadavg: os.loadavg().map((x) => x.toFixed(2)).join(" "),
      etcd: v("etcd --version | head -1"), zookeeper: v("dpkg-query -W -f=\"\\${Version}\" zookeeper"), java: v("java -version 2>&1 | head -1"),
      date: new Date().toISOString() }));'
}

install_incumbents
build_zk
machine >>"$RESULTS"
for ROUND in $(seq 1 "$ROUNDS"); do
  for sys in $SYSTEMS; do run_system "$sys"; done
done
node -e 'console.log(JSON.stringify({ machine: "end", loadavg: require("os").loadavg().map((x) => x.toFixed(2)).join(" ") }))' >>"$RESULTS"
"$TSX" "$ROOT/scripts/bench/report.mts" "$RESULTS" | tee "$OUT/table.md"
log "done in $((SECONDS - STARTED_AT)) s; results in $RESULTS"
