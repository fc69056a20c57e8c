#!/usr/bin/python3
"""Integration tests of mailfleet-collector's receive, ingest and servers.

    run_collector_tests.py receive|diskfull|ingest|retention|crash|sshd

receive    the framing over stdin/stdout: good, corrupt, invalid, oversized, non-UUID,
           mismatched and duplicate reports, framing errors, idle timeout, usage
diskfull   a 256 KiB tmpfs as the spool: NACK no-space, nothing half-written, and
           the same reports accepted once there is room again
ingest     quarantine with reasons, idempotency, explicit files, --remove-ingested,
           the ingest lock, tmp/ cleanup, the servers inventory against an independent
           count
retention  --keep-days removes old reports and keeps the summaries consistent
crash      kill -9 a 10,000-report ingest at random points 20 times, then a final run:
           every report in the store exactly once
sshd       a real OpenSSH sshd on loopback with the forced command: end to end, the
           agent's command ignored, an interrupted transfer resent, 50 senders at once

Checks outcomes, never times.
"""
import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import collib  # noqa: E402
from collib import Checker, answers, collector, frame  # noqa: E402


def uuid_of(i):
    return "00000000-0000-4000-8000-%012d" % i


def with_id(body, old, new):
    return body.replace(old.encode(), new.encode())


# ------------------------------------------------------------------ receive

def group_receive():
    c = Checker("receive")
    d = collib.tempdir("mf-recv.")
    spool = os.path.join(d, "spool")
    docs = collib.fleet(os.path.join(d, "gen"), 4, seed=11)
    ids = sorted(docs)
    a, b, x, y = ids

    # Usage.
    code, out, err = collector(["receive"])
    c.expect(code == 2 and "--spool" in err, "receive without --spool is a usage error (2)")
    code, out, err = collector(["receive", "--spool", spool, "--max-bytes", "0"])
    c.expect(code == 2, "--max-bytes 0 is a usage error")
    code, out, err = collector(["receive", "--spool", spool, "--bogus"])
    c.expect(code == 2, "an unknown option is a usage error")
    for sub in ("receive", "ingest", "servers", "check", "report"):
        code, out, err = collector([sub, "--bogus"])
        c.expect(code == 2 and ("mailfleet-collector %s: unrecognized option" % sub) in err,
                 "%s: an unknown option is named with the program and the command" % sub)
    code, out, err = collector(["receive", "--help"])
    c.expect(code == 0 and b"--spool" in out, "receive --help exits 0 and documents --spool")
    code, out, err = collector(["--version"])
    c.expect(code == 0 and out.startswith(b"mailfleet-collector "), "--version")
    code, out, err = collector(["frobnicate"])
    c.expect(code == 2, "an unknown command is a usage error")

    # Good reports, one session.
    code, out, err = collector(["receive", "--spool", spool],
                               frame([(a, docs[a]), (b, docs[b])]))
    lines = answers(out)
    c.expect(code == 0, "a clean session exits 0 (got %d: %s)" % (code, err))
    c.expect(lines[:1] == ["MFRECV 1 max=1048576"], "greeting first: %r" % lines[:1])
    c.expect(lines[1:] == ["ACK " + a, "ACK " + b, "BYE 2 0 0"], "ACK each, then BYE: %r" % lines)
    for rid in (a, b):
        path = os.path.join(spool, rid + ".json")
        c.expect(os.path.isfile(path) and open(path, "rb").read() == docs[rid],
                 "%s stored byte for byte" % rid)
    c.expect(not os.listdir(os.path.join(spool, "tmp")), "nothing left in tmp/")

    # Duplicates: again in a new session, twice in one session, upper-case id.
    code, out, err = collector(["receive", "--spool", spool],
                               frame([(a, docs[a]), (x, docs[x]), (x, docs[x]),
                                      (b.upper(), docs[b])]))
    lines = answers(out)
    c.expect(lines[1:] == ["ACK %s duplicate" % a, "ACK " + x, "ACK %s duplicate" % x,
                           "ACK %s duplicate" % b.upper(), "BYE 1 3 0"],
             "duplicates are acknowledged as such: %r" % lines)
    c.expect(collib.spool_files(spool) == {a + ".json", b + ".json", x + ".json"},
             "each report stored once: %r" % collib.spool_files(spool))

    # Already ingested (in done/) or quarantined: still a duplicate.
    os.rename(os.path.join(spool, a + ".json"), os.path.join(spool, "done", a + ".json"))
    code, out, err = collector(["receive", "--spool", spool], frame([(a, docs[a])]))
    c.expect(answers(out)[1:2] == ["ACK %s duplicate" % a], "a report in done/ is a duplicate")
    c.expect(not os.path.exists(os.path.join(spool, a + ".json")),
             "a report in done/ is not stored again")

    # Refusals, each with its reason, in one session that carries on.
    corrupt = b'{"schema": "mailfleet.report.v1", "report_id": '
    doc = json.loads(docs[y])
    doc["servers"][0]["port"] = 70000
    badport = json.dumps(doc, separators=(",", ":")).encode()
    mismatch_id = uuid_of(42)
    stream = frame([
        (y, corrupt),                    # not JSON
        (y, badport),                    # JSON, but invalid
        ("../../etc/passwd", docs[y]),   # not a UUID
        ("not-a-uuid", docs[y]),
        (mismatch_id, docs[y]),          # header and document disagree
        (y, docs[y] + b" " * 3000),      # over --max-bytes (skipped, then refused)
        (y, docs[y]),                    # and the stream is still in step
    ])
    code, out, err = collector(["receive", "--spool", spool, "--max-bytes",
                                str(len(docs[y]) + 100)], stream)
    lines = answers(out)
    c.expect(code == 0, "refusals do not end the session (exit %d)" % code)
    c.expect(len(lines) == 9, "one answer per report: %r" % lines)
    if len(lines) == 9:
        c.expect(lines[1].startswith("NACK %s invalid " % y) and "JSON" in lines[1],
                 "corrupt JSON: NACK invalid: %s" % lines[1])
        c.expect(lines[2].startswith("NACK %s invalid " % y) and "servers[0].port" in lines[2],
                 "invalid field: NACK invalid naming the field: %s" % lines[2])
        c.expect(lines[3] == "NACK ../../etc/passwd bad-id the report id is not a UUID",
                 "path as id: NACK bad-id: %s" % lines[3])
        c.expect(lines[4].startswith("NACK not-a-uuid bad-id"), "non-UUID: NACK bad-id")
        c.expect(lines[5].startswith("NACK %s id-mismatch " % mismatch_id) and y in lines[5],
                 "id mismatch: NACK id-mismatch naming both: %s" % lines[5])
        c.expect(lines[6].startswith("NACK %s too-large " % y), "oversized: NACK too-large")
        c.expect(lines[7] == "ACK " + y, "the stream stays in step after a skip: %s" % lines[7])
        c.expect(lines[8] == "BYE 1 0 6", "BYE counts: %s" % lines[8])
    c.expect(not os.path.exists(os.path.join(d, "etc")) and
             not os.path.exists(os.path.join(spool, "..", "..", "etc", "passwd.json")),
             "no file written outside the spool")
    c.expect(collib.spool_files(spool) == {b + ".json", x + ".json", y + ".json"},
             "only valid reports stored: %r" % collib.spool_files(spool))
    c.expect(not collib.spool_files(spool, "tmp"), "tmp/ empty after refusals")

    # Framing errors: NACK - protocol, exit 1.
    for name, data, word in [
        ("a header that does not parse", b"REPORT x\n", "protocol"),
        ("an unknown line", b"HELLO\n", "protocol"),
        ("a negative length", b"REPORT %s -5\n" % a.encode(), "protocol"),
        ("a length with a sign", b"REPORT %s +5\n" % a.encode(), "protocol"),
        ("a short body", b"REPORT %s 100\n{}" % a.encode(), "protocol"),
        ("no newline after the body", b"REPORT %s 2\n{}XEND\n" % a.encode(), "protocol"),
        ("a line over 512 bytes", b"REPORT " + b"a" * 600 + b" 1\n", "protocol"),
        ("a NUL in the header", b"REPORT a\0b 2\n{}\n", "protocol"),
    ]:
        code, out, err = collector(["receive", "--spool", spool], data)
        lines = answers(out)
        c.expect(code == 1 and len(lines) == 2 and lines[1].startswith("NACK - " + word),
                 "%s: NACK - protocol and exit 1 (got %d, %r)" % (name, code, lines))

    # An announced size far beyond any cap: refused and the session ends, unread.
    code, out, err = collector(["receive", "--spool", spool],
                               b"REPORT %s 99999999999\n" % b.encode())
    lines = answers(out)
    c.expect(code == 1 and lines[1:] == ["NACK %s too-large report of 99999999999 bytes is "
                                         "over the limit of 1048576 bytes" % b],
             "huge announced size: NACK too-large, exit 1: %r" % lines)

    # Input ends without END: what was acknowledged is stored; exit 1.
    z = uuid_of(7)
    zdoc = with_id(docs[y], y, z)
    code, out, err = collector(["receive", "--spool", spool], frame([(z, zdoc)], end=False))
    c.expect(code == 1 and answers(out)[1:] == ["ACK " + z],
             "EOF without END: acknowledged, exit 1")
    c.expect(os.path.isfile(os.path.join(spool, z + ".json")), "EOF without END: stored")

    # Pipelining: 8 reports written before reading any answer.
    many = {}
    for i in range(8):
        rid = uuid_of(100 + i)
        many[rid] = with_id(docs[b], b, rid)
    code, out, err = collector(["receive", "--spool", spool], frame(sorted(many.items())))
    lines = answers(out)
    c.expect(lines[1:] == ["ACK " + r for r in sorted(many)] + ["BYE 8 0 0"],
             "8 pipelined reports, answered in order")

    # Idle timeout: an agent that stalls is dropped (checked by outcome, not by time).
    p = subprocess.Popen([collib.collector_path(), "receive", "--spool", spool, "--timeout", "1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"REPORT %s 10\n{" % a.encode())
    p.stdin.flush()  # and keep stdin open: the agent is alive but silent
    try:
        p.wait(timeout=60)
        err = p.stderr.read()
        c.expect(p.returncode == 1 and b"too long" in err,
                 "a stalled agent is dropped with exit 1 (%d, %r)" % (p.returncode, err[-200:]))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        c.expect(False, "receive did not give up on a stalled agent")
    p.stdin.close()
    p.stdout.close()
    p.stderr.close()

    # The spool cannot be opened: say so on the channel, exit 1.
    code, out, err = collector(["receive", "--spool", os.path.join(d, "no", "such", "dir")],
                               frame([(a, docs[a])]))
    c.expect(code == 1 and out.startswith(b"NACK - io"), "unusable spool: NACK - io, exit 1")
    collib.rmtree(d)
    c.done()


# ------------------------------------------------------------------ disk full

def mount_small(path):
    """Mount a 256 KiB file system at path: tmpfs, else a loop ext4. Returns a cleanup
    function, or None when neither is allowed."""
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", path],
                       capture_output=True)
    if r.returncode == 0:
        return lambda: subprocess.run(["umount", "-l", path], capture_output=True)
    img = path + ".img"
    try:
        with open(img, "wb") as f:
            f.truncate(1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-F", img], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", img, path], check=True, capture_output=True)
        return lambda: subprocess.run(["umount", "-l", path], capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None


def group_diskfull():
    c = Checker("diskfull")
    d = collib.tempdir("mf-full.")
    mnt = os.path.join(d, "mnt")
    cleanup = mount_small(mnt)
    if not cleanup:
        print("SKIP: cannot mount a small tmpfs or loop file system here (not root, or no "
              "mount permission); the disk-full test needs one")
        collib.rmtree(d)
        sys.exit(collib.SKIP)
    try:
        spool = os.path.join(mnt, "spool")
        docs = collib.fleet(os.path.join(d, "gen"), 120, seed=5)
        items = sorted(docs.items())
        code, out, err = collector(["receive", "--spool", spool], frame(items))
        lines = answers(out)
        acked = {l.split()[1] for l in lines if l.startswith("ACK ")}
        nospace = [l for l in lines if l.startswith("NACK ") and l.split()[2] == "no-space"]
        other = [l for l in lines if l.startswith("NACK ") and l.split()[2] != "no-space"]
        c.expect(code == 0 and lines[-1].startswith("BYE "),
                 "a full disk does not end the session (exit %d, last %r)" % (code, lines[-1:]))
        c.expect(len(nospace) > 0, "the disk filled up: NACK no-space (%d acked)" % len(acked))
        c.expect(not other, "no other refusals: %r" % other[:3])
        c.expect(len(acked) + len(nospace) == len(items), "one answer per report")
        stored = collib.spool_files(spool)
        c.expect(stored == {r + ".json" for r in acked},
                 "exactly the acknowledged reports are in the spool")
        intact = all(open(os.path.join(spool, r + ".json"), "rb").read() == docs[r]
                     for r in acked)
        c.expect(intact, "every acknowledged report is complete")
        c.expect(not collib.spool_files(spool, "tmp"), "no half-written file left in tmp/")
        # Make room (ingest would), then the refused reports are accepted.
        refused = [l.split()[1] for l in nospace][:20]
        for r in acked:  # as ingest --remove-ingested would
            os.unlink(os.path.join(spool, r + ".json"))
        code, out, err = collector(["receive", "--spool", spool],
                                   frame([(r, docs[r]) for r in refused]))
        lines = answers(out)
        c.expect(lines[1:-1] == ["ACK " + r for r in refused],
                 "after room is made, the refused reports are stored: %r" % lines[-3:])
    finally:
        cleanup()
        collib.rmtree(d)
    c.done()


# ------------------------------------------------------------------ ingest

def ingest(db, spool=None, files=(), extra=()):
    args = ["ingest", "--db", db] + list(extra)
    if spool:
        args += ["--spool", spool]
    return collector(args + list(files), timeout=600)


def summary_counts(out):
    """'ingest: A ingested, B duplicates, C quarantined ...' -> (A, B, C)."""
    for line in out.decode().splitlines():
        if line.startswith("ingest: "):
            w = line.replace(",", "").split()
            return int(w[1]), int(w[3]), int(w[5])
    return None


def expected_inventory(docs):
    """Independent count from the documents: per (hostname, port, provider) the hosts
    having it in their latest report and the accounts using it there."""
    latest = {}
    for body in docs.values():
        r = json.loads(body)
        key = (r["collected_at"], r["report_id"].lower())
        h = r["host"]["id"]
        if h not in latest or key > latest[h][0]:
            latest[h] = (key, r)
    inv = {}
    for _, r in latest.values():
        seen = set()
        for s in r["servers"]:
            k = (s["hostname"] or "", s.get("port") or 0, s.get("provider") or "")
            e = inv.setdefault(k, {"hosts": 0, "accounts": 0})
            e["accounts"] += len(s["used_by"])
            if k not in seen:
                e["hosts"] += 1
                seen.add(k)
    return inv


def group_ingest():
    c = Checker("ingest")
    d = collib.tempdir("mf-ingest.")
    spool = os.path.join(d, "spool")
    db = os.path.join(d, "store.sqlite")
    docs = collib.fleet(os.path.join(d, "gen"), 25, seed=21, per_host=2)
    code, out, err = collector(["receive", "--spool", spool], frame(sorted(docs.items())))
    c.expect(code == 0, "receive into the spool")
    # Bad entries that reach the spool anyway (a disk error, a hand-copied file).
    bad_id = uuid_of(900)
    with open(os.path.join(spool, bad_id + ".json"), "wb") as f:
        f.write(b'{"schema": "mailfleet.report.v1", "report_id": "' + bad_id.encode() + b'"')
    some = sorted(docs)[0]
    other = uuid_of(901)
    with open(os.path.join(spool, other + ".json"), "wb") as f:
        f.write(docs[some])  # content says another report_id
    with open(os.path.join(spool, "notes.txt"), "w") as f:
        f.write("hello")
    os.symlink("/etc/passwd", os.path.join(spool, uuid_of(902) + ".json"))
    os.makedirs(os.path.join(spool, "stray-folder"))
    # A leftover of a receiver that died mid-write: old ones are cleaned up.
    old_tmp = os.path.join(spool, "tmp", "dead.123.1")
    new_tmp = os.path.join(spool, "tmp", "busy.456.1")
    for p in (old_tmp, new_tmp):
        with open(p, "w") as f:
            f.write("partial")
    os.utime(old_tmp, (time.time() - 3 * 86400,) * 2)

    code, out, err = ingest(db, spool, extra=["--batch", "7"])
    c.expect(code == 1, "quarantined files make the exit status 1 (got %d)" % code)
    c.expect(summary_counts(out) == (50, 0, 4), "summary: 50 ingested, 0 duplicates, "
             "4 quarantined: %r" % out)
    c.expect(db_count(db) == 50, "50 reports in the store")
    c.expect(collib.spool_files(spool, "done") == {r + ".json" for r in docs},
             "every ingested report moved to done/")
    c.expect(collib.spool_files(spool) == set(), "nothing left waiting in the spool")
    q = collib.spool_files(spool, "quarantine")
    for name, words in [(bad_id + ".json", "invalid report"),
                        (other + ".json", "does not match the file name"),
                        ("notes.txt", "file name is not"),
                        (uuid_of(902) + ".json", "not a regular file")]:
        reason_path = os.path.join(spool, "quarantine", name + ".reason")
        c.expect(name in q and os.path.isfile(reason_path),
                 "%s quarantined with a .reason file" % name)
        if os.path.isfile(reason_path):
            text = open(reason_path).read()
            c.expect(words in text, "%s: reason says %r: %r" % (name, words, text))
    c.expect(os.path.isdir(os.path.join(spool, "stray-folder")), "folders are left alone")
    c.expect(not os.path.exists(old_tmp) and os.path.exists(new_tmp),
             "stale tmp/ files removed, fresh ones kept")
    c.expect(not collib.summaries_consistent(db), "summaries consistent: %r" %
             collib.summaries_consistent(db))

    # Idempotent: run again (nothing to do), then put the files back as if the moves
    # had been lost in a crash after the commit.
    code, out, err = ingest(db, spool)
    c.expect(code == 0 and summary_counts(out) == (0, 0, 0), "a second run does nothing")
    for r in docs:
        os.rename(os.path.join(spool, "done", r + ".json"), os.path.join(spool, r + ".json"))
    code, out, err = ingest(db, spool)
    c.expect(code == 0 and summary_counts(out) == (0, 50, 0),
             "files already stored are counted as duplicates: %r" % out)
    c.expect(db_count(db) == 50, "still 50 reports")
    c.expect(len(collib.spool_files(spool, "done")) == 50, "and they are moved to done/")

    # --remove-ingested.
    db2 = os.path.join(d, "store2.sqlite")
    spool2 = os.path.join(d, "spool2")
    extra_docs = collib.fleet(os.path.join(d, "gen2"), 5, seed=22)
    collector(["receive", "--spool", spool2], frame(sorted(extra_docs.items())))
    code, out, err = ingest(db2, spool2, extra=["--remove-ingested"])
    c.expect(code == 0 and db_count(db2) == 5, "--remove-ingested: stored")
    c.expect(not collib.spool_files(spool2) and not collib.spool_files(spool2, "done"),
             "--remove-ingested: files gone, not in done/")

    # Explicit files: stored, left where they are; a bad one is named and makes exit 1.
    db3 = os.path.join(d, "store3.sqlite")
    gen = os.path.join(d, "gen2")
    files = sorted(os.path.join(gen, f) for f in os.listdir(gen))
    badfile = os.path.join(d, "broken.json")
    with open(badfile, "w") as f:
        f.write('{"schema": "mailfleet.report.v1"}')
    code, out, err = ingest(db3, files=files + [badfile, files[0]])
    c.expect(code == 1 and summary_counts(out) == (5, 1, 0),
             "explicit files: 5 stored, 1 duplicate, exit 1 for the broken one: %r" % out)
    c.expect("broken.json" in err and "report_id" in err,
             "the broken file is named with its problem: %r" % err[-300:])
    c.expect(all(os.path.exists(p) for p in files), "explicit files are not moved")

    # Usage errors.
    code, out, err = collector(["ingest", "--spool", spool])
    c.expect(code == 2, "ingest without --db is a usage error")
    code, out, err = collector(["ingest", "--db", db, "--spool", spool, files[0]])
    c.expect(code == 2, "--spool and files together is a usage error")
    code, out, err = collector(["ingest", "--db", db, "--batch", "0", "--spool", spool])
    c.expect(code == 2, "--batch 0 is a usage error")

    # The lock: a second ingest on the same spool refuses to run.
    fd = os.open(os.path.join(spool, "ingest.lock"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    code, out, err = ingest(db, spool)
    c.expect(code == 1 and "another ingest" in err, "a second ingest refuses to run: %r" % err)
    os.close(fd)

    # Not a store.
    notdb = os.path.join(d, "not.sqlite")
    with open(notdb, "w") as f:
        f.write("x" * 200)
    code, out, err = ingest(notdb, spool)
    c.expect(code == 1 and "not.sqlite" in err, "a file that is not a store: exit 1, named")

    # The inventory against an independent count from the documents.
    code, out, err = collector(["servers", "--db", db, "--format", "json"])
    c.expect(code == 0, "servers --format json")
    try:
        got = json.loads(out)["servers"]
    except ValueError:
        got = []
    want = expected_inventory(docs)
    gotmap = {(s["hostname"] or "", s["port"] or 0, s["provider"] or ""): s for s in got}
    c.expect(set(gotmap) == set(want), "the inventory lists every server seen: %r vs %r" %
             (sorted(gotmap)[:5], sorted(want)[:5]))
    for k, e in want.items():
        s = gotmap.get(k)
        if s:
            c.expect(s["hosts"] == e["hosts"] and s["accounts"] == e["accounts"],
                     "%r: hosts %d accounts %d, expected %d and %d" %
                     (k, s["hosts"], s["accounts"], e["hosts"], e["accounts"]))
    code, out, err = collector(["servers", "--db", db, "--format", "csv"])
    rows = out.decode().splitlines()
    c.expect(code == 0 and rows[0].startswith("hostname,provider,port,hosts")
             and len(rows) == len(want) + 1, "servers --format csv: header and one row each")
    code, out, err = collector(["servers", "--db", db])
    c.expect(code == 0 and out.startswith(b"SERVER") and b"smtp.office365.com:587" in out,
             "servers: a table")
    code, out, err = collector(["servers", "--db", os.path.join(d, "missing.sqlite")])
    c.expect(code == 1 and not os.path.exists(os.path.join(d, "missing.sqlite")),
             "servers on a missing store: exit 1, nothing created")
    code, out, err = collector(["servers", "--db", db, "--format", "xml"])
    c.expect(code == 2, "servers --format xml is a usage error")
    collib.rmtree(d)
    c.done()


def db_count(db, distinct=False):
    col = "DISTINCT report_id" if distinct else "*"
    return collib.db_query(db, "SELECT count(%s) FROM reports" % col)[0][0]


# ------------------------------------------------------------------ retention

def group_retention():
    c = Checker("retention")
    d = collib.tempdir("mf-ret.")
    db = os.path.join(d, "store.sqlite")
    now = time.time()
    old_start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 100 * 86400))
    new_start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 10 * 86400))
    # 20 hosts with 5 reports 10 days apart starting 100 days ago (all older than 50
    # days), and 20 other hosts (other seed) with 3 recent reports.
    old = collib.fleet(os.path.join(d, "old"), 20, seed=31, per_host=5, start=old_start,
                       every_days=10)
    new = collib.fleet(os.path.join(d, "new"), 20, seed=32, per_host=3, start=new_start,
                       every_days=2)
    files = [os.path.join(d, "old", r + ".json") for r in old]
    files += [os.path.join(d, "new", r + ".json") for r in new]
    code, out, err = ingest(db, files=files)
    c.expect(code == 0 and db_count(db) == 160, "160 reports stored")
    code, out, err = ingest(db, extra=["--keep-days", "50"])
    c.expect(code == 0 and b"removed 100 reports" in out,
             "--keep-days 50 removes the 100 old reports: %r" % out)
    c.expect(db_count(db) == 60, "60 recent reports remain")
    problems = collib.summaries_consistent(db)
    c.expect(not problems, "summaries consistent after retention: %r" % problems)
    hosts = collib.db_query(db, "SELECT count(*) FROM hosts")[0][0]
    c.expect(hosts == 20, "hosts with no report left are gone (%d remain)" % hosts)
    oldest = collib.db_query(db, "SELECT min(first_seen) FROM host_servers")[0][0]
    c.expect(oldest >= now - 50 * 86400, "first seen now within the retention window")
    code, out, err = collector(["servers", "--db", db, "--format", "json"])
    got = json.loads(out)["servers"] if code == 0 else []
    c.expect(sum(s["hosts"] for s in got) == sum(e["hosts"] for e in
                                                 expected_inventory(new).values()),
             "the inventory now counts only the remaining hosts")
    collib.rmtree(d)
    c.done()


# ------------------------------------------------------------------ crash

def group_crash():
    c = Checker("crash")
    top = collib.tempdir("mf-crash.")
    # kill -9 is a process crash, not a power cut: a tmpfs (when we may mount one) gives
    # the same guarantees to test and spares the shared disk 10,000 files and fsyncs.
    d = os.path.join(top, "fs")
    os.makedirs(d)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m,mode=0755", "tmpfs", d],
                       capture_output=True)
    unmount = (lambda: subprocess.run(["umount", "-l", d], capture_output=True)) \
        if r.returncode == 0 else (lambda: None)
    try:
        crash_run(c, d)
    finally:
        unmount()
        collib.rmtree(top)
    c.done()


def crash_run(c, d):
    spool = os.path.join(d, "spool")
    db = os.path.join(d, "store.sqlite")
    # 10,000 reports: 2,500 Macs x 4 runs, written straight into the spool layout.
    os.makedirs(spool)
    docs = collib.fleet(spool, 2500, seed=41, per_host=4)
    ids = set(docs)
    c.expect(len(ids) == 10000, "10,000 reports generated (%d)" % len(ids))
    rng = random.Random(4242)
    killed = finished = 0
    for i in range(20):
        p = subprocess.Popen([collib.collector_path(), "ingest", "--db", db, "--spool", spool,
                              "--batch", "100", "-q"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.0, 0.35))
        p.send_signal(signal.SIGKILL)
        p.wait()
        if p.returncode == -signal.SIGKILL:
            killed += 1
        else:
            finished += 1
    print("crash: %d runs killed mid-way, %d finished before the kill" % (killed, finished))
    code, out, err = collector(["ingest", "--db", db, "--spool", spool], timeout=600)
    c.expect(code == 0, "the final run succeeds (%d: %s)" % (code, err[-300:]))
    total = db_count(db)
    distinct = db_count(db, distinct=True)
    stored = {r for (r,) in collib.db_query(db, "SELECT report_id FROM reports")}
    c.expect(total == 10000 and distinct == 10000, "10,000 reports stored, each once "
             "(%d rows, %d distinct)" % (total, distinct))
    c.expect(stored == ids, "exactly the generated reports are stored")
    c.expect(not collib.spool_files(spool), "nothing left waiting in the spool")
    c.expect(collib.spool_files(spool, "done") == {r + ".json" for r in ids},
             "every report is in done/")
    c.expect(not collib.spool_files(spool, "quarantine"), "nothing quarantined")
    c.expect(collib.db_query(db, "PRAGMA integrity_check")[0][0] == "ok",
             "the database passes integrity_check")
    rows = collib.db_query(db, "SELECT (SELECT count(*) FROM servers),"
                               " (SELECT count(DISTINCT report_pk) FROM servers)")[0]
    expect_servers = sum(len(json.loads(b)["servers"]) for b in docs.values())
    c.expect(rows[0] == expect_servers, "every server row stored once (%d, expected %d)" %
             (rows[0], expect_servers))
    problems = collib.summaries_consistent(db)
    c.expect(not problems, "summaries consistent: %r" % problems)
    hosts = collib.db_query(db, "SELECT count(*), sum(reports) FROM hosts")[0]
    c.expect(hosts == (2500, 10000), "2,500 hosts with 10,000 reports between them: %r" %
             (hosts,))


# ------------------------------------------------------------------ sshd

def group_sshd():
    c = Checker("sshd")
    d = collib.tempdir("mf-sshd.")
    spool = os.path.join(d, "spool")
    db = os.path.join(d, "store.sqlite")
    docs = collib.fleet(os.path.join(d, "gen"), 60, seed=51, per_host=2)
    ids = sorted(docs)
    check_packaging(c, d)
    with collib.Sshd(d, spool, receive_args=["--timeout", "10"]) as s:
        # End to end: ssh -> sshd -> forced receive -> spool -> ingest -> SQLite.
        batch = ids[:10]
        code, out, err = s.ssh(frame([(r, docs[r]) for r in batch]))
        lines = answers(out)
        c.expect(code == 0, "ssh session exits 0 (%d: %s)" % (code, err[-300:]))
        c.expect(lines == ["MFRECV 1 max=1048576"] + ["ACK " + r for r in batch] +
                 ["BYE 10 0 0"], "greeting, 10 ACKs, BYE over ssh: %r" % lines[:3])
        code, out, err = ingest(db, spool)
        c.expect(code == 0 and db_count(db) == 10, "ingested into SQLite: %r" % out)

        # Whatever the agent asks to run, sshd runs receive.
        marker = os.path.join(d, "pwned")
        code, out, err = s.ssh(b"END\n", remote_command="touch " + marker)
        c.expect(answers(out) == ["MFRECV 1 max=1048576", "BYE 0 0 0"] and
                 not os.path.exists(marker), "the agent's command is ignored: %r" % out)

        # Interrupted transfer: kill the sshd child mid-body, then resend.
        r = ids[10]
        p = s.popen()
        greeting = p.stdout.readline()
        c.expect(greeting.startswith(b"MFRECV 1"), "greeting before the interruption")
        body = docs[r]
        p.stdin.write(b"REPORT %s %d\n" % (r.encode(), len(body)) + body[: len(body) // 2])
        p.stdin.flush()
        time.sleep(0.3)  # let the half body reach receive (not a timing assertion)
        kids = s.children()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
        rest = p.stdout.read()
        p.wait(timeout=60)
        c.expect(kids and b"ACK" not in rest, "the cut connection got no ACK (%d sshd "
                 "children killed)" % len(kids))
        c.expect(collib.wait_receivers_gone(spool), "receive exits after the cut")
        c.expect(not os.path.exists(os.path.join(spool, r + ".json")),
                 "a half-received report is not stored")
        c.expect(not collib.spool_files(spool, "tmp"), "no partial file left in tmp/")
        code, out, err = s.ssh(frame([(r, docs[r])]))
        c.expect(answers(out)[1:] == ["ACK " + r, "BYE 1 0 0"], "resent after the cut: ACK")

        # Cut after the whole report went out but before its ACK was read: on resend it
        # is either stored now or a duplicate, never stored twice.
        r2 = ids[11]
        p = s.popen()
        p.stdout.readline()
        p.stdin.write(frame([(r2, docs[r2])], end=False))
        p.stdin.flush()
        time.sleep(0.3)
        for pid in s.children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
        p.stdout.read()
        p.wait(timeout=60)
        collib.wait_receivers_gone(spool)
        code, out, err = s.ssh(frame([(r2, docs[r2])]))
        c.expect(answers(out)[1:2] in (["ACK " + r2], ["ACK %s duplicate" % r2]),
                 "resent after a lost ACK: ACK or ACK duplicate: %r" % answers(out))

        # 50 senders at once; some reports are sent by two senders at the same time.
        rest_ids = ids[12:]
        jobs = []
        for i in range(50):
            mine = rest_ids[(2 * i) % len(rest_ids): (2 * i) % len(rest_ids) + 2]
            if i % 5 == 0:  # overlap with the next sender
                mine = mine + rest_ids[(2 * i + 2) % len(rest_ids):(2 * i + 3) % len(rest_ids)]
            jobs.append(mine)
        results = [None] * len(jobs)

        def send(k):
            results[k] = s.ssh(frame([(x, docs[x]) for x in jobs[k]]), timeout=300)

        threads = [threading.Thread(target=send, args=(k,)) for k in range(len(jobs))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        acked = set()
        ok = True
        for k, (code, out, err) in enumerate(results):
            lines = answers(out)
            good = code == 0 and len(lines) == len(jobs[k]) + 2 and all(
                l in ("ACK " + x, "ACK %s duplicate" % x) for l, x in zip(lines[1:], jobs[k]))
            if not good:
                ok = False
                print("sender %d: exit %d, %r, %s" % (k, code, lines, err[-200:]))
            acked.update(jobs[k])
        c.expect(ok, "all 50 senders got an ACK for each of their reports")
        want = set(ids[:12]) | acked
        code, out, err = ingest(db, spool)
        stored = {r for (r,) in collib.db_query(db, "SELECT report_id FROM reports")}
        c.expect(stored == want and db_count(db) == len(want),
                 "every report stored exactly once (%d rows, %d expected)" %
                 (db_count(db), len(want)))
    collib.rmtree(d)
    c.done()


def check_packaging(c, d):
    """packaging/collector: the sshd snippet parses and forces receive for the user
    mailfleet; the systemd units pass systemd-analyze (when present)."""
    pkg = os.path.join(collib.SOURCE_DIR, "packaging", "collector")
    hostkey = os.path.join(d, "pkg_hostkey")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostkey], check=True)
    cfg = os.path.join(d, "pkg_sshd_config")
    with open(cfg, "w") as f:
        f.write("HostKey %s\nPort %d\nUsePAM no\nInclude %s\n" %
                (hostkey, collib.free_port(), os.path.join(pkg, "sshd_config.d",
                                                           "mailfleet.conf")))
    r = subprocess.run(["/usr/sbin/sshd", "-t", "-f", cfg], capture_output=True, text=True)
    c.expect(r.returncode == 0, "sshd accepts packaging/collector/sshd_config.d/mailfleet.conf:"
             " %s" % r.stderr)
    r = subprocess.run(["/usr/sbin/sshd", "-T", "-f", cfg, "-C",
                        "user=mailfleet,host=mac,addr=10.1.2.3"], capture_output=True, text=True)
    eff = dict(l.split(" ", 1) for l in r.stdout.splitlines() if " " in l)
    c.expect(eff.get("forcecommand", "").endswith("mailfleet-collector receive --spool "
                                                  "/var/spool/mailfleet")
             and eff.get("permittty") == "no" and eff.get("disableforwarding") == "yes"
             and eff.get("authenticationmethods") == "publickey",
             "for user mailfleet sshd forces receive, no tty, no forwarding, keys only")
    r = subprocess.run(["/usr/sbin/sshd", "-T", "-f", cfg, "-C",
                        "user=alice,host=mac,addr=10.1.2.3"], capture_output=True, text=True)
    c.expect("forcecommand none" in r.stdout, "other users are not affected")
    if subprocess.run(["sh", "-c", "command -v systemd-analyze"],
                      capture_output=True).returncode == 0:
        units = os.path.join(d, "units")
        os.makedirs(units)
        for name in ("mailfleet-ingest.service", "mailfleet-ingest.timer"):
            with open(os.path.join(pkg, name)) as f:
                text = f.read().replace("/usr/local/bin/mailfleet-collector",
                                        collib.collector_path())
            with open(os.path.join(units, name), "w") as f:
                f.write(text)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                            os.path.join(units, "mailfleet-ingest.service"),
                            os.path.join(units, "mailfleet-ingest.timer")],
                           capture_output=True, text=True)
        problems = [l for l in r.stderr.splitlines()
                    if "mailfleet-ingest" in l and "User" not in l]
        c.expect(not problems, "systemd-analyze verify: %r" % problems)


GROUPS = {
    "receive": group_receive,
    "diskfull": group_diskfull,
    "ingest": group_ingest,
    "retention": group_retention,
    "crash": group_crash,
    "sshd": group_sshd,
}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in GROUPS:
        sys.exit("usage: run_collector_tests.py " + "|".join(GROUPS))
    collib.collector_path()
    GROUPS[sys.argv[1]]()
