#!/usr/bin/env bash
# bench/policy/run.sh: evaluating policies over a large fleet, and the same rules as SQL.
#
#   bash bench/policy/run.sh                  100,000 hosts
#   MF_BENCH_HOSTS=10000 bash bench/policy/run.sh
#
# 1. bench/fleetgen writes one report per host for N hosts, and `mailfleet-collector
#    ingest` stores them (both untimed: they are other benchmarks);
# 2. `mailfleet-collector report` evaluates policies/baseline.json, then
#    policies/stale-servers.json, then both together (a policy including the two), over
#    the store: wall time, CPU time (user + sys), peak RSS; with the default worker
#    threads and with --jobs 1; without and with --json (every result written);
# 3. `mailfleet-collector check` does the same from the report files (CI mode: two
#    passes over N files; pass 1 keeps the decoded reports of up to 64 MiB of documents
#    for pass 2, which reads the rest again), and once more with MF_CHECK_KEEP_BYTES=0
#    (every latest report read and decoded twice, as before);
# 4. bench/policy/sql_peer.py runs the same rules as SQL queries over the same store, the
#    way osquery/Fleet policies work (one query per rule, a verdict row per entity), and
#    compares its counts with the engine's.
#
# Run by hand, never as a timed test. Environment: MF_BUILD (build folder, default
# build-bench-policy, configured Release), MF_BENCH_DIR (work folder, default
# /tmp/mf-bench-policy), MF_BENCH_HOSTS (N), MF_BENCH_REUSE=1 (keep the reports and the
# store of an earlier run with the same N).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${MF_BUILD:-$root/build-bench-policy}
work=${MF_BENCH_DIR:-/tmp/mf-bench-policy}
n=${MF_BENCH_HOSTS:-100000}
py=/usr/bin/python3
as_of=2026-11-15

echo "== build ($build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" --target mailfleet-collector -j"$(nproc)" >/dev/null
collector=$build/collector/mailfleet-collector

if [[ -n "${MF_BENCH_REUSE:-}" && -f "$work/hosts.n" && "$(cat "$work/hosts.n")" == "$n" ]]; then
  find "$work" -mindepth 1 -maxdepth 1 ! -name reports ! -name hosts.n ! -name store.sqlite \
    ! -name 'store.sqlite-*' -exec rm -rf {} +
else
  rm -rf "$work"
fi
mkdir -p "$work"
results=$work/results.txt
: >"$results"

{
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "sqlite $(sqlite3 --version 2>/dev/null | cut -d' ' -f1), $($py --version 2>&1)"
} | tee -a "$results"

if [[ ! -f "$work/hosts.n" ]]; then
  echo "== generate $n hosts, one report each"
  $py "$root/bench/fleetgen/fleetgen.py" --hosts "$n" --reports-per-host 1 \
    --out "$work/reports" --seed 7
  echo "== ingest"
  # Through a spool of hard links: ingest moves what it stored, the reports stay for check.
  mkdir -p "$work/spool"
  find "$work/reports" -maxdepth 1 -name '*.json' -print0 | xargs -0 -r ln -t "$work/spool"
  "$collector" ingest -q --no-progress --remove-ingested --db "$work/store.sqlite" \
    --spool "$work/spool"
  rm -rf "$work/spool"
  echo "$n" >"$work/hosts.n"
fi
echo "fleet: $(find "$work/reports" -name '*.json' | wc -l) reports, $(du -sm "$work/reports" |
  cut -f1) MB of JSON; store $(du -m "$work/store.sqlite" | cut -f1) MB" | tee -a "$results"

# The policies, next to the shipped ones so includes resolve.
mkdir -p "$work/policies"
cp "$root"/policies/*.json "$work/policies/"
cat >"$work/policies/bench-both.json" <<'EOF'
{"schema": "mailfleet.policy.v1", "id": "bench-both", "title": "baseline and stale-servers",
 "version": "1", "include": ["baseline.json", "stale-servers.json"], "rules": []}
EOF

# measure LABEL CMD...: "label: wall s, cpu s, peak RSS MB" (exit 100/101 are normal).
measure() {
  local label=$1
  shift
  sync
  local rc=0
  /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$@" >"$work/out" 2>"$work/err" || rc=$?
  if [[ $rc -ne 0 && $rc -ne 100 && $rc -ne 101 ]]; then
    echo "$label: FAILED (exit $rc)"; tail -n 20 "$work/out" "$work/err"; return 1
  fi
  # (GNU time writes "Command exited with non-zero status N" first for exit 100/101.)
  read -r wall user sys rss < <(tail -n 1 "$work/t")
  awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    printf "%-44s wall %6.2f s  cpu %6.2f s  peak RSS %6.1f MB\n", l, w, u + s, r / 1024 }' |
    tee -a "$results"
}

cat >"$work/policies/bench-empty.json" <<'EOF'
{"schema": "mailfleet.policy.v1", "id": "bench-empty", "title": "no rules: reading and decoding only",
 "version": "1", "rules": []}
EOF

echo "== report (store)"
for p in bench-empty baseline stale-servers bench-both; do
  measure "report $p" "$collector" report --db "$work/store.sqlite" \
    --policy "$work/policies/$p.json" --as-of "$as_of" -q
done
measure "report bench-both --jobs 1" "$collector" report --db "$work/store.sqlite" \
  --policy "$work/policies/bench-both.json" --as-of "$as_of" -q --jobs 1
measure "report bench-both --json" "$collector" report --db "$work/store.sqlite" \
  --policy "$work/policies/bench-both.json" --as-of "$as_of" -q --json "$work/both.json"
grep -E '^[0-9]+ reports? evaluated' "$work/out" | tee -a "$results"
echo "results file: $(du -m "$work/both.json" | cut -f1) MB" | tee -a "$results"

echo "== check (report files)"
measure "check bench-both (files, 2 passes)" "$collector" check "$work/reports" \
  --policy "$work/policies/bench-both.json" --as-of "$as_of" -q
MF_CHECK_KEEP_BYTES=0 measure "check bench-both, nothing kept" "$collector" check \
  "$work/reports" --policy "$work/policies/bench-both.json" --as-of "$as_of" -q

echo "== SQL peer (same rules as queries)"
as_of_epoch=$(date -u -d "$as_of" +%s)
measure "sql_peer baseline" $py "$here/sql_peer.py" --db "$work/store.sqlite" \
  --as-of "$as_of_epoch" --rules baseline
measure "sql_peer stale" $py "$here/sql_peer.py" --db "$work/store.sqlite" \
  --as-of "$as_of_epoch" --rules stale
measure "sql_peer both" $py "$here/sql_peer.py" --db "$work/store.sqlite" \
  --as-of "$as_of_epoch"
# The same counts? (untimed) The engine's summary table against the SQL's.
"$collector" report --db "$work/store.sqlite" --policy "$work/policies/bench-both.json" \
  --as-of "$as_of" >"$work/engine-summary.txt" || true
$py "$here/sql_peer.py" --db "$work/store.sqlite" --as-of "$as_of_epoch" \
  --compare "$work/engine-summary.txt" >"$work/sql_peer.txt"
grep -E '^(differs|agreement)' "$work/sql_peer.txt" | tee -a "$results"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results"
echo "== results in $results"
