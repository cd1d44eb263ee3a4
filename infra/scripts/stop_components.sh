# Sourced by scripts that run long-lived components as background jobs: `stop_components PID...` asks them
# to stop (SIGTERM), and escalates when one does not stop in time. Airflow's scheduler can hang in its
# LocalExecutor's shutdown while it waits for its workers (apache/airflow#67870; its log then says "signal
# again if you don't want to wait"), so one Ctrl-C must not rely on every component stopping cleanly:
# after LAKEHOUSE_STOP_GRACE_S (30) the components and their descendants get SIGTERM again, and after as
# long again SIGKILL.

descendants() {  # every descendant of $1, deepest first
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    descendants "$child"
    echo "$child"
  done
}

signal_trees() {  # signal_trees SIGNAL PID...: each PID and all its descendants
  local sig=$1 pid
  shift
  local all=()
  for pid in "$@"; do
    all+=($(descendants "$pid") "$pid")
  done
  [ ${#all[@]} -eq 0 ] || kill -"$sig" "${all[@]}" 2>/dev/null || true
}

alive() {  # $1 exists and is not a zombie (a killed orphan stays a zombie until its new parent reaps it)
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$state" ] && [ "${state#Z}" = "$state" ]
}

any_alive() {  # any of the PIDs, or a descendant of one, still running
  local pid child
  for pid in "$@"; do
    alive "$pid" && return 0
    for child in $(descendants "$pid"); do
      alive "$child" && return 0
    done
  done
  return 1
}

wait_until_stopped() {  # wait_until_stopped SECONDS PID...: 0 once none is alive, 1 on timeout
  local left=$1
  shift
  while any_alive "$@"; do
    [ "$left" -gt 0 ] || return 1
    sleep 1
    left=$((left - 1))
  done
}

stop_components() {  # stop_components PID...
  local grace="${LAKEHOUSE_STOP_GRACE_S:-30}" pid
  # The descendants as they are now too: a worker whose parent exits is reparented, and must still stop.
  local tree=()
  for pid in "$@"; do
    tree+=($(descendants "$pid"))
  done
  kill -TERM "$@" 2>/dev/null || true
  if ! wait_until_stopped "$grace" "$@" "${tree[@]}"; then
    echo "still running after ${grace} s: signalling again" >&2
    signal_trees TERM "$@" "${tree[@]}"
    if ! wait_until_stopped "$grace" "$@" "${tree[@]}"; then
      echo "still running: killing" >&2
      signal_trees KILL "$@" "${tree[@]}"
      # SIGKILL is delivered asynchronously: return only once the killed processes are gone, so that the
      # caller (and a test) never sees a worker still running after stop_components.
      wait_until_stopped "$grace" "$@" "${tree[@]}" || echo "still running after SIGKILL" >&2
    fi
  fi
  wait "$@" 2>/dev/null || true
}
