#!/usr/bin/python3
"""py_ingest: the peer of `mailfleet-collector ingest` in bench/ingest, written the
straightforward way with the standard library (json + sqlite3).

    py_ingest.py --db FILE --spool DIR [--batch N] [--validate SCHEMA.json]

It does the same work as the C ingest on the same store (the bench creates the file
with mailfleet-collector first, so the schema is the same): for every
DIR/<report_id>.json it reads and parses the document, skips a report_id already
stored, upserts the host, inserts the report with its document and its source,
server, account and probe rows, updates first/last seen per (host, server) and the
host's latest report, commits every N reports (1000, as the C ingest) and only then
moves the files to done/. It sets the same SQLite options as the C ingest (WAL,
synchronous = FULL, a 64 MiB page cache, a checkpoint every 4096 pages).
Broken files go to quarantine/ with a .reason file.

What it does not do is the C ingest's strict validation (types, enum words, ids,
references). --validate SCHEMA.json adds a check against a JSON Schema with the
`jsonschema` package, the usual way to get that in Python; the bench reports both.
"""
import argparse
import calendar
import json
import os
import sqlite3
import sys
import time

FLAGS = ["unused", "duplicate", "hostname-whitespace", "plaintext", "cleartext-auth",
         "port-25", "dangling", "hostname-case", "provider-managed", "starttls-optional",
         "no-hostname", "default-port"]


def epoch(ts):
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))


def flags_text(flags):
    return ",".join(f for f in FLAGS if f in flags)


def add(con, doc, text):
    rid = doc["report_id"].lower()
    if con.execute("SELECT 1 FROM reports WHERE report_id = ?", (rid,)).fetchone():
        return False
    t = epoch(doc["collected_at"])
    host = doc["host"]
    hpk = con.execute(
        "INSERT INTO hosts(host_id, hostname, first_seen, last_seen, reports)"
        " VALUES (?, ?, ?, ?, 1) ON CONFLICT(host_id) DO UPDATE SET"
        " first_seen = min(first_seen, excluded.first_seen),"
        " last_seen = max(last_seen, excluded.last_seen), reports = reports + 1"
        " RETURNING host_pk", (host["id"], host.get("hostname"), t, t)).fetchone()[0]
    os_ = host.get("os") or {}
    cur = con.execute(
        "INSERT INTO reports(report_id, host_pk, collected_at, ingested_at, hostname, os_name,"
        " os_version, agent_version, dropped_reports, document)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (rid, hpk, t, int(time.time()), host.get("hostname"), os_.get("name"),
         os_.get("version"), doc["agent"]["version"],
         doc["agent"].get("dropped_reports", 0), text))
    rpk = cur.lastrowid
    con.execute(
        "UPDATE hosts SET latest_report = ?, hostname = ? WHERE host_pk = ? AND"
        " (latest_report IS NULL OR (SELECT (collected_at, report_id) < (?, ?)"
        "  FROM reports WHERE report_pk = hosts.latest_report) IS NOT 0)",
        (rpk, host.get("hostname"), hpk, t, rid))
    con.executemany("INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
        (rpk, i, s.get("user"), s["client"], s["format"], s.get("path"), s["status"],
         s.get("error")) for i, s in enumerate(doc["sources"])])
    con.executemany(
        "INSERT INTO servers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (rpk, i, s["id"], s.get("user"), s.get("client"), s.get("source"),
             s.get("hostname"), s.get("provider"), s.get("port"), s["security"], s["auth"],
             s.get("username"), s.get("description"), len(s.get("used_by", [])),
             flags_text(s.get("flags", []))) for i, s in enumerate(doc["servers"])])
    con.executemany(
        "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (rpk, i, a["id"], a.get("user"), a.get("client"), a.get("source"), a.get("type"),
             a.get("description"), ",".join(a.get("emails", [])), a.get("smtp"),
             a.get("smtp_ref"), flags_text(a.get("flags", [])))
            for i, a in enumerate(doc["accounts"])])
    rows = []
    for i, p in enumerate(doc["probes"]):
        tls = p.get("tls") or {}
        cert = tls.get("cert") or {}
        failed = p["outcome"] not in ("ok", "skipped")
        rows.append((rpk, i, p.get("hostname"), p["port"], p["security"],
                     ",".join(p.get("servers", [])), p["outcome"],
                     p.get("phase") if failed else None, p.get("reply_code") or None,
                     p.get("detail"), p.get("address"), p.get("duration_ms", 0),
                     int(bool(p.get("starttls_offered"))),
                     ",".join(p.get("auth_before_tls", [])), ",".join(p.get("auth", [])),
                     tls.get("version"), tls.get("cipher"),
                     int(tls["verified"]) if tls else None,
                     int(tls["hostname_match"]) if tls else None,
                     cert.get("not_after"), cert.get("days_left") if cert else None))
    con.executemany("INSERT INTO probes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                    " ?, ?, ?, ?, ?, ?)", rows)
    seen = set()
    for s in doc["servers"]:
        key = (s.get("hostname") or "", s.get("port") or 0, s.get("provider") or "")
        if key in seen:
            continue
        seen.add(key)
        con.execute(
            "INSERT INTO host_servers VALUES (?, ?, ?, ?, ?, ?, 1)"
            " ON CONFLICT(host_pk, hostname, port, provider) DO UPDATE SET"
            " first_seen = min(first_seen, excluded.first_seen),"
            " last_seen = max(last_seen, excluded.last_seen), reports = reports + 1",
            (hpk, key[0], key[1], key[2], t, t))
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--spool", required=True)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--validate", help="JSON Schema file (needs python3-jsonschema)")
    a = ap.parse_args()
    validator = None
    if a.validate:
        import jsonschema
        with open(a.validate) as f:
            schema = json.load(f)
        validator = jsonschema.validators.validator_for(schema)(schema)
    con = sqlite3.connect(a.db, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = FULL")
    # The C ingest's connection settings (collector/store_sqlite.c), so that both use
    # SQLite alike; the page size (16 KiB) comes with the store, which C created.
    con.execute("PRAGMA cache_size = -65536")
    con.execute("PRAGMA wal_autocheckpoint = 4096")
    done = os.path.join(a.spool, "done")
    quarantine = os.path.join(a.spool, "quarantine")
    os.makedirs(done, exist_ok=True)
    os.makedirs(quarantine, exist_ok=True)
    pending, added, dups, bad = [], 0, 0, 0
    start = time.time()
    con.execute("BEGIN IMMEDIATE")
    for name in os.listdir(a.spool):
        path = os.path.join(a.spool, name)
        if not name.endswith(".json") or not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as f:
                text = f.read().decode()
            doc = json.loads(text)
            if validator:
                validator.validate(doc)
            if doc["report_id"].lower() != name[:-5]:
                raise ValueError("report_id does not match the file name")
            if add(con, doc, text):
                added += 1
            else:
                dups += 1
            pending.append(name)
        except (ValueError, KeyError, TypeError, Exception) as e:  # noqa: B014
            with open(os.path.join(quarantine, name + ".reason"), "w") as f:
                f.write(str(e)[:500] + "\n")
            os.rename(path, os.path.join(quarantine, name))
            bad += 1
        if len(pending) >= a.batch:
            con.execute("COMMIT")
            for n in pending:
                os.rename(os.path.join(a.spool, n), os.path.join(done, n))
            pending = []
            con.execute("BEGIN IMMEDIATE")
    con.execute("COMMIT")
    for n in pending:
        os.rename(os.path.join(a.spool, n), os.path.join(done, n))
    con.close()
    secs = time.time() - start
    total = added + dups + bad
    print("py_ingest: %d ingested, %d duplicates, %d quarantined (%d reports in %.1f s, "
          "%.0f reports/s)" % (added, dups, bad, total, secs, total / secs if secs else 0))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
