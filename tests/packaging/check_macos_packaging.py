#!/usr/bin/python3
"""Checks packaging/macos without a Mac.

- every .plist and .mobileconfig is a well-formed property list (plistlib);
- the LaunchDaemons run what the pkg installs, daily with a random delay and at load,
  and the retry job respects the back-off;
- the profiles have valid, unique payload UUIDs; the PPPC payload grants
  SystemPolicyAllFiles to the installed agent path, with the code requirement
  placeholder clearly marked;
- the configuration profile's settings are accepted by the real agent (MF_AGENT);
- the shell scripts parse, and the random-delay wrapper execs its command.
"""
import os
import plistlib
import re
import subprocess
import sys
import tempfile

AGENT_PATH = "/usr/local/bin/mailfleet-agent"
WRAPPER_PATH = "/usr/local/libexec/mailfleet-agent-run"
UUID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def load(path):
    with open(path, "rb") as f:
        return plistlib.load(f)


def payload_uuids(d, out):
    if isinstance(d, dict):
        if "PayloadUUID" in d:
            out.append(d["PayloadUUID"])
        for v in d.values():
            payload_uuids(v, out)
    elif isinstance(d, list):
        for v in d:
            payload_uuids(v, out)


def main(root):
    files = []
    for dirpath, _, names in os.walk(root):
        files += [os.path.join(dirpath, n) for n in names
                  if n.endswith(".plist") or n.endswith(".mobileconfig")]
    check(len(files) >= 4, "expected at least 4 plists, found %r" % files)
    docs = {}
    for f in files:
        try:
            docs[os.path.basename(f)] = load(f)
        except Exception as e:  # plistlib raises several kinds
            failures.append("%s: not a well-formed property list: %s" % (f, e))

    daily = docs.get("org.mailfleet.agent.plist", {})
    check(daily.get("Label") == "org.mailfleet.agent", "daily job: Label")
    args = daily.get("ProgramArguments", [])
    check(args[:1] == [WRAPPER_PATH], "daily job must start the wrapper %s" % WRAPPER_PATH)
    check(len(args) >= 3 and args[1].isdigit() and int(args[1]) > 0,
          "daily job: the wrapper's first argument is the maximum random delay")
    check(args[2:3] == ["send"] and "--respect-backoff" in args, "daily job runs send --respect-backoff")
    cal = daily.get("StartCalendarInterval", {})
    check(isinstance(cal, dict) and "Hour" in cal, "daily job: StartCalendarInterval with an Hour")
    check(daily.get("RunAtLoad") is True, "daily job: RunAtLoad")

    flush = docs.get("org.mailfleet.agent.flush.plist", {})
    check(flush.get("Label") == "org.mailfleet.agent.flush", "flush job: Label")
    check(flush.get("ProgramArguments", [])[:2] == [AGENT_PATH, "flush"] and
          "--respect-backoff" in flush.get("ProgramArguments", []),
          "flush job runs %s flush --respect-backoff" % AGENT_PATH)
    check(isinstance(flush.get("StartInterval"), int) and flush["StartInterval"] >= 300,
          "flush job: StartInterval of at least 5 minutes")

    uuids = []
    for name, d in docs.items():
        if name.endswith(".mobileconfig"):
            check(d.get("PayloadType") == "Configuration", name + ": PayloadType Configuration")
            check(d.get("PayloadScope") == "System", name + ": PayloadScope System")
            payload_uuids(d, uuids)
    check(all(UUID.match(u) for u in uuids), "PayloadUUIDs must be upper-case UUIDs: %r" % uuids)
    check(len(uuids) == len(set(uuids)), "PayloadUUIDs must be unique")

    pppc = docs.get("mailfleet-agent-pppc.mobileconfig", {})
    tcc = [p for p in pppc.get("PayloadContent", [])
           if p.get("PayloadType") == "com.apple.TCC.configuration-profile-policy"]
    check(len(tcc) == 1, "PPPC: one TCC payload")
    if tcc:
        fda = tcc[0].get("Services", {}).get("SystemPolicyAllFiles", [])
        check(len(fda) == 1, "PPPC: one SystemPolicyAllFiles entry")
        if fda:
            e = fda[0]
            check(e.get("Identifier") == AGENT_PATH and e.get("IdentifierType") == "path",
                  "PPPC: Identifier must be the installed agent path")
            check(e.get("Authorization") == "Allow" or e.get("Allowed") is True, "PPPC: allowed")
            check("REPLACE" in e.get("CodeRequirement", ""),
                  "PPPC: the code requirement placeholder must be marked REPLACE")

    cfg = docs.get("mailfleet-agent-config.mobileconfig", {})
    prefs = [p for p in cfg.get("PayloadContent", [])
             if p.get("PayloadType") == "com.apple.ManagedClient.preferences"]
    check(len(prefs) == 1, "config profile: one ManagedClient.preferences payload")
    settings = None
    if prefs:
        forced = prefs[0].get("PayloadContent", {}).get("org.mailfleet.agent", {}).get("Forced", [])
        check(len(forced) == 1 and "mcx_preference_settings" in forced[0],
              "config profile: Forced mcx_preference_settings for org.mailfleet.agent")
        if forced:
            settings = forced[0].get("mcx_preference_settings")

    agent = os.environ.get("MF_AGENT")
    if settings and agent and os.path.exists(agent):
        # What macOS would write to /Library/Managed Preferences, fed to the real agent.
        # --outbox points at an empty folder: nothing queued, so nothing connects.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "org.mailfleet.agent.plist")
            with open(path, "wb") as f:
                plistlib.dump(settings, f, fmt=plistlib.FMT_BINARY)
            p = subprocess.run([agent, "flush", "--config", path, "--outbox",
                                os.path.join(tmp, "outbox")], capture_output=True, text=True)
            check(p.returncode == 0 and "nothing queued" in p.stdout,
                  "the agent refuses the configuration profile's settings: %s %s" %
                  (p.stdout, p.stderr))
    else:
        print("note: MF_AGENT not set, the profile's settings were not run through the agent")

    scripts = [os.path.join(root, "mailfleet-agent-run")]
    for sub in ("scripts", "pkg-scripts"):
        d = os.path.join(root, sub)
        scripts += [os.path.join(d, n) for n in os.listdir(d)]
    for s in scripts:
        p = subprocess.run(["sh", "-n", s], capture_output=True, text=True)
        check(p.returncode == 0, "%s: shell syntax: %s" % (s, p.stderr))
        check(os.access(s, os.X_OK), "%s must be executable" % s)
    wrapper = os.path.join(root, "mailfleet-agent-run")
    env = dict(os.environ, MAILFLEET_AGENT="/bin/echo")
    p = subprocess.run(["sh", wrapper, "0", "send", "--respect-backoff"], env=env,
                       capture_output=True, text=True)
    check(p.returncode == 0 and p.stdout.strip() == "send --respect-backoff",
          "wrapper must exec the agent with the remaining arguments: %r" % (p.stdout,))
    p = subprocess.run(["sh", wrapper, "soon", "send"], env=env, capture_output=True, text=True)
    check(p.returncode == 2 and "whole number" in p.stderr, "wrapper must refuse a bad delay")
    p = subprocess.run(["sh", os.path.join(root, "scripts", "build-pkg.sh")], capture_output=True,
                       text=True)
    if os.uname().sysname != "Darwin":
        check(p.returncode == 2 and "only on macOS" in p.stderr,
              "build-pkg.sh must refuse to run outside macOS")

    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("packaging/macos: %d property lists, %d scripts: ok" % (len(docs), len(scripts)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
