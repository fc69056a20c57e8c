#!/usr/bin/python3
"""Checks that keep the policy language's documents honest.

  validate.py schema    docs/policy.schema.json is a valid draft 2020-12 schema; every
                        shipped policy and every example of docs/policy-language.md
                        validates; a set of broken policies does not; the schema's fact
                        paths are exactly the facts the documentation lists; and (with
                        MF_COLLECTOR) the collector loads every documentation example.
  validate.py coverage  every rule of the shipped policies has a case in cases/ where it
                        passes and one where it fails, each under both `check` and
                        `report`.
  validate.py parallel  (needs MF_COLLECTOR) check and report give the same results file,
                        byte for byte but the generation time, with 1 and with 4 worker
                        threads, on a generated fleet with history; and the same text
                        summary with and without --json (passing results are only
                        counted when nothing writes them one by one); and check gives
                        the same results whether pass 2 evaluates the reports pass 1
                        kept decoded, reads them all again, or some of each.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("MF_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
POLICIES = os.path.join(SOURCE_DIR, "policies")
DOC = os.path.join(SOURCE_DIR, "docs", "policy-language.md")
SCHEMA = os.path.join(SOURCE_DIR, "docs", "policy.schema.json")
sys.path.insert(0, HERE)

failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def doc_examples():
    text = open(DOC).read()
    return re.findall(r"<!-- policy example: ([\w-]+) -->\n```json\n(.*?)```", text, re.S)


def doc_fact_paths():
    text = open(DOC).read()
    return set(re.findall(r"^\| `([a-z0-9_.]+)` \| (?:string|integer|number|boolean|list of strings|object) \|",
                          text, re.M))


def minimal(**rule):
    r = {"id": "r1", "title": "t", "severity": "low", "scope": "server",
         "expect": {"path": "server.port", "op": "eq", "value": 587},
         "description": "d", "rationale": "r", "remediation": {"user": "u", "admin": "a"}}
    r.update(rule)
    return {"schema": "mailfleet.policy.v1", "id": "p", "title": "t", "version": "1", "rules": [r]}


def schema_mode():
    import jsonschema
    schema = json.load(open(SCHEMA))
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    shipped = sorted(glob.glob(os.path.join(POLICIES, "*.json")))
    expect(len(shipped) >= 4, "the four shipped policies are there")
    for path in shipped:
        errs = [e.message for e in v.iter_errors(json.load(open(path)))]
        expect(not errs, "%s validates: %s" % (os.path.basename(path), errs[:3]))
    examples = doc_examples()
    expect(len(examples) >= 2, "docs/policy-language.md has policy examples")
    for name, text in examples:
        errs = [e.message for e in v.iter_errors(json.loads(text))]
        expect(not errs, "doc example %s validates: %s" % (name, errs[:3]))

    leaf_paths = set(schema["$defs"]["leaf"]["properties"]["path"]["enum"])
    documented = doc_fact_paths()
    expect(leaf_paths == documented,
           "schema paths == documented facts (only in schema: %s; only in doc: %s)" %
           (sorted(leaf_paths - documented), sorted(documented - leaf_paths)))

    broken = {
        "unknown member": dict(minimal(), extra=1),
        "bad severity": minimal(severity="severe"),
        "bad scope": minimal(scope="mac"),
        "unknown fact": minimal(expect={"path": "server.prot", "op": "eq", "value": 1}),
        "unknown op": minimal(expect={"path": "server.port", "op": "equals", "value": 1}),
        "exists with value": minimal(expect={"path": "server.port", "op": "exists", "value": 1}),
        "eq without value": minimal(expect={"path": "server.port", "op": "eq"}),
        "two kinds": minimal(expect={"path": "server.port", "op": "eq", "value": 1,
                                     "all": [{"path": "server.port", "op": "exists"}]}),
        "empty all": minimal(expect={"all": []}),
        "probe rule on server facts": minimal(scope="probe"),
        "fleet rule on host facts": minimal(scope="fleet-server"),
        "no remediation for admin": minimal(remediation={"user": "u"}),
        "wrong schema": dict(minimal(), schema="mailfleet.policy.v2"),
        "missing rules": {k: v for k, v in minimal().items() if k != "rules"},
    }
    for what, doc in broken.items():
        expect(any(True for _ in v.iter_errors(doc)), "schema refuses: " + what)

    exe = os.environ.get("MF_COLLECTOR")
    if exe and os.access(exe, os.X_OK):
        import reportgen
        tmp = tempfile.mkdtemp(prefix="mf-policy-doc-")
        try:
            for path in shipped:
                shutil.copy(path, tmp)
            report = os.path.join(tmp, "report.json")
            with open(report, "w") as f:
                json.dump(reportgen.build({}), f)
            for name, text in examples:
                pol = os.path.join(tmp, "doc-%s.json" % name)
                with open(pol, "w") as f:
                    f.write(text)
                p = subprocess.run([exe, "check", report, "--policy", pol, "-q",
                                    "--as-of", "2026-11-30"], capture_output=True, text=True)
                expect(p.returncode in (0, 100, 101),
                       "the collector loads doc example %s (exit %d: %s)" %
                       (name, p.returncode, p.stderr.strip()))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        print("note: MF_COLLECTOR not set; documentation examples not loaded by the collector")


def coverage_mode():
    rules = {}
    for path in sorted(glob.glob(os.path.join(POLICIES, "*.json"))):
        for r in json.load(open(path)).get("rules", []):
            rules[r["id"]] = os.path.basename(path)
    expect(len(rules) >= 20, "the shipped policies have their rules (%d)" % len(rules))
    # (rule, state) -> the commands a case expects it under ("both" is check and report)
    seen = {}
    for case in sorted(glob.glob(os.path.join(HERE, "cases", "*", "case.json"))):
        c = json.load(open(case))
        for run in c.get("runs", []):
            command = run.get("command", "check")
            commands = ("check", "report") if command == "both" else (command,)
            for e in run.get("expect", []):
                seen.setdefault((e["rule"], e["state"]), set()).update(commands)
    for rid, where in sorted(rules.items()):
        for state in ("pass", "fail"):
            for command in ("check", "report"):
                expect(command in seen.get((rid, state), set()),
                       "rule %s (%s) has a case where it gives %s under %s" %
                       (rid, where, state, command))


def parallel_mode():
    exe = os.environ.get("MF_COLLECTOR")
    if not exe or not os.access(exe, os.X_OK):
        print("SKIP: MF_COLLECTOR is not set")
        sys.exit(77)
    fleetgen = os.path.join(SOURCE_DIR, "bench", "fleetgen", "fleetgen.py")
    both = {"schema": "mailfleet.policy.v1", "id": "both", "title": "t", "version": "1",
            "include": [os.path.join(POLICIES, "approved-servers.example.json")], "rules": []}
    tmp = tempfile.mkdtemp(prefix="mf-policy-par-")
    try:
        reports = os.path.join(tmp, "reports")
        subprocess.run([sys.executable, fleetgen, "--hosts", "120", "--reports-per-host", "3",
                        "--every-days", "5", "--out", reports, "--seed", "3"], check=True,
                       capture_output=True)
        pol = os.path.join(tmp, "both.json")
        with open(pol, "w") as f:
            json.dump(both, f)
        db = os.path.join(tmp, "store.db")
        files = sorted(glob.glob(os.path.join(reports, "*.json")))
        subprocess.run([exe, "ingest", "-q", "--db", db] + files, check=True)

        def run(cmd, jobs, keep=None):
            out = os.path.join(tmp, "%s-%d.json" % (cmd[0], jobs))
            env = dict(os.environ)
            if keep is not None:
                env["MF_CHECK_KEEP_BYTES"] = str(keep)
            p = subprocess.run([exe] + cmd + ["--policy", pol, "--as-of", "2026-11-20", "-q",
                                              "--jobs", str(jobs), "--json", out],
                               capture_output=True, text=True, env=env)
            expect(p.returncode in (0, 100, 101), "%s --jobs %d runs: %s" % (cmd[0], jobs, p.stderr))
            with open(out) as f:
                doc = json.load(f)
            doc.pop("generated_at")
            return doc

        for cmd in (["check", reports], ["report", "--db", db]):
            one, four = run(cmd, 1), run(cmd, 4)
            expect(one == four, "%s: the same results with 1 and 4 threads" % cmd[0])
            expect(one["summary"]["total"] > 1000, "%s evaluated the fleet" % cmd[0])
        # Without any per-result output, passing results are only counted (no texts are
        # kept for them): the summary must be the same as with --json.
        for cmd in (["check", reports], ["report", "--db", db]):
            texts = []
            for extra in ([], ["--json", os.path.join(tmp, "summary.json")]):
                p = subprocess.run([exe] + cmd + ["--policy", pol, "--as-of", "2026-11-20",
                                                  "--jobs", "2"] + extra,
                                   capture_output=True, text=True)
                expect(p.returncode in (0, 100, 101), "%s runs: %s" % (cmd[0], p.stderr))
                texts.append(p.stdout)
            expect(texts[0] == texts[1] and "RULE" in texts[0],
                   "%s: the same summary with and without --json" % cmd[0])
        # check keeps what pass 1 decoded for pass 2 up to a budget and reads the rest
        # again: none kept, some kept, all kept give the same results.
        full = run(["check", reports], 2)
        for keep in (0, 200000):
            for jobs in (1, 3):
                expect(run(["check", reports], jobs, keep) == full,
                       "check: the same results keeping %d bytes of reports (%d threads)" %
                       (keep, jobs))
        c, r = run(["check", reports], 2), run(["report", "--db", db], 2)
        expect(c["rules"] == r["rules"] and c["summary"] == r["summary"],
               "check over the files and report over the store agree")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "schema":
        schema_mode()
    elif mode == "coverage":
        coverage_mode()
    elif mode == "parallel":
        parallel_mode()
    else:
        print(__doc__)
        return 2
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("validate %s: ok" % mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
