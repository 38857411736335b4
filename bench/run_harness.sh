# Sourced by the benchmarks' run.sh scripts: checks the jobsd binary and
# Debian's python3, then runs a harness with a temp work folder that is
# cleaned up however the run ends (the harness lists the processes it
# started in $work/pids; whatever it left is killed here).
#
#   bench_arguments "${BASH_SOURCE[0]}" "--quick ..." "$@"   # sets options, binary
#   run_harness HARNESS.py JOBSD [harness options...]   # exits with its status

# A run.sh's command line: the options it accepts (a space-separated list)
# go to its harness, a bare argument is the build folder (default build/),
# -h prints the run.sh's leading comment. Sets `options` (an array) and
# `binary` (the build folder's daemon/jobsd).
bench_arguments() {
  local script="$1" accepted="$2" arg
  shift 2
  options=()
  binary=""
  for arg in "$@"; do
    case "$arg" in
      -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$script" | sed 's/^# \{0,1\}//'; exit 0 ;;
      -*)
        if [[ " $accepted " != *" $arg "* ]]; then
          echo "run.sh: unknown option $arg" >&2
          exit 2
        fi
        options+=("$arg")
        ;;
      *) binary="$arg/daemon/jobsd" ;;
    esac
  done
  binary="${binary:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/daemon/jobsd}"
}

run_harness() {
  local script="$1" binary="$2"
  shift 2
  local python=/usr/bin/python3
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
  trap _run_harness_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  # In the background so that a signal reaches the trap at once.
  "$python" "$script" --jobsd "$binary" --work "$work" "$@" &
  harness=$!
  local status=0
  wait "$harness" || status=$?
  harness=""
  exit "$status"
}

_run_harness_cleanup() {
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
