#!/usr/bin/env bash
# Next-fire time per call: jobsd vs croniter 1.3.5 (Python) vs croner (Node),
# the same 20 expressions (bench/cron_expressions.txt) timed the same way in
# one run, printed as one table with the ratios and the target line.
#
#   bench/cron_next.sh [--quick] [PATH/TO/cron_next_bench]
#
# Builds nothing: pass the built benchmark (default build/bench/cron_next_bench;
# `cmake --build build --target cron_next_bench`). croniter comes from Debian's
# /usr/bin/python3 (python3-croniter), croner from the repository's
# node_modules (`npm ci` at the root); a missing peer prints n/a and the rest
# still runs. --quick runs a few calls per row (a CI smoke test): it fails only
# when a runner breaks, never because a machine is slow.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
quick=()
binary=""
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    -h | --help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "cron_next.sh: unknown option $arg" >&2; exit 2 ;;
    *) binary="$arg" ;;
  esac
done
binary="${binary:-$root/build/bench/cron_next_bench}"
expressions="$here/cron_expressions.txt"

if [[ ! -x "$binary" ]]; then
  echo "cron_next.sh: no benchmark binary at $binary" >&2
  echo "  build it: cmake --build build --target cron_next_bench (or pass its path)" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "running jobsd ..." >&2
"$binary" "${quick[@]}" --file "$expressions" >"$work/jobsd.tsv"

notes=()
python=/usr/bin/python3
if [[ -x "$python" ]] && "$python" -c 'import croniter' 2>/dev/null; then
  echo "running croniter ..." >&2
  if ! "$python" "$here/cron_next_croniter.py" "${quick[@]}" --file "$expressions" \
      >"$work/croniter.tsv" 2>"$work/croniter.err"; then
    cat "$work/croniter.err" >&2
    echo "cron_next.sh: the croniter runner failed" >&2
    exit 1
  fi
else
  notes+=("croniter: not installed (Debian: apt-get install python3-croniter); column n/a")
  : >"$work/croniter.tsv"
fi

if ! command -v node >/dev/null; then
  notes+=("croner: node is not installed; column n/a")
  : >"$work/croner.tsv"
elif [[ ! -d "$root/node_modules/croner" ]]; then
  notes+=("croner: $root/node_modules/croner is missing (run: npm ci at the repository root); column n/a")
  : >"$work/croner.tsv"
else
  echo "running croner ..." >&2
  if ! TZ=UTC node "$here/cron_next_croner.mjs" "${quick[@]}" --file "$expressions" \
      >"$work/croner.tsv" 2>"$work/croner.err"; then
    cat "$work/croner.err" >&2
    echo "cron_next.sh: the croner runner failed" >&2
    exit 1
  fi
fi

# One table: rows in the order of the expression file. A peer whose first fire
# differs from jobsd's is flagged (different answers make timings moot).
awk -F'\t' -v quick="${#quick[@]}" '
  function median(list, n,    i, j, t, a) {
    if (n == 0) return -1
    for (i = 1; i <= n; i++) a[i] = list[i]
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
      t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
    }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function ns(v) { return v < 0 ? "n/a" : (v >= 10000 ? sprintf("%.0f", v) : sprintf("%.1f", v)) }
  function ratio(p, j) { return (p < 0 || j <= 0) ? "n/a" : sprintf("%.0fx", p / j) }
  # By name, not by count: an empty file (a missing peer) has no first line.
  FNR == 1 { for (f = 1; f < ARGC; f++) if (ARGV[f] == FILENAME) file = f }
  /^#/ {
    if (file >= 2) header[file] = header[file] (header[file] == "" ? "" : "; ") substr($0, 3)
    next
  }
  file == 1 { label = $1; zone[label] = $2; expr[label] = $3; order[++rows] = label; next }
  { time[file, $1] = ($2 == "n/a") ? -1 : $2 + 0; first[file, $1] = $3 }
  END {
    printf "%-18s %-20s %-18s %10s %10s %10s %9s %9s\n", "expression", "zone", "cron",
           "jobsd ns", "croniter", "croner", "croniter/", "croner/"
    printf "%-18s %-20s %-18s %10s %10s %10s %9s %9s\n", "", "", "", "", "ns", "ns",
           "jobsd", "jobsd"
    for (r = 1; r <= rows; r++) {
      l = order[r]
      j = ((2, l) in time) ? time[2, l] : -1
      c = ((3, l) in time) ? time[3, l] : -1
      n = ((4, l) in time) ? time[4, l] : -1
      flag = ""
      if (c >= 0 && first[3, l] != first[2, l]) flag = flag " croniter-first-fire-differs"
      if (n >= 0 && first[4, l] != first[2, l]) flag = flag " croner-first-fire-differs"
      printf "%-18s %-20s %-18s %10s %10s %10s %9s %9s%s\n", l, zone[l], expr[l], ns(j), ns(c),
             ns(n), ratio(c, j), ratio(n, j), flag
      if (j >= 0) all_j[++nall] = j
      if (j >= 0 && c >= 0) { cj[++ncj] = j; cc[ncj] = c }
      if (j >= 0 && n >= 0) { nj[++nnj] = j; nn[nnj] = n }
      if (j >= 0 && c >= 0 && n >= 0) { tj[++nt] = j; tc[nt] = c; tn[nt] = n }
    }
    print ""
    printf "%-59s %10s %10s %10s %9s %9s\n", "median of rows all three ran (" (nt + 0) " rows)",
           ns(median(tj, nt)), ns(median(tc, nt)), ns(median(tn, nt)),
           ratio(median(tc, nt), median(tj, nt)), ratio(median(tn, nt), median(tj, nt))
    printf "%-59s %10s\n", "jobsd, median of all " nall " rows", ns(median(all_j, nall))
    print ""
    if (ncj > 0) {
      rc = median(cc, ncj) / median(cj, ncj)
      printf "target: jobsd >= 50x faster than croniter (median of %d rows both ran): %.0fx, %s\n",
             ncj, rc, (rc >= 50 ? "met" : "NOT met")
    } else print "target: jobsd >= 50x faster than croniter: not measured (croniter missing)"
    if (nnj > 0) {
      rn = median(nn, nnj) / median(nj, nnj)
      printf "target: jobsd faster than croner (median of %d rows both ran): %.1fx, %s\n",
             nnj, rn, (rn > 1 ? "met" : "NOT met")
    } else print "target: jobsd faster than croner: not measured (croner missing)"
    if (quick) print "(--quick: few calls per row, a smoke test; the figures are rough)"
    for (f = 2; f <= 4; f++) if (header[f] != "") print "# " header[f]
  }
' "$expressions" "$work/jobsd.tsv" "$work/croniter.tsv" "$work/croner.tsv"

for note in "${notes[@]+"${notes[@]}"}"; do echo "note: $note"; done
