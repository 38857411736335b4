#!/usr/bin/env bash
# The github_artifact job beside `curl -L` + `unzip -o`, both taking the
# artifact from the fake GitHub on loopback: a 1 GiB artifact of 4
# incompressible files and one of 100,000 small files; wall time and peak RSS.
#
#   bench/github_artifact/run.sh [--quick] [BUILD_DIR]
#
# BUILD_DIR (default build/) must hold daemon/jobsd and tests/fakes/fake_github.
# The full run takes a few minutes and about 3 GiB of /tmp; --quick (CI smoke)
# uses 16 MiB and 2,000 files and fails only when something cannot run or the
# trees differ. How each figure is measured: bench/github_artifact/harness.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$(dirname "$here")")"
options=()
build="$root/build"
for arg in "$@"; do
  case "$arg" in
    --quick) options+=("$arg") ;;
    -h | --help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $arg" >&2; exit 2 ;;
    *) build="$arg" ;;
  esac
done
for binary in "$build/daemon/jobsd" "$build/tests/fakes/fake_github"; do
  if [[ ! -x "$binary" ]]; then
    echo "run.sh: no $binary; build it first (scripts/build)" >&2
    exit 2
  fi
done
exec /usr/bin/python3 "$here/harness.py" --jobsd "$build/daemon/jobsd" \
  --fake "$build/tests/fakes/fake_github" "${options[@]}"
