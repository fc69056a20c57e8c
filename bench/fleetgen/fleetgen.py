#!/usr/bin/python3
"""fleetgen: write a realistic, deterministic fleet of mailfleet.report.v1 documents.

    fleetgen.py --hosts N --out DIR [--seed S] [--reports-per-host K]
                [--start YYYY-MM-DDTHH:MM:SSZ] [--every-days D] [--framed FILE]

Each Mac gets K reports (one per D days from --start, so the store has a history
per host). The fleet is the kind an IT team inherits:

- Apple Mail on almost every Mac, Thunderbird on some, MailMate on a few, and MDM
  configuration profiles on managed machines;
- the organisation moved its mail to a hosted service, and Macs that were set up before
  the migration still carry the old servers (unused, plain text, port 25, names that no
  longer resolve);
- personal iCloud and Gmail accounts, iCloud's server being provider-managed (no host
  name stored);
- probes that succeed, and probes that fail the ways real ones do (NXDOMAIN, timeouts,
  refused connections, expired or self-signed certificates, STARTTLS not offered).

Files are named <report_id>.json, the spool's layout, so DIR can be a spool. --framed
also writes one stream in the receive framing (docs/transport.md), ending with END.
The same seed and arguments give byte-identical output.
"""

import argparse
import datetime
import json
import os
import random
import sys

ORG = "example-corp.com"
CURRENT = [("smtp.office365.com", 587, "starttls", "password")]
LEGACY = [
    ("mail.example-corp.com", 25, "none", "password"),
    ("smtp.example-corp.com", 465, "tls", "password"),
    ("mx1.old-example-corp.net", 587, "starttls-optional", "password"),
    ("exchange.example-corp.local", 587, "starttls", "ntlm"),
]
PERSONAL = [
    ("smtp.gmail.com", 465, "tls", "oauth2"),
    ("smtp.mail.yahoo.com", 465, "tls", "password"),
    ("smtp.fastmail.com", 465, "tls", "password"),
]
FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
         "yasmin"]
OS = ["12.7.6", "13.6.9", "14.5", "14.7.1", "15.1", "15.2"]
CLIENT_FORMAT = {
    "apple-mail": ("accounts-plist", "~/Library/Mail/V10/MailData/Accounts.plist"),
    "thunderbird": ("prefs-js", "~/Library/Thunderbird/Profiles/x1y2z3.default-release/prefs.js"),
    "mailmate": ("mailmate-plist", "~/Library/Application Support/MailMate/Sources.plist"),
    "profile": ("mobileconfig", "/Library/Managed Preferences/com.apple.mail.managed.plist"),
}
# Outcomes of probing a legacy server, with weights.
LEGACY_OUTCOMES = [("dns-nxdomain", 5), ("connect-timeout", 3), ("connect-refused", 2),
                   ("cert-expired", 2), ("starttls-not-offered", 1), ("ok", 2)]
PERSONAL_OUTCOMES = [("ok", 20), ("timeout", 1), ("cert-untrusted", 1)]
PHASE_OF = {"dns-nxdomain": "dns", "dns-error": "dns", "connect-timeout": "connect",
            "connect-refused": "connect", "timeout": "banner", "cert-expired": "tls",
            "cert-untrusted": "tls", "cert-self-signed": "tls",
            "starttls-not-offered": "ehlo"}


def uuid4(rng):
    b = bytearray(rng.getrandbits(8) for _ in range(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def weighted(rng, choices):
    total = sum(w for _, w in choices)
    x = rng.uniform(0, total)
    for value, w in choices:
        x -= w
        if x <= 0:
            return value
    return choices[-1][0]


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Host:
    """A Mac: fixed identity and configuration; each report re-probes it."""

    def __init__(self, rng, n):
        self.serial = "C02" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789")
                                      for _ in range(9))
        self.user = FIRST[n % len(FIRST)] + ("" if n < len(FIRST) else str(n // len(FIRST)))
        self.hostname = f"{self.user}-{rng.choice(['mbp', 'mba', 'imac', 'studio'])}"
        self.os = rng.choice(OS)
        self.migrated = rng.random() < 0.45  # set up before the mail migration
        self.clients = ["apple-mail"] if rng.random() < 0.93 else []
        if rng.random() < 0.25:
            self.clients.append("thunderbird")
        if rng.random() < 0.05:
            self.clients.append("mailmate")
        if rng.random() < 0.2:
            self.clients.append("profile")
        if not self.clients:
            self.clients = ["thunderbird"]
        self.personal = rng.random() < 0.5
        self.icloud = rng.random() < 0.6
        self.entries = self._entries(rng)

    def _entries(self, rng):
        """(client, hostname, port, security, auth, used, provider) per server entry."""
        out = []
        for client in self.clients:
            cur = CURRENT[0]
            out.append((client, cur[0], cur[1], cur[2], cur[3], True, None))
            if self.migrated and client in ("apple-mail", "thunderbird"):
                for legacy in rng.sample(LEGACY, rng.randint(1, 3)):
                    out.append((client, *legacy, False, None))
                if rng.random() < 0.2:  # the same old server twice
                    out.append((client, *LEGACY[0], False, None))
            if self.personal and client != "profile" and rng.random() < 0.7:
                p = rng.choice(PERSONAL)
                out.append((client, *p, True, None))
        if self.icloud and "apple-mail" in self.clients:
            out.append(("apple-mail", None, 587, "starttls", "apple-token", True, "icloud"))
        return out


def flags_for(entry, dup):
    client, host, port, sec, auth, used, provider = entry
    flags = []
    if not used:
        flags.append("unused")
    if dup:
        flags.append("duplicate")
    if sec == "none":
        flags.append("plaintext")
        if auth in ("password",):
            flags.append("cleartext-auth")
    if port == 25:
        flags.append("port-25")
    if provider:
        flags.append("provider-managed")
    if sec == "starttls-optional":
        flags.append("starttls-optional")
    return flags


def probe_for(rng, host, port, sec, server_ids, legacy, t):
    outcome = weighted(rng, LEGACY_OUTCOMES if legacy else PERSONAL_OUTCOMES)
    phases = {"dns_ms": rng.randint(1, 40)}
    p = {"hostname": host, "port": port, "security": sec, "servers": server_ids,
         "outcome": outcome}
    if outcome != "ok":
        p["phase"] = PHASE_OF.get(outcome, "connect")
    p["detail"] = None if outcome == "ok" else f"{outcome.replace('-', ' ')} while probing {host}"
    p["address"] = None
    reached = outcome not in ("dns-nxdomain", "connect-timeout", "connect-refused")
    if outcome != "dns-nxdomain":
        p["address"] = f"203.0.113.{rng.randint(1, 254)}"
        phases["connect_ms"] = rng.randint(5, 120) if reached else 10000
    tls = None
    if reached:
        phases["banner_ms"] = rng.randint(10, 200)
        p["banner"] = f"220 {host} ESMTP ready"
        ehlo = [f"250-{host} Hello", "250-SIZE 35882577", "250-PIPELINING", "250-8BITMIME",
                "250-ENHANCEDSTATUSCODES"]
        if sec in ("starttls", "starttls-optional") and outcome != "starttls-not-offered":
            ehlo.append("250-STARTTLS")
        ehlo.append("250 SMTPUTF8")
        p["ehlo"] = ehlo
        phases["ehlo_ms"] = rng.randint(5, 80)
        p["starttls_offered"] = any("STARTTLS" in e for e in ehlo)
        p["auth_before_tls"] = ["PLAIN", "LOGIN"] if sec == "none" else []
        if sec != "none" and outcome != "starttls-not-offered":
            phases["tls_ms"] = rng.randint(20, 300)
            expired = outcome == "cert-expired"
            not_after = t + datetime.timedelta(days=-rng.randint(30, 900) if expired
                                               else rng.randint(20, 400))
            tls = {"version": "TLSv1.3" if rng.random() < 0.8 else "TLSv1.2",
                   "cipher": "TLS_AES_256_GCM_SHA384",
                   "verified": outcome == "ok",
                   "verify_error": None if outcome == "ok" else
                   ("certificate has expired" if expired else "unable to get local issuer"),
                   "hostname_match": True,
                   "cert": {"subject": f"CN={host}", "issuer": "CN=Example Issuing CA 2,O=Example",
                            "san": [host, "*." + host.split(".", 1)[-1]],
                            "not_before": rfc3339(not_after - datetime.timedelta(days=397)),
                            "not_after": rfc3339(not_after),
                            "days_left": (not_after - t).days,
                            "self_signed": False,
                            "sha256": "%064x" % rng.getrandbits(256)}}
            if outcome == "ok":
                p["ehlo_tls"] = [f"250-{host}", "250-AUTH LOGIN PLAIN XOAUTH2", "250 SMTPUTF8"]
                p["auth"] = ["LOGIN", "PLAIN", "XOAUTH2"]
                phases["ehlo_tls_ms"] = rng.randint(5, 80)
                phases["quit_ms"] = rng.randint(1, 20)
        elif outcome == "ok":
            p["auth"] = ["PLAIN", "LOGIN"]
            phases["quit_ms"] = rng.randint(1, 20)
    # Every member, in the order the agent's encoder writes them (common/report_json.c).
    out = {"hostname": host, "port": port, "security": sec, "servers": server_ids,
           "outcome": outcome}
    if outcome != "ok":
        out["phase"] = p["phase"]
    out.update({"detail": p["detail"], "address": p["address"],
                "duration_ms": sum(phases.values()), "phases": phases,
                "banner": p.get("banner"), "ehlo": p.get("ehlo", []),
                "ehlo_tls": p.get("ehlo_tls", []),
                "starttls_offered": p.get("starttls_offered", False),
                "auth_before_tls": p.get("auth_before_tls", []), "auth": p.get("auth", []),
                "tls": tls})
    return out


def report(rng, h, t):
    sources, servers, accounts, probes = [], [], [], []
    src_index = {}
    for client in h.clients:
        fmt, path = CLIENT_FORMAT[client]
        src_index[client] = len(sources)
        broken = rng.random() < 0.03
        sources.append({"user": h.user, "client": client,
                        "format": fmt, "path": path.replace("~", f"/Users/{h.user}"),
                        "status": "malformed" if broken else "ok",
                        "error": "unexpected end of file at line 12" if broken else None})
    seen = set()
    for i, e in enumerate(h.entries):
        client, host, port, sec, auth, used, provider = e
        key = (client, host, port)
        dup = key in seen
        seen.add(key)
        sid = f"s{i + 1}"
        s = {"id": sid, "user": h.user, "client": client,
             "source": src_index[client], "hostname": host, "port": port,
             "security": sec, "auth": auth,
             "username": f"{h.user}@{ORG}" if provider is None else None,
             "description": (provider.capitalize() if provider else host.split(".")[-2].title()),
             "used_by": [], "flags": flags_for(e, dup)}
        if provider:
            s["provider"] = provider
        servers.append(s)
        if used:
            aid = f"a{len(accounts) + 1}"
            s["used_by"].append(aid)
            email = (f"{h.user}@icloud.com" if provider == "icloud" else
                     f"{h.user}@{ORG}" if host == CURRENT[0][0] else f"{h.user}.home@gmail.com")
            accounts.append({"id": aid, "user": s["user"], "client": client,
                             "source": src_index[client],
                             "type": "icloud" if provider else "imap",
                             "description": s["description"], "emails": [email],
                             "smtp": sid, "smtp_ref": sid.upper(), "flags": []})
    endpoints = {}
    for s in servers:
        if s["hostname"] is None:
            continue
        endpoints.setdefault((s["hostname"], s["port"], s["security"]), []).append(s["id"])
    for (host, port, sec), ids in endpoints.items():
        legacy = any(host == l[0] for l in LEGACY)
        probes.append(probe_for(rng, host, port, sec, ids, legacy, t))
    for s in servers:
        if s["hostname"] is None:
            probes.append({"hostname": None, "port": 0, "security": s["security"],
                           "servers": [s["id"]], "outcome": "skipped",
                           "detail": "provider-managed: the OS picks the server",
                           "address": None, "duration_ms": 0, "phases": {}, "banner": None,
                           "ehlo": [], "ehlo_tls": [], "starttls_offered": False,
                           "auth_before_tls": [], "auth": [], "tls": None})
    return {"schema": "mailfleet.report.v1", "report_id": uuid4(rng),
            "collected_at": rfc3339(t), "agent": {"version": "0.1.0"},
            "host": {"id": h.serial, "hostname": h.hostname,
                     "os": {"name": "macOS", "version": h.os}},
            "sources": sources, "servers": servers, "accounts": accounts, "probes": probes}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, required=True)
    ap.add_argument("--out", help="folder for <report_id>.json files")
    ap.add_argument("--framed", help="also write every report as one framed stream")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reports-per-host", type=int, default=1)
    ap.add_argument("--start", default="2026-11-01T08:00:00Z")
    ap.add_argument("--every-days", type=float, default=1.0)
    ap.add_argument("--pretty", action="store_true", help="indented JSON")
    a = ap.parse_args()
    if not a.out and not a.framed:
        ap.error("give --out DIR and/or --framed FILE")
    if a.hosts < 0 or a.reports_per_host < 1:
        ap.error("--hosts must be >= 0 and --reports-per-host >= 1")
    start = datetime.datetime.strptime(a.start, "%Y-%m-%dT%H:%M:%SZ")
    rng = random.Random(a.seed)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
    framed = open(a.framed, "wb") if a.framed else None
    count = 0
    for n in range(a.hosts):
        h = Host(rng, n)
        for i in range(a.reports_per_host):
            t = start + datetime.timedelta(days=i * a.every_days,
                                           minutes=rng.randint(0, 240))
            doc = report(rng, h, t)
            text = json.dumps(doc, indent=2 if a.pretty else None,
                              separators=None if a.pretty else (",", ":")).encode()
            if a.out:
                with open(os.path.join(a.out, doc["report_id"] + ".json"), "wb") as f:
                    f.write(text)
            if framed:
                framed.write(b"REPORT %s %d\n" % (doc["report_id"].encode(), len(text)))
                framed.write(text + b"\n")
            count += 1
    if framed:
        framed.write(b"END\n")
        framed.close()
    print(f"fleetgen: {count} reports from {a.hosts} hosts", file=sys.stderr)


if __name__ == "__main__":
    main()
