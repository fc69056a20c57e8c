#!/usr/bin/python3
"""run_case.py CASE [--show] [--keep]: one case of the data-driven discovery suite.

Builds the case's fixture with tests/fixtures/mkfixtures.py into
$MF_BUILD_DIR/fixtures/<case> (or a new folder under $TMPDIR), runs `$MF_AGENT collect --no-probe` over it,
and compares a projection of the report with tests/discovery/cases/<case>/expected.json.

Environment: MF_SOURCE_DIR (project root), MF_BUILD_DIR, MF_AGENT (the built agent).
Options: --show prints the projection of the agent's report (to study a failure; the
expected files are written from the fixture's facts, never from this output); --keep
leaves the fixture in place.

The projection (what expected.json lists):
  sources:  user, client, format, path (relative to the case folder), status; an expected
            source may add "error_contains": [words] (case-insensitive) and every failed
            source must carry a non-empty error, every ok source none.
  servers:  user, client, source (path of its source file), hostname (+ hostname_raw when
            the report has one), port, security, auth, username, provider, flags (sorted),
            used_by (the accounts using it, by first email address, else description).
  accounts: user, client, source, type, emails, smtp (the linked server's hostname,
            "provider:<name>" when it has none, null when unlinked), flags (sorted).
  Lists compare as multisets unless "sources_ordered" is true; "extra_server_fields" /
  "extra_account_fields" add report fields (e.g. "description", "smtp_ref").

expected.json also gives "exit" (the agent's exit code) and may list "forbidden_strings".

args.json (optional): {"args": [...]} replaces the default `--users-root {root}/Users
[--profiles {root}/profiles]` ({root} is the case's fixture folder); "run_as_nobody": true
runs the agent as uid/gid 65534 (needed when a case makes a file unreadable and the test
runs as root); "also_list": true also runs `list` with the same arguments and applies the
forbidden-strings check to its output.

case-info.json (written by the builder): "lock" (databases to hold an exclusive SQLite
lock on while the agent runs), "secrets" (strings that must not appear in any output),
"never_opened" (files the agent must not open: watched with inotify, see below).
"""

import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time

AGENT_TIMEOUT = 120  # seconds; generous for sanitizer builds, a hang is still a failure


def die(msg):
    print("run_case: " + msg)
    sys.exit(1)


def load_json(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------
# "Never opened": inotify reports every open() of a watched inode, whoever opens it and by
# whichever path (symlink, hard link). A FIFO would not do: the agent opens files with
# O_NONBLOCK, which succeeds on a FIFO without blocking, and access times are not
# reliable (relatime, noatime). The watcher checks itself first: it opens the file and
# must see that event, so a broken watcher cannot pass silently.

IN_ACCESS, IN_OPEN = 0x1, 0x20


class OpenWatch:
    def __init__(self, paths):
        self.paths = paths
        self.fd = -1
        self.wds = {}
        libc_name = ctypes.util.find_library("c") or "libc.so.6"
        self.libc = ctypes.CDLL(libc_name, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        for p in paths:
            wd = self.libc.inotify_add_watch(self.fd, os.fsencode(p), IN_OPEN | IN_ACCESS)
            if wd < 0:
                raise OSError(ctypes.get_errno(), "inotify_add_watch " + p)
            self.wds[wd] = p

    def events(self):
        """The watched paths that saw an event since the last call."""
        seen = set()
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            off = 0
            while off + 16 <= len(buf):
                wd, mask, _cookie, length = struct.unpack_from("iIII", buf, off)
                off += 16 + length
                if mask & (IN_OPEN | IN_ACCESS) and wd in self.wds:
                    seen.add(self.wds[wd])
        return seen

    def self_test(self):
        for p in self.paths:
            with open(p, "rb"):
                pass
            time.sleep(0.01)
            if p not in self.events():
                raise RuntimeError("inotify did not report our own open of " + p)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# ---------------------------------------------------------------------------------------
# The SQLite lock holder: a child process that takes an exclusive lock and holds it.

LOCKER = r"""
import sqlite3, sys, time
conns = []
for p in sys.argv[1:]:
    c = sqlite3.connect(p, isolation_level=None, timeout=5)
    c.execute("PRAGMA locking_mode=EXCLUSIVE")
    c.execute("BEGIN EXCLUSIVE")
    conns.append(c)
print("locked", flush=True)
time.sleep(600)
"""


def hold_locks(paths):
    p = subprocess.Popen(["/usr/bin/python3", "-c", LOCKER] + paths, stdout=subprocess.PIPE,
                         text=True)
    line = p.stdout.readline().strip()
    if line != "locked":
        p.kill()
        die("could not lock %s" % paths)
    # Check the lock is real: a second reader must be refused.
    import sqlite3
    for path in paths:
        try:
            c = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=0.2)
            c.execute("SELECT count(*) FROM sqlite_master").fetchall()
            c.close()
            p.kill()
            die("the lock on %s does not stop a reader; the test would prove nothing" % path)
        except sqlite3.OperationalError:
            pass
    return p


# ---------------------------------------------------------------------------------------
# Running as nobody


def all_traversable(path):
    """True when every folder from / down to path can be searched by others."""
    path = os.path.abspath(path)
    while True:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode) and not st.st_mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def make_world_readable(root, keep_private):
    """chmod the fixture so user nobody can read it, except the files in keep_private."""
    private = {os.path.join(root, p) for p in keep_private}
    for d, dirs, files in os.walk(root):
        os.chmod(d, 0o755)
        for f in files:
            p = os.path.join(d, f)
            if os.path.islink(p):
                continue
            os.chmod(p, 0o600 if p in private else 0o644)
    for p in private:
        os.chmod(p, 0o600)


# ---------------------------------------------------------------------------------------
# Projection and comparison


def project(report, roots):
    def rel(p):
        if p is None:
            return None
        for r in roots:
            if p == r:
                return "."
            if p.startswith(r + "/"):
                return p[len(r) + 1:]
        return p

    sources = report.get("sources", [])
    servers = report.get("servers", [])
    accounts = report.get("accounts", [])

    def src_path(idx):
        if isinstance(idx, int) and 0 <= idx < len(sources):
            return rel(sources[idx].get("path"))
        return None if idx is None else "(bad source index %r)" % (idx,)

    acc_label = {}
    for a in accounts:
        emails = a.get("emails") or []
        acc_label[a.get("id")] = emails[0] if emails else (a.get("description") or a.get("id"))
    srv_by_id = {s.get("id"): s for s in servers}

    def srv_label(sid):
        if sid is None:
            return None
        s = srv_by_id.get(sid)
        if s is None:
            return "(missing server %s)" % sid
        if s.get("hostname"):
            return s["hostname"]
        if s.get("provider"):
            return "provider:" + s["provider"]
        return "(server without hostname)"

    out = {"sources": [], "servers": [], "accounts": []}
    for s in sources:
        out["sources"].append({k: rel(s.get(k)) if k == "path" else s.get(k)
                               for k in ("user", "client", "format", "path", "status")})
    for s in servers:
        p = {"user": s.get("user"), "client": s.get("client"), "source": src_path(s.get("source")),
             "hostname": s.get("hostname"), "port": s.get("port"),
             "security": s.get("security"), "auth": s.get("auth"),
             "username": s.get("username"), "provider": s.get("provider"),
             "flags": sorted(s.get("flags") or []),
             "used_by": sorted(acc_label.get(i, "(missing account %s)" % i)
                               for i in (s.get("used_by") or []))}
        if "hostname_raw" in s:
            p["hostname_raw"] = s["hostname_raw"]
        out["servers"].append(p)
    for a in accounts:
        out["accounts"].append({
            "user": a.get("user"), "client": a.get("client"), "source": src_path(a.get("source")),
            "type": a.get("type"), "emails": a.get("emails") or [],
            "smtp": srv_label(a.get("smtp")), "flags": sorted(a.get("flags") or [])})
    return out


def add_extra(proj, report, expected):
    for key, rkey in (("extra_server_fields", "servers"), ("extra_account_fields", "accounts")):
        for field in expected.get(key, []):
            for p, raw in zip(proj[rkey], report.get(rkey, [])):
                p[field] = raw.get(field)


def canon(x):
    return json.dumps(x, sort_keys=True)


def compare_lists(name, exp, act, ordered=False):
    """Messages describing how act differs from exp (empty when equal)."""
    msgs = []
    if ordered:
        if [canon(x) for x in exp] != [canon(x) for x in act]:
            msgs.append("%s: order or content differs" % name)
            msgs.append("  expected order:")
            msgs += ["    " + canon(x) for x in exp]
            msgs.append("  actual order:")
            msgs += ["    " + canon(x) for x in act]
        return msgs
    rest_act = list(act)
    rest_exp = []
    for e in exp:
        for i, a in enumerate(rest_act):
            if canon(a) == canon(e):
                del rest_act[i]
                break
        else:
            rest_exp.append(e)
    # Pair what is left by likeness, to show field-by-field differences.
    while rest_exp and rest_act:
        best = None
        for i, e in enumerate(rest_exp):
            for j, a in enumerate(rest_act):
                score = sum(1 for k in set(e) | set(a) if e.get(k) == a.get(k))
                if best is None or score > best[0]:
                    best = (score, i, j)
        score, i, j = best
        e, a = rest_exp[i], rest_act[j]
        if score < max(2, len(e) // 2):
            break
        del rest_exp[i]
        del rest_act[j]
        key = e.get("hostname") or e.get("path") or e.get("emails") or e.get("type")
        msgs.append("%s: entry %s differs:" % (name, canon(key)))
        for k in sorted(set(e) | set(a)):
            if e.get(k, "<absent>") != a.get(k, "<absent>"):
                msgs.append("    %-10s expected %s" % (k, canon(e.get(k, "<absent>"))))
                msgs.append("    %-10s actual   %s" % ("", canon(a.get(k, "<absent>"))))
    for e in rest_exp:
        msgs.append("%s: missing (expected, not reported): %s" % (name, canon(e)))
    for a in rest_act:
        msgs.append("%s: unexpected (reported, not expected): %s" % (name, canon(a)))
    return msgs


def check_source_errors(report, exp_sources, roots, proj_sources):
    msgs = []
    for s, p in zip(report.get("sources", []), proj_sources):
        err = s.get("error")
        if s.get("status") == "ok" and err:
            msgs.append("source %s: status ok but error %r" % (p["path"], err))
        if s.get("status") != "ok" and not err:
            msgs.append("source %s: status %s without an error message" % (p["path"], s.get("status")))
    for e in exp_sources:
        words = e.get("error_contains")
        if not words:
            continue
        match = [s for s, p in zip(report.get("sources", []), proj_sources)
                 if p["path"] == e["path"]]
        for s in match:
            for w in words:
                if w.lower() not in (s.get("error") or "").lower():
                    msgs.append("source %s: error %r does not mention %r" %
                                (e["path"], s.get("error"), w))
    return msgs


# ---------------------------------------------------------------------------------------


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    show = "--show" in argv
    keep = "--keep" in argv
    if len(args) != 1:
        die("usage: run_case.py CASE [--show] [--keep]")
    name = args[0]
    src_dir = os.environ.get("MF_SOURCE_DIR") or os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))
    agent = os.environ.get("MF_AGENT")
    if not agent or not os.access(agent, os.X_OK):
        die("MF_AGENT is not set to the built mailfleet-agent (got %r)" % agent)
    case_dir = os.path.join(src_dir, "tests", "discovery", "cases", name)
    expected = load_json(os.path.join(case_dir, "expected.json"))
    if expected is None:
        die("no expected.json in " + case_dir)
    cfg = load_json(os.path.join(case_dir, "args.json"), {})
    builder = os.path.join(src_dir, "tests", "fixtures", "mkfixtures.py")

    as_nobody = cfg.get("run_as_nobody", False) and os.geteuid() == 0
    if as_nobody and not shutil.which("setpriv"):
        print("SKIP: %s needs setpriv (util-linux) to run the agent as nobody" % name)
        return 0

    base = os.environ.get("MF_BUILD_DIR")
    tmp_base = None
    if base:
        base = os.path.join(base, "fixtures")
        os.makedirs(base, exist_ok=True)
    else:
        # Never a fixed name in a shared folder: the builder replaces OUTDIR/<case>.
        base = tmp_base = tempfile.mkdtemp(prefix="mf-fixtures-")
        os.chmod(tmp_base, 0o755)
    if as_nobody and not all_traversable(base):
        tmp_base = tempfile.mkdtemp(prefix="mf-fixtures-")
        os.chmod(tmp_base, 0o755)
        base = tmp_base
    r = subprocess.run(["/usr/bin/python3", builder, base, name], capture_output=True, text=True)
    if r.returncode != 0:
        die("building the fixture failed:\n" + r.stdout + r.stderr)
    root = os.path.join(base, name)
    info = load_json(os.path.join(root, "case-info.json"), {})

    def subst(a):
        return a.replace("{root}", root)

    if "args" in cfg:
        agent_args = [subst(a) for a in cfg["args"]]
    else:
        agent_args = ["--users-root", os.path.join(root, "Users")]
        if os.path.isdir(os.path.join(root, "profiles")):
            agent_args += ["--profiles", os.path.join(root, "profiles")]

    prefix = []
    agent_path = agent
    if as_nobody:
        make_world_readable(root, info.get("unreadable", []))
        if not all_traversable(os.path.dirname(agent)):
            agent_path = os.path.join(root, "mailfleet-agent")
            shutil.copy2(agent, agent_path)
            os.chmod(agent_path, 0o755)
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    elif info.get("unreadable") and os.geteuid() != 0:
        for p in info["unreadable"]:
            os.chmod(os.path.join(root, p), 0)

    watch = None
    if info.get("never_opened"):
        try:
            watch = OpenWatch([os.path.join(root, p) for p in info["never_opened"]])
            watch.self_test()
        except (OSError, RuntimeError, AttributeError) as e:
            print("NOTE: cannot watch file opens here (%s); the never-opened check is skipped" % e)
            watch = None

    locker = hold_locks([os.path.join(root, p) for p in info["lock"]]) if info.get("lock") else None
    failures = []
    outputs = []
    try:
        cmd = prefix + [agent_path, "collect", "--no-probe"] + agent_args
        try:
            run = subprocess.run(cmd, capture_output=True, timeout=AGENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            die("the agent did not finish within %d s: %s" % (AGENT_TIMEOUT, " ".join(cmd)))
        outputs.append(("collect stdout", run.stdout))
        outputs.append(("collect stderr", run.stderr))
        if cfg.get("also_list"):
            lst = subprocess.run(prefix + [agent_path, "list"] + agent_args, capture_output=True,
                                 timeout=AGENT_TIMEOUT)
            outputs.append(("list stdout", lst.stdout))
            outputs.append(("list stderr", lst.stderr))
    finally:
        if locker:
            locker.send_signal(signal.SIGKILL)
            locker.wait()

    if watch:
        opened = watch.events()
        watch.close()
        for p in sorted(opened):
            failures.append("the agent opened %s, which it must never open" %
                            os.path.relpath(p, root))

    stderr = run.stderr.decode("utf-8", "replace")
    try:
        report = json.loads(run.stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        print("command: " + " ".join(cmd))
        print("exit code: %d" % run.returncode)
        print("stdout (first 2000 bytes): %r" % run.stdout[:2000])
        print("stderr: " + stderr[-4000:])
        die("the agent's output is not a JSON report: %s" % e)

    roots = [root, os.path.realpath(root)]
    proj = project(report, roots)
    add_extra(proj, report, expected)
    if show:
        print(json.dumps(proj, indent=2, sort_keys=True))

    if run.returncode != expected.get("exit", 0):
        failures.append("exit code: expected %d, got %d" % (expected.get("exit", 0), run.returncode))
    exp_sources = [{k: v for k, v in s.items() if k != "error_contains"}
                   for s in expected.get("sources", [])]
    failures += compare_lists("sources", exp_sources, proj["sources"],
                              ordered=expected.get("sources_ordered", False))
    failures += check_source_errors(report, expected.get("sources", []), roots, proj["sources"])
    failures += compare_lists("servers", expected.get("servers", []), proj["servers"])
    failures += compare_lists("accounts", expected.get("accounts", []), proj["accounts"])

    forbidden = list(expected.get("forbidden_strings", [])) + list(info.get("secrets", []))
    for what, data in outputs:
        for s in forbidden:
            if s.encode("utf-8") in data:
                failures.append("%s contains the secret %r" % (what, s))

    if failures:
        print("FAIL %s" % name)
        print("command: " + " ".join(cmd))
        for f in failures:
            print("  " + f)
        if stderr.strip():
            print("agent stderr:\n" + stderr[-4000:])
        return 1
    if not keep:
        # Passed: the fixture is of no further use (failures keep theirs to look at).
        shutil.rmtree(tmp_base or root, ignore_errors=True)
    print("PASS %s (%d sources, %d servers, %d accounts)" %
          (name, len(proj["sources"]), len(proj["servers"]), len(proj["accounts"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
