# Shared by profile.sh and perf-profile.sh: a 3-node zk cluster of bare zk-node processes on
# 127.0.0.1, each under `node` with the flags the profiler needs. Source it after pids.sh;
# the caller stops PIDS on exit (by PID only).

# start_nodes BASE_PORT DATA_DIR LOG_DIR CLUSTER_ID NODE_FLAGS_FN [ZK_FLAGS_FN]: start n1..n3
# with ports from BASE_PORT; `NODE_FLAGS_FN i` prints node's own flags for member i and
# `ZK_FLAGS_FN i` zk-node's extra flags (one per line each).
# Sets EPS (addresses), ENDPOINTS (comma-separated) and appends to PIDS.
start_nodes() {
  local base=$1 data=$2 logs=$3 cluster=$4 flags_fn=$5 zk_flags_fn=${6:-} i peers=""
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  EPS=()
  for i in 1 2 3; do
    EPS+=("127.0.0.1:$((base + i - 1))")
    peers+="${peers:+,}n$i=127.0.0.1:$((base + i - 1))"
  done
  for i in 1 2 3; do
    local flags=() zk_flags=()
    mapfile -t flags < <("$flags_fn" "$i")
    [ -n "$zk_flags_fn" ] && mapfile -t zk_flags < <("$zk_flags_fn" "$i")
    node "${flags[@]}" "$root/packages/node/bin/zk-node.js" \
      --id "n$i" --listen "${EPS[$((i - 1))]}" --peers "$peers" --data-dir "$data/n$i" --cluster-id "$cluster" --log-level warn --initial-cluster "${zk_flags[@]}" \
      >"$logs/n$i.log" 2>&1 &
    PIDS+=("$!")
    disown "$!"
  done
  ENDPOINTS=$(IFS=,; echo "${EPS[*]}")
}

# wait_leader ENDPOINTS: print the leader's id once every member is reachable and agrees on
# it (up to 20 s); print nothing if that never happens.
wait_leader() {
  local root leader=""
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  for _ in $(seq 1 100); do
    leader=$(node "$root/packages/cli/bin/run.js" status --json --endpoints "$1" 2>/dev/null | node -e '
      let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
        const rows = s.split("\n").filter(Boolean).map((l) => JSON.parse(l));
        const l = rows.find((r) => r.role === "leader");
        if (l && rows.every((r) => r.reachable && r.leader === l.id)) console.log(l.id);
      });') || true
    [ -n "$leader" ] && break
    sleep 0.2
  done
  echo "$leader"
}
