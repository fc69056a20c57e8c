#!/usr/bin/python3
"""receive_bench: receive throughput through a real sshd (part of bench/ingest/run.sh).

    receive_bench.py --collector BIN --reports DIR --work DIR [--agents 10] [--count 1000]

Starts OpenSSH's sshd on 127.0.0.1 with the forced command `mailfleet-collector receive`
(the same fixture as tests/integration/collector), then --agents plain `ssh` clients at
once, each sending its share of --count reports in one session, and prints the wall time
and reports/s from the first connection to the last acknowledgement. Every report must
be acknowledged (stored), or the run fails. Needs root (sshd) and /usr/sbin/sshd.
"""
import argparse
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration", "collector"))
import collib  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--collector", required=True)
    ap.add_argument("--reports", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--count", type=int, default=1000)
    a = ap.parse_args()
    os.environ["MF_COLLECTOR"] = os.path.abspath(a.collector)
    names = sorted(os.listdir(a.reports))[: a.count]
    if len(names) < a.count:
        sys.exit("receive_bench: only %d reports in %s" % (len(names), a.reports))
    shares = [names[i:: a.agents] for i in range(a.agents)]
    streams = []
    for share in shares:
        items = []
        for n in share:
            with open(os.path.join(a.reports, n), "rb") as f:
                items.append((n[:-5], f.read()))
        streams.append(collib.frame(items))
    os.makedirs(a.work, exist_ok=True)
    spool = os.path.join(a.work, "spool")
    results = [None] * a.agents
    with collib.Sshd(a.work, spool) as s:
        # One warm-up connection, so that key loading and the first fork do not count.
        s.ssh(b"END\n")

        def send(k):
            results[k] = s.ssh(streams[k], timeout=600)

        threads = [threading.Thread(target=send, args=(k,)) for k in range(a.agents)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        secs = time.monotonic() - t0
    acked = sum(sum(1 for l in collib.answers(out) if l.startswith("ACK "))
                for code, out, err in results)
    stored = len(collib.spool_files(spool))
    print("receive via sshd: %d agents, %d reports, %d acknowledged, %d stored, %.2f s, "
          "%.0f reports/s" % (a.agents, a.count, acked, stored, secs, a.count / secs))
    return 0 if acked == a.count == stored else 1


if __name__ == "__main__":
    sys.exit(main())
