"""Shared helpers for the probe's integration tests and benchmark: a test CA, the
server harness as a child process, a Thunderbird fixture home that names the servers,
and running the agent. Everything binds 127.0.0.1 and is cleaned up on exit."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"

# Thunderbird's try_ssl values (nsMsgSocketType): 0 plain, 2 STARTTLS, 3 SSL/TLS.
TRY_SSL = {"none": 0, "starttls-optional": 1, "starttls": 2, "tls": 3}


def skip(msg):
    """CTest counts exit code 77 as skipped (SKIP_RETURN_CODE)."""
    print("SKIP: " + msg)
    sys.exit(77)


def need_aiosmtpd():
    r = subprocess.run([PY, "-c", "import aiosmtpd.smtp"], capture_output=True)
    if r.returncode != 0:
        skip("python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)")


def agent_path():
    a = os.environ.get("MF_AGENT")
    if not a or not os.access(a, os.X_OK):
        sys.exit("MF_AGENT is not set to the mailfleet-agent binary")
    return a


class Fleet:
    """A temp dir with a CA, the servers and a fixture home. Use as a context manager."""

    def __init__(self, only=None, copies=1):
        self.only = only
        self.copies = copies
        self.proc = None

    def __enter__(self):
        need_aiosmtpd()
        self.dir = tempfile.mkdtemp(prefix="mf-probe-")
        try:
            self.pki = os.path.join(self.dir, "pki")
            os.makedirs(self.pki)
            subprocess.run([PY, os.path.join(HERE, "pki.py"), self.pki], check=True)
            self.ca = os.path.join(self.pki, "ca.pem")
            ports = os.path.join(self.dir, "ports.json")
            cmd = [PY, os.path.join(HERE, "servers.py"), self.pki, ports]
            if self.only:
                cmd += ["--only", ",".join(self.only)]
            if self.copies > 1:
                cmd += ["--copies", str(self.copies)]
            self.log = open(os.path.join(self.dir, "servers.log"), "w")
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=self.log,
                                         stderr=subprocess.STDOUT)
            for _ in range(600):  # up to 60 s on a busy machine
                if os.path.exists(ports) or self.proc.poll() is not None:
                    break
                time.sleep(0.1)
            if not os.path.exists(ports):
                self.log.flush()
                sys.exit("the test servers did not start:\n" +
                         open(os.path.join(self.dir, "servers.log")).read())
            with open(ports) as f:
                self.ports = json.load(f)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        if os.environ.get("MF_KEEP_TMP"):
            print("kept " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def home(self, entries, name="home"):
        """A home with a Thunderbird profile holding one SMTP server per entry:
        (server name, port, security[, used]) ; used entries get an identity."""
        home = os.path.join(self.dir, name)
        tb = os.path.join(home, "Library", "Thunderbird")
        prof = os.path.join(tb, "Profiles", "test.default")
        os.makedirs(prof, exist_ok=True)
        with open(os.path.join(tb, "profiles.ini"), "w") as f:
            f.write("[General]\nStartWithLastProfile=1\n\n[Profile0]\nName=default\n"
                    "IsRelative=1\nPath=Profiles/test.default\nDefault=1\n")
        lines = []
        keys = []
        ident = 0
        for i, e in enumerate(entries):
            host, port, sec = e[0], e[1], e[2]
            used = e[3] if len(e) > 3 else True
            k = "smtp%d" % (i + 1)
            keys.append(k)
            p = "mail.smtpserver.%s." % k
            if host:  # "" makes an entry without a host name
                lines.append('user_pref("%shostname", "%s");' % (p, host))
            lines.append('user_pref("%sport", %d);' % (p, port))
            lines.append('user_pref("%stry_ssl", %d);' % (p, TRY_SSL[sec]))
            lines.append('user_pref("%sauthMethod", 3);' % p)
            lines.append('user_pref("%susername", "alice");' % p)
            if used:
                ident += 1
                lines.append('user_pref("mail.identity.id%d.smtpServer", "%s");' % (ident, k))
                lines.append('user_pref("mail.identity.id%d.useremail", "alice@%s");'
                             % (ident, host))
        lines.append('user_pref("mail.smtpservers", "%s");' % ",".join(keys))
        with open(os.path.join(prof, "prefs.js"), "w") as f:
            f.write("// Mozilla User Preferences\n" + "\n".join(sorted(lines)) + "\n")
        return home

    def resolve_args(self, names_ports):
        out = []
        for host, port in names_ports:
            out += ["--resolve", "%s:%d:127.0.0.1" % (host, port)]
        return out


def run_agent(args, timeout=120):
    """Run the agent; returns (exit code, stdout, stderr). Fails the test on a
    sanitizer report, a crash or a hang (the timeout is a hang guard, not a measure)."""
    cmd = [agent_path()] + args
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        sys.exit("HANG: %s did not finish within %d s" % (" ".join(cmd), timeout))
    for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer"):
        if marker in r.stderr:
            sys.exit("sanitizer report from %s:\n%s" % (" ".join(cmd), r.stderr))
    if r.returncode < 0 or r.returncode > 2:
        sys.exit("%s crashed or failed (exit %d):\n%s" % (" ".join(cmd), r.returncode,
                                                           r.stderr))
    return r.returncode, r.stdout, r.stderr


class Checker:
    def __init__(self):
        self.failures = []
        self.checks = 0

    def expect(self, cond, msg):
        self.checks += 1
        if not cond:
            self.failures.append(msg)
            print("FAIL: " + msg)

    def done(self):
        if self.failures:
            print("%d of %d checks failed" % (len(self.failures), self.checks))
            sys.exit(1)
        print("all %d checks passed" % self.checks)
        sys.exit(0)
