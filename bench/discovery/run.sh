#!/bin/sh
# bench/discovery/run.sh: how fast and how small is the agent's discovery?
#
# Builds one Mac home with 12 accounts across every client (Apple Mail's Accounts4 store
# with its rows in the WAL, a legacy Accounts.plist holding 50 SMTP servers, two
# Thunderbird profiles, MailMate, a configuration profile) with tests/fixtures/mkfixtures.py
# --bench, then runs, RUNS times each (after 3 warm-up runs):
#   mailfleet-agent collect --no-probe     (a Release build)
#   bench/discovery/peer_extract.py        (the straightforward Python peer)
# and prints the median and spread of the wall time (whole process: exec to exit), the
# median CPU time (user + system, from wait4: steadier than wall time on a busy machine)
# and the median peak RSS (/usr/bin/time -f %M, in separate runs so it does not skew the
# timing).
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
    """Wall time (ms), CPU time user+sys (ms, from wait4: unaffected by other load on
    the machine), and the output."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter_ns()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        t1 = time.perf_counter_ns()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        p.stdout = out.read()
    return (t1 - t0) / 1e6, (ru.ru_utime + ru.ru_stime) * 1e3, p

def rss(cmd):
    with tempfile.NamedTemporaryFile() as f:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f.name] + cmd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return int(open(f.name).read().split()[-1])

results = {}
for name, cmd in cmds.items():
    _, _, p = once(cmd)
    out = json.loads(p.stdout)
    found = (len(out["servers"]), len(out["accounts"]))
    for _ in range(2):
        once(cmd)
    runs_ = [once(cmd) for _ in range(runs)]
    walls = sorted(r[0] for r in runs_)
    cpus = sorted(r[1] for r in runs_)
    mems = sorted(rss(cmd) for _ in range(runs))
    results[name] = (statistics.median(walls), walls[0], walls[-1], statistics.median(cpus),
                     statistics.median(mems), found, p.returncode)

load = os.getloadavg()[0]
print("discovery benchmark: %d runs each, %d CPUs, load average %.2f, fixture %s" %
      (runs, os.cpu_count(), load, fx))
print("%-36s %9s %8s %8s %9s %11s %8s %8s" % ("program", "wall med", "min", "max", "CPU med",
                                            "peak RSS", "servers", "accounts"))
for name, (med, lo, hi, cpu, mem, found, rc) in results.items():
    print("%-36s %6.2f ms %5.2f ms %5.2f ms %6.2f ms %8d KB %8d %8d" %
          (name, med, lo, hi, cpu, mem, found[0], found[1]))
(a_name, a), (p_name, p) = list(results.items())
print("peer / agent: wall %.1fx, CPU %.1fx, peak RSS %.1fx" % (p[0] / a[0], p[3] / a[3], p[4] / a[4]))
if load > os.cpu_count():
    print("note: the machine is busy (load %.1f on %d CPUs): wall times are inflated; "
          "the CPU times are the steadier figure" % (load, os.cpu_count()))
if a[6] != 0:
    print("note: the agent exited %d (some source failed)" % a[6])
EOF
