#!/usr/bin/env python3
"""The progress line of ingest, check and report: shown on a terminal (a pseudo-terminal
here), with the count reaching the total; never with --no-progress, with -q, or when
stderr is not a terminal (a pipe gets no carriage returns at all).

MF_PROGRESS_EVERY makes the line appear however quick the run is (otherwise a run under
a second stays quiet)."""
import os
import pty
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MF_SOURCE_DIR", os.path.join(HERE, "..", ".."))
EXE = os.environ.get("MF_COLLECTOR")
FAILS = []


def expect(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        FAILS.append(what)


def on_tty(cmd, env):
    """Run cmd with stdout and stderr on a pseudo-terminal; its output and exit code."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(cmd[0], cmd, env)
    out = b""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        out += data
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return out.decode("utf-8", "replace"), os.waitstatus_to_exitcode(status)


def main():
    if not EXE:
        print("MF_COLLECTOR is not set")
        return 77
    tmp = tempfile.mkdtemp(prefix="mf-progress-")
    try:
        reports = os.path.join(tmp, "reports")
        subprocess.run(["/usr/bin/python3", os.path.join(SRC, "bench", "fleetgen", "fleetgen.py"),
                        "--hosts", "40", "--reports-per-host", "1", "--out", reports,
                        "--seed", "5"], check=True, capture_output=True)
        files = sorted(os.path.join(reports, f) for f in os.listdir(reports))
        db = os.path.join(tmp, "store.db")
        policy = os.path.join(SRC, "policies", "baseline.json")
        env = dict(os.environ, MF_PROGRESS_EVERY="1")

        runs = {
            "ingest": ([EXE, "ingest", "--db", db] + files, "ingest: 40/40 (100%)"),
            "check": ([EXE, "check", reports, "--policy", policy],
                      "check: evaluating: 40/40 (100%)"),
            "report": ([EXE, "report", "--db", db, "--policy", policy],
                       "report: evaluating: 40/40 (100%)"),
        }
        for name, (cmd, final) in runs.items():
            out, code = on_tty(cmd, env)
            expect(code in (0, 100, 101), "%s runs on a terminal (exit %d)" % (name, code))
            expect(final in out, "%s: the progress line reaches %r" % (name, final))
            expect("\r" in out, "%s: the line redraws itself with a carriage return" % name)
            if name == "check":
                expect("check: reading: 40/40 (100%)" in out, "check: pass 1 shows its line")
            for extra in (["--no-progress"], ["-q"]):
                out, code = on_tty(cmd + extra, env)
                expect(": 40/40" not in out and "evaluating:" not in out,
                       "%s %s: no progress line" % (name, extra[0]))
            p = subprocess.run(cmd, env=env, capture_output=True, text=True)
            expect("\r" not in p.stderr and "\r" not in p.stdout,
                   "%s with stderr on a pipe: no progress line" % name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILS:
        print("%d failed" % len(FAILS))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
