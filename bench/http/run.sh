#!/usr/bin/env bash
# HTTP benchmark: jobsd's server under wrk beside Debian's nginx serving
# static files of the same bytes, in one run, while jobsd runs 1,000 jobs
# every second; prints req/s and latency p50/p99 of both, their ratio, and
# jobsd's schedule lateness (p50/p99/max, missed slots) during each load.
#
#   bench/http/run.sh [--smoke] [--jobs=N] [--seconds=S] [--no-auto]
#                     [--paths=/healthz,/metrics,/api/jobs] [PATH/TO/jobsd]
#
# Targets (issue 4): /healthz >= 20,000 req/s with p99 < 5 ms, and schedule
# lateness p99 < 5 ms while the load runs. The full run takes about 2.5
# minutes (six 20 s wrk runs). --smoke (CI, ctest label bench): 100 jobs,
# 2 s per wrk run, about 20 s; it fails only when something cannot run or
# answers wrongly (no answers, non-2xx), never because a machine is slow.
# Builds nothing: pass the daemon (default build/daemon/jobsd). Needs wrk and
# nginx (scripts/bootstrap installs them). How each figure is measured:
# bench/http/harness.py.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$(dirname "$here")")"
smoke=()
extra=()
binary=""
for arg in "$@"; do
  case "$arg" in
    --smoke | --quick) smoke=(--smoke) ;;
    --no-auto | --jobs=* | --seconds=* | --paths=*) extra+=("$arg") ;;
    -h | --help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
    *) binary="$arg" ;;
  esac
done
binary="${binary:-$root/build/daemon/jobsd}"

# shellcheck source=../run_harness.sh
source "$root/bench/run_harness.sh"
run_harness "$here/harness.py" "$binary" "${smoke[@]}" "${extra[@]}"
