#!/usr/bin/env bash
# The sql_import job beside the sqlite3 CLI (.import + INSERT ... ON CONFLICT),
# psql (\copy + INSERT ... ON CONFLICT) on a real PostgreSQL 15, and the seed's
# Python script (a commit per row): 1,000,000 CSV rows, half of the keys
# already in the table with other values; rows/s and peak RSS.
#
#   bench/sql_import/run.sh [--quick] [--peers-only] [BUILD_DIR]
#
# BUILD_DIR (default build/) must hold daemon/jobsd (not with --peers-only,
# which measures the peers alone). The full run takes several minutes and
# about 1 GB of disk in the temp folder; --quick (CI smoke) uses 20,000 rows
# and fails only when something cannot run, a table is not what the data
# implies, or jobsd's table differs from the peer's. How each figure is
# measured: bench/sql_import/harness.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$(dirname "$here")")"
# shellcheck source=../run_harness.sh
source "$root/bench/run_harness.sh"
bench_arguments "${BASH_SOURCE[0]}" "--quick --peers-only" "$@"
# run_harness wants an executable; with --peers-only the harness never runs it.
if [[ " ${options[*]} " == *" --peers-only "* && ! -x "$binary" ]]; then
  binary=/bin/true
fi
run_harness "$here/harness.py" "$binary" "${options[@]}"
