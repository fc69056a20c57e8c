#!/usr/bin/python3
"""The main job, after the build: a company of Macs audited end to end on this machine.

    demo.py --build BUILD --out OUT [--macs 200] [--jobs N]

1. SMTP servers: smtp_servers.py starts the company's servers on loopback (aiosmtpd),
   some of them broken the ways real ones break.
2. Fleet: fleet.py writes a home folder per Mac with the fixture builder.
3. Collector: an OpenSSH sshd on 127.0.0.1 whose authorized_keys run the real
   `mailfleet-collector receive` as a forced command, one key per Mac.
4. Agents: for each Mac, `mailfleet-agent collect` discovers and probes (the host names
   mapped to the local servers with --resolve), the report is given that Mac's identity
   (all Macs run on this one machine, which would otherwise report its own machine-id)
   and queued in the Mac's outbox, and `mailfleet-agent flush` ships it over SSH.
5. Ingest: `mailfleet-collector ingest` moves the spool into the SQLite store.
6. Report: `mailfleet-collector report` evaluates scripts/demo/policy.json (which
   includes policies/approved-servers.example.json as shipped) with a waivers file and
   writes HTML, JUnit XML, JSON and CSV.

Prints progress, and at the end the folder the reports are in. Everything it starts is
stopped on exit; nothing listens beyond 127.0.0.0/8 and no name is looked up outside
(the unresolvable names use the reserved .invalid and .example domains).
"""
import argparse
import concurrent.futures
import datetime
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PY = "/usr/bin/python3"
SSHD = "/usr/sbin/sshd"
T0 = time.monotonic()


def say(msg, end="\n"):
    sys.stdout.write("\r\033[K[%5.1fs] %s%s" % (time.monotonic() - T0, msg, end)
                     if sys.stdout.isatty() else "[%5.1fs] %s%s" % (time.monotonic() - T0, msg,
                                                                  end if end == "\n" else "\n"))
    sys.stdout.flush()


def die(msg):
    say("error: " + msg)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mailfleet-demo",
                    "-f", path], check=True)
    with open(path + ".pub") as f:
        return f.read().strip()


class Demo:
    def __init__(self, a):
        self.a = a
        self.out = os.path.abspath(a.out)
        self.work = os.path.join(self.out, "work")
        self.reports = os.path.join(self.out, "reports")
        a.build = os.path.abspath(a.build)
        self.agent = os.path.join(a.build, "agent", "mailfleet-agent")
        self.collector = os.path.join(a.build, "collector", "mailfleet-collector")
        self.procs = []
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ servers
    def start_servers(self):
        say("[1/6] starting the company's SMTP servers on loopback (aiosmtpd)")
        log = open(os.path.join(self.work, "smtp-servers.log"), "w")
        p = subprocess.Popen([PY, os.path.join(HERE, "smtp_servers.py"), self.work],
                             stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        path = os.path.join(self.work, "endpoints.json")
        for _ in range(300):
            if os.path.exists(path) or p.poll() is not None:
                break
            time.sleep(0.1)
        if not os.path.exists(path):
            log.flush()
            die("the SMTP servers did not start:\n" +
                open(os.path.join(self.work, "smtp-servers.log")).read())
        with open(path) as f:
            self.endpoints = json.load(f)
        self.resolve = []
        for e in self.endpoints["endpoints"]:
            self.resolve += ["--resolve", "%s:%d:%s" % (e["hostname"], e["port"], e["addr"])]
            say("      %-30s %-10s %s:%d" % (e["hostname"], e["mode"], e["addr"], e["port"]))

    # ------------------------------------------------------------------ fleet
    def build_fleet(self):
        say("[2/6] writing %d Macs' home folders with the fixture builder" % self.a.macs)
        p = subprocess.run([PY, os.path.join(HERE, "fleet.py"), os.path.join(self.work, "fleet"),
                            "--endpoints", os.path.join(self.work, "endpoints.json"),
                            "--macs", str(self.a.macs)], capture_output=True, text=True)
        if p.returncode != 0:
            die("fleet.py failed:\n" + p.stderr)
        say("      " + p.stdout.strip())
        with open(os.path.join(self.work, "fleet", "fleet.json")) as f:
            self.fleet = json.load(f)

    # ------------------------------------------------------------------ sshd
    def start_sshd(self):
        say("[3/6] starting the collector: OpenSSH sshd on 127.0.0.1 with the forced command "
            "`mailfleet-collector receive`")
        if not os.access(SSHD, os.X_OK):
            die("%s is missing (apt-get install openssh-server)" % SSHD)
        d = os.path.join(self.work, "collector")
        os.makedirs(d)
        os.chmod(d, 0o755)
        self.spool = os.path.join(d, "spool")
        self.db = os.path.join(d, "store.db")
        hostkey = os.path.join(d, "ssh_host_ed25519_key")
        keygen(hostkey)
        self.port = free_port()
        with open(hostkey + ".pub") as f:
            kind, key = f.read().split()[:2]
        self.known_hosts = os.path.join(d, "known_hosts")
        with open(self.known_hosts, "w") as f:
            f.write("[127.0.0.1]:%d %s %s\n" % (self.port, kind, key))
        keys = os.path.join(d, "keys")
        os.makedirs(keys)
        # One key per Mac, as each agent has its own (ssh-keygen in parallel).
        with concurrent.futures.ThreadPoolExecutor(self.a.jobs) as ex:
            pubs = list(ex.map(lambda m: keygen(os.path.join(keys, m["serial"])), self.fleet))
        command = "%s receive --spool %s --timeout 30" % (self.collector, self.spool)
        auth = os.path.join(d, "authorized_keys")
        with open(auth, "w") as f:
            for pub in pubs:
                f.write('restrict,command="%s" %s\n' % (command, pub))
        conf = os.path.join(d, "sshd_config")
        with open(conf, "w") as f:
            f.write("Port %d\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\n"
                    "AuthorizedKeysFile %s\nStrictModes no\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n"
                    "PermitRootLogin forced-commands-only\nMaxStartups 100:30:200\n"
                    "LogLevel VERBOSE\n"
                    # The forced command runs through the login shell; bash started by
                    # sshd reads ~/.bashrc unless SHLVL says it is nested, and a
                    # developer's .bashrc (pyenv, conda, nvm) can take most of a second.
                    "SetEnv SHLVL=1\n" % (self.port, hostkey, os.path.join(d, "sshd.pid"),
                                          auth))
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", exist_ok=True)
        self.sshd_log = os.path.join(d, "sshd.log")
        p = subprocess.Popen([SSHD, "-f", conf, "-D", "-E", self.sshd_log],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.procs.append(p)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if p.poll() is not None:
                die("sshd exited: %s" % p.stderr.read().decode())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            die("sshd did not start listening")
        self.user = getpass.getuser()
        say("      sshd listening on 127.0.0.1:%d, %d agent keys authorized" %
            (self.port, len(pubs)))

    # ------------------------------------------------------------------ agents
    def run_mac(self, m):
        """collect (probe) -> this Mac's identity -> outbox -> flush over SSH."""
        d = os.path.join(self.work, "agents", m["serial"])
        os.makedirs(d)
        report = os.path.join(d, "report.json")
        args = [self.agent, "collect", "--users-root", m["users_root"], "--ca-file",
                self.endpoints["ca"], "--timeout", "4", "-q", "-o", report] + self.resolve
        if m["profiles"]:
            args += ["--profiles", m["profiles"]]
        t0 = time.monotonic()
        p = subprocess.run(args, capture_output=True, text=True, timeout=120)
        t1 = time.monotonic()
        if p.returncode not in (0, 1) or not os.path.exists(report):
            return "collect failed (%d): %s" % (p.returncode, p.stderr.strip()[:300])
        with open(report) as f:
            doc = json.load(f)
        doc["host"]["id"] = m["serial"]
        doc["host"]["hostname"] = m["hostname"]
        doc["host"]["os"] = {"name": "macOS", "version": m["os"]}
        outbox = os.path.join(d, "outbox")
        os.makedirs(outbox, mode=0o700)
        name = "%016d-%s.json" % (int(time.time() * 1000), doc["report_id"])
        with open(os.path.join(outbox, name), "w") as f:
            json.dump(doc, f)
        p = subprocess.run([self.agent, "flush", "--outbox", outbox, "--collector",
                            "%s@127.0.0.1:%d" % (self.user, self.port), "--identity",
                            os.path.join(self.work, "collector", "keys", m["serial"]),
                            "--known-hosts", self.known_hosts, "-q"],
                           capture_output=True, text=True, timeout=120)
        with self.lock:
            self.collect_s += t1 - t0
            self.ship_s += time.monotonic() - t1
        left = [n for n in os.listdir(outbox) if n.endswith(".json") and n != "state.json"]
        if p.returncode != 0 or left:
            return "flush failed (%d): %s" % (p.returncode, p.stderr.strip()[:300])
        return None

    def run_agents(self):
        say("[4/6] running the agent on every Mac: discover, probe, ship over SSH")
        done = failed = 0
        self.collect_s = self.ship_s = 0.0
        errors = []
        n = len(self.fleet)
        with concurrent.futures.ThreadPoolExecutor(self.a.jobs) as ex:
            futs = [ex.submit(self.run_mac, m) for m in self.fleet]
            for fut in concurrent.futures.as_completed(futs):
                err = fut.result()
                done += 1
                if err:
                    failed += 1
                    errors.append(err)
                if sys.stdout.isatty() or done % 25 == 0 or done == n:
                    say("      agents: %d/%d Macs collected and shipped%s" %
                        (done, n, ", %d failed" % failed if failed else ""),
                        end="" if done < n else "\n")
        for e in errors[:5]:
            say("      " + e)
        if failed:
            die("%d agents failed (see above; logs in %s)" % (failed, self.work))
        say("      per Mac: collect and probe %.2f s, ship %.2f s on average (%d at a time)" %
            (self.collect_s / n, self.ship_s / n, self.a.jobs))
        with open(self.sshd_log) as f:
            accepted = sum(1 for line in f if "Accepted publickey" in line)
        say("      sshd accepted %d SSH connections; spool: %d reports" %
            (accepted, len([x for x in os.listdir(self.spool) if x.endswith(".json")])
             if os.path.isdir(self.spool) else 0))

    # ------------------------------------------------------------------ collector
    def ingest(self):
        say("[5/6] mailfleet-collector ingest --db store.db --spool spool")
        p = subprocess.run([self.collector, "ingest", "--db", self.db, "--spool", self.spool],
                           capture_output=True, text=True)
        if p.returncode != 0:
            die("ingest failed (%d):\n%s%s" % (p.returncode, p.stdout, p.stderr))
        for line in (p.stdout + p.stderr).strip().splitlines()[-3:]:
            say("      " + line)

    def report(self):
        say("[6/6] mailfleet-collector report: HTML, JUnit XML, JSON and CSV")
        os.makedirs(self.reports, exist_ok=True)
        today = datetime.datetime.now(datetime.timezone.utc).date()
        waivers = {"waivers": [
            {"rule": "cert-hostname", "host": "*", "server": "smtp.fastmail.com",
             "justification": "Fastmail's certificate for this name is being reissued "
                              "(ticket IT-4711); personal accounts only",
             "approved_by": "it-security@example-corp.com",
             "expires": (today + datetime.timedelta(days=30)).isoformat()},
            {"rule": "no-unused-entries", "host": "*", "server": "mail.example-corp.com",
             "justification": "Old relay entries were to be removed with the Q3 migration",
             "approved_by": "it-ops@example-corp.com",
             "expires": (today - datetime.timedelta(days=10)).isoformat()},
        ]}
        wpath = os.path.join(self.reports, "waivers.json")
        with open(wpath, "w") as f:
            json.dump(waivers, f, indent=2)
        r = self.reports
        args = [self.collector, "report", "--db", self.db, "--policy",
                os.path.join(HERE, "policy.json"),
                "--waivers", wpath, "--fail-on", "high",
                "--html", os.path.join(r, "report.html"),
                "--junit", os.path.join(r, "junit.xml"),
                "--json", os.path.join(r, "results.json"),
                "--csv", os.path.join(r, "results.csv"),
                "--history", os.path.join(self.out, "history.db"), "-q"]
        p = subprocess.run(args, capture_output=True, text=True)
        with open(os.path.join(r, "summary.txt"), "w") as f:
            f.write(p.stdout)
        if p.returncode not in (0, 100, 101):
            die("report failed (%d):\n%s%s" % (p.returncode, p.stdout, p.stderr))
        self.exit_code = p.returncode
        with open(os.path.join(r, "results.json")) as f:
            self.results = json.load(f)

    def summary(self):
        s = self.results.get("summary", {})
        say("done in %.0f s." % (time.monotonic() - T0))
        print()
        print("  results: %s" % ", ".join("%s %s" % (s.get(k, 0), k) for k in
                                          ("pass", "fail", "error", "notapplicable", "waived")))
        print("  exit code of report: %d (%s)" % (self.exit_code, {
            0: "compliant", 100: "a rule of severity high or above failed",
            101: "some results could not be evaluated"}.get(self.exit_code, "?")))
        print()
        print("The reports are in %s:" % self.reports)
        for name, what in (("report.html", "open this one: which Macs fail, why, and which SMTP "
                                           "servers are stale"),
                           ("junit.xml", "for CI systems (one testsuite per Mac)"),
                           ("results.json", "every result (docs/results.md)"),
                           ("results.csv", "one row per Mac, rule and server or account"),
                           ("summary.txt", "the summary `report` printed")):
            print("  %-13s %s" % (name, what))

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    if p.stdin:
                        p.stdin.close()
                except OSError:
                    pass
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def run(self):
        if os.path.exists(self.out):
            # Thousands of small files: seconds on a busy disk, so say so.
            say("removing the previous run's output in %s" % self.out)
            shutil.rmtree(self.out)
        os.makedirs(self.work)
        for tool in (self.agent, self.collector):
            if not os.access(tool, os.X_OK):
                die("%s is not built" % tool)
        try:
            self.start_servers()
            self.build_fleet()
            self.start_sshd()
            self.run_agents()
        finally:
            self.stop()
        self.ingest()
        self.report()
        self.summary()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--macs", type=int, default=200)
    # Shipping mostly waits (on sshd starting a session), so more agents run at once than
    # there are cores.
    ap.add_argument("--jobs", type=int, default=max(8, (os.cpu_count() or 2) * 8))
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    Demo(a).run()


if __name__ == "__main__":
    main()
