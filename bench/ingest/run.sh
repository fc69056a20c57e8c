#!/usr/bin/env bash
# bench/ingest/run.sh: how fast the collector stores reports, and at what memory cost.
#
#   bash bench/ingest/run.sh                 100,000 reports (about 400 MB of JSON)
#   MF_BENCH_REPORTS=20000 bash bench/ingest/run.sh
#
# 1. fleetgen writes N realistic reports (N/5 Macs x 5 runs) in the spool layout;
# 2. `mailfleet-collector ingest` stores them (fresh store, batches of 1000): wall time,
#    CPU time (user + sys: "one core"), peak RSS; again for N/10 reports, to show that
#    memory does not grow with the count; and once more over the same spool refilled,
#    where every report is a duplicate;
# 3. bench/ingest/py_ingest.py, the straightforward Python peer (json + sqlite3), does the
#    same work into the same schema; with --validate also against docs/report.schema.json
#    (python3-jsonschema) on N/10 reports, since the C ingest validates strictly;
# 4. receive through a real sshd: 1,000 reports from 10 ssh clients at once (needs root
#    and openssh-server; skipped otherwise);
# 5. with MF_BENCH_PROFILE=1 (and `perf`), both ingests once more on N/10 reports under
#    `perf record`, and where their CPU time goes (perf_split.py): SQLite, the rest of
#    user space, the rest of the kernel.
#
# Before each measured ingest the spool's files are read once (cat > /dev/null), so that
# every run starts with them in the page cache, as after `receive` wrote them; otherwise
# whichever ingest ran first would pay the disk reads for the others.
#
# Run by hand, never as a timed test. Environment: MF_BUILD (build folder, default
# build-bench, configured Release), MF_BENCH_DIR (work folder, default
# /tmp/mf-bench-ingest, emptied first), MF_BENCH_REPORTS (N).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${MF_BUILD:-$root/build-bench}
work=${MF_BENCH_DIR:-/tmp/mf-bench-ingest}
n=${MF_BENCH_REPORTS:-100000}
py=/usr/bin/python3

echo "== build ($build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" --target mailfleet-collector -j"$(nproc)" >/dev/null
collector=$build/collector/mailfleet-collector

# MF_BENCH_REUSE=1 keeps the reports of a previous run with the same N (fleetgen is
# deterministic, so they are the same files); everything else starts afresh.
if [[ -n "${MF_BENCH_REUSE:-}" && -f "$work/reports.n" && "$(cat "$work/reports.n")" == "$n" ]]; then
  find "$work" -mindepth 1 -maxdepth 1 ! -name reports ! -name reports.n ! -name gen.time \
    -exec rm -rf {} +
else
  rm -rf "$work"
fi
mkdir -p "$work"
results=$work/results.txt
: >"$results"

echo "== machine"
{
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "sqlite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1), $($py --version 2>&1)"
  echo "work folder: $work ($(df -h "$work" | awk 'NR==2 {print $1}'))"
} | tee -a "$results"

echo "== generate $n reports"
hosts=$(( (n + 4) / 5 ))
if [[ ! -f "$work/reports.n" ]]; then
  /usr/bin/time -f "%e" -o "$work/gen.time" \
    $py "$root/bench/fleetgen/fleetgen.py" --hosts "$hosts" --reports-per-host 5 \
    --out "$work/reports" --seed 1
  echo "$n" >"$work/reports.n"
fi
count=$(find "$work/reports" -name '*.json' | wc -l)
size=$(du -sm "$work/reports" | cut -f1)
echo "generated $count reports, $size MB, in $(cat "$work/gen.time") s" | tee -a "$results"
mkdir -p "$work/small"
# (sed, not head: head would stop reading early and fail the pipeline.)
find "$work/reports" -name '*.json' | sort | sed -n "1,$(( count / 10 ))p" |
  xargs -r ln -t "$work/small"
small=$(find "$work/small" -name '*.json' | wc -l)

# A spool holding hard links to the generated files (ingest moves them away), read once
# so that it is in the page cache.
fresh_spool() {
  rm -rf "$1"
  mkdir -p "$1"
  find "$2" -maxdepth 1 -name '*.json' -print0 | xargs -0 -r ln -t "$1"
  find "$1" -maxdepth 1 -name '*.json' -print0 | xargs -0 -r cat >/dev/null
}

# measure LABEL REPORTS CMD...: one line "label: reports, wall s, cpu s, rate, rss".
measure() {
  local label=$1 reports=$2
  shift 2
  sync
  /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$@" >"$work/out" 2>"$work/err" || {
    echo "$label: FAILED"; cat "$work/out" "$work/err"; return 1; }
  read -r wall user sys rss <"$work/t"
  awk -v l="$label" -v n="$reports" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    cpu = u + s;
    printf "%s: %d reports, wall %.1f s (%.0f reports/s), cpu %.1f s (%.0f reports/s per core), peak RSS %.1f MB\n",
      l, n, w, (w > 0 ? n / w : 0), cpu, (cpu > 0 ? n / cpu : 0), r / 1024 }' | tee -a "$results"
  tail -n 1 "$work/out"
}

echo "== C ingest"
fresh_spool "$work/spool" "$work/reports"
measure "C ingest" "$count" "$collector" ingest --no-progress --db "$work/c.sqlite" \
  --spool "$work/spool"
echo "store: $(du -m "$work/c.sqlite" | cut -f1) MB" | tee -a "$results"
fresh_spool "$work/spool" "$work/reports"
measure "C ingest, all duplicates" "$count" "$collector" ingest --no-progress \
  --db "$work/c.sqlite" --spool "$work/spool"
fresh_spool "$work/spool-small" "$work/small"
measure "C ingest, N/10" "$small" "$collector" ingest --no-progress --db "$work/c-small.sqlite" \
  --spool "$work/spool-small"

echo "== Python ingest (json + sqlite3)"
fresh_spool "$work/spool" "$work/reports"
"$collector" ingest -q --db "$work/py.sqlite" --keep-days 36500 # the same schema, empty
measure "Python ingest" "$count" $py "$here/py_ingest.py" --db "$work/py.sqlite" \
  --spool "$work/spool"
c_rows=$(sqlite3 "$work/c.sqlite" "SELECT (SELECT count(*) FROM reports) || ' reports, ' || (SELECT count(*) FROM servers) || ' servers, ' || (SELECT count(*) FROM probes) || ' probes, ' || (SELECT count(*) FROM host_servers) || ' host_servers'")
py_rows=$(sqlite3 "$work/py.sqlite" "SELECT (SELECT count(*) FROM reports) || ' reports, ' || (SELECT count(*) FROM servers) || ' servers, ' || (SELECT count(*) FROM probes) || ' probes, ' || (SELECT count(*) FROM host_servers) || ' host_servers'")
echo "same rows: C $c_rows; Python $py_rows" | tee -a "$results"

schema=$root/docs/report.schema.json
if [[ -f "$schema" ]] && $py -c 'import jsonschema' 2>/dev/null; then
  fresh_spool "$work/spool-small" "$work/small"
  "$collector" ingest -q --db "$work/pyv.sqlite" --keep-days 36500
  measure "Python ingest + jsonschema, N/10" "$small" $py "$here/py_ingest.py" \
    --db "$work/pyv.sqlite" --spool "$work/spool-small" --validate "$schema" || true
else
  echo "Python ingest + jsonschema: skipped (no docs/report.schema.json or python3-jsonschema)" |
    tee -a "$results"
fi

echo "== receive through sshd"
if [[ $(id -u) -eq 0 && -x /usr/sbin/sshd ]]; then
  $py "$here/receive_bench.py" --collector "$collector" --reports "$work/small" \
    --work "$work/sshd" --agents 10 --count 1000 | tee -a "$results"
  $py "$here/receive_bench.py" --collector "$collector" --reports "$work/small" \
    --work "$work/sshd1" --agents 1 --count 1000 | tee -a "$results"
else
  echo "receive via sshd: skipped (needs root and /usr/sbin/sshd)" | tee -a "$results"
fi
if [[ -n "${MF_BENCH_PROFILE:-}" ]] && command -v perf >/dev/null; then
  echo "== where the time goes (perf record, N/10)"
  fresh_spool "$work/spool-small" "$work/small"
  perf record -q -g -o "$work/c.perf" "$collector" ingest -q --no-progress \
    --db "$work/c-prof.sqlite" --spool "$work/spool-small" >/dev/null 2>&1
  $py "$here/perf_split.py" "C ingest" "$work/c.perf" | tee -a "$results"
  fresh_spool "$work/spool-small" "$work/small"
  "$collector" ingest -q --db "$work/py-prof.sqlite" --keep-days 36500
  perf record -q -g -o "$work/py.perf" $py "$here/py_ingest.py" --db "$work/py-prof.sqlite" \
    --spool "$work/spool-small" >/dev/null 2>&1
  $py "$here/perf_split.py" "Python ingest" "$work/py.perf" | tee -a "$results"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results"
echo "== results in $results"
