#!/usr/bin/env bash
# The athena_postgres job's load beside psql's \copy + INSERT ... ON CONFLICT
# (the practical limit) and row-at-a-time inserts with a commit each, on a
# real PostgreSQL 15: 1,000,000 rows, half already in the table with other
# values; rows/s and peak RSS.
#
#   bench/athena_postgres/run.sh [--quick] [BUILD_DIR]
#
# BUILD_DIR (default build/) must hold daemon/jobsd. The full run takes a few
# minutes and about 2 GiB of memory (the fake Athena holds the table);
# --quick (CI smoke) uses 20,000 rows and fails only when something cannot
# run or the tables differ. How each figure is measured:
# bench/athena_postgres/harness.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$(dirname "$here")")"
# shellcheck source=../run_harness.sh
source "$root/bench/run_harness.sh"
bench_arguments "${BASH_SOURCE[0]}" "--quick" "$@"
run_harness "$here/harness.py" "$binary" "${options[@]}"
