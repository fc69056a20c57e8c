#!/usr/bin/python3
"""Integration tests of the probe against real SMTP servers on loopback.

    run_probe_tests.py servers|hostile|doctor|untrusted

Each group starts its own servers (servers.py), writes a Thunderbird fixture home
naming them (valid.test, expired.test, ...), maps every name to 127.0.0.1 with
--resolve and runs mailfleet-agent (MF_AGENT). Checks outcomes and fields, never
times. --timeout 3 keeps the slow cases short.
"""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probelib  # noqa: E402

TIMEOUT = "3"


def by_target(report):
    return {(p["hostname"], p["security"]): p for p in report["probes"]}


def collect(fleet, entries, extra=None, ca=True):
    home = fleet.home(entries)
    names = sorted({(e[0], e[1]) for e in entries if e[0].endswith(".test")})
    args = ["collect", "--home", home, "--timeout", TIMEOUT] + fleet.resolve_args(names)
    if ca:
        args += ["--ca-file", fleet.ca]
    args += extra or []
    code, out, err = probelib.run_agent(args)
    if code not in (0, 1):
        sys.exit("collect failed (%d): %s" % (code, err))
    return json.loads(out), err


def check_probe(c, probes, host, sec, outcome, phase=None):
    p = probes.get((host, sec))
    c.expect(p is not None, "%s (%s) was probed" % (host, sec))
    if not p:
        return {}
    c.expect(p["outcome"] == outcome, "%s (%s): outcome %s, expected %s (%s)" %
             (host, sec, p["outcome"], outcome, p.get("detail")))
    if phase:
        c.expect(p.get("phase") == phase, "%s: phase %s, expected %s" %
                 (host, p.get("phase"), phase))
    c.expect(isinstance(p.get("duration_ms"), int), "%s: has a duration" % host)
    return p


def group_servers():
    c = probelib.Checker()
    real = ["valid", "expired", "notyet", "wrongname", "selfsigned", "required", "nostarttls",
            "implicit", "authplain"]
    with probelib.Fleet(only=real) as f:
        P = f.ports
        entries = [
            ("valid.test", P["valid"], "starttls"),
            ("valid.test", P["valid"], "starttls", False),  # a duplicate entry
            ("valid.test", P["valid"], "starttls-optional"),
            ("valid.test", P["valid"], "none"),
            ("expired.test", P["expired"], "starttls"),
            ("notyet.test", P["notyet"], "starttls"),
            ("wrongname.test", P["wrongname"], "starttls"),
            ("selfsigned.test", P["selfsigned"], "starttls"),
            ("required.test", P["required"], "starttls"),
            ("nostarttls.test", P["nostarttls"], "starttls"),
            ("nostarttls.test", P["nostarttls"], "none"),
            ("implicit.test", P["implicit"], "tls"),
            ("authplain.test", P["authplain"], "starttls"),
        ]
        r, _ = collect(f, entries)
        probes = by_target(r)
        c.expect(len(r["probes"]) == len(entries) - 1,
                 "one probe per distinct target (%d)" % len(r["probes"]))

        p = check_probe(c, probes, "valid.test", "starttls", "ok")
        if p:
            c.expect(len(p["servers"]) == 2, "the duplicate entry shares the probe: %s" %
                     p["servers"])
            t = p["tls"] or {}
            cert = t.get("cert") or {}
            c.expect(t.get("verified") is True and t.get("hostname_match") is True,
                     "valid: chain and host name verified")
            c.expect(t.get("version", "").startswith("TLSv1"), "valid: TLS version recorded")
            c.expect(bool(t.get("cipher")), "valid: cipher recorded")
            c.expect("valid.test" in cert.get("san", []), "valid: SAN recorded")
            c.expect(cert.get("issuer") == "CN=mailfleet test CA", "valid: issuer %s" %
                     cert.get("issuer"))
            c.expect(cert.get("self_signed") is False, "valid: not self-signed")
            c.expect(360 <= cert.get("days_left", 0) <= 366, "valid: days left %s" %
                     cert.get("days_left"))
            c.expect(len(cert.get("sha256", "")) == 64, "valid: fingerprint")
            c.expect(p["starttls_offered"] is True, "valid: STARTTLS offered")
            c.expect(p["auth_before_tls"] == [], "valid: no AUTH before TLS")
            c.expect("PLAIN" in p["auth"] and "LOGIN" in p["auth"], "valid: AUTH after TLS")
            c.expect(any(x.startswith("SIZE") for x in p["ehlo"]), "valid: EHLO extensions")
            c.expect(p["banner"].startswith("220 valid.test"), "valid: banner %s" % p["banner"])
            for ph in ("dns_ms", "connect_ms", "banner_ms", "ehlo_ms", "starttls_ms", "tls_ms",
                       "ehlo_tls_ms", "quit_ms"):
                c.expect(ph in p["phases"], "valid: phase %s timed" % ph)
        check_probe(c, probes, "valid.test", "starttls-optional", "ok")
        p = check_probe(c, probes, "valid.test", "none", "ok")
        if p:
            c.expect(p["tls"] is None and p["starttls_offered"] is True,
                     "security none: no TLS, STARTTLS offer recorded")
        p = check_probe(c, probes, "expired.test", "starttls", "cert-expired", "tls")
        if p:
            c.expect(p["tls"]["cert"]["days_left"] < 0, "expired: days left negative")
            c.expect(p["tls"]["verified"] is False, "expired: not verified")
        p = check_probe(c, probes, "notyet.test", "starttls", "cert-not-yet-valid", "tls")
        if p:
            c.expect(p["tls"]["cert"]["not_before"].startswith("2040-01-01"),
                     "notyet: not_before")
        p = check_probe(c, probes, "wrongname.test", "starttls", "cert-hostname-mismatch", "tls")
        if p:
            c.expect(p["tls"]["verified"] is True and p["tls"]["hostname_match"] is False,
                     "wrongname: chain ok, host name not")
        p = check_probe(c, probes, "selfsigned.test", "starttls", "cert-self-signed", "tls")
        if p:
            c.expect(p["tls"]["cert"]["self_signed"] is True, "selfsigned: flagged")
        check_probe(c, probes, "required.test", "starttls", "ok")
        p = check_probe(c, probes, "nostarttls.test", "starttls", "starttls-not-offered", "ehlo")
        if p:
            c.expect(p["starttls_offered"] is False and p["tls"] is None,
                     "nostarttls: no STARTTLS, no TLS")
        check_probe(c, probes, "nostarttls.test", "none", "ok")
        p = check_probe(c, probes, "implicit.test", "tls", "ok")
        if p:
            c.expect(p["ehlo"] == [] and len(p["ehlo_tls"]) > 0,
                     "implicit: only an EHLO inside TLS")
            c.expect(p["tls"]["verified"] is True, "implicit: verified")
        p = check_probe(c, probes, "authplain.test", "starttls", "ok")
        if p:
            c.expect("PLAIN" in p["auth_before_tls"] and "LOGIN" in p["auth_before_tls"],
                     "authplain: AUTH PLAIN LOGIN before TLS recorded: %s" %
                     p["auth_before_tls"])
    c.done()


def group_untrusted():
    """Without --ca-file the system store does not know the test CA."""
    c = probelib.Checker()
    with probelib.Fleet(only=["valid"]) as f:
        r, _ = collect(f, [("valid.test", f.ports["valid"], "starttls")], ca=False)
        p = check_probe(c, by_target(r), "valid.test", "starttls", "cert-untrusted", "tls")
        if p:
            c.expect(p["tls"]["verify_error"] is not None, "untrusted: verify error text")
            c.expect(p["tls"]["hostname_match"] is True, "untrusted: host name still matches")
        # Several addresses: the first refuses (nothing listens on 127.0.0.2), the probe
        # goes on to the next.
        home3 = f.home([("valid.test", f.ports["valid"], "starttls")], "home3")
        code, out, err = probelib.run_agent(
            ["collect", "--home", home3, "--ca-file", f.ca, "--timeout", TIMEOUT,
             "--resolve", "valid.test:%d:127.0.0.2" % f.ports["valid"],
             "--resolve", "valid.test:%d:127.0.0.1" % f.ports["valid"]])
        p = json.loads(out)["probes"][0] if code in (0, 1) else {}
        c.expect(p.get("outcome") == "ok" and p.get("address") == "127.0.0.1",
                 "the next address is tried when one refuses: %s %s" %
                 (p.get("outcome"), p.get("address")))
        # A CA file that does not exist is the tool's problem: a clear error, exit 1.
        home = f.home([("valid.test", f.ports["valid"], "starttls")], "home2")
        code, out, err = probelib.run_agent(["collect", "--home", home, "--ca-file",
                                             os.path.join(f.dir, "nope.pem")])
        c.expect(code == 1 and "nope.pem" in err, "a missing --ca-file is an error naming it")
    c.done()


def nxdomain_expected(name):
    try:
        socket.getaddrinfo(name, 25)
        return None
    except socket.gaierror as e:
        return "dns-nxdomain" if e.errno == socket.EAI_NONAME else "dns-error"


HOSTILE = [
    # (case, outcome, phase)
    ("nobanner", "timeout", "banner"),
    ("banner421", "smtp-rejected", "banner"),
    ("drip", "timeout", "banner"),
    ("hugeline", "protocol-error", "banner"),
    ("badcode", "protocol-error", "banner"),
    ("endless", "protocol-error", "banner"),
    ("tlsgarbage", "tls-handshake-failed", "tls"),
    ("tlsinject", "protocol-error", "tls"),
    ("tlsalert", "tls-handshake-failed", "tls"),
    ("tlsreset", "tls-handshake-failed", "tls"),
    ("closeafterehlo", "connection-closed", "starttls"),
    ("blackhole", "connect-timeout", "connect"),
    ("refused", "connect-refused", "connect"),
]


def group_hostile():
    c = probelib.Checker()
    with probelib.Fleet(only=[h[0] for h in HOSTILE] + ["valid"]) as f:
        entries = [(h[0] + ".test", f.ports[h[0]], "starttls") for h in HOSTILE]
        entries.append(("valid.test", f.ports["valid"], "starttls"))
        nx = "mail.oldserver.invalid"
        entries.append((nx, 587, "starttls", False))
        # Fewer slots than targets, so slow servers hold slots while others queue.
        r, _ = collect(f, entries, ["--concurrency", "4"])
        probes = by_target(r)
        for case, outcome, phase in HOSTILE:
            check_probe(c, probes, case + ".test", "starttls", outcome, phase)
        p = probes.get(("banner421.test", "starttls"), {})
        c.expect(p.get("reply_code") == 421, "banner421: reply code 421 recorded")
        c.expect("421" in (p.get("banner") or ""), "banner421: banner text recorded")
        p = probes.get(("tlsalert.test", "starttls"), {})
        c.expect(((p.get("tls") or {}).get("alert") or "") == "handshake failure",
                 "tlsalert: the alert text is recorded: %s" % (p.get("tls") or {}).get("alert"))
        p = probes.get(("tlsreset.test", "starttls"), {})
        c.expect("reset" in (p.get("detail") or ""), "tlsreset: detail says reset")
        p = probes.get(("hugeline.test", "starttls"), {})
        c.expect("longer than" in (p.get("detail") or ""), "hugeline: line too long")
        p = probes.get(("tlsinject.test", "starttls"), {})
        c.expect("trailing data" in (p.get("detail") or ""), "tlsinject: trailing data")
        p = probes.get(("badcode.test", "starttls"), {})
        c.expect("invalid reply code" in (p.get("detail") or ""), "badcode: invalid code")
        check_probe(c, probes, "valid.test", "starttls", "ok")
        want = nxdomain_expected(nx)
        p = probes.get((nx, "starttls"))
        c.expect(p is not None and p["outcome"] in ((want,) if want else ("ok",)) +
                 (("timeout",) if want == "dns-error" else ()),
                 "%s: outcome %s, resolver says %s" % (nx, p and p["outcome"], want))
    c.done()


def group_doctor():
    c = probelib.Checker()
    with probelib.Fleet(only=["valid", "expired", "refused", "authplain"]) as f:
        P = f.ports
        entries = [
            ("valid.test", P["valid"], "starttls"),
            ("expired.test", P["expired"], "starttls"),
            ("refused.test", P["refused"], "tls", False),
            ("authplain.test", P["authplain"], "none"),
            ("mail.oldserver.invalid", 587, "starttls", False),
            ("", 587, "starttls", False),  # no host name: skipped, not contacted
        ]
        home = f.home(entries)
        names = sorted({(e[0], e[1]) for e in entries if e[0].endswith(".test")})
        base = ["--home", home, "--timeout", TIMEOUT, "--ca-file", f.ca] + f.resolve_args(names)
        code, out, err = probelib.run_agent(["doctor"] + base)
        c.expect(code == 1, "doctor exits 1 when a server has a problem (got %d)" % code)
        c.expect("✓ TLS" in out and "✗ Certificate" in out, "steps are marked ✓ and ✗")
        c.expect("\033[" not in out, "no colour when stdout is not a terminal")
        c.expect("expired on" in out, "expired advice")
        c.expect("refuses connections on port %d" % P["refused"] in out, "refused advice")
        c.expect("No account uses this entry: remove it in Thunderbird" in out,
                 "unused entry: remove it, in Thunderbird's words")
        c.expect("Outgoing Server (SMTP)" in out, "names Thunderbird's settings")
        c.expect("before encryption" in out and "unencrypted" in out,
                 "AUTH before TLS and plain-text entry warnings")
        code2, out2, _ = probelib.run_agent(["doctor", "--color=always"] + base)
        c.expect("\033[" in out2, "--color=always colours")
        code3, out3, _ = probelib.run_agent(["doctor", "--json"] + base)
        c.expect(code3 == 1, "doctor --json has the same exit code")
        try:
            j = json.loads(out3)
        except ValueError:
            j = {}
        c.expect(set(j) >= {"summary", "servers", "probes", "advice"}, "doctor --json fields")
        outcomes = {p["hostname"]: p["outcome"] for p in j.get("probes", [])}
        c.expect(outcomes.get("valid.test") == "ok" and
                 outcomes.get("expired.test") == "cert-expired" and
                 outcomes.get("refused.test") == "connect-refused",
                 "doctor --json outcomes: %s" % outcomes)
        c.expect(any(a["level"] == "problem" for a in j.get("advice", [])),
                 "doctor --json advice levels")
        skipped = [p for p in j.get("probes", []) if p["outcome"] == "skipped"]
        c.expect(len(skipped) == 1 and skipped[0]["hostname"] is None and
                 len(skipped[0]["servers"]) == 1,
                 "an entry without a host name gets a skipped probe: %s" % skipped)
        c.expect("Not probed" in out and "no server name" in out,
                 "doctor lists the entry without a host name under Not probed")
        # Only good servers: exit 0.
        home2 = f.home([("valid.test", P["valid"], "starttls")], "home-ok")
        code4, out4, err4 = probelib.run_agent(
            ["doctor", "--home", home2, "--ca-file", f.ca, "--timeout", TIMEOUT] +
            f.resolve_args([("valid.test", P["valid"])]))
        c.expect(code4 == 0, "doctor exits 0 when every probe is ok (got %d: %s)" % (code4, err4))
    c.done()


if __name__ == "__main__":
    groups = {"servers": group_servers, "hostile": group_hostile, "doctor": group_doctor,
              "untrusted": group_untrusted}
    if len(sys.argv) != 2 or sys.argv[1] not in groups:
        sys.exit("usage: run_probe_tests.py " + "|".join(groups))
    groups[sys.argv[1]]()
