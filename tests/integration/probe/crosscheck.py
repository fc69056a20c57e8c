#!/usr/bin/python3
"""Cross-check: on the same loopback servers, the probe's verdicts agree with
`openssl s_client -starttls smtp -verify_return_error -verify_hostname` and with
`swaks --tls --tls-verify` (swaks where it can say it: Debian 12's swaks 20201014
checks the chain but not the host name).

A verdict is "ok" or the kind of problem; for certificates the kind is compared with
s_client's verify error number too.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probelib  # noqa: E402
from run_probe_tests import collect, by_target  # noqa: E402

CASES = [
    # (server, security, the probe's expected outcome)
    ("valid", "starttls", "ok"),
    ("required", "starttls", "ok"),
    ("expired", "starttls", "cert-expired"),
    ("notyet", "starttls", "cert-not-yet-valid"),
    ("wrongname", "starttls", "cert-hostname-mismatch"),
    ("selfsigned", "starttls", "cert-self-signed"),
    ("nostarttls", "starttls", "starttls-not-offered"),
    ("implicit", "tls", "ok"),
]

# OpenSSL's X509_V_ERR_* numbers for each certificate outcome.
VERIFY_NUM = {
    "cert-expired": {10},
    "cert-not-yet-valid": {9},
    "cert-self-signed": {18},
    "cert-hostname-mismatch": {62},
    "cert-untrusted": {2, 19, 20, 21},
}


def s_client(host, port, sec, ca):
    cmd = ["openssl", "s_client", "-verify_return_error", "-verify_hostname", host,
           "-CAfile", ca, "-connect", "127.0.0.1:%d" % port, "-servername", host, "-crlf"]
    if sec != "tls":
        cmd[2:2] = ["-starttls", "smtp"]
    try:
        r = subprocess.run(cmd, input="QUIT\n", capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "hang", None
    m = re.search(r"verify error:num=(\d+)", r.stdout + r.stderr)
    num = int(m.group(1)) if m else None
    return ("ok" if r.returncode == 0 else "fail"), num


def swaks(host, port, sec, ca):
    cmd = ["swaks", "--server", "127.0.0.1", "--port", str(port), "--quit-after", "EHLO",
           "--tls-verify", "--tls-ca-path", ca, "--tls-sni", host, "--helo", "probe.test",
           "--timeout", "10"]
    cmd.append("--tls-on-connect" if sec == "tls" else "--tls")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "hang"
    return "ok" if r.returncode == 0 else "fail"


def main():
    c = probelib.Checker()
    have_swaks = shutil.which("swaks") is not None
    if not have_swaks:
        print("NOTE: swaks is not installed (apt-get install swaks): only openssl is compared")
    with probelib.Fleet(only=sorted({x[0] for x in CASES})) as f:
        entries = [(name + ".test", f.ports[name], sec) for name, sec, _ in CASES]
        r, _ = collect(f, entries)
        probes = by_target(r)
        for name, sec, expected in CASES:
            host, port = name + ".test", f.ports[name]
            p = probes.get((host, sec))
            got = p["outcome"] if p else None
            c.expect(got == expected, "%s: probe says %s, expected %s" % (host, got, expected))
            probe_ok = got == "ok"
            verdict, num = s_client(host, port, sec, f.ca)
            print("%-18s probe=%-24s s_client=%s%s" % (host, got, verdict,
                                                        " (verify error %s)" % num if num else ""))
            c.expect(verdict == ("ok" if probe_ok else "fail"),
                     "%s: s_client says %s, the probe %s" % (host, verdict, got))
            if got in VERIFY_NUM:
                c.expect(num in VERIFY_NUM[got], "%s: s_client verify error %s matches %s" %
                         (host, num, got))
            if have_swaks:
                sv = swaks(host, port, sec, f.ca)
                print("%-18s swaks=%s" % (host, sv))
                if got == "cert-hostname-mismatch" and sv == "ok":
                    print("  (swaks 20201014 does not check host names: not compared)")
                    continue
                c.expect(sv == ("ok" if probe_ok else "fail"),
                         "%s: swaks says %s, the probe %s" % (host, sv, got))
    c.done()


if __name__ == "__main__":
    main()
