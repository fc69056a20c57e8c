#!/usr/bin/python3
"""perf_split: where an ingest's CPU time goes, from a `perf record` profile (part of
bench/ingest/run.sh with MF_BENCH_PROFILE=1).

    perf_split.py LABEL PERF.DATA

Prints one line: the share of CPU samples in SQLite (libsqlite3's own code, plus the
kernel's time in the system calls SQLite makes for its files: pwrite64, pread64,
fdatasync, fsync, ftruncate), in the rest of user space (parsing, validation, the
interpreter for Python), and in the rest of the kernel (reading the spool files, moving
them to done/, opening and closing them). Both ingests read spool files with read(),
never pread(), so the system calls split cleanly between SQLite and the rest.
"""
import re
import subprocess
import sys

SQLITE_SYSCALLS = ("__x64_sys_pwrite64", "__x64_sys_pread64", "__x64_sys_fdatasync",
                   "__x64_sys_fsync", "__x64_sys_ftruncate")


def report(data, *args):
    out = subprocess.run(["perf", "report", "-i", data, "--stdio", *args],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line and not line.startswith("#")]


def main():
    label, data = sys.argv[1], sys.argv[2]
    # Self time per shared object.
    dso = {}
    for line in report(data, "--no-children", "--sort", "dso", "-g", "none"):
        m = re.match(r"\s*([0-9.]+)%\s+(\S+)", line)
        if m:
            dso[m.group(2)] = dso.get(m.group(2), 0.0) + float(m.group(1))
    kernel = sum(v for k, v in dso.items() if "kernel" in k)
    sqlite_user = sum(v for k, v in dso.items() if "libsqlite3" in k)
    # Kernel time under SQLite's system calls (children included).
    sqlite_kernel = 0.0
    for line in report(data, "--children", "--sort", "sym", "-g", "none"):
        m = re.match(r"\s*([0-9.]+)%\s+([0-9.]+)%\s+\[k\]\s+(\S+)", line)
        if m and m.group(3) in SQLITE_SYSCALLS:
            sqlite_kernel += float(m.group(1))
    user_rest = 100.0 - kernel - sqlite_user
    print("%s: SQLite %.0f %% (library %.0f %%, its file I/O in the kernel %.0f %%), "
          "rest of user space %.0f %%, rest of the kernel %.0f %% (spool reads, moves, "
          "opens)" % (label, sqlite_user + sqlite_kernel, sqlite_user, sqlite_kernel,
                      user_rest, kernel - sqlite_kernel))


if __name__ == "__main__":
    main()
