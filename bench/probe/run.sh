#!/bin/bash
# bench/probe/run.sh: the probe against its peers, on loopback, in one run.
#
#   bench/probe/run.sh [AGENT]      (default: $MF_AGENT, else build/agent/mailfleet-agent)
#
# Servers: aiosmtpd with STARTTLS (tests/integration/probe/servers.py, Debian's
# python3-aiosmtpd) and a throwaway CA (pki.py), 100 listeners in one process.
# Measures, with hyperfine when installed (apt-get install hyperfine), else a loop
# taking medians:
#   1. one probe (mailfleet-agent collect, one STARTTLS server) beside
#      `openssl s_client -starttls smtp` (connect, handshake, QUIT) and
#      `swaks --tls --quit-after EHLO`;
#   2. 100 targets at once (100 ports, --concurrency 100) against one;
#   3. the agent's peak RSS during the 100 concurrent probes (/usr/bin/time -f %M).
# Targets: one probe within 1.5x of s_client; at least 5x faster than swaks; 100
# targets under 3x the time of one; peak RSS under 30 MB. It prints the figures; they
# are written up by hand in docs/benchmarks.md. Run by hand, never as a timed test.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
IT="$ROOT/tests/integration/probe"
AGENT=${1:-${MF_AGENT:-$ROOT/build/agent/mailfleet-agent}}
RUNS=${RUNS:-30}
PY=/usr/bin/python3
[ -x "$AGENT" ] || { echo "no agent at $AGENT (build first, or pass its path)" >&2; exit 2; }
for t in openssl swaks /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "missing $t (apt-get install openssl swaks time)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/mf-bench-probe.XXXXXX)
SERVERS_PID=
cleanup() {
    if [ -n "$SERVERS_PID" ]; then kill "$SERVERS_PID" 2>/dev/null || true; wait "$SERVERS_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

"$PY" "$IT/pki.py" "$WORK/pki"
CA="$WORK/pki/ca.pem"
# The servers run until their stdin closes: feed them from a sleep we own.
sleep 100000 | "$PY" "$IT/servers.py" "$WORK/pki" "$WORK/ports.json" --only valid --copies 100 \
    >"$WORK/servers.log" 2>&1 &
SERVERS_PID=$!
for _ in $(seq 600); do [ -s "$WORK/ports.json" ] && break; sleep 0.1; done
[ -s "$WORK/ports.json" ] || { cat "$WORK/servers.log" >&2; exit 1; }

# Homes with Thunderbird prefs naming the servers, and the --resolve arguments.
"$PY" - "$WORK" <<'EOF'
import json, os, sys
work = sys.argv[1]
ports = json.load(open(os.path.join(work, "ports.json")))
ports = [ports["valid%d" % i] for i in range(100)]
def home(name, ps):
    tb = os.path.join(work, name, "Library", "Thunderbird")
    prof = os.path.join(tb, "Profiles", "b.default")
    os.makedirs(prof)
    open(os.path.join(tb, "profiles.ini"), "w").write(
        "[Profile0]\nName=b\nIsRelative=1\nPath=Profiles/b.default\nDefault=1\n")
    lines = []
    for i, p in enumerate(ps):
        k = "smtp%d" % i
        lines += ['user_pref("mail.smtpserver.%s.hostname", "valid.test");' % k,
                  'user_pref("mail.smtpserver.%s.port", %d);' % (k, p),
                  'user_pref("mail.smtpserver.%s.try_ssl", 2);' % k,
                  'user_pref("mail.identity.id%d.smtpServer", "%s");' % (i, k)]
    lines.append('user_pref("mail.smtpservers", "%s");' % ",".join(
        "smtp%d" % i for i in range(len(ps))))
    open(os.path.join(prof, "prefs.js"), "w").write("\n".join(lines) + "\n")
    open(os.path.join(work, name + ".args"), "w").write(" ".join(
        "--resolve valid.test:%d:127.0.0.1" % p for p in ps))
home("home1", ports[:1])
home("home100", ports)
open(os.path.join(work, "port0"), "w").write(str(ports[0]))
EOF
P0=$(cat "$WORK/port0")
A1="$AGENT collect --home $WORK/home1 --ca-file $CA $(cat "$WORK/home1.args")"
A100="$AGENT collect --home $WORK/home100 --ca-file $CA --concurrency 100 $(cat "$WORK/home100.args")"
SCL="openssl s_client -starttls smtp -connect 127.0.0.1:$P0 -servername valid.test -CAfile $CA -verify_return_error -quiet -crlf"
SWK="swaks --server 127.0.0.1 --port $P0 --tls --quit-after EHLO --tls-sni valid.test --helo bench.test"

# Sanity: every probe is ok before anything is timed.
$A100 >"$WORK/r100.json"
"$PY" - "$WORK/r100.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
bad = [p for p in r["probes"] if p["outcome"] != "ok"]
assert len(r["probes"]) == 100 and not bad, (len(r["probes"]), bad[:1])
print("sanity: 100 probes, all ok")
EOF

if command -v hyperfine >/dev/null; then
    hyperfine --warmup 3 --runs "$RUNS" --export-json "$WORK/hf.json" \
        -n agent-1 "$A1" \
        -n s_client "echo QUIT | $SCL" \
        -n swaks "$SWK" \
        -n agent-100 "$A100" >"$WORK/hf.txt"
    cat "$WORK/hf.txt"
else
    echo "hyperfine not found: timing with a loop (medians of $RUNS runs)"
    "$PY" - "$WORK/hf.json" "$RUNS" "agent-1" "$A1" "s_client" "echo QUIT | $SCL" \
        "swaks" "$SWK" "agent-100" "$A100" <<'EOF'
import json, statistics, subprocess, sys, time
out, runs, rest = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
results = []
for name, cmd in zip(rest[::2], rest[1::2]):
    ts = []
    for i in range(runs + 3):
        t = time.perf_counter()
        subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i >= 3:
            ts.append(time.perf_counter() - t)
    results.append({"command": name, "median": statistics.median(ts), "mean": statistics.mean(ts)})
    print("%-10s median %.1f ms" % (name, 1000 * statistics.median(ts)))
json.dump({"results": results}, open(out, "w"))
EOF
fi

# Where the time of the 100-target run goes: the agent's CPU against the server's.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVERS_PID/stat" 2>/dev/null || echo 0; }
S0=$(cpu_ticks)
/usr/bin/time -f "%U %S" -o "$WORK/acpu" $A100 >/dev/null
S1=$(cpu_ticks)
SERVER_CPU_MS=$(( (S1 - S0) * 1000 / $(getconf CLK_TCK) ))
AGENT_CPU_MS=$(awk '{printf "%d", ($1 + $2) * 1000}' "$WORK/acpu")

RSS=0
for _ in 1 2 3 4 5; do
    /usr/bin/time -f %M -o "$WORK/rss" $A100 >/dev/null
    r=$(tail -1 "$WORK/rss")
    [ "$r" -gt "$RSS" ] && RSS=$r
done

echo
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "one 100-target run: agent CPU ${AGENT_CPU_MS} ms, server (aiosmtpd) CPU ${SERVER_CPU_MS} ms"
"$PY" - "$WORK/hf.json" "$RSS" <<'EOF'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = lambda n: res[n]["median"] * 1000
rss_kb = int(sys.argv[2])
a1, sc, sw, a100 = med("agent-1"), med("s_client"), med("swaks"), med("agent-100")
def line(what, value, target, ok):
    print("%-44s %-22s %-14s %s" % (what, value, target, "met" if ok else "NOT met"))
print()
print("%-44s %-22s %-14s %s" % ("measure (medians)", "value", "target", "verdict"))
line("one probe vs openssl s_client", "%.1f ms vs %.1f ms = %.2fx" % (a1, sc, a1 / sc), "<= 1.5x", a1 <= 1.5 * sc)
line("one probe vs swaks --tls --quit-after EHLO", "%.1f ms vs %.1f ms = %.1fx faster" % (a1, sw, sw / a1), ">= 5x faster", sw >= 5 * a1)
line("100 targets at once vs one", "%.1f ms vs %.1f ms = %.2fx" % (a100, a1, a100 / a1), "< 3x", a100 < 3 * a1)
line("peak RSS, 100 concurrent probes", "%.1f MB" % (rss_kb / 1024), "< 30 MB", rss_kb < 30 * 1024)
EOF
