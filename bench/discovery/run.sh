#!/bin/sh
# bench/discovery/run.sh: how fast and how small is the agent's discovery?
#
# Builds one Mac home with 12 accounts across every client (Apple Mail's Accounts4 store
# with its rows in the WAL, a legacy Accounts.plist holding 50 SMTP servers, two
# Thunderbird profiles, MailMate, a configuration profile) with tests/fixtures/mkfixtures.py
# --bench, then runs, RUNS times each (after 3 warm-up runs):
#   mailfleet-agent collect --no-probe     (a Release build)
#   bench/discovery/peer_extract.py        (the straightforward Python peer)
# and prints the median and spread of the wall time (whole process: exec to exit) and the
# median peak RSS (/usr/bin/time -f %M, in separate runs so it does not skew the timing).
#
# Environment: AGENT=path (skip the build and use this binary), BUILD_DIR (default
# build-bench-release in the project), RUNS (default 30), PYTHON (default /usr/bin/python3).
# Run by hand; never a timed test.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
RUNS=${RUNS:-30}
PYTHON=${PYTHON:-/usr/bin/python3}
BUILD_DIR=${BUILD_DIR:-$root/build-bench-release}

if [ -z "${AGENT:-}" ]; then
    cmake -S "$root" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
    cmake --build "$BUILD_DIR" --target mailfleet-agent -j2 >/dev/null
    AGENT=$BUILD_DIR/agent/mailfleet-agent
fi
[ -x "$AGENT" ] || { echo "run.sh: no agent at $AGENT" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "run.sh: /usr/bin/time (Debian package time) is needed" >&2; exit 1; }

fx=$(mktemp -d "${TMPDIR:-/tmp}/mf-bench-discovery.XXXXXX")
trap 'rm -rf "$fx"' EXIT INT TERM
"$PYTHON" "$root/tests/fixtures/mkfixtures.py" --bench "$fx"

"$PYTHON" - "$RUNS" "$fx" "$AGENT" "$PYTHON" "$here/peer_extract.py" <<'EOF'
import json, os, statistics, subprocess, sys, tempfile, time

runs, fx, agent, python, peer = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
args = ["--users-root", os.path.join(fx, "Users"), "--profiles", os.path.join(fx, "profiles")]
cmds = {
    "mailfleet-agent collect --no-probe": [agent, "collect", "--no-probe"] + args,
    "peer_extract.py (Python %d.%d)" % sys.version_info[:2]: [python, peer] + args,
}

def once(cmd):
    t0 = time.perf_counter_ns()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    t1 = time.perf_counter_ns()
    return (t1 - t0) / 1e6, p

def rss(cmd):
    with tempfile.NamedTemporaryFile() as f:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f.name] + cmd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return int(open(f.name).read().split()[-1])

results = {}
for name, cmd in cmds.items():
    _, p = once(cmd)
    out = json.loads(p.stdout)
    found = (len(out["servers"]), len(out["accounts"]))
    for _ in range(2):
        once(cmd)
    times = sorted(once(cmd)[0] for _ in range(runs))
    mems = sorted(rss(cmd) for _ in range(runs))
    results[name] = (statistics.median(times), times[0], times[-1], statistics.median(mems), found,
                     p.returncode)

print("discovery benchmark: %d runs each, fixture %s" % (runs, fx))
print("%-38s %10s %10s %10s %12s %9s %9s" % ("program", "median ms", "min ms", "max ms",
                                           "peak RSS KB", "servers", "accounts"))
for name, (med, lo, hi, mem, found, rc) in results.items():
    print("%-38s %10.2f %10.2f %10.2f %12d %9d %9d" % (name, med, lo, hi, mem, found[0], found[1]))
(a_name, a), (p_name, p) = list(results.items())
print("ratio (peer median / agent median): %.1fx faster; peak RSS %.1fx smaller" %
      (p[0] / a[0], p[3] / a[3]))
if a[5] != 0:
    print("note: the agent exited %d (some source failed)" % a[5])
EOF
