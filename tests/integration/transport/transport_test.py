#!/usr/bin/python3
"""The agent's transport against a real OpenSSH sshd on 127.0.0.1.

Each case starts its own sshd (own host keys, own port, own authorized_keys whose
forced command is the real `mailfleet-collector receive`), runs mailfleet-agent, and
checks the outbox and the collector's spool.

    transport_test.py CASE        run one case (see CASES at the bottom)
    transport_test.py --list      list the cases

Environment (from CTest): MF_AGENT, MF_COLLECTOR (cases that need the collector skip,
exit 77, while it is not built), MF_KEEP=1 keeps the temporary folders.
"""
import getpass
import glob
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

SSHD = "/usr/sbin/sshd"
SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def keygen(path, kind="ed25519"):
    args = ["ssh-keygen", "-q", "-N", "", "-C", "mailfleet-test", "-f", path, "-t", kind]
    if kind == "rsa":
        args += ["-b", "2048"]
    subprocess.run(args, check=True)
    with open(path + ".pub") as f:
        return f.read().strip()


def fingerprint(pubfile):
    out = subprocess.run(["ssh-keygen", "-lf", pubfile], check=True, capture_output=True,
                         text=True).stdout
    return out.split()[1]  # "256 SHA256:... comment (ED25519)"


class Env:
    """One test's world: keys, an sshd, a spool, and any number of agents."""

    def __init__(self, name):
        self.agent = os.environ.get("MF_AGENT")
        self.collector = os.environ.get("MF_COLLECTOR")
        if not self.agent or not os.path.exists(self.agent):
            raise Fail("MF_AGENT is not set or missing (run through ctest)")
        if not os.path.exists(SSHD):
            raise Skip("OpenSSH sshd is not installed (" + SSHD + ")")
        self.dir = tempfile.mkdtemp(prefix="mf-transport-%s-" % name)
        os.chmod(self.dir, 0o755)
        self.user = getpass.getuser()
        self.port = free_port()
        self.spool = os.path.join(self.dir, "spool")
        self.home = os.path.join(self.dir, "home")  # an empty home: reports come quickly
        os.makedirs(self.home)
        self.hostkeys = {}
        for kind in ("ed25519", "ecdsa"):
            path = os.path.join(self.dir, "host_" + kind)
            keygen(path, kind)
            self.hostkeys[kind] = path
        self.sshd = None
        self.extra_sshd = []
        self.authorized = os.path.join(self.dir, "authorized_keys")
        self.keys = {}

    # -- keys ---------------------------------------------------------------------
    def client_key(self, kind="ed25519", name=None):
        name = name or "id_" + kind
        path = os.path.join(self.dir, name)
        if path not in self.keys:
            self.keys[path] = keygen(path, kind)
        return path

    def authorize(self, keypath, command=None):
        """Add keypath's public key with the forced command (default: real receive)."""
        if command is None:
            command = self.receive_command()
        with open(self.authorized, "a") as f:
            f.write('restrict,command="%s" %s\n' % (command, self.keys[keypath]))

    def need_collector(self):
        if not self.collector or not os.path.exists(self.collector):
            raise Skip("MF_COLLECTOR is not set: mailfleet-collector is not built yet, so the "
                       "real `receive` cannot be the forced command")

    def receive_command(self, spool=None):
        self.need_collector()
        return "%s receive --spool %s --timeout 20" % (self.collector, spool or self.spool)

    def known_hosts(self, kinds=("ed25519",), path=None, port=None):
        path = path or os.path.join(self.dir, "known_hosts")
        port = port or self.port
        with open(path, "w") as f:
            for kind in kinds:
                with open(self.hostkeys[kind] + ".pub") as pub:
                    parts = pub.read().split()
                f.write("[127.0.0.1]:%d %s %s\n" % (port, parts[0], parts[1]))
        return path

    # -- sshd -----------------------------------------------------------------------
    def start_sshd(self, extra=""):
        os.makedirs("/run/sshd", exist_ok=True) if os.geteuid() == 0 else None
        conf = os.path.join(self.dir, "sshd_config")
        log = os.path.join(self.dir, "sshd.log")
        with open(conf, "w") as f:
            f.write("Port %d\nListenAddress 127.0.0.1\n" % self.port)
            for path in self.hostkeys.values():
                f.write("HostKey %s\n" % path)
            f.write("PidFile %s\n" % os.path.join(self.dir, "sshd.pid"))
            f.write("AuthorizedKeysFile %s\n" % self.authorized)
            f.write("StrictModes no\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n"
                    "PermitRootLogin forced-commands-only\nMaxStartups 200\n"
                    "LogLevel VERBOSE\n")
            f.write(extra)
        self.sshd_log = log
        self.sshd = subprocess.Popen([SSHD, "-f", conf, "-D", "-E", log],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.sshd.poll() is not None:
                raise Fail("sshd exited: %s %s" % (self.sshd.stderr.read().decode(),
                                                   open(log).read() if os.path.exists(log) else ""))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise Fail("sshd did not start listening")

    def stop_sshd(self):
        if self.sshd and self.sshd.poll() is None:
            self.sshd.terminate()
            try:
                self.sshd.wait(10)
            except subprocess.TimeoutExpired:
                self.sshd.kill()
                self.sshd.wait()
        self.sshd = None

    def accepted_connections(self):
        with open(self.sshd_log) as f:
            return sum(1 for line in f if "Accepted publickey" in line)

    # -- the agent ------------------------------------------------------------------
    def config(self, name="agent.json", outbox=None, key=None, known_hosts=None, **extra):
        cfg = {
            "collector": "%s@127.0.0.1:%d" % (self.user, self.port),
            "identity": key or self.client_key(),
            "known_hosts": known_hosts or os.path.join(self.dir, "known_hosts"),
            "outbox": outbox or os.path.join(self.dir, "outbox"),
            "ssh_timeout": 10,
            "no_probe": True,
        }
        cfg.update(extra)
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def run_agent(self, command, config, *args, timeout=120):
        argv = [self.agent, command, "--config", config]
        if command == "send":
            argv += ["--home", self.home]
        argv += list(args)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return p

    def start_agent(self, command, config, *args):
        argv = [self.agent, command, "--config", config]
        if command == "send":
            argv += ["--home", self.home]
        argv += list(args)
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # -- what is where ----------------------------------------------------------------
    def outbox_reports(self, outbox=None):
        outbox = outbox or os.path.join(self.dir, "outbox")
        return sorted(p for p in glob.glob(os.path.join(outbox, "*.json"))
                      if re.match(r"^\d{16}-[0-9a-f-]{36}\.json$", os.path.basename(p)))

    def spooled(self, spool=None):
        """report ids stored by receive (in the spool or already moved to done/)."""
        spool = spool or self.spool
        ids = []
        for p in glob.glob(os.path.join(spool, "*.json")) + glob.glob(
                os.path.join(spool, "done", "*.json")):
            ids.append(os.path.basename(p)[:-5])
        return ids

    def cleanup(self, ok):
        self.stop_sshd()
        for p in self.extra_sshd:
            if p.poll() is None:
                p.kill()
        if ok and not os.environ.get("MF_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("kept", self.dir)


def report_id_of(path):
    return os.path.basename(path)[17:-5]


def show(p):
    return "exit %d\nstdout: %s\nstderr: %s" % (p.returncode, p.stdout, p.stderr)


def ready(env, kind="ed25519"):
    """Keys authorised, host key pinned, sshd running."""
    key = env.client_key(kind)
    env.authorize(key)
    env.known_hosts()
    env.start_sshd()
    return key


# ------------------------------------------------------------------------ the cases

def case_end_to_end(env):
    """agent -> sshd -> receive -> spool (-> ingest -> SQLite when ingest exists)."""
    ready(env)
    cfg = env.config()
    p = env.run_agent("send", cfg)
    check(p.returncode == 0, "send failed:\n" + show(p))
    check("shipped 1 report" in p.stdout, "no summary line:\n" + show(p))
    check(env.outbox_reports() == [], "the outbox still holds reports after the ACK")
    ids = env.spooled()
    check(len(ids) == 1, "expected one spooled report, got %r" % ids)
    with open(os.path.join(env.spool, ids[0] + ".json")) as f:
        doc = json.load(f)
    check(doc["report_id"] == ids[0] and doc["schema"] == "mailfleet.report.v1",
          "the spooled report is not the agent's")
    # flush with nothing queued is a success
    p = env.run_agent("flush", cfg)
    check(p.returncode == 0 and "nothing queued" in p.stdout, "flush of an empty outbox:\n" + show(p))
    # ingest, when the collector has it
    db = os.path.join(env.dir, "fleet.db")
    ing = subprocess.run([env.collector, "ingest", "--db", db, "--spool", env.spool],
                         capture_output=True, text=True, timeout=60)
    check(ing.returncode == 0, "ingest failed:\n" + show(ing))
    con = sqlite3.connect(db)
    tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
    found = False
    for t in tables:
        cols = [r[1] for r in con.execute("pragma table_info(%s)" % t)]
        if "report_id" in cols:
            n = con.execute("select count(*) from %s where report_id = ?" % t, (ids[0],)).fetchone()[0]
            found = found or n >= 1
    check(found, "the report is not in the SQLite store after ingest (tables %r)" % tables)


def case_unknown_hostkey(env):
    """An unpinned host key is refused with its fingerprint and how to pin it."""
    key = env.client_key()
    env.authorize(key)
    kh = os.path.join(env.dir, "known_hosts")
    with open(kh, "w") as f:
        f.write("# nothing pinned yet\n")
    env.start_sshd()
    cfg = env.config()
    p = env.run_agent("send", cfg)
    check(p.returncode == 1, "an unknown host key must fail the run:\n" + show(p))
    fp = fingerprint(env.hostkeys["ed25519"] + ".pub")
    check(fp in p.stderr, "the fingerprint %s is not shown:\n%s" % (fp, p.stderr))
    with open(env.hostkeys["ed25519"] + ".pub") as f:
        b64 = f.read().split()[1]
    line = "[127.0.0.1]:%d ssh-ed25519 %s" % (env.port, b64)
    check(line in p.stderr, "the known_hosts line to pin is not shown:\n" + p.stderr)
    check("ssh-keyscan -p %d -t ed25519 127.0.0.1" % env.port in p.stderr,
          "the ssh-keyscan command is not shown")
    check(env.spooled() == [], "something was stored although the host key is unknown")
    check(env.accepted_connections() == 0, "the agent authenticated to an unknown host")
    check(len(env.outbox_reports()) == 1, "the report must stay queued")
    # Pinning exactly the printed line makes the next run work.
    with open(kh, "a") as f:
        f.write(line + "\n")
    p = env.run_agent("flush", cfg)
    check(p.returncode == 0, "flush after pinning the printed line:\n" + show(p))
    check(len(env.spooled()) == 1 and env.outbox_reports() == [], "not shipped after pinning")


def case_missing_known_hosts(env):
    """No known_hosts file at all: refused the same way, the file is named."""
    key = env.client_key()
    env.authorize(key)
    env.start_sshd()
    cfg = env.config(known_hosts=os.path.join(env.dir, "absent", "known_hosts"))
    p = env.run_agent("send", cfg)
    check(p.returncode == 1 and "does not exist yet" in p.stderr, show(p))
    check(fingerprint(env.hostkeys["ed25519"] + ".pub") in p.stderr, "no fingerprint:\n" + p.stderr)
    check(env.spooled() == [] and len(env.outbox_reports()) == 1, "sent without a pinned key")


def case_changed_hostkey(env):
    """A different key pinned for the host: HOST KEY CHANGED, nothing sent."""
    key = env.client_key()
    env.authorize(key)
    other = os.path.join(env.dir, "other_host_key")
    keygen(other, "ed25519")
    kh = os.path.join(env.dir, "known_hosts")
    with open(other + ".pub") as f:
        parts = f.read().split()
    with open(kh, "w") as f:
        f.write("[127.0.0.1]:%d %s %s\n" % (env.port, parts[0], parts[1]))
    env.start_sshd()
    cfg = env.config()
    p = env.run_agent("send", cfg)
    check(p.returncode == 1, "a changed host key must fail the run:\n" + show(p))
    check("HOST KEY CHANGED" in p.stderr, "not refused loudly:\n" + p.stderr)
    check(fingerprint(env.hostkeys["ed25519"] + ".pub") in p.stderr, "new fingerprint not shown")
    check(env.spooled() == [], "something was stored although the host key changed")
    check(env.accepted_connections() == 0, "the agent authenticated to a changed host")
    check(len(env.outbox_reports()) == 1, "the report must stay queued")


def case_hostkey_preference(env):
    """Only the ECDSA key is pinned although the server prefers others: the agent asks
    for the pinned type and succeeds."""
    key = env.client_key()
    env.authorize(key)
    env.known_hosts(kinds=("ecdsa",))
    env.start_sshd()
    p = env.run_agent("send", env.config())
    check(p.returncode == 0, "pinned ECDSA key not used:\n" + show(p))
    check(len(env.spooled()) == 1, "not stored")


def case_collector_down(env):
    """sshd not running: the report stays queued, and the next run ships it."""
    key = env.client_key()
    env.authorize(key)
    env.known_hosts()
    cfg = env.config()
    p = env.run_agent("send", cfg)
    check(p.returncode == 1, "send with the collector down must exit 1:\n" + show(p))
    check("cannot connect" in p.stderr and "stay queued" in p.stderr, "unclear message:\n" + p.stderr)
    queued = env.outbox_reports()
    check(len(queued) == 1, "the report is not queued")
    state = json.load(open(os.path.join(env.dir, "outbox", "state.json")))
    check(state["attempts"] == 1 and state["next_attempt"] > 0 and state["last_error"],
          "the retry state is not recorded: %r" % state)
    # --respect-backoff (the LaunchDaemon's flush) waits; a person's flush tries.
    env.start_sshd()
    p = env.run_agent("flush", cfg, "--respect-backoff")
    check(p.returncode == 1 and "not shipping before" in p.stdout, "back-off ignored:\n" + show(p))
    check(env.spooled() == [], "shipped during the back-off")
    p = env.run_agent("flush", cfg)
    check(p.returncode == 0, "flush after the collector came back:\n" + show(p))
    check(env.spooled() == [report_id_of(queued[0])], "the queued report was not shipped")
    check(env.outbox_reports() == [], "acknowledged report still queued")
    state = json.load(open(os.path.join(env.dir, "outbox", "state.json")))
    check(state["attempts"] == 0 and state["last_error"] == "", "success not recorded: %r" % state)


def case_pipelined(env):
    """Twelve queued reports (more than the window of 8) go over one connection."""
    key = env.client_key()
    env.authorize(key)
    env.known_hosts()
    cfg = env.config()
    for _ in range(12):
        p = env.run_agent("send", cfg)
        check(p.returncode == 1, "collector is down, send must exit 1")
    queued = [report_id_of(p) for p in env.outbox_reports()]
    check(len(queued) == 12, "expected 12 queued reports, got %d" % len(queued))
    env.start_sshd()
    p = env.run_agent("flush", cfg, "-vv")
    check(p.returncode == 0, "flush:\n" + show(p))
    check("shipped 12 report" in p.stdout, show(p))
    check(sorted(env.spooled()) == sorted(queued), "not every report was stored")
    check(env.accepted_connections() == 1, "expected one SSH connection, sshd saw %d" %
          env.accepted_connections())
    # the debug log shows more than one report in flight at once
    check(re.search(r", [2-8] unanswered", p.stderr), "no pipelining seen in the debug log")


STALL = r'''#!/usr/bin/python3
# Forced-command wrapper for the interrupted-transfer test: runs the real receive, but
# either stops forwarding the agent's bytes part-way (mode "cut") or forwards every
# byte and withholds receive's answers (mode "drop-ack"). Then it writes the pid of the
# sshd process serving this connection to a file and waits to be killed with it.
import os, subprocess, sys, threading, time
mode, marker, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def sshd_pid():
    pid = os.getpid()
    while pid > 1:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        name = st[st.index("(") + 1:st.rindex(")")]
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if name.startswith("sshd") and pid != os.getpid():
            return pid
        pid = ppid
    return 0
def stall():
    with open(marker + ".tmp", "w") as f:
        f.write(str(sshd_pid()))
    os.rename(marker + ".tmp", marker)
    time.sleep(120)
    os._exit(1)
def pump_in():
    n = 0
    while True:
        b = os.read(0, 4096)
        if not b:
            child.stdin.close()
            return
        if mode == "cut" and n + len(b) > 300:
            child.stdin.write(b[:300 - n]); child.stdin.flush()
            stall()
        n += len(b)
        child.stdin.write(b); child.stdin.flush()
threading.Thread(target=pump_in, daemon=True).start()
while True:
    line = child.stdout.readline()
    if not line:
        break
    if mode == "drop-ack" and line.startswith(b"ACK"):
        time.sleep(0.5)  # receive has stored it durably before answering
        stall()
    os.write(1, line)
'''


def interrupted(env, mode):
    env.need_collector()
    key = env.client_key()
    wrapper = os.path.join(env.dir, "stall.py")
    with open(wrapper, "w") as f:
        f.write(STALL)
    os.chmod(wrapper, 0o755)
    marker = os.path.join(env.dir, "sshd-child.pid")
    env.authorize(key, "/usr/bin/python3 %s %s %s %s" % (wrapper, mode, marker,
                                                        env.receive_command()))
    env.known_hosts()
    env.start_sshd()
    cfg = env.config()
    agent = env.start_agent("send", cfg)
    deadline = time.monotonic() + 60
    while not os.path.exists(marker):
        check(time.monotonic() < deadline and agent.poll() is None,
              "the transfer never reached the stall point")
        time.sleep(0.05)
    pid = int(open(marker).read())
    check(pid > 1, "could not find the sshd child process")
    os.kill(pid, signal.SIGKILL)  # cut the connection mid-transfer
    out, err = agent.communicate(timeout=60)
    check(agent.returncode == 1, "the interrupted send must exit 1:\n%s\n%s" % (out, err))
    queued = env.outbox_reports()
    check(len(queued) == 1, "the report is not kept after the interruption")
    rid = report_id_of(queued[0])
    stored_before = env.spooled()
    if mode == "drop-ack":
        check(stored_before == [rid], "receive should have stored it before the cut")
    else:
        check(stored_before == [], "a cut body must not be stored")
    # Next run, without the staller: resent, stored once.
    with open(env.authorized, "w") as f:
        f.write('restrict,command="%s" %s\n' % (env.receive_command(), env.keys[key]))
    p = env.run_agent("flush", cfg)
    check(p.returncode == 0, "the resend failed:\n" + show(p))
    if mode == "drop-ack":
        check("already stored earlier" in p.stdout, "the resend was not a duplicate:\n" + show(p))
    check(env.spooled() == [rid], "stored %r, expected exactly [%s]" % (env.spooled(), rid))
    check(env.outbox_reports() == [], "still queued after the resend")


def case_interrupted_body(env):
    """The connection is cut in the middle of a report: resent, stored once."""
    interrupted(env, "cut")


def case_interrupted_ack(env):
    """The connection is cut after receive stored the report but before its ACK
    arrived: resent, acknowledged as a duplicate, stored once."""
    interrupted(env, "drop-ack")


def case_load_50(env):
    """50 agents at once, each with its own outbox: every report stored once."""
    key = ready(env)
    procs, outboxes = [], []
    for i in range(50):
        ob = os.path.join(env.dir, "outbox%02d" % i)
        cfg = env.config(name="agent%02d.json" % i, outbox=ob, key=key, ssh_timeout=60)
        outboxes.append(ob)
        procs.append(env.start_agent("send", cfg))
    failures = []
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=300)
        if p.returncode != 0:
            failures.append("agent %d: exit %d: %s" % (i, p.returncode, err.strip()[-300:]))
    # Any agent that lost a race (sshd throttling) keeps its report: one more flush each.
    for i, ob in enumerate(outboxes):
        if env.outbox_reports(ob):
            p = env.run_agent("flush", os.path.join(env.dir, "agent%02d.json" % i))
            check(p.returncode == 0, "retry of agent %d failed:\n%s" % (i, show(p)))
    ids = env.spooled()
    check(len(ids) == 50 and len(set(ids)) == 50, "expected 50 distinct stored reports, got %d (%d "
          "distinct); first failures: %s" % (len(ids), len(set(ids)), failures[:3]))
    for ob in outboxes:
        check(env.outbox_reports(ob) == [], "an outbox still holds a report")
    if failures:
        print("note: %d agents needed a second run: %s" % (len(failures), failures[:3]))


def case_disk_full(env):
    """The spool is a tiny tmpfs that fills up: receive answers NACK no-space and the
    agent keeps the report."""
    env.need_collector()
    if os.geteuid() != 0:
        raise Skip("mounting a tmpfs needs root")
    os.makedirs(env.spool)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", env.spool],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip("cannot mount a tmpfs here: " + r.stderr.strip())
    try:
        # Fill it (receive keeps its own tmp/ inside the spool).
        for sub in ("tmp", "done", "quarantine"):
            os.makedirs(os.path.join(env.spool, sub), exist_ok=True)
        fd = os.open(os.path.join(env.spool, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        ready(env)
        cfg = env.config()
        p = env.run_agent("send", cfg)
        check(p.returncode == 1, "send to a full disk must exit 1:\n" + show(p))
        check("no-space" in p.stderr, "the NACK reason is not shown:\n" + p.stderr)
        check(len(env.outbox_reports()) == 1, "the agent dropped the report")
        check(os.listdir(os.path.join(env.dir, "outbox", "rejected")) == [],
              "a no-space NACK must not reject the report")
        # Space again: the next run ships it.
        os.unlink(os.path.join(env.spool, "filler"))
        p = env.run_agent("flush", cfg)
        check(p.returncode == 0, "flush once space is back:\n" + show(p))
        check(len(env.spooled()) == 1 and env.outbox_reports() == [], "not shipped")
    finally:
        env.stop_sshd()
        subprocess.run(["umount", "-l", env.spool])


def case_bad_config(env):
    """A bad configuration is refused with the file, the key and the reason."""
    bad = [
        ({"collecter": "a@b"}, "collecter", "unknown key"),
        ({"collector_port": "22"}, "collector_port", "wrong type"),
        ({"collector_port": 70000}, "collector_port", "out of range"),
        ({"outbox_max_reports": 0}, "outbox_max_reports", "out of range"),
        ({"privacy": "hide"}, "privacy", "bad value"),
        ({"privacy": "pseudonymise"}, "privacy", "fleet key"),
        ({"fleet_key": "abcd"}, "fleet_key", "at least 16 bytes"),
        ({"no_probe": "yes"}, "no_probe", "wrong type"),
    ]
    for i, (cfg, key, reason) in enumerate(bad):
        path = os.path.join(env.dir, "bad%d.json" % i)
        base = {} if any(k.startswith("collect") for k in cfg) else {"collector": "u@127.0.0.1"}
        with open(path, "w") as f:
            json.dump(dict(base, **cfg), f)
        p = env.run_agent("flush", path)
        check(p.returncode == 2, "bad config %r: expected exit 2:\n%s" % (cfg, show(p)))
        check(path in p.stderr and key in p.stderr and reason in p.stderr,
              "bad config %r: the message must name %s, %s, %s:\n%s" % (cfg, path, key, reason,
                                                                       p.stderr))
    # a plist with a wrong type
    path = os.path.join(env.dir, "bad.plist")
    with open(path, "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict>'
                '<key>collector</key><string>u@h</string>'
                '<key>ssh_timeout</key><string>ten</string></dict></plist>\n')
    p = env.run_agent("flush", path)
    check(p.returncode == 2 and "ssh_timeout" in p.stderr and "wrong type" in p.stderr, show(p))
    # a flag with a bad collector
    p = env.run_agent("flush", os.path.join(env.dir, "bad.plist"), "--collector", "a@b:x")
    check(p.returncode == 2, show(p))
    # no collector at all
    path = os.path.join(env.dir, "empty.json")
    with open(path, "w") as f:
        f.write("{}")
    p = env.run_agent("flush", path)
    check(p.returncode == 2 and "no collector configured" in p.stderr, show(p))


def case_outbox_caps(env):
    """Caps drop the oldest reports; the next report says how many were dropped."""
    key = env.client_key()
    env.authorize(key)
    env.known_hosts()
    cfg = env.config(outbox_max_reports=3)
    for _ in range(5):
        env.run_agent("send", cfg)  # the collector is down
    queued = env.outbox_reports()
    check(len(queued) == 3, "expected 3 queued reports, got %d" % len(queued))
    drops = [json.load(open(p))["agent"].get("dropped_reports", 0) for p in queued]
    # Queueing report 4 dropped report 1: report 5 carries that drop. Queueing report 5
    # dropped report 2: that one is pending, for the next report.
    check(sum(drops) == 1 and drops[-1] == 1,
          "dropped_reports along the queue: %r (expected the newest to carry 1)" % drops)
    state = json.load(open(os.path.join(env.dir, "outbox", "state.json")))
    check(state["dropped_pending"] == 1 and state["dropped_total"] == 2, "state: %r" % state)
    # The next report carries the pending drop.
    env.start_sshd()
    p = env.run_agent("send", cfg)
    check(p.returncode == 0, "send:\n" + show(p))
    ids = env.spooled()
    check(len(ids) == 3, "expected 3 shipped reports (cap 3), got %d" % len(ids))
    carried = sorted(json.load(open(os.path.join(env.spool, i + ".json")))["agent"]
                     .get("dropped_reports", 0) for i in ids)
    check(carried == [0, 1, 1], "dropped_reports in the shipped reports: %r" % carried)


def case_rejected(env):
    """A report the collector can never accept is moved to rejected/ with its reason;
    the good ones around it are shipped."""
    key = ready(env)
    cfg = env.config()
    env.stop_sshd()
    env.run_agent("send", cfg)
    ob = os.path.join(env.dir, "outbox")
    bad_id = str(uuid.uuid4())
    with open(os.path.join(ob, "0000000000000001-%s.json" % bad_id), "w") as f:
        f.write('{"schema": "mailfleet.report.v1", "report_id": "%s"}\n' % bad_id)
    env.run_agent("send", cfg)
    env.start_sshd()
    p = env.run_agent("flush", cfg)
    check(p.returncode == 1, "a refused report must make the run exit 1:\n" + show(p))
    check("refused report %s for good" % bad_id in p.stderr, show(p))
    check(len(env.spooled()) == 2 and env.outbox_reports() == [], "good reports not shipped")
    rej = os.path.join(ob, "rejected")
    check(os.path.exists(os.path.join(rej, "0000000000000001-%s.json" % bad_id)), "not in rejected/")
    with open(os.path.join(rej, "0000000000000001-%s.json.reason" % bad_id)) as f:
        check(f.read().startswith("invalid"), "no reason file")
    p = env.run_agent("flush", cfg)
    check(p.returncode == 0 and "nothing queued" in p.stdout, "the rejected report was retried")


def case_rsa_key(env):
    """An RSA client key works (libssh2 1.10 signs with ssh-rsa, which OpenSSH >= 8.8
    accepts only with PubkeyAcceptedAlgorithms +ssh-rsa: docs/deployment.md)."""
    key = env.client_key("rsa")
    env.authorize(key)
    env.known_hosts()
    env.start_sshd("PubkeyAcceptedAlgorithms +ssh-rsa\n")
    p = env.run_agent("send", env.config(key=key))
    check(p.returncode == 0, "RSA key:\n" + show(p))
    check(len(env.spooled()) == 1, "not stored")


def case_ed25519_key(env):
    """An Ed25519 client key (OpenSSH format) works; a key readable by others and a key
    the collector does not know are refused clearly."""
    key = ready(env)
    cfg = env.config()
    os.chmod(key, 0o644)
    p = env.run_agent("send", cfg)
    check(p.returncode == 1 and "chmod 600" in p.stderr, "loose key permissions:\n" + show(p))
    os.chmod(key, 0o600)
    stranger = env.client_key("ed25519", name="id_stranger")
    p = env.run_agent("flush", env.config(name="stranger.json", key=stranger))
    check(p.returncode == 1 and "refused the key" in p.stderr, "unknown key:\n" + show(p))
    check(env.spooled() == [], "stored with an unauthorised key")
    p = env.run_agent("flush", cfg)
    check(p.returncode == 0, "Ed25519 key:\n" + show(p))
    check(len(env.spooled()) == 1 and env.outbox_reports() == [], "the queued report not stored")


def case_not_a_collector(env):
    """The forced command is not receive: the agent stops at the greeting and keeps
    its report."""
    key = env.client_key()
    env.authorize(key, "echo hello; echo oops >&2")
    env.known_hosts()
    env.start_sshd()
    p = env.run_agent("send", env.config())
    check(p.returncode == 1 and "not a mailfleet collector" in p.stderr, show(p))
    check(len(env.outbox_reports()) == 1, "report not kept")


def case_collector_broken(env):
    """The collector cannot open its spool and says NACK - io instead of its greeting:
    the agent keeps the report and says why."""
    key = env.client_key()
    env.authorize(key, env.receive_command(spool="/proc/mailfleet-cannot-exist"))
    env.known_hosts()
    env.start_sshd()
    p = env.run_agent("send", env.config())
    check(p.returncode == 1 and "the collector cannot take reports now: io" in p.stderr, show(p))
    check(len(env.outbox_reports()) == 1, "report not kept")
    check(os.listdir(os.path.join(env.dir, "outbox", "rejected")) == [], "must not be rejected")


def case_timeouts(env):
    """Every step has a deadline: a peer that accepts TCP and says nothing (handshake), a
    collector command that never greets, and one that greets but never answers. Each run
    ends with a timeout naming the step, and the report stays queued."""
    key = env.client_key()
    # (a) a TCP listener that never speaks SSH
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    cfg = env.config(name="silent.json", ssh_timeout=2,
                     collector="%s@127.0.0.1:%d" % (env.user, silent.getsockname()[1]))
    p = env.run_agent("send", cfg)
    silent.close()
    check(p.returncode == 1 and "no progress in handshake within 2 s" in p.stderr, show(p))
    check(len(env.outbox_reports()) == 1, "report not kept")
    # (b) and (c): forced commands that stall before and after the greeting
    env.known_hosts()
    with open(env.authorized, "w") as f:
        f.write('restrict,command="sleep 30" %s\n' % env.keys[key])
    env.start_sshd()
    # 4 s rather than 2: on a busy machine the handshake with a real sshd may need more
    # than 2 s, and the point here is the step after it.
    cfg = env.config(ssh_timeout=4)
    p = env.run_agent("flush", cfg)
    check(p.returncode == 1 and "no progress in greeting within 4 s" in p.stderr, show(p))
    env.stop_sshd()
    with open(env.authorized, "w") as f:
        f.write('restrict,command="echo MFRECV 1 max=1048576; exec sleep 30" %s\n' % env.keys[key])
    env.start_sshd()
    p = env.run_agent("flush", cfg)
    check(p.returncode == 1 and "no progress in transfer within 4 s" in p.stderr, show(p))
    check(len(env.outbox_reports()) == 1, "report not kept after the timeouts")


def case_pseudonymise(env):
    """privacy = pseudonymise: the shipped report has no user names or addresses."""
    ready(env)
    home = os.path.join(env.dir, "home")
    tb = os.path.join(home, "Library", "Thunderbird", "Profiles", "abc.default")
    os.makedirs(tb)
    with open(os.path.join(home, "Library", "Thunderbird", "profiles.ini"), "w") as f:
        f.write("[Profile0]\nName=default\nIsRelative=1\nPath=Profiles/abc.default\nDefault=1\n")
    with open(os.path.join(tb, "prefs.js"), "w") as f:
        f.write('user_pref("mail.smtpservers", "smtp1");\n'
                'user_pref("mail.smtpserver.smtp1.hostname", "smtp.example.com");\n'
                'user_pref("mail.smtpserver.smtp1.port", 587);\n'
                'user_pref("mail.smtpserver.smtp1.username", "carol.secret@example.com");\n'
                'user_pref("mail.identity.id1.useremail", "carol.secret@example.com");\n'
                'user_pref("mail.identity.id1.smtpServer", "smtp1");\n')
    key = "00112233445566778899aabbccddeeff"
    cfg = env.config(privacy="pseudonymise", fleet_key=key)
    p = env.run_agent("send", cfg)
    check(p.returncode == 0, show(p))
    ids = env.spooled()
    text = open(os.path.join(env.spool, ids[0] + ".json")).read()
    check("carol.secret" not in text, "an address went out in clear")
    if "smtp.example.com" in text:  # discovery found the Thunderbird server
        check("@example.com" in text, "the domain of the address should stay visible")


CASES = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    if sys.argv[1] == "--list":
        print("\n".join(CASES))
        return 0
    fn = CASES.get(sys.argv[1])
    if not fn:
        print("unknown case", sys.argv[1])
        return 2
    env = None
    ok = False
    try:
        env = Env(sys.argv[1])
        fn(env)
        ok = True
        print("PASS", sys.argv[1])
        return 0
    except Skip as e:
        ok = True
        print("SKIP", sys.argv[1] + ":", e)
        return SKIP
    except Fail as e:
        print("FAIL", sys.argv[1] + ":", e)
        return 1
    finally:
        if env:
            env.cleanup(ok)


if __name__ == "__main__":
    sys.exit(main())
