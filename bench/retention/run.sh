#!/usr/bin/env bash
# The retention job beside `find COPY -type f -mtime +7 -delete`, each on
# one of two identical trees of 1,000,000 sparse files (a tenth of them 30
# days old, the rest a day old; 1,000 files a folder): wall time and peak
# RSS, then a second pass on what is left (nothing due: the walk alone).
#
#   bench/retention/run.sh [--quick] [BUILD_DIR]
#
# BUILD_DIR (default build/) must hold daemon/jobsd. The full run takes a few
# minutes (most of it making and removing the trees) and some 2,000,000
# inodes of /tmp (the files are sparse: no data blocks); --quick (CI smoke)
# uses 20,000 files and fails only when something cannot run or the trees
# end up different. How each figure is measured: bench/retention/harness.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$(dirname "$here")")"
# shellcheck source=../run_harness.sh
source "$root/bench/run_harness.sh"
bench_arguments "${BASH_SOURCE[0]}" "--quick" "$@"
run_harness "$here/harness.py" "$binary" "${options[@]}"
