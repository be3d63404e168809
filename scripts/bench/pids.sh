# Shared by compare.sh and profile.sh: stop processes this script started, by PID only.
# Source it; never kill by name.

# True while the process exists and is not a zombie.
alive() { [ -r "/proc/$1/stat" ] && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null; }

# stop_pids SIGNAL WAIT_DECISECONDS PID...: send SIGNAL, wait up to WAIT_DECISECONDS tenths
# of a second for every PID to exit, then SIGKILL the rest.
stop_pids() {
  local sig=$1 wait_ds=$2 p
  shift 2
  for p in "$@"; do alive "$p" && kill "-$sig" "$p" 2>/dev/null || true; done
  for _ in $(seq 1 "$wait_ds"); do
    local any=0
    for p in "$@"; do alive "$p" && any=1; done
    [ "$any" = 0 ] && return 0
    sleep 0.1
  done
  for p in "$@"; do alive "$p" && kill -KILL "$p" 2>/dev/null || true; done
}
