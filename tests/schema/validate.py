#!/usr/bin/python3
"""Schema suite for mailfleet.report.v1 (docs/report.schema.json).

  validate.py generated --schema S --gen GEN --out DIR [--doc report-format.md]
      Run the generator (tests/schema/gen_reports.c) and validate what the real encoder
      writes. Each document is checked against the schema as published (open: unknown
      members allowed) and against a closed copy (every object's members must be
      declared), so a member the encoder writes but the schema forgets fails here. Every
      enum word the schema lists must appear in the generated documents, so the schema
      cannot list words the code does not have. The complete example in the format
      reference is validated and decoded by the C decoder too, and the reference must
      mention every enum word.

  validate.py invalid --schema S --gen GEN --out DIR --cases invalid_cases.json
      Apply each case (one change to a valid generated document) and check that the
      schema rejects the result; and that the C decoder agrees where the case says so.

  validate.py agent --schema S --gen GEN --out DIR
      If tests/fixtures/mkfixtures.py exists (under $MF_SOURCE_DIR), build every fixture
      case and validate `$MF_AGENT collect --no-probe --home HOME...` for each; the C
      decoder must accept the output too, and no secret the case planted may appear in
      it. Exit 77 (skipped) when the fixture script does not exist.

Only Debian's python3-jsonschema is needed (4.10 supports draft 2020-12).
"""
import argparse
import copy
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

from jsonschema import Draft202012Validator, FormatChecker

SKIP = 77


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def validator(schema):
    return Draft202012Validator(schema, format_checker=FormatChecker())


def errors_of(v, doc):
    errs = sorted(v.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(root)", e.message)
            for e in errs]


def closed(schema):
    """A copy of schema where every object that declares properties allows no others.
    `if` conditions are left alone: they describe partial shapes on purpose."""
    s = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if "properties" in node and "required" in node:
                node["additionalProperties"] = False
            for k, v in node.items():
                if k in ("if", "not"):
                    continue
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(s)
    return s


def run_gen(gen, out):
    os.makedirs(out, exist_ok=True)
    for old in glob.glob(os.path.join(out, "*.json")):
        os.unlink(old)
    p = subprocess.run([gen, out], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("generator failed (%d): %s" % (p.returncode, p.stderr))
    files = sorted(glob.glob(os.path.join(out, "*.json")))
    if not files:
        sys.exit("generator wrote no documents into %s" % out)
    return files


def c_decode(gen, path):
    """(ok, message) from the C decoder."""
    p = subprocess.run([gen, "--decode", path], capture_output=True, text=True)
    return p.returncode == 0, (p.stdout + p.stderr).strip()


def enum_words(schema):
    """{def name: set of words} for every enum in $defs."""
    return {name: set(d["enum"]) for name, d in schema["$defs"].items() if "enum" in d}


def used_words(docs):
    """The enum words the documents use, by the $defs name of their enum."""
    used = {k: set() for k in ("security", "auth", "sourceStatus", "outcome", "phase", "flag",
                               "provider")}
    phase_keys = set()
    for d in docs:
        for s in d["sources"]:
            used["sourceStatus"].add(s["status"])
        for s in d["servers"]:
            used["security"].add(s["security"])
            used["auth"].add(s["auth"])
            used["flag"].update(s["flags"])
            if "provider" in s:
                used["provider"].add(s["provider"])
        for a in d["accounts"]:
            used["flag"].update(a["flags"])
        for p in d["probes"]:
            used["security"].add(p["security"])
            used["outcome"].add(p["outcome"])
            if "phase" in p:
                used["phase"].add(p["phase"])
            phase_keys.update(p["phases"].keys())
    return used, phase_keys


def doc_example(md_path):
    """The JSON block that follows the marker <!-- example: report --> in the format
    reference."""
    with open(md_path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- example: report -->\s*```json\n(.*?)\n```", text, re.S)
    if not m:
        sys.exit("%s: no ```json block after <!-- example: report -->" % md_path)
    return json.loads(m.group(1))


def cmd_generated(args):
    schema = load_json(args.schema)
    Draft202012Validator.check_schema(schema)
    open_v, closed_v = validator(schema), validator(closed(schema))
    files = run_gen(args.gen, args.out)
    failures = []
    docs = []
    for path in files:
        doc = load_json(path)
        docs.append(doc)
        name = os.path.basename(path)
        for e in errors_of(open_v, doc):
            failures.append("%s: %s" % (name, e))
        for e in errors_of(closed_v, doc):
            failures.append("%s: member not in the schema: %s" % (name, e))
        print("checked %s" % name)

    # Every word of every enum of the schema is produced by the encoder somewhere, and
    # the phases object uses exactly the declared keys.
    words = enum_words(schema)
    used, phase_keys = used_words(docs)
    for name, ws in words.items():
        missing = ws - used.get(name, set())
        if missing:
            failures.append("schema enum %s lists words the generated reports never use: %s"
                            % (name, ", ".join(sorted(missing))))
    declared = set(schema["$defs"]["probe"]["properties"]["phases"]["properties"])
    if phase_keys != declared:
        failures.append("phases keys differ: encoder %s, schema %s"
                        % (sorted(phase_keys), sorted(declared)))
    if set(words["phase"]) != {k[:-3] for k in declared}:
        failures.append("phase enum and phases keys disagree")

    if args.doc:
        example = doc_example(args.doc)
        for e in errors_of(closed_v, example):
            failures.append("docs example: %s" % e)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(example, f)
            tmp = f.name
        ok, msg = c_decode(args.gen, tmp)
        os.unlink(tmp)
        if not ok:
            failures.append("docs example: the C decoder refuses it: %s" % msg)
        # The reference documents every word of every enum.
        with open(args.doc, encoding="utf-8") as f:
            md = f.read()
        for name, ws in sorted(words.items()):
            for w in sorted(ws):
                if "`%s`" % w not in md:
                    failures.append("%s does not document the %s word `%s`"
                                    % (os.path.basename(args.doc), name, w))
        print("checked the example and the enum words in %s" % os.path.basename(args.doc))

    for f in failures:
        print("FAIL " + f)
    print("%d documents, %d failures" % (len(docs), len(failures)))
    return 1 if failures else 0


def apply_case(doc, case):
    """Apply one change: path is a list of keys/indexes to the member; "delete" removes it,
    otherwise "value" replaces it. "document" replaces the whole document."""
    if "document" in case:
        return case["document"]
    doc = copy.deepcopy(doc)
    node = doc
    path = case["path"]
    for key in path[:-1]:
        node = node[key]
    if case.get("delete"):
        del node[path[-1]]
    else:
        node[path[-1]] = case["value"]
    return doc


def cmd_invalid(args):
    schema = load_json(args.schema)
    v = validator(schema)
    files = run_gen(args.gen, args.out)
    base = load_json(os.path.join(args.out, "full.json"))
    if errors_of(v, base):
        sys.exit("base document full.json is not valid: %s" % errors_of(v, base))
    cases = load_json(args.cases)
    failures = []
    for i, case in enumerate(cases):
        name = case["name"]
        doc = apply_case(base, case)
        errs = errors_of(v, doc)
        if not errs:
            failures.append("%s: accepted by the schema" % name)
        else:
            print("%s: rejected: %s" % (name, errs[0]))
        path = os.path.join(args.out, "invalid-%02d.json" % i)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        ok, msg = c_decode(args.gen, path)
        want_reject = case.get("decoder", "reject") == "reject"
        if want_reject and ok:
            failures.append("%s: the C decoder accepts it" % name)
        elif not want_reject and not ok:
            failures.append("%s: the C decoder refuses it (%s), the case says it accepts" %
                            (name, msg))
        os.unlink(path)
    for f in failures:
        print("FAIL " + f)
    print("%d cases (from %d generated documents), %d failures" %
          (len(cases), len(files), len(failures)))
    return 1 if failures else 0


def find_homes(root):
    """Folders under root that look like a home: they hold Library/ or .thunderbird/."""
    homes = []
    for dirpath, dirnames, _ in os.walk(root):
        if "Library" in dirnames or ".thunderbird" in dirnames:
            homes.append(dirpath)
            dirnames[:] = []  # do not descend into a home
        elif dirpath.count(os.sep) - root.count(os.sep) >= 4:
            dirnames[:] = []
    return sorted(homes)


def cmd_agent(args):
    """mkfixtures.py OUTDIR builds one folder per case, OUTDIR/<case>/Users/<name>/... and
    sometimes OUTDIR/<case>/profiles/ and OUTDIR/<case>/case-info.json (whose "secrets"
    lists passwords planted in the files). One collect per case, every home of the case
    given with --home."""
    src = os.environ.get("MF_SOURCE_DIR", "")
    agent = os.environ.get("MF_AGENT", "")
    mk = os.path.join(src, "tests", "fixtures", "mkfixtures.py")
    if not os.path.exists(mk):
        print("skipped: %s does not exist" % mk)
        return SKIP
    if not agent or not os.access(agent, os.X_OK):
        sys.exit("MF_AGENT is not set to an executable (%r)" % agent)
    v = validator(load_json(args.schema))
    os.makedirs(args.out, exist_ok=True)
    failures = []
    checked = 0
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        p = subprocess.run(["/usr/bin/python3", mk, tmp], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit("%s %s failed (%d): %s%s" % (mk, tmp, p.returncode, p.stdout, p.stderr))
        cases = sorted(d for d in os.listdir(tmp) if os.path.isdir(os.path.join(tmp, d)))
        for case in cases:
            root = os.path.join(tmp, case)
            homes = find_homes(root)
            if not homes:
                continue
            cmd = [agent, "collect", "--no-probe"]
            for h in homes:
                cmd += ["--home", h]
            if os.path.isdir(os.path.join(root, "profiles")):
                cmd += ["--profiles", os.path.join(root, "profiles")]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if not p.stdout.strip():
                failures.append("%s: no report on stdout (exit %d): %s" %
                                (case, p.returncode, p.stderr.strip()[:500]))
                continue
            try:
                doc = json.loads(p.stdout)
            except ValueError as e:
                failures.append("%s: output is not JSON: %s" % (case, e))
                continue
            errs = errors_of(v, doc)
            failures.extend("%s: %s" % (case, e) for e in errs)
            out = os.path.join(tmp, "collect-%s.json" % case)
            with open(out, "w", encoding="utf-8") as f:
                f.write(p.stdout)
            ok, msg = c_decode(args.gen, out)
            if not ok:
                failures.append("%s: the C decoder refuses the agent's report: %s" % (case, msg))
            # A secret never enters a report, even where a file holds one.
            info_path = os.path.join(root, "case-info.json")
            secrets = load_json(info_path).get("secrets", []) if os.path.exists(info_path) else []
            for secret in secrets:
                if secret and secret in p.stdout:
                    failures.append("%s: a planted secret appears in the report" % case)
            checked += 1
            print("%s: %d servers, %d accounts, %d sources, %d secrets checked: %s" %
                  (case, len(doc.get("servers", [])), len(doc.get("accounts", [])),
                   len(doc.get("sources", [])), len(secrets), "valid" if not errs else "INVALID"))
    if checked == 0:
        failures.append("no fixture case had a home folder to collect")
    for f in failures:
        print("FAIL " + f)
    print("%d agent reports, %d failures" % (checked, len(failures)))
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["generated", "invalid", "agent"])
    ap.add_argument("--schema", required=True)
    ap.add_argument("--gen", required=True, help="the mf_gen_reports program")
    ap.add_argument("--out", required=True, help="a scratch folder")
    ap.add_argument("--doc", help="docs/report-format.md, whose example is checked")
    ap.add_argument("--cases", help="invalid_cases.json")
    args = ap.parse_args()
    if args.mode == "generated":
        return cmd_generated(args)
    if args.mode == "invalid":
        if not args.cases:
            ap.error("invalid needs --cases")
        return cmd_invalid(args)
    return cmd_agent(args)


if __name__ == "__main__":
    sys.exit(main())
