"""reportgen: build small, valid mailfleet.report.v1 documents from short specs.

A case describes only what matters to it; everything else gets a sane default (one Mac,
Alice, Apple Mail, a well-configured server that probed fine). The report's findings
(flags) are derived the way the agent derives them, so the documents stay consistent.

Spec (every key optional):
  {"host": "C02TEST00001", "hostname": "alice-mbp", "collected_at": "2026-11-29T10:00:00Z",
   "sources": [{"user": "alice", "client": "apple-mail", "status": "ok"}, ...],
   "servers": [ server spec, ... ],          default: one default server
   "accounts": [ extra account spec, ... ],  e.g. a dangling one: {"smtp_ref": "smtp9"}
   "no_probes": true}                        as with `collect --no-probe`

server spec: any report server member (hostname, port, security, auth, username, client,
user, source, provider, ...) plus
  "used": false       no account uses it (default true: an account is made for it)
  "probe": {...}      overrides for its probe (see probe()); null: no probe covers it
"""
import copy
import uuid

DEFAULT_SERVER = {
    "user": "alice", "client": "apple-mail", "source": 0,
    "hostname": "smtp.example.com", "port": 587, "security": "starttls",
    "auth": "password", "username": "alice@example.com", "description": "Work",
}

# Outcomes that end the probe before TLS: nothing after that phase is known.
EARLY = {"dns-nxdomain": "dns", "dns-error": "dns", "connect-refused": "connect",
         "connect-timeout": "connect", "network-unreachable": "connect",
         "probe-error": "dns"}
CERT = {"cert-untrusted", "cert-self-signed", "cert-expired", "cert-not-yet-valid",
        "cert-hostname-mismatch"}


def probe(server, ids, over):
    """A probe of server (covering server ids), with overrides applied.

    Overrides may set any probe member, plus "tls" members through "tls": {...} and
    certificate members through "cert": {...}. The outcome decides what is filled in:
    early failures leave banner, EHLO and TLS out, as a real probe would.
    """
    host, port, sec = server["hostname"], server["port"], server["security"]
    outcome = over.get("outcome", "ok")
    p = {"hostname": host, "port": port, "security": sec, "servers": ids,
         "outcome": outcome, "detail": None if outcome == "ok" else outcome + " (test)",
         "address": "192.0.2.25", "duration_ms": 120,
         "phases": {"dns_ms": 1, "connect_ms": 10, "banner_ms": 10, "ehlo_ms": 10,
                    "tls_ms": 20, "ehlo_tls_ms": 10, "quit_ms": 5},
         "banner": "220 %s ESMTP" % host,
         "ehlo": ["PIPELINING", "SIZE 10240000", "8BITMIME"],
         "ehlo_tls": ["PIPELINING", "AUTH PLAIN LOGIN"],
         "starttls_offered": sec in ("starttls", "starttls-optional", "unknown"),
         "auth_before_tls": [], "auth": ["PLAIN", "LOGIN"], "tls": None}
    if p["starttls_offered"]:
        p["ehlo"].append("STARTTLS")
    if sec == "tls":
        p["ehlo"] = []
    if sec == "none":
        p["ehlo"].append("AUTH PLAIN LOGIN")
        p["auth_before_tls"] = ["PLAIN", "LOGIN"]
        p["ehlo_tls"] = []
        del p["phases"]["tls_ms"], p["phases"]["ehlo_tls_ms"]
    else:
        cert = {"subject": "CN=" + host, "issuer": "CN=Test CA", "san": [host],
                "not_before": "2026-09-01T00:00:00Z", "not_after": "2027-02-17T23:59:59Z",
                "days_left": 80, "self_signed": False, "sha256": "ab" * 32}
        cert.update(over.get("cert", {}))
        tls = {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "verified": True,
               "verify_error": None, "hostname_match": True, "cert": cert}
        tls.update(over.get("tls", {}))
        p["tls"] = tls
    if outcome in EARLY:
        p["phase"] = over.get("phase", EARLY[outcome])
        p["phases"] = {"dns_ms": 1} if p["phase"] != "dns" else {}
        p.update({"banner": None, "ehlo": [], "ehlo_tls": [], "starttls_offered": False,
                  "auth_before_tls": [], "auth": [], "tls": None})
        if outcome.startswith("dns") or outcome == "probe-error":
            p["address"] = None
    elif outcome == "starttls-not-offered":
        p["phase"] = "ehlo"
        p["ehlo"] = [e for e in p["ehlo"] if e != "STARTTLS"]
        p.update({"starttls_offered": False, "tls": None, "ehlo_tls": [],
                  "auth": p["auth_before_tls"]})
        for k in ("tls_ms", "ehlo_tls_ms"):
            p["phases"].pop(k, None)
    elif outcome in CERT:
        p["phase"] = "tls"
        p["tls"]["verified"] = False
        p["tls"]["verify_error"] = over.get("verify_error", outcome.replace("-", " "))
    elif outcome != "ok":
        p["phase"] = over.get("phase", "banner")
    for k, v in over.items():
        if k not in ("tls", "cert", "outcome"):
            p[k] = v
    return p


def flags(servers, i):
    s = servers[i]
    out = []
    if not s["used_by"]:
        out.append("unused")
    key = (s["client"], s["hostname"], s["port"], s["user"], s.get("username"))
    if s["hostname"] and any(j != i and (t["client"], t["hostname"], t["port"], t["user"],
                                         t.get("username")) == key
                             for j, t in enumerate(servers)):
        out.append("duplicate")
    if s["security"] == "none":
        out.append("plaintext")
        if s["auth"] in ("password", "any"):
            out.append("cleartext-auth")
    if s["port"] == 25:
        out.append("port-25")
    if s.get("provider"):
        out.append("provider-managed")
    if s["security"] == "starttls-optional":
        out.append("starttls-optional")
    return out


def build(spec):
    spec = copy.deepcopy(spec or {})
    sources = []
    for src in spec.get("sources", [{"user": "alice", "client": "apple-mail"}]):
        s = {"user": "alice", "client": "apple-mail", "format": "accounts-plist",
             "path": "/Users/alice/Library/Mail/V10/MailData/Accounts.plist",
             "status": "ok", "error": None}
        s.update(src)
        if s["status"] != "ok" and not s["error"]:
            s["error"] = "test: " + s["status"]
        sources.append(s)
    servers, accounts, probes, overrides = [], [], [], []
    for i, sp in enumerate(spec.get("servers", [{}])):
        s = dict(DEFAULT_SERVER)
        used = sp.pop("used", True)
        overrides.append(sp.pop("probe", {}))
        s.update(sp)
        s["id"] = "s%d" % (i + 1)
        if s.get("provider"):
            s["hostname"] = None
            s.setdefault("port", None)
            if "port" not in sp:
                s["port"] = None
        s["used_by"] = []
        if used:
            aid = "a%d" % (len(accounts) + 1)
            s["used_by"].append(aid)
            accounts.append({"id": aid, "user": s["user"], "client": s["client"],
                             "source": s["source"], "type": "icloud" if s.get("provider") else "imap",
                             "description": s.get("description"),
                             "emails": [s.get("username") or "alice@example.com"],
                             "smtp": s["id"], "smtp_ref": s["id"].upper(), "flags": []})
        servers.append(s)
    for extra in spec.get("accounts", []):
        a = {"id": "a%d" % (len(accounts) + 1), "user": "alice", "client": "apple-mail",
             "source": 0, "type": "imap", "description": None, "emails": ["old@example.com"],
             "smtp": None, "smtp_ref": None, "flags": []}
        a.update(extra)
        if a["smtp"] is None and a["smtp_ref"]:
            a["flags"] = ["dangling"]
        accounts.append(a)
    for i, s in enumerate(servers):
        s["flags"] = flags(servers, i)
    if not spec.get("no_probes"):
        for i, s in enumerate(servers):
            if overrides[i] is None:
                continue
            if not s["hostname"]:
                probes.append({"hostname": None, "port": 0, "security": s["security"],
                               "servers": [s["id"]], "outcome": "skipped",
                               "detail": "provider-managed", "address": None,
                               "duration_ms": 0, "phases": {}, "banner": None, "ehlo": [],
                               "ehlo_tls": [], "starttls_offered": False,
                               "auth_before_tls": [], "auth": [], "tls": None})
                continue
            probes.append(probe(s, [s["id"]], overrides[i]))
    host = spec.get("host", "C02TEST00001")
    return {"schema": "mailfleet.report.v1",
            "report_id": spec.get("report_id", str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                             host + spec.get("collected_at", "x")))),
            "collected_at": spec.get("collected_at", "2026-11-29T10:00:00Z"),
            "agent": {"version": "0.1.0"},
            "host": {"id": host, "hostname": spec.get("hostname", "alice-mbp"),
                     "os": {"name": "macOS", "version": "14.5"}},
            "sources": sources, "servers": servers, "accounts": accounts, "probes": probes}
