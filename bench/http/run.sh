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
python=/usr/bin/python3

if [[ ! -x "$binary" ]]; then
  echo "run.sh: no jobsd binary at $binary" >&2
  echo "  build it: cmake --build build --target jobsd (or pass its path)" >&2
  exit 2
fi
if [[ ! -x "$python" ]]; then
  echo "run.sh: $python is missing (the harness runs on Debian's python3)" >&2
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
"$python" "$here/harness.py" --jobsd "$binary" --work "$work" "${smoke[@]}" "${extra[@]}" &
harness=$!
status=0
wait "$harness" || status=$?
harness=""
exit "$status"
