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

# shellcheck source=../run_harness.sh
source "$root/bench/run_harness.sh"
run_harness "$here/harness.py" "$binary" "${quick[@]}"
