#!/usr/bin/env bash
# The openaq job beside its Python peer (requests + per-location JSON files),
# both fetching from the fake OpenAQ on loopback without rate limits:
#   first load of 1,000,000 measurements over 20 sensors: records/s, peak RSS
#   incremental +1,000 records on a 100k and a 1M history (10M with
#   --ten-million, jobsd only)
#
#   bench/openaq/run.sh [--quick] [--ten-million] [--peer-sleep=S] [BUILD_DIR]
#
# BUILD_DIR (default build/) must hold daemon/jobsd and tests/fakes/fake_openaq.
# The peer runs twice per row: without a sleep and with a fixed sleep of S
# seconds between requests (default 0.1; 0 skips that run). The full run takes
# about three minutes, two of them the sleeping peer; --quick (CI smoke) uses
# 20,000 records and fails only when something cannot run or the data is
# incomplete. How each figure is measured: bench/openaq/harness.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$(dirname "$here")")"
options=()
build="$root/build"
for arg in "$@"; do
  case "$arg" in
    --quick | --ten-million) options+=("$arg") ;;
    --peer-sleep=*) options+=(--peer-sleep "${arg#*=}") ;;
    -h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
    *) build="$arg" ;;
  esac
done
for binary in "$build/daemon/jobsd" "$build/tests/fakes/fake_openaq"; do
  if [[ ! -x "$binary" ]]; then
    echo "run.sh: no $binary; build it first (scripts/build)" >&2
    exit 2
  fi
done
exec /usr/bin/python3 "$here/harness.py" --jobsd "$build/daemon/jobsd" \
  --fake "$build/tests/fakes/fake_openaq" "${options[@]}"
