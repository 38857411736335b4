#!/usr/bin/env bash
# The backup job beside `sqlite3 db ".backup x" && zstd -3 x` on the same
# SQLite database of about 2 GiB: wall time, peak RSS, stored size.
#
#   bench/backup/run.sh [--quick] [BUILD_DIR]
#
# BUILD_DIR (default build/) must hold daemon/jobsd. The full run takes a few
# minutes and about 5 GiB of /tmp; --quick (CI smoke) uses 20 MiB and fails
# only when something cannot run. How each figure is measured:
# bench/backup/harness.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$(dirname "$here")")"
# shellcheck source=../run_harness.sh
source "$root/bench/run_harness.sh"
bench_arguments "${BASH_SOURCE[0]}" "--quick" "$@"
run_harness "$here/harness.py" "$binary" "${options[@]}"
