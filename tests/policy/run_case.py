#!/usr/bin/python3
"""Run one policy test case: tests/policy/cases/<name>/case.json.

case.json:
  "description":  what the case shows
  "policy":       a policy file in the case folder, else one of policies/ (default
                  baseline.json)
  "reports":      report specs for reportgen.build(), written as r0.json, r1.json, ...
  "report_files": files of the case folder given as reports as they are (bad input)
  "waivers":      a waivers document (written to waivers.json), or
  "waivers_file": a file of the case folder, given as it is
  "runs": [{
      "command": "check" (default) or "report" (the reports are ingested into a store
                 first), or "both" (the same expectations hold for both),
      "args":    extra arguments; --as-of 2026-11-30 is added unless given
      "exit":    expected exit code
      "expect":  [{"rule", "entity" (substring), "host", "state", "message" (substring)}]:
                 at least one result matches rule/entity/host, and every match has
                 that state (and message)
      "absent":  [{"rule", "entity"}]: no such result
      "counts":  {"rule-id": {"pass": n, ...}}: the rule's counts (states not named: 0)
      "summary": {"fail": n, ...}: these summary counts
      "stderr":  [substrings] the error output must contain
      "no_json": true: the --json file must not have been written (a run stopped before
                 evaluating)
      "waivers": [{"index", "status", "waived", "would_have_waived"}]
      "inputs":  {"reports": n, "skipped_older": n, "failed": n}
      "dump":    [{"scope", "entity" (substring), "facts": {"root.member": value}}]: the run
                 also writes --dump-facts, and some line of that scope and entity has
                 these values (null: known to be null)
      "policy", "waivers_file": override the case's for this run
      "env":     extra environment variables (MF_CHECK_KEEP_BYTES: "0" makes check read
                 every latest report again in pass 2 instead of keeping it decoded)
  }]

Needs MF_COLLECTOR (the built mailfleet-collector); exits 77 (skipped) without it.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("MF_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import reportgen  # noqa: E402

SKIP = 77
STATES = ("pass", "fail", "error", "notapplicable", "waived")


class Failed(Exception):
    pass


def collector():
    path = os.environ.get("MF_COLLECTOR")
    if not path or not os.access(path, os.X_OK):
        print("SKIP: MF_COLLECTOR is not set to the mailfleet-collector binary")
        sys.exit(SKIP)
    return path


def check_run(case_dir, tmp, case, run, command, reports, waivers):
    exe = collector()
    out_json = os.path.join(tmp, "results-%s.json" % command)
    if os.path.exists(out_json):
        os.unlink(out_json)
    args = list(run.get("args", []))
    if "--as-of" not in args:
        args += ["--as-of", "2026-11-30"]
    policy = run.get("policy", case.get("policy", "baseline.json"))
    policy_path = os.path.join(case_dir, policy)
    if not os.path.exists(policy_path):
        policy_path = os.path.join(SOURCE_DIR, "policies", policy)
    cmd = [exe, command, "--policy", policy_path, "--json", out_json] + args
    out_dump = os.path.join(tmp, "facts-%s.jsonl" % command)
    if run.get("dump"):
        cmd += ["--dump-facts", out_dump]
    if "waivers_file" in run:
        waivers = os.path.join(case_dir, run["waivers_file"])
    if waivers:
        cmd += ["--waivers", waivers]
    if command == "check":
        cmd += reports
    else:
        db = os.path.join(tmp, "store.db")
        if not os.path.exists(db):
            p = subprocess.run([exe, "ingest", "--db", db] + reports, capture_output=True,
                               text=True)
            if p.returncode != 0:
                raise Failed("ingest failed: %s" % p.stderr)
        cmd += ["--db", db]
    env = dict(os.environ)
    env.update(run.get("env", {}))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    where = "%s %s" % (command, " ".join(args))
    if "exit" in run and p.returncode != run["exit"]:
        raise Failed("%s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s" %
                     (where, p.returncode, run["exit"], p.stdout, p.stderr))
    for s in run.get("stderr", []):
        if s not in p.stderr:
            raise Failed("%s: stderr lacks %r:\n%s" % (where, s, p.stderr))
    if run.get("no_json"):
        if os.path.exists(out_json):
            raise Failed("%s: the results file was written, but the run should have stopped "
                         "before evaluating" % where)
        return
    try:
        with open(out_json) as f:
            res = json.load(f)
    except (OSError, ValueError) as e:
        raise Failed("%s: no valid results JSON: %s\nstderr:\n%s" % (where, e, p.stderr))
    results = res["results"]
    # The summary counts every state, and they add up.
    summary = res["summary"]
    for st in STATES:
        if summary[st] != sum(1 for r in results if r["state"] == st):
            raise Failed("%s: summary %s=%d does not match the results" % (where, st, summary[st]))
    for k, v in run.get("summary", {}).items():
        if summary.get(k) != v:
            raise Failed("%s: summary %s is %r, expected %r" % (where, k, summary.get(k), v))
    for e in run.get("expect", []):
        hits = [r for r in results if r["rule"] == e["rule"]
                and e.get("entity", "") in (r["entity"] or "")
                and ("host" not in e or r["host"] == e["host"])]
        if not hits:
            raise Failed("%s: no result for %s\nresults:\n%s" %
                         (where, e, "\n".join(json.dumps(r) for r in results)))
        for r in hits:
            if r["state"] != e["state"] or e.get("message", "") not in r["message"]:
                raise Failed("%s: expected %s, got %s" % (where, e, json.dumps(r)))
            if r["state"] == "fail" and not (r.get("remediation", {}).get("user") and
                                             r["remediation"].get("admin")):
                raise Failed("%s: a failed result lacks remediation: %s" % (where, r))
    for e in run.get("absent", []):
        hits = [r for r in results if r["rule"] == e["rule"]
                and e.get("entity", "") in (r["entity"] or "")]
        if hits:
            raise Failed("%s: unexpected results %s" % (where, hits))
    for k, v in run.get("inputs", {}).items():
        if res["inputs"].get(k) != v:
            raise Failed("%s: inputs %s is %r, expected %r" % (where, k, res["inputs"].get(k), v))
    rules = {r["id"]: r for r in res["rules"]}
    for rid, want in run.get("counts", {}).items():
        if rid not in rules:
            raise Failed("%s: no rule %s in the output" % (where, rid))
        got = rules[rid]["counts"]
        full = {st: want.get(st, 0) for st in STATES}
        if got != full:
            raise Failed("%s: rule %s counts %s, expected %s" % (where, rid, got, full))
    if run.get("dump"):
        with open(out_dump) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        for d in run["dump"]:
            hits = [x for x in lines if x["scope"] == d["scope"]
                    and d.get("entity", "") in x["entity"]]
            if not hits:
                raise Failed("%s: no dumped facts for %s" % (where, d))
            for path, want in d["facts"].items():
                root, member = path.split(".", 1)
                for x in hits:
                    obj = x["facts"].get(root) or {}
                    if member not in obj or obj[member] != want:
                        raise Failed("%s: dumped %s of %s is %r, expected %r" %
                                     (where, path, x["entity"], obj.get(member, "(unknown)"),
                                      want))
    for w in run.get("waivers", []):
        entry = res["waivers"]["entries"][w["index"]]
        for k, v in w.items():
            if entry.get(k) != v:
                raise Failed("%s: waiver %d %s is %r, expected %r" %
                             (where, w["index"], k, entry.get(k), v))


def main():
    if len(sys.argv) != 2:
        print("usage: run_case.py CASE", file=sys.stderr)
        return 2
    name = sys.argv[1]
    case_dir = os.path.join(HERE, "cases", name)
    with open(os.path.join(case_dir, "case.json")) as f:
        case = json.load(f)
    tmp = tempfile.mkdtemp(prefix="mf-policy-")
    try:
        reports = []
        for i, spec in enumerate(case.get("reports", [])):
            path = os.path.join(tmp, "r%d.json" % i)
            with open(path, "w") as f:
                json.dump(reportgen.build(spec), f)
            reports.append(path)
        reports += [os.path.join(case_dir, r) for r in case.get("report_files", [])]
        waivers = None
        if "waivers" in case:
            waivers = os.path.join(tmp, "waivers.json")
            with open(waivers, "w") as f:
                json.dump(case["waivers"], f)
        elif "waivers_file" in case:
            waivers = os.path.join(case_dir, case["waivers_file"])
        for run in case["runs"]:
            command = run.get("command", "check")
            for c in (["check", "report"] if command == "both" else [command]):
                check_run(case_dir, tmp, case, run, c, reports, waivers)
        print("%s: ok (%d runs)" % (name, len(case["runs"])))
        return 0
    except Failed as e:
        print("%s: FAILED: %s" % (name, e))
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
