"""Helpers for the collector's integration tests (and bench/ingest).

- Checker: collects failed expectations, prints them, exits 1 at the end.
- collector(): runs MF_COLLECTOR with arguments and input.
- fleet(): writes N reports with bench/fleetgen (deterministic).
- frame(): builds the receive framing of docs/transport.md.
- Sshd: a real OpenSSH sshd on 127.0.0.1, with its own host key, a client key and an
  authorized_keys line forcing `mailfleet-collector receive`.
- summaries_consistent(): the store's summary tables equal what its rows say.

Only the Python standard library; run with /usr/bin/python3.
"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

SOURCE_DIR = os.environ.get("MF_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", ".."))
FLEETGEN = os.path.join(SOURCE_DIR, "bench", "fleetgen", "fleetgen.py")
SKIP = 77


def collector_path():
    path = os.environ.get("MF_COLLECTOR")
    if not path or not os.access(path, os.X_OK):
        print("SKIP: MF_COLLECTOR is not set to the mailfleet-collector binary")
        sys.exit(SKIP)
    return path


class Checker:
    def __init__(self, name):
        self.name = name
        self.failures = []
        self.count = 0

    def expect(self, cond, what):
        self.count += 1
        if not cond:
            self.failures.append(what)
            print("FAIL: " + what, flush=True)
        return cond

    def done(self):
        if self.failures:
            print("%s: %d of %d checks failed" % (self.name, len(self.failures), self.count))
            sys.exit(1)
        print("%s: all %d checks passed" % (self.name, self.count))
        sys.exit(0)


def collector(args, input_bytes=b"", timeout=120, env=None):
    """Run mailfleet-collector; returns (exit code, stdout bytes, stderr text)."""
    p = subprocess.run([collector_path()] + args, input=input_bytes, capture_output=True,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def fleet(out, hosts, seed=1, per_host=1, start=None, every_days=1.0, framed=None):
    """Generate reports into out/ (and a framed stream); returns {report_id: bytes}."""
    args = ["/usr/bin/python3", FLEETGEN, "--hosts", str(hosts), "--seed", str(seed),
            "--reports-per-host", str(per_host), "--every-days", str(every_days)]
    if out:
        args += ["--out", out]
    if framed:
        args += ["--framed", framed]
    if start:
        args += ["--start", start]
    subprocess.run(args, check=True, capture_output=True)
    docs = {}
    if out:
        for name in os.listdir(out):
            if name.endswith(".json"):
                with open(os.path.join(out, name), "rb") as f:
                    docs[name[:-5]] = f.read()
    return docs


def frame(items, end=True):
    """items: (id, body bytes) pairs -> the framed stream."""
    out = b""
    for rid, body in items:
        rid = rid.encode() if isinstance(rid, str) else rid
        out += b"REPORT %s %d\n" % (rid, len(body)) + body + b"\n"
    if end:
        out += b"END\n"
    return out


def answers(stdout):
    return stdout.decode(errors="replace").splitlines()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def spool_files(spool, sub=""):
    d = os.path.join(spool, sub) if sub else spool
    if not os.path.isdir(d):
        return set()
    return {n for n in os.listdir(d)
            if os.path.isfile(os.path.join(d, n)) and n != "ingest.lock"}


def db_query(db, sql, args=()):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def summaries_consistent(db):
    """Return a list of problems: summary tables that disagree with the rows."""
    agg = ("SELECT host_pk, hostname, port, provider, min(collected_at), max(collected_at),"
           " count(*) FROM (SELECT DISTINCT r.host_pk, r.report_pk, r.collected_at,"
           " coalesce(s.hostname, '') AS hostname, coalesce(s.port, 0) AS port,"
           " coalesce(s.provider, '') AS provider FROM servers s JOIN reports r"
           " ON r.report_pk = s.report_pk) GROUP BY 1, 2, 3, 4")
    problems = []
    n = db_query(db, "SELECT count(*) FROM (SELECT * FROM host_servers EXCEPT %s)" % agg)[0][0]
    m = db_query(db, "SELECT count(*) FROM (%s EXCEPT SELECT * FROM host_servers)" % agg)[0][0]
    if n or m:
        problems.append("host_servers differs from the rows (%d extra, %d missing)" % (n, m))
    bad = db_query(db, "SELECT count(*) FROM hosts h WHERE reports <>"
                       " (SELECT count(*) FROM reports r WHERE r.host_pk = h.host_pk)"
                       " OR latest_report IS NOT (SELECT report_pk FROM reports r"
                       " WHERE r.host_pk = h.host_pk ORDER BY collected_at DESC,"
                       " report_id DESC LIMIT 1)")[0][0]
    if bad:
        problems.append("%d hosts rows disagree with their reports" % bad)
    orphans = db_query(db, "SELECT count(*) FROM servers WHERE report_pk NOT IN"
                           " (SELECT report_pk FROM reports)")[0][0]
    if orphans:
        problems.append("%d orphan server rows" % orphans)
    return problems


class Sshd:
    """A real sshd on 127.0.0.1:<free port> whose only key forces `receive`.

    with Sshd(workdir, spool, receive_args=[...]) as s:
        code, out, err = s.ssh(framed_bytes)
    """

    def __init__(self, workdir, spool, receive_args=(), max_startups=200):
        self.dir = workdir
        self.spool = spool
        self.receive_args = list(receive_args)
        self.max_startups = max_startups
        self.proc = None
        self.port = None

    def _keygen(self, path):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mf-test",
                        "-f", path], check=True)

    def __enter__(self):
        if not os.path.exists("/usr/sbin/sshd"):
            print("SKIP: /usr/sbin/sshd not installed (Debian openssh-server)")
            sys.exit(SKIP)
        if os.geteuid() != 0:
            print("SKIP: the sshd tests log in as root on a private sshd; run them as root")
            sys.exit(SKIP)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        d = self.dir
        self.hostkey = os.path.join(d, "hostkey")
        self.clientkey = os.path.join(d, "clientkey")
        self._keygen(self.hostkey)
        self._keygen(self.clientkey)
        with open(self.clientkey + ".pub") as f:
            pub = f.read().strip()
        cmd = " ".join([collector_path(), "receive", "--spool", self.spool] +
                       self.receive_args)
        self.authorized_keys = os.path.join(d, "authorized_keys")
        with open(self.authorized_keys, "w") as f:
            f.write('restrict,command="%s" %s\n' % (cmd, pub))
        self.port = free_port()
        with open(self.hostkey + ".pub") as f:
            hostpub = " ".join(f.read().split()[:2])
        self.known_hosts = os.path.join(d, "known_hosts")
        with open(self.known_hosts, "w") as f:
            f.write("[127.0.0.1]:%d %s\n" % (self.port, hostpub))
        self.config = os.path.join(d, "sshd_config")
        with open(self.config, "w") as f:
            f.write("\n".join([
                "Port %d" % self.port,
                "ListenAddress 127.0.0.1",
                "HostKey " + self.hostkey,
                "PidFile " + os.path.join(d, "sshd.pid"),
                "AuthorizedKeysFile " + self.authorized_keys,
                "StrictModes no",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "PrintMotd no",
                "MaxStartups %d" % self.max_startups,
                "MaxSessions 10",
                "LogLevel VERBOSE",
                "",
            ]))
        self.log = open(os.path.join(d, "sshd.log"), "wb")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-f", self.config, "-D", "-e"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if self.proc.poll() is not None:
                raise RuntimeError("sshd exited at start: see %s/sshd.log" % d)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("sshd did not start listening")
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return False

    def ssh_args(self, remote_command=None):
        args = ["ssh", "-F", "/dev/null", "-T", "-i", self.clientkey,
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + self.known_hosts,
                "-o", "ConnectTimeout=30", "-p", str(self.port), "root@127.0.0.1"]
        if remote_command:
            args.append(remote_command)
        return args

    def ssh(self, data, remote_command=None, timeout=120):
        p = subprocess.run(self.ssh_args(remote_command), input=data, capture_output=True,
                           timeout=timeout)
        return p.returncode, p.stdout, p.stderr.decode(errors="replace")

    def popen(self, remote_command=None):
        return subprocess.Popen(self.ssh_args(remote_command), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def children(self):
        """Pids of the per-connection sshd processes (children of the listener)."""
        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid:
                out.append(int(pid))
        return out


def receivers_running(spool):
    """Pids of `receive` processes working on this spool."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"receive" in argv and spool.encode() in argv:
            pids.append(int(pid))
    return pids


def wait_receivers_gone(spool, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not receivers_running(spool):
            return True
        time.sleep(0.05)
    return False


def tempdir(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR", "/tmp"))


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
