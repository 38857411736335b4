#!/usr/bin/env bash
# Scheduler benchmark: jobsd vs APScheduler 3.9 (BackgroundScheduler, 10
# threads), the same workloads in one run, printed as one table with the
# ratio per figure and each target, met or not:
#   1 staggered  10,000 jobs every 1s with jitter 999ms, 60 s: lateness
#                p50/p99/max, missed slots, CPU, peak RSS
#   2 herd       10,000 jobs every 1s all due at the same instant, 60 s
#   3 cron       100,000 jobs on */5 * * * *: start -> ready, peak RSS
#   4 idle       etc/jobsd.yaml (state moved to a temp dir), 60 s: CPU, RSS
#
#   bench/scheduler/run.sh [--quick] [PATH/TO/jobsd]
#
# Builds nothing: pass the daemon (default build/daemon/jobsd). The peer runs
# on Debian's /usr/bin/python3 (python3-apscheduler); without it the peer
# column is n/a. The full run takes about 6 minutes. --quick (CI smoke): 1,000
# jobs for 5 s per row, 10,000 cron jobs, 5 s idle, well under a minute; it
# fails only when something cannot run (the daemon does not start or stop, the
# peer crashes), never because a machine is slow. How each figure is measured:
# bench/scheduler/harness.py.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$(dirname "$here")")"
quick=()
binary=""
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    -h | --help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
    *) binary="$arg" ;;
  esac
done
binary="${binary:-$root/build/daemon/jobsd}"
python=/usr/bin/python3

if [[ ! -x "$binary" ]]; then
  echo "run.sh: no jobsd binary at $binary" >&2
  echo "  build it: cmake --build build --target jobsd (or pass its path)" >&2
  exit 2
fi
if [[ ! -x "$python" ]]; then
  echo "run.sh: $python is missing (the harness and the peer run on Debian's python3)" >&2
  exit 2
fi
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"

work="$(mktemp -d)"
harness=""
cleanup() {
  # The harness stops its children itself; whatever it left (it was killed)
  # is listed in $work/pids and killed here, one by one.
  if [[ -n "$harness" ]] && kill -0 "$harness" 2>/dev/null; then
    kill "$harness" 2>/dev/null || true
    wait "$harness" 2>/dev/null || true
  fi
  if [[ -f "$work/pids" ]]; then
    while read -r pid; do
      [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null || true
    done <"$work/pids"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# In the background so that a signal reaches the trap at once.
"$python" "$here/harness.py" --jobsd "$binary" --work "$work" "${quick[@]}" &
harness=$!
status=0
wait "$harness" || status=$?
harness=""
exit "$status"
