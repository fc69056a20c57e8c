#!/usr/bin/env bash
# bench/reports/run.sh: how fast the reports are written for a large fleet, at what memory
# cost, and how the HTML behaves in a browser.
#
#   bash bench/reports/run.sh                  100,000 Macs
#   MF_BENCH_HOSTS=20000 bash bench/reports/run.sh
#
# 1. The writers alone: tests/reports/rpt_fixture.c feeds a deterministic fleet
#    (9 results per Mac) straight into reports.h: JUnit, HTML, CSV, each on its own and
#    all three at once: wall time, CPU time, peak RSS, size.
# 2. The real thing: bench/fleetgen writes one report per Mac, `mailfleet-collector
#    ingest` stores them (timed, but not part of the budget), then `mailfleet-collector
#    report` evaluates policies/approved-servers.example.json and writes HTML, JUnit and
#    JSON in one run: the budget is 60 s and 1 GB peak RSS for the three together.
#    Again with --history (the SQLite file that gives first-failure dates).
# 3. The peer: python3-junitparser (Debian's, the consumer the tests use) writes the same
#    JUnit from the results JSON of a tenth of the fleet (bench/reports/py_junit.py), against
#    `check` writing JUnit for the same reports.
# 4. The HTML of step 2 in headless Chromium over the DevTools protocol
#    (tests/reports/cdp.py): time to DOMContentLoaded and load, DOM size, search time.
#
# Run by hand, never as a timed test. Environment: MF_BUILD (build folder, default
# build-bench-reports, configured Release), MF_BENCH_DIR (work folder, default
# /tmp/mf-bench-reports, emptied first), MF_BENCH_HOSTS (number of Macs), MF_BENCH_PEER=0
# (leave out step 3, about five minutes). Every line ends with the load average (1 min)
# when the command finished: on a shared machine wall times mean little without it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${MF_BUILD:-$root/build-bench-reports}
work=${MF_BENCH_DIR:-/tmp/mf-bench-reports}
n=${MF_BENCH_HOSTS:-100000}
py=/usr/bin/python3

echo "== build ($build, Release)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target mailfleet-collector mf_rpt_fixture -j"$(nproc)" >/dev/null
collector=$build/collector/mailfleet-collector
fixture=$build/tests/reports/mf_rpt_fixture

rm -rf "$work"
mkdir -p "$work"
results=$work/results.txt
: >"$results"
{
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo none)"
} | tee -a "$results"

# measure LABEL CMD...: "label: wall s, cpu s, peak RSS".
measure() {
  local label=$1
  shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$@" >"$work/out" 2>"$work/err" || {
    local rc=$?
    # report exits 100 when rules fail: that is a result, not an error.
    if [[ $rc -ne 100 ]]; then echo "$label: FAILED ($rc)"; tail -5 "$work/err"; return 1; fi; }
  # (GNU time puts "Command exited with non-zero status N" before the line when N != 0.)
  read -r wall user sys rss < <(tail -n 1 "$work/t")
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v la="$load" 'BEGIN {
    printf "%s: wall %.1f s, cpu %.1f s, peak RSS %.0f MB (load %s)\n", l, w, u + s, r / 1024, la }' |
    tee -a "$results"
}

size() { du -m "$1" | cut -f1; }

echo "== 1. the writers alone ($n Macs, rpt_fixture)"
measure "fixture, no output" "$fixture" --hosts "$n"
measure "JUnit (by host)" "$fixture" --hosts "$n" --junit "$work/f.xml"
echo "   $(size "$work/f.xml") MB" | tee -a "$results"
measure "JUnit (by rule)" "$fixture" --hosts "$n" --junit "$work/fr.xml" --junit-group-by rule
measure "HTML" "$fixture" --hosts "$n" --html "$work/f.html"
echo "   $(size "$work/f.html") MB" | tee -a "$results"
measure "CSV" "$fixture" --hosts "$n" --csv "$work/f.csv"
echo "   $(size "$work/f.csv") MB" | tee -a "$results"
measure "JUnit + HTML + CSV at once" "$fixture" --hosts "$n" --junit "$work/f.xml" \
  --html "$work/f.html" --csv "$work/f.csv"
rm -f "$work/f.xml" "$work/fr.xml" "$work/f.csv"

echo "== 2. fleetgen, ingest, report"
/usr/bin/time -f "%e" -o "$work/gen.time" \
  $py "$root/bench/fleetgen/fleetgen.py" --hosts "$n" --out "$work/spool" --seed 3
echo "fleetgen: $n reports in $(cat "$work/gen.time") s" | tee -a "$results"
measure "ingest (not in the budget)" "$collector" ingest --no-progress --db "$work/store.db" \
  --spool "$work/spool"
policy=$root/policies/approved-servers.example.json
measure "report: no output (the policy engine alone)" "$collector" report --db "$work/store.db" \
  --policy "$policy" -q || true
measure "report: HTML + JUnit + JSON" "$collector" report --db "$work/store.db" \
  --policy "$policy" --html "$work/r.html" --junit "$work/r.xml" --json "$work/r.json" -q
echo "   sizes: HTML $(size "$work/r.html") MB, JUnit $(size "$work/r.xml") MB, JSON $(size "$work/r.json") MB" |
  tee -a "$results"
measure "report: JSON only" "$collector" report --db "$work/store.db" --policy "$policy" \
  --json "$work/j.json" -q
measure "report: HTML + JUnit + JSON + CSV + history (first run)" "$collector" report \
  --db "$work/store.db" --policy "$policy" --html "$work/h.html" --junit "$work/h.xml" \
  --json "$work/h.json" --csv "$work/h.csv" --history "$work/history.db" -q
measure "the same, second run (history known)" "$collector" report \
  --db "$work/store.db" --policy "$policy" --html "$work/h.html" --junit "$work/h.xml" \
  --json "$work/h.json" --csv "$work/h.csv" --history "$work/history.db" -q
rm -f "$work/j.json" "$work/h.xml" "$work/h.json" "$work/h.csv"

if [[ ${MF_BENCH_PEER:-1} == 0 ]]; then
  echo "== 3. peer: left out (MF_BENCH_PEER=0)" | tee -a "$results"
else
echo "== 3. peer: python3-junitparser writing the same JUnit ($(( n / 10 )) Macs)"
# junitparser holds the whole document in memory (and json.load the whole results file):
# a tenth of the fleet, evaluated by `check` from fresh report files.
m=$(( n / 10 ))
$py "$root/bench/fleetgen/fleetgen.py" --hosts "$m" --out "$work/sub" --seed 5 2>/dev/null
measure "check $m reports: JUnit + JSON" "$collector" check "$work/sub" --policy "$policy" \
  --junit "$work/sub.xml" --json "$work/sub.json" -q || true
measure "check $m reports: JSON only" "$collector" check "$work/sub" --policy "$policy" \
  --json "$work/sub2.json" -q || true
if $py -c 'import junitparser' 2>/dev/null; then
  measure "junitparser: JUnit from that JSON" $py "$here/py_junit.py" "$work/sub.json" \
    "$work/py.xml" || true
  echo "   mailfleet $(size "$work/sub.xml") MB, junitparser $(size "$work/py.xml") MB" |
    tee -a "$results"
else
  echo "junitparser: skipped (apt-get install python3-junitparser)" | tee -a "$results"
fi
rm -rf "$work/sub" "$work/sub2.json"
fi

echo "== 4. the HTML in headless Chromium"
if [[ -x /usr/bin/chromium ]]; then
  $py "$here/html_load.py" "$work/r.html" "$work/f.html" | tee -a "$results"
else
  echo "chromium: skipped (bash scripts/setup.sh --browser)" | tee -a "$results"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results"
echo "== results in $results"
