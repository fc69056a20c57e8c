#!/bin/bash
# bench/probe/run.sh: the probe against its peers, on loopback, in one run.
#
#   bench/probe/run.sh [AGENT]      (default: $MF_AGENT, else build/agent/mailfleet-agent)
#
# Environment: RUNS (timed rounds, default 20); VARIANTS, a list of server set-ups
# KEY:PROCS:DELAY (default "ec:1:0 ec:2:0 rsa:1:0 ec:1:20"): the certificates' key type
# (pki.py --key: ec is ECDSA P-256, rsa is RSA-2048), the number of server processes
# (servers.py --procs) and a delay in ms before each server reply (servers.py
# --reply-delay; 0 is plain loopback). The first is the main variant, the one the
# targets are judged on; the others run in the same rounds, for comparison.
#
# Servers: aiosmtpd with STARTTLS (tests/integration/probe/servers.py, Debian's
# python3-aiosmtpd) and a throwaway CA (pki.py), 100 listeners per variant.
# Measures, in interleaved rounds (every command once per round, in turn, so that a
# change of machine load hits all of them alike; 2 rounds of warm-up):
#   1. one probe (mailfleet-agent collect, one STARTTLS server) beside
#      `openssl s_client -starttls smtp` (connect, handshake, QUIT) and
#      `swaks --tls --quit-after EHLO`;
#   2. 100 targets at once (--concurrency 100) against one target, with the very same
#      command line apart from the home and the --resolve list (also --concurrency 100);
#   3. the agent's peak RSS during the 100 concurrent probes (/usr/bin/time -f %M, the
#      largest of 5 separate runs: a child's ru_maxrss would count the Python runner
#      that forked it);
#   4. the CPU time of the agent (wait4) and of the server processes (/proc/PID/stat)
#      in each run, because on a small machine the wall time of the 100-target run
#      cannot be less than their sum divided by the number of cores.
# Every variant is checked before timing: both runs all `ok`, TLS 1.3, chain verified
# and host name matched, i.e. every probe does the full handshake with chain and name
# checks; for the 100-target run it prints how many probes were in flight on average
# (the sum of their durations over the run's wall time).
# On a machine shared with other work, run it as `nice -n -15 bash bench/probe/run.sh`.
# Targets: one probe within 1.5x of s_client; at least 5x faster than swaks; 100
# targets under 3x the time of one; peak RSS under 30 MB. It prints the figures; they
# are written up by hand in docs/benchmarks.md. Run by hand, never as a timed test.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
IT="$ROOT/tests/integration/probe"
AGENT=${1:-${MF_AGENT:-$ROOT/build/agent/mailfleet-agent}}
RUNS=${RUNS:-20}
VARIANTS=${VARIANTS:-ec:1:0 ec:2:0 rsa:1:0 ec:1:20}
PY=/usr/bin/python3
[ -x "$AGENT" ] || { echo "no agent at $AGENT (build first, or pass its path)" >&2; exit 2; }
for t in openssl swaks /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "missing $t (apt-get install openssl swaks time)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/mf-bench-probe.XXXXXX)
SERVER_PIDS=()
FEEDER_PIDS=()
cleanup() {
    for p in "${SERVER_PIDS[@]}" "${FEEDER_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${SERVER_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# One variant: KEY (pki.py --key), NPROCS (servers.py --procs), DELAY (--reply-delay).
start_variant() {
    local key=$1 nprocs=$2 delay=$3 v="$1-p$2"
    [ "$delay" = 0 ] || v="$v-d$delay"
    [ -d "$WORK/pki-$key" ] || "$PY" "$IT/pki.py" "$WORK/pki-$key" --key "$key"
    # The servers run until their stdin closes: feed them from a pipe we own.
    mkfifo "$WORK/feed-$v"
    "$PY" "$IT/servers.py" "$WORK/pki-$key" "$WORK/ports-$v.json" --only valid --copies 100 \
        --procs "$nprocs" --reply-delay "$delay" <"$WORK/feed-$v" >"$WORK/servers-$v.log" 2>&1 &
    SERVER_PIDS+=($!)
    sleep 100000 >"$WORK/feed-$v" &
    FEEDER_PIDS+=($!)
    for _ in $(seq 600); do [ -s "$WORK/ports-$v.json" ] && break; sleep 0.1; done
    [ -s "$WORK/ports-$v.json" ] || { cat "$WORK/servers-$v.log" >&2; exit 1; }
    echo "$v $key ${SERVER_PIDS[-1]}" >>"$WORK/variants"
}

for spec in $VARIANTS; do
    IFS=: read -r key nprocs delay <<<"$spec"
    start_variant "$key" "$nprocs" "${delay:-0}"
done

# Homes with Thunderbird prefs naming the servers, the command lines, and the sanity
# check; then the interleaved rounds and the figures.
"$PY" - "$WORK" "$AGENT" "$RUNS" <<'EOF'
import json, os, resource, shlex, statistics, subprocess, sys, time

work, agent, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
tck = os.sysconf("SC_CLK_TCK")
variants = []  # (name, key, [server pids])
for line in open(os.path.join(work, "variants")):
    v, key, pid = line.split()
    # servers.py --procs N: the listed process and its children serve.
    kids = []
    try:
        kids = [int(x) for x in open("/proc/%s/task/%s/children" % (pid, pid)).read().split()]
    except OSError:
        pass
    variants.append((v, key, [int(pid)] + kids))


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
    return os.path.join(work, name)


def agent_cmd(key, h, ps):
    # The same options for one target and for 100: only the home and --resolve differ.
    cmd = [agent, "collect", "--home", h, "--ca-file", os.path.join(work, "pki-" + key, "ca.pem"),
           "--concurrency", "100"]
    for p in ps:
        cmd += ["--resolve", "valid.test:%d:127.0.0.1" % p]
    return cmd


def sanity(cmd, n):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    wall = (time.perf_counter() - t0) * 1000
    probes = json.loads(out)["probes"]
    bad = [p for p in probes if p["outcome"] != "ok" or not p["tls"]["verified"]
           or not p["tls"]["hostname_match"] or p["tls"]["version"] != "TLSv1.3"]
    assert len(probes) == n and not bad, (len(probes), bad[:1])
    # The probes' own durations against the run's wall time: how many ran at once.
    return sum(p["duration_ms"] for p in probes) / wall


cmds = []  # (name, argv, stdin bytes or None, server pids)
main = variants[0]
for v, key, pids in variants:
    ports = json.load(open(os.path.join(work, "ports-%s.json" % v)))
    ports = [ports["valid%d" % i] for i in range(100)]
    a1 = agent_cmd(key, home("home1-" + v, ports[:1]), ports[:1])
    a100 = agent_cmd(key, home("home100-" + v, ports), ports)
    sanity(a1, 1)
    overlap = sanity(a100, 100)
    print("sanity %s: 1 and 100 probes, all ok, TLS 1.3, verified, host name matched; "
          "100 targets: %.0f probes in flight on average" % (v, overlap))
    cmds += [("agent-1 " + v, a1, None, pids), ("agent-100 " + v, a100, None, pids)]
    if v == main[0]:
        p0, ca = ports[0], os.path.join(work, "pki-" + key, "ca.pem")
        cmds.append(("s_client", ["openssl", "s_client", "-starttls", "smtp", "-connect",
                                  "127.0.0.1:%d" % p0, "-servername", "valid.test", "-CAfile", ca,
                                  "-verify_return_error", "-quiet", "-crlf"], b"QUIT\n", pids))
        cmds.append(("swaks", ["swaks", "--server", "127.0.0.1", "--port", str(p0), "--tls",
                               "--quit-after", "EHLO", "--tls-sni", "valid.test", "--helo",
                               "bench.test"], None, pids))


def server_ticks(pids):
    t = 0
    for p in pids:
        try:
            f = open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()
            t += int(f[11]) + int(f[12])
        except OSError:
            pass
    return t


res = {c[0]: {"wall": [], "cpu": [], "srv": []} for c in cmds}
null = open(os.devnull, "wb")
for rnd in range(runs + 2):
    for name, argv, data, pids in cmds:
        s0 = server_ticks(pids)
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.PIPE if data else subprocess.DEVNULL,
                             stdout=null, stderr=null)
        if data:
            p.stdin.write(data)
            p.stdin.close()
        _, status, ru = os.wait4(p.pid, 0)
        t1 = time.perf_counter()
        s1 = server_ticks(pids)
        if status != 0:
            sys.exit("%s failed (status %d)" % (name, status))
        if rnd >= 2:
            r = res[name]
            r["wall"].append((t1 - t0) * 1000)
            r["cpu"].append((ru.ru_utime + ru.ru_stime) * 1000)
            r["srv"].append((s1 - s0) * 1000 / tck)

rss = 0
for _ in range(5):
    out = os.path.join(work, "rss")
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out] + cmds[1][1], check=True,
                   stdout=subprocess.DEVNULL)
    rss = max(rss, int(open(out).read().split()[-1]))

med = statistics.median
print()
print("machine: %d cores, load average %s (after the runs); %d rounds" % (
    os.cpu_count(), " ".join(open("/proc/loadavg").read().split()[:3]), runs))
print()
print("ms                     wall med  wall min  CPU med  server CPU mean")
for name, _, _, _ in cmds:
    r = res[name]
    print("%-22s %9.1f %9.1f %8.1f %16.1f" % (
        name, med(r["wall"]), min(r["wall"]), med(r["cpu"]), statistics.mean(r["srv"])))
print()
print("100 targets against one (same options), by variant; the CPU floor is the CPU time")
print("of the agent and of the servers in the 100-target run spread over every core, the")
print("least wall time that run can take here:")
for v, _, _ in variants:
    a1, a100 = res["agent-1 " + v], res["agent-100 " + v]
    cpu = med(a100["cpu"]) + statistics.mean(a100["srv"])
    floor = cpu / os.cpu_count()
    print("  %-10s medians %6.1f / %5.1f = %4.1fx  minima %6.1f / %5.1f = %4.1fx  CPU agent %3.0f "
          "+ server %3.0f ms, floor %3.0f ms = %4.1fx the fastest one-target run" % (
              v, med(a100["wall"]), med(a1["wall"]), med(a100["wall"]) / med(a1["wall"]),
              min(a100["wall"]), min(a1["wall"]), min(a100["wall"]) / min(a1["wall"]),
              med(a100["cpu"]), statistics.mean(a100["srv"]), floor, floor / min(a1["wall"])))

v = main[0]
a1, a100 = med(res["agent-1 " + v]["wall"]), med(res["agent-100 " + v]["wall"])
sc, sw = med(res["s_client"]["wall"]), med(res["swaks"]["wall"])


def line(what, value, target, ok):
    print("%-46s %-28s %-13s %s" % (what, value, target, "met" if ok else "NOT met"))


print()
print("main variant %s (medians):" % v)
print("%-46s %-28s %-13s %s" % ("measure", "value", "target", "verdict"))
line("one probe vs openssl s_client", "%.1f ms vs %.1f ms = %.2fx" % (a1, sc, a1 / sc),
     "<= 1.5x", a1 <= 1.5 * sc)
line("one probe vs swaks --tls --quit-after EHLO", "%.1f ms vs %.1f ms: %.1fx faster" % (
    a1, sw, sw / a1), ">= 5x faster", sw >= 5 * a1)
line("100 targets at once vs one", "%.1f ms vs %.1f ms = %.2fx" % (a100, a1, a100 / a1),
     "< 3x", a100 < 3 * a1)
line("peak RSS, 100 concurrent probes", "%.1f MB" % (rss / 1024), "< 30 MB", rss < 30 * 1024)
EOF
