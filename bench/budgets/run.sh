#!/usr/bin/env bash
# bench/budgets/run.sh: the collector's three budgets over one 100,000-Mac fleet, in one
# run, for a quiet machine (the per-area scripts in bench/ingest, bench/policy and
# bench/reports say more, but take longer and were written for comparisons):
#   1. `report` with baseline.json + stale-servers.json together (< 10 s, < 500 MB),
#      each alone, and the SQL peer (bench/policy/sql_peer.py) on the same store;
#   2. `report --html --junit --json` with approved-servers.example.json (< 60 s, < 1 GB);
#   3. `ingest` of the 100,000 reports into a fresh store (>= 5,000 reports/s of CPU
#      time, < 150 MB) beside the Python peer (bench/ingest/py_ingest.py).
# With OLD=path/to/another/mailfleet-collector, steps 1 to 3 also time that binary, in
# turn with the new one, so that two versions meet the same load.
#
#   bash bench/budgets/run.sh [COLLECTOR]     (default: build-bench/collector/..., Release)
#
# Environment: MF_BENCH_DIR (work folder, default /tmp/mf-bench-budgets; the fleet and its
# store are kept there and reused), MF_BENCH_HOSTS (default 100000), RUNS (runs of the
# policy step, default 3). Run by hand, never as a test. Every line ends with the 1-minute
# load average when the command finished.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${MF_BENCH_DIR:-/tmp/mf-bench-budgets}
n=${MF_BENCH_HOSTS:-100000}
runs=${RUNS:-3}
py=/usr/bin/python3
new=${1:-}
if [[ -z $new ]]; then
  cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build-bench" --target mailfleet-collector -j"$(nproc)" >/dev/null
  new=$root/build-bench/collector/mailfleet-collector
fi
old=${OLD:-}
mkdir -p "$work"
cd "$work"

m() { # LABEL CMD...: wall, cpu (user + sys), peak RSS, load
  local label=$1
  shift
  sync
  /usr/bin/time -f "%e %U %S %M" -o t "$@" >/dev/null 2>err || {
    local rc=$?
    if [[ $rc -ne 100 && $rc -ne 101 ]]; then echo "$label: FAILED ($rc)"; tail -3 err; return 1; fi
  }
  read -r w u s r < <(tail -n 1 t)
  awk -v l="$label" -v w="$w" -v u="$u" -v s="$s" -v r="$r" -v la="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "%s: wall %.2f s, cpu %.2f s, peak RSS %.0f MB (load %s)\n", l, w, u + s, r / 1024, la }'
}

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ ! -d reports ]]; then
  echo "== fleet: $n Macs (fleetgen --seed 3), then one untimed ingest for the store"
  $py "$root/bench/fleetgen/fleetgen.py" --hosts "$n" --out reports --seed 3 >/dev/null
  rm -f store.db*
  mkdir -p sp
  find reports -maxdepth 1 -name '*.json' -print0 | xargs -0 -r ln -t sp
  "$new" ingest -q --db store.db --spool sp
fi
mkdir -p policies
cp "$root"/policies/*.json policies/
cat >policies/bench-both.json <<'JSON'
{"schema": "mailfleet.policy.v1", "id": "bench-both", "title": "baseline and stale-servers",
 "version": "1", "include": ["baseline.json", "stale-servers.json"], "rules": []}
JSON

echo "== 1. policies (as of 2026-11-15)"
for ((i = 1; i <= runs; i++)); do
  m "report both" "$new" report --db store.db --policy policies/bench-both.json --as-of 2026-11-15 -q
  [[ -n $old ]] && m "OLD report both" "$old" report --db store.db \
    --policy policies/bench-both.json --as-of 2026-11-15 -q
done
m "report baseline" "$new" report --db store.db --policy policies/baseline.json --as-of 2026-11-15 -q
m "report stale-servers" "$new" report --db store.db --policy policies/stale-servers.json \
  --as-of 2026-11-15 -q
m "SQL peer, both" $py "$root/bench/policy/sql_peer.py" --db store.db \
  --as-of "$(date -u -d 2026-11-15 +%s)"

echo "== 2. HTML + JUnit + JSON"
for ((i = 1; i <= 2; i++)); do
  m "report HTML+JUnit+JSON" "$new" report --db store.db \
    --policy policies/approved-servers.example.json --html r.html --junit r.xml --json r.json -q
done
[[ -n $old ]] && m "OLD report HTML+JUnit+JSON" "$old" report --db store.db \
  --policy policies/approved-servers.example.json --html r.html --junit r.xml --json r.json -q
echo "sizes (MB): $(du -m r.html r.xml r.json | tr '\n' ' ')"
rm -f r.html r.xml r.json

echo "== 3. ingest, fresh store, spool hard-linked and read once before"
fresh() {
  rm -rf sp
  mkdir sp
  find reports -maxdepth 1 -name '*.json' -print0 | xargs -0 -r ln -t sp
  find sp -name '*.json' -print0 | xargs -0 cat >/dev/null
}
fresh && rm -f c.db* && m "C ingest" "$new" ingest --no-progress --db c.db --spool sp
if [[ -n $old ]]; then fresh && rm -f o.db* && m "OLD C ingest" "$old" ingest --no-progress --db o.db --spool sp; fi
fresh && rm -f py.db* && "$new" ingest -q --db py.db --keep-days 36500
m "Python ingest" $py "$root/bench/ingest/py_ingest.py" --db py.db --spool sp
rows() { sqlite3 "$1" 'SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM servers), (SELECT count(*) FROM probes)'; }
echo "rows (reports|servers|probes): C $(rows c.db), Python $(rows py.db)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
