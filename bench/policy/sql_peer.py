#!/usr/bin/python3
"""sql_peer: the rules of policies/baseline.json and policies/stale-servers.json written
as SQL over the collector's store, the way osquery/Fleet policies work (one query per
rule, a row per entity with its verdict), for bench/policy.

    sql_peer.py --db STORE --as-of EPOCH [--rules baseline,stale] [--compare SUMMARY.txt]

Each query reads the store's normalised rows of every host's latest report (tables
hosts, servers, accounts, probes, sources; docs/store.md) and gives one state per
entity: pass, fail, notapplicable, or error where the SQL can tell that the facts are
missing (a probe that stopped before TLS, a settings file that did not parse). That last
part is what Fleet policies do not have (a policy query returns rows or not), and it is
approximated here from the probe's outcome and phase, not from the full report.

It prints one line per rule with its counts and the total time of the queries (fetching
every row, as a report would). With --compare it also reads the text summary that
`mailfleet-collector report` printed for the same store and policies (its table of
counts per rule; or a results JSON file, which is loaded whole) and says, rule by rule,
whether the counts agree.
"""
import argparse
import json
import sqlite3
import sys
import time

LATEST = "JOIN hosts h ON h.latest_report = {t}.report_pk"
# Outcomes that end a probe before anything about EHLO or TLS is known.
EARLY = "('dns-nxdomain','dns-error','connect-refused','connect-timeout'," \
        "'network-unreachable','probe-error')"
CUT = "('timeout','protocol-error','connection-closed','smtp-rejected')"
FAILED_SOURCE = ("EXISTS (SELECT 1 FROM sources so WHERE so.report_pk = {t}.report_pk "
                 "AND so.client IS {t}.client AND coalesce(so.user, '') = coalesce({t}.user, '') "
                 "AND so.status IN ('unreadable','malformed','too-large'))")


def has_flag(col, flag):
    return "(',' || %s || ',' LIKE '%%,%s,%%')" % (col, flag)


def tls_unknown():
    # TLS facts are unknown when the probe stopped before the handshake completed; with
    # implicit TLS (security tls) the handshake comes before the greeting.
    return ("(p.outcome IN %s OR (p.outcome IN %s AND (coalesce(p.phase, 'dns') IN "
            "('dns','connect','tls') OR (p.security <> 'tls' AND p.phase IN "
            "('banner','ehlo','starttls')))))" % (EARLY, CUT))


def probe_rule(expect):
    return ("SELECT CASE WHEN p.outcome = 'skipped' OR p.security = 'none' THEN 'notapplicable' "
            "WHEN p.outcome IN ('starttls-not-offered','starttls-rejected') THEN 'fail' "
            "WHEN %s THEN 'error' WHEN %s THEN 'pass' ELSE 'fail' END "
            "FROM probes p %s" % (tls_unknown(), expect, LATEST.format(t="p")))


BASELINE = {
    "tls-required":
        "SELECT CASE WHEN s.provider IS NOT NULL THEN 'notapplicable' "
        "WHEN s.security IN ('tls','starttls') THEN 'pass' WHEN s.security = 'unknown' "
        "THEN 'error' ELSE 'fail' END FROM servers s " + LATEST.format(t="s"),
    "no-cleartext-auth":
        "SELECT CASE WHEN s.provider IS NOT NULL THEN 'notapplicable' "
        "WHEN s.security IN ('tls','starttls') THEN 'pass' "
        "WHEN s.auth NOT IN ('password','any','unknown') THEN 'pass' "
        "WHEN s.security = 'unknown' OR s.auth = 'unknown' THEN 'error' ELSE 'fail' END "
        "FROM servers s " + LATEST.format(t="s"),
    "submission-port":
        "SELECT CASE WHEN s.provider IS NOT NULL THEN 'notapplicable' "
        "WHEN s.port IN (465, 587) THEN 'pass' ELSE 'fail' END FROM servers s "
        + LATEST.format(t="s"),
    "auth-required":
        "SELECT CASE WHEN s.provider IS NOT NULL THEN 'notapplicable' "
        "WHEN s.auth = 'unknown' THEN 'error' WHEN s.auth <> 'none' THEN 'pass' ELSE 'fail' END "
        "FROM servers s " + LATEST.format(t="s"),
    "cert-trusted": probe_rule("p.tls_verified = 1"),
    "cert-hostname": probe_rule("p.tls_hostname_match = 1"),
    "cert-days-left": probe_rule("p.cert_days_left >= 21"),
    "tls-version": probe_rule("p.tls_version IN ('TLSv1.2','TLSv1.3')"),
    "no-auth-before-tls":
        "SELECT CASE WHEN p.outcome = 'skipped' THEN 'notapplicable' "
        "WHEN p.outcome IN " + EARLY + " OR (p.outcome IN " + CUT + " AND (coalesce(p.phase, "
        "'dns') IN ('dns','connect','tls') OR (p.security <> 'tls' AND p.phase IN "
        "('banner','ehlo')))) THEN 'error' "
        "WHEN p.auth_before_tls = '' THEN 'pass' ELSE 'fail' END FROM probes p "
        + LATEST.format(t="p"),
    "no-unused-entries":
        "SELECT CASE WHEN " + has_flag("s.flags", "unused") + " AND "
        + FAILED_SOURCE.format(t="s") + " THEN 'error' WHEN " + has_flag("s.flags", "unused")
        + " THEN 'fail' ELSE 'pass' END FROM servers s " + LATEST.format(t="s"),
    "no-duplicate-entries":
        "SELECT CASE WHEN " + has_flag("s.flags", "duplicate") + " THEN 'fail' WHEN "
        + FAILED_SOURCE.format(t="s") + " THEN 'error' ELSE 'pass' END FROM servers s "
        + LATEST.format(t="s"),
    "no-dangling-accounts":
        "SELECT CASE WHEN " + has_flag("a.flags", "dangling") + " AND "
        + FAILED_SOURCE.format(t="a") + " THEN 'error' WHEN " + has_flag("a.flags", "dangling")
        + " THEN 'fail' ELSE 'pass' END FROM accounts a " + LATEST.format(t="a"),
    "servers-per-user":
        "WITH per_user AS (SELECT s.report_pk, coalesce(s.user, '') AS u, count(*) AS n "
        "FROM servers s " + LATEST.format(t="s") + " GROUP BY 1, 2), "
        "most AS (SELECT report_pk, max(n) AS m FROM per_user GROUP BY 1), "
        "bad AS (SELECT DISTINCT so.report_pk FROM sources so " + LATEST.format(t="so")
        + " WHERE so.status IN ('unreadable','malformed','too-large')) "
        "SELECT CASE WHEN bad.report_pk IS NOT NULL THEN 'error' "
        "WHEN coalesce(most.m, 0) <= 5 THEN 'pass' ELSE 'fail' END FROM hosts h "
        "LEFT JOIN most ON most.report_pk = h.latest_report "
        "LEFT JOIN bad ON bad.report_pk = h.latest_report",
}

FLEET_CTE = (
    "WITH ent AS (SELECT h.host_pk, s.report_pk, coalesce(s.hostname, '') AS hn, "
    "  coalesce(s.port, 0) AS port, coalesce(s.provider, '') AS prov, s.used_by, s.flags, "
    "  " + FAILED_SOURCE.format(t="s") + " AS unsure "
    "  FROM servers s " + LATEST.format(t="s") + "), "
    "cur AS (SELECT hn, port, prov, count(DISTINCT host_pk) AS hosts, sum(used_by) AS accounts, "
    "  sum(used_by = 0 AND unsure) AS unsure FROM ent GROUP BY 1, 2, 3), "
    "pr AS (SELECT e.hn, e.port, "
    "  count(DISTINCT CASE WHEN p.outcome NOT IN ('skipped','probe-error') THEN e.host_pk END) AS probed, "
    "  count(DISTINCT CASE WHEN p.outcome = 'ok' THEN e.host_pk END) AS ok, "
    "  count(DISTINCT CASE WHEN p.outcome NOT IN ('skipped','probe-error','dns-nxdomain','dns-error') "
    "    THEN e.host_pk END) AS resolved, "
    "  count(DISTINCT CASE WHEN p.outcome = 'dns-nxdomain' THEN e.host_pk END) AS nx, "
    "  min(CASE WHEN p.outcome NOT IN ('skipped','probe-error') THEN r.collected_at END) AS first_probed "
    "  FROM (SELECT DISTINCT host_pk, report_pk, hn, port FROM ent WHERE prov = '') e "
    "  JOIN probes p ON p.report_pk = e.report_pk AND p.hostname = e.hn AND p.port = e.port "
    "  JOIN reports r ON r.report_pk = e.report_pk GROUP BY 1, 2) "
    "SELECT CASE {expr} END FROM cur c LEFT JOIN pr ON pr.hn = c.hn AND pr.port = c.port "
    "  AND c.prov = ''")

STALE = {
    "stale-unresolvable":
        "WHEN c.hn = '' THEN 'notapplicable' WHEN pr.resolved > 0 THEN 'pass' "
        "WHEN pr.nx > 0 THEN 'fail' ELSE 'error'",
    "stale-unused":
        "WHEN c.accounts > 0 THEN 'pass' WHEN c.unsure > 0 THEN 'error' ELSE 'fail'",
    "stale-rare-unapproved":
        "WHEN c.hn = '' THEN 'notapplicable' WHEN c.hosts >= 3 THEN 'pass' ELSE 'fail'",
    "stale-probe-failing":
        "WHEN c.hn = '' THEN 'notapplicable' WHEN coalesce(pr.probed, 0) = 0 THEN 'error' "
        "WHEN pr.ok > 0 THEN 'pass' WHEN (:as_of - pr.first_probed) / 86400 >= 14 THEN 'fail' "
        "ELSE 'pass'",
    "stale-decommissioned": "WHEN c.hn = '' THEN 'notapplicable' ELSE 'pass'",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--as-of", type=int, required=True)
    ap.add_argument("--rules", default="baseline,stale")
    ap.add_argument("--compare")
    a = ap.parse_args()
    con = sqlite3.connect("file:%s?mode=ro" % a.db, uri=True)
    con.execute("PRAGMA cache_size = -16384")
    queries = {}
    if "baseline" in a.rules:
        queries.update(BASELINE)
    if "stale" in a.rules:
        queries.update({k: FLEET_CTE.format(expr=v) for k, v in STALE.items()})
    counts = {}
    start = time.monotonic()
    for rid, sql in queries.items():
        c = {}
        for (state,) in con.execute(sql, {"as_of": a.as_of}).fetchall():
            c[state] = c.get(state, 0) + 1
        counts[rid] = c
    elapsed = time.monotonic() - start
    for rid, c in counts.items():
        print("%-24s %s" % (rid, " ".join("%s=%d" % kv for kv in sorted(c.items()))))
    total = sum(sum(c.values()) for c in counts.values())
    print("sql: %d rules, %d results in %.2f s" % (len(counts), total, elapsed))
    if a.compare:
        engine = {}
        with open(a.compare) as f:
            if a.compare.endswith(".json"):
                for r in json.load(f)["rules"]:
                    engine[r["id"]] = r["counts"]
            else:
                # "RULE SEVERITY PASS FAIL ERROR N/A WAIVED" rows of the summary table
                states = ["pass", "fail", "error", "notapplicable", "waived"]
                for line in f:
                    parts = line.split()
                    if len(parts) == 7 and parts[0] in counts and all(p.isdigit() for p in parts[2:]):
                        engine[parts[0]] = dict(zip(states, map(int, parts[2:])))
        agree = 0
        for rid, ecounts in engine.items():
            if rid not in counts:
                continue
            mine = {k: v for k, v in ecounts.items() if v}
            theirs = counts[rid]
            same = mine == theirs
            agree += same
            if not same:
                print("differs: %-24s engine %s, sql %s" % (r["id"], mine, theirs))
        print("agreement: %d of %d rules give the same counts" % (agree, len(counts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
