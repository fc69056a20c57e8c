#!/usr/bin/python3
"""Tests of the report writers (reports/): JUnit, CSV and HTML.

    run_reports_tests.py CASE       one case (see CASES at the bottom)
    run_reports_tests.py --list

The reports come from mf_rpt_fixture (tests/reports/rpt_fixture.c: a deterministic fleet
written through reports.h, optionally with hostile strings) and, for end-to-end, from
mailfleet-collector itself. Consumers are real: xmllint --schema against the project's
own schema (mailfleet-junit.xsd) and, when the files exist, the shared copies of the
strict Ant schema and Jenkins' schema; Debian's python3-junitparser; Python's csv
module; headless Chromium over the DevTools protocol (cdp.py).

Environment (from CTest): MF_RPT_FIXTURE, MF_COLLECTOR, MF_SOURCE_DIR, MF_BUILD_DIR.
MF_KEEP=1 keeps the output folder; MF_UPDATE_SCREENSHOT=1 makes end-to-end copy its
screenshot to docs/images/report.png. Exit 77 means skipped (a tool is missing).
"""
import csv
import hashlib
import base64
import glob
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
SKIP = 77
SCHEMA = os.path.join(HERE, "mailfleet-junit.xsd")
SEVERITIES = {"info", "low", "medium", "high", "critical"}
XHTML = "{http://www.w3.org/1999/xhtml}"


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def fixture_tool():
    t = os.environ.get("MF_RPT_FIXTURE")
    if not t or not os.access(t, os.X_OK):
        raise Fail("MF_RPT_FIXTURE is not set (run through ctest)")
    return t


def run_fixture(out, kind="plain", hosts=40, group="host", formats=("junit", "html", "csv")):
    """Write the fixture's reports into out; returns (paths, expected counts)."""
    paths = {}
    args = [fixture_tool(), "--kind", kind, "--hosts", str(hosts), "--junit-group-by", group]
    for f in formats:
        paths[f] = os.path.join(out, "%s-%s.%s" % (kind, group, {"junit": "xml"}.get(f, f)))
        args += ["--" + f, paths[f]]
    p = subprocess.run(args, capture_output=True, text=True)
    check(p.returncode == 0, "mf_rpt_fixture failed: %s" % p.stderr)
    return paths, json.loads(p.stdout)


def xmllint(*args):
    if not shutil.which("xmllint"):
        raise Skip("xmllint is not installed (apt-get install libxml2-utils)")
    return subprocess.run(["xmllint", *args], capture_output=True, text=True)


def well_formed(path):
    p = xmllint("--noout", "--nonet", path)
    check(p.returncode == 0, "%s is not well-formed XML:\n%s" % (path, p.stderr[:2000]))


def validate(path, schema):
    p = xmllint("--noout", "--nonet", "--schema", schema, path)
    check(p.returncode == 0, "%s is not valid against %s:\n%s" % (path, schema, p.stderr[:3000]))


def shared_schemas():
    """The shared copies of the CI systems' schemas, when this checkout has them (the project
    never needs them: its own schema is the test's reference)."""
    src = os.environ.get("MF_SOURCE_DIR", os.path.join(HERE, "..", ".."))
    d = os.path.normpath(os.path.join(src, "..", "shared", "schemas", "junit"))
    found = [os.path.join(d, n) for n in ("JUnit.xsd", "jenkins-junit-10.xsd")
             if os.path.exists(os.path.join(d, n))]
    return found


def validate_all(path):
    validate(path, SCHEMA)
    others = shared_schemas()
    for s in others:
        validate(path, s)
    if not others:
        print("note: the shared windyroad/Jenkins schemas are not here; checked against "
              "mailfleet-junit.xsd only")


RESULTS_SCHEMA = os.path.join(HERE, "..", "..", "docs", "results.schema.json")


def validate_results_json(path):
    """The results JSON against the project's schema for it (results.schema.json, the
    machine-readable docs/results.md), and its counts against its own results."""
    try:
        import jsonschema
    except ImportError:
        raise Skip("python3-jsonschema is not installed")
    with open(path, "rb") as f:
        raw = f.read()
    doc = json.loads(raw.decode("utf-8"))  # strict UTF-8, strict JSON
    with open(RESULTS_SCHEMA) as f:
        schema = json.load(f)
    v = jsonschema.Draft202012Validator(schema)
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    check(not errors, "%s does not match results.schema.json: %s" %
          (path, "; ".join("%s: %s" % ("/".join(map(str, e.absolute_path)), e.message[:300])
                           for e in errors[:5])))
    counts = {k: 0 for k in ("pass", "fail", "error", "notapplicable", "waived")}
    per_rule = {}
    for r in doc["results"]:
        counts[r["state"]] += 1
        c = per_rule.setdefault(r["rule"], {k: 0 for k in counts})
        c[r["state"]] += 1
    summary = doc["summary"]
    check(all(summary[k] == counts[k] for k in counts) and summary["total"] == sum(counts.values()),
          "summary %s does not add up to the results %s" % (summary, counts))
    for rule in doc["rules"]:
        check(rule["counts"] == per_rule.get(rule["id"], {k: 0 for k in counts}),
              "rule %s counts %s, its results %s" % (rule["id"], rule["counts"],
                                                     per_rule.get(rule["id"])))
    return doc


# --------------------------------------------------------------------------- JUnit

def junit_counts(path, expected, group):
    try:
        from junitparser import JUnitXml, Failure, Error, Skipped
    except ImportError:
        raise Skip("python3-junitparser is not installed")
    xml = JUnitXml.fromfile(path)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    suites = 0
    seen = set()
    for suite in xml:
        suites += 1
        n = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for case in suite:
            n["tests"] += 1
            results = case.result
            check(len(results) <= 1, "more than one result in %s %s" % (case.classname, case.name))
            key = (case.classname, case.name)
            check(key not in seen, "duplicate testcase %r (GitLab would drop it)" % (key,))
            seen.add(key)
            check("." in case.classname, "classname %r is not HOST.RULE" % case.classname)
            check(re.match(r"^\d+(\.\d+)?$", case._elem.get("time", "")),
                  "time %r is not a plain decimal" % case._elem.get("time"))
            if group == "rule":
                check(case.classname.endswith("." + suite.name),
                      "classname %r does not end with the suite's rule %r" %
                      (case.classname, suite.name))
            for r in results:
                if isinstance(r, Failure):
                    n["failures"] += 1
                    check(r.type in SEVERITIES, "failure type %r is not a severity" % r.type)
                    check(r.message, "failure without a message")
                    check(r.text and "Evidence:" in r.text and "Rule:" in r.text,
                          "failure body lacks the evidence: %r" % r.text)
                elif isinstance(r, Error):
                    n["errors"] += 1
                    check(r.type, "error without a type")
                elif isinstance(r, Skipped):
                    n["skipped"] += 1
                    check(re.match(r"^(waived: .* \(expires .+\)|not applicable: .*)$",
                                   r.message or "", re.S),
                          "skipped message %r" % r.message)
        for k in n:
            check(getattr(suite, k) == n[k], "suite %s says %s=%s but has %d" %
                  (suite.name, k, getattr(suite, k), n[k]))
            totals[k] += n[k]
        check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$", suite.timestamp or ""),
              "timestamp %r has a zone or is missing" % suite.timestamp)
        check(re.match(r"^\d+(\.\d+)?$", suite._elem.get("time", "")),
              "suite time %r is not a plain decimal" % suite._elem.get("time"))
        props = {p.name: p.value for p in suite.properties()}
        check(props.get("timezone") == "UTC", "suite %s lacks the timezone property" % suite.name)
    check(suites == expected["suites"], "%d suites, expected %d" % (suites, expected["suites"]))
    for k in totals:
        check(totals[k] == expected[k], "%s: junitparser counts %d, the fixture wrote %d" %
              (k, totals[k], expected[k]))
    return totals


def case_junit_schema(out):
    for group in ("host", "rule"):
        paths, _ = run_fixture(out, group=group, formats=("junit",))
        validate_all(paths["junit"])
    # an empty fleet is still a valid file
    paths, exp = run_fixture(out, hosts=0, formats=("junit",))
    validate_all(paths["junit"])
    check(exp["tests"] == 0, "empty fleet has tests")
    # the bare root, and the empty system-out / system-err the strict schema needs
    paths, _ = run_fixture(out, formats=("junit",))
    root = ET.parse(paths["junit"]).getroot()
    check(root.tag == "testsuites" and not root.attrib, "root must be a bare <testsuites>")
    for s in root:
        kids = [c.tag for c in s]
        check(kids[0] == "properties" and kids[-2:] == ["system-out", "system-err"],
              "suite children out of order: %s" % kids[:3])
        for tag in ("system-out", "system-err"):
            check((s.find(tag).text or "") == "", tag + " is not empty")
        check(re.match(r"^\d+$", s.get("id")), "suite id %r" % s.get("id"))
        check(s.get("package", "").startswith("mailfleet"), "package %r" % s.get("package"))
    # colliding host names get distinct suite names (host 1 and host 7 share one)
    names = [s.get("name") for s in root]
    check(len(names) == len(set(names)), "duplicate suite names: %s" % names)
    # The schema is a real check: each of these breaks one rule of the dialect (or of the
    # strict Ant / Jenkins schemas) and must be refused.
    good = open(paths["junit"], encoding="utf-8").read()
    mutations = {
        "timestamp with a zone": (r'timestamp="([^"]+)"', r'timestamp="\1Z"'),
        "time with an exponent": (r'<testcase ([^>]*)time="0"', r'<testcase \1time="1e3"'),
        "time with a comma": (r'<testcase ([^>]*)time="0"', r'<testcase \1time="0,5"'),
        "failure type not a severity": (r'<failure type="[a-z]+"', '<failure type="bad"'),
        "skipped without the waived/n.a. wording": (r'<skipped message="[^"]*"',
                                                    '<skipped message="skipped"'),
        "system-err missing": (r"<system-err/>", ""),
        "system-out not empty": (r"<system-out/>", "<system-out>x</system-out>"),
        "properties missing": (r"<properties>.*?</properties>", ""),
        "suite without package": (r' package="[^"]*"', ""),
        "suite without id": (r' id="[^"]*"', ""),
        "attribute on testsuites": (r"<testsuites>", '<testsuites tests="1">'),
        "classname without a rule": (r'classname="([^".]+)\.[^"]*"', r'classname="\1"'),
        "two results in one testcase": (r"(<failure [^>]*>)", r'<error type="error" message="x"/>\1'),
    }
    refused = 0
    for what, (pat, rep) in mutations.items():
        bad, n = re.subn(pat, rep, good, count=1, flags=re.S)
        check(n == 1, "mutation %r found nothing to change" % what)
        mutant = os.path.join(out, "mutant.xml")
        with open(mutant, "w", encoding="utf-8") as f:
            f.write(bad)
        p = xmllint("--noout", "--nonet", "--schema", SCHEMA, mutant)
        check(p.returncode != 0, "mailfleet-junit.xsd accepts a file with %s" % what)
        refused += 1
    print("junit: the schema refuses %d broken variants" % refused)
    print("junit: valid against mailfleet-junit.xsd%s, grouped by host and by rule" %
          (" and the shared schemas" if shared_schemas() else ""))


def case_junit_consumer(out):
    paths, exp = run_fixture(out, formats=("junit",))
    t = junit_counts(paths["junit"], exp, "host")
    print("junitparser agrees: %s" % t)


def case_junit_group_rule(out):
    paths, exp = run_fixture(out, group="rule", formats=("junit",))
    validate_all(paths["junit"])
    t = junit_counts(paths["junit"], exp, "rule")
    check(exp["suites"] == 6, "one suite per rule expected")
    print("grouped by rule: %s" % t)


def peak_rss_kb(args):
    """Run args; return the child's peak RSS in KiB (its own, from wait4)."""
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    check(p.returncode == 0, "%s failed: %s" % (args[0], err[-500:]))
    return usage.ru_maxrss


def case_junit_stream(out):
    """The JUnit writer streams: grouped by host its memory does not grow with the fleet;
    grouped by rule it grows by its index only (24 bytes per result, doubled when the
    array grows). Peak RSS of rpt_fixture for a small and a 20 times larger fleet."""
    if os.environ.get("MF_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE", "YES"):
        raise Skip("memory is not comparable under the sanitizers (quarantine, shadow)")
    small, large = 2000, 40000
    for group in ("host", "rule"):
        rss = {}
        for n in (small, large):
            path = os.path.join(out, "s.xml")
            rss[n] = peak_rss_kb([fixture_tool(), "--hosts", str(n), "--junit-group-by", group,
                                  "--junit", path])
            size = os.path.getsize(path)
            os.unlink(path)
        results = 9 * (large - small)
        allowed = 8 * 1024 + (0 if group == "host" else 2 * 24 * results // 1024)
        grew = rss[large] - rss[small]
        check(grew <= allowed, "grouped by %s: peak RSS %d KiB for %d Macs, %d KiB for %d "
              "(grew %d KiB, allowed %d)" % (group, rss[small], small, rss[large], large, grew,
                                             allowed))
        print("grouped by %s: peak RSS %d KiB for %d Macs, %d KiB for %d (file %d MB)" %
              (group, rss[small], small, rss[large], large, size >> 20))


# --------------------------------------------------------------------------- CSV

def read_csv(path):
    raw = open(path, "rb").read()
    text = raw.decode("utf-8")  # strict: invalid UTF-8 fails here
    bad = [c for c in text if ord(c) < 32 and c not in "\t\r\n"]
    check(not bad, "control characters in the CSV: %r" % bad[:5])
    check(text.endswith("\r\n"), "records end with CRLF (RFC 4180)")
    return list(csv.reader(io.StringIO(text, newline="")))


def case_csv(out):
    paths, exp = run_fixture(out, formats=("csv",))
    rows = read_csv(paths["csv"])
    header, body = rows[0], rows[1:]
    for col in ("host_id", "hostname", "rule", "severity", "entity", "state", "message",
                "waiver_justification", "waiver_expires", "first_failed"):
        check(col in header, "CSV lacks column " + col)
    check(len(body) == exp["tests"], "%d rows, expected %d" % (len(body), exp["tests"]))
    state = header.index("state")
    counts = {}
    for r in body:
        check(len(r) == len(header), "row with %d fields: %r" % (len(r), r))
        counts[r[state]] = counts.get(r[state], 0) + 1
    check(counts.get("fail", 0) == exp["failures"] and counts.get("error", 0) == exp["errors"] and
          counts.get("waived", 0) == exp["waived"] and
          counts.get("notapplicable", 0) == exp["notapplicable"] and
          counts.get("pass", 0) == exp["passed"], "state counts %s vs %s" % (counts, exp))
    # hostile values: formulas neutralised, quoting intact
    paths, exp = run_fixture(out, kind="control", formats=("csv",))
    rows = read_csv(paths["csv"])
    check(len(rows) - 1 == exp["tests"], "control CSV has %d rows" % (len(rows) - 1))
    guarded = 0
    for r in rows[1:]:
        for cell in r:
            check(not cell or cell[0] not in "=+-@", "formula cell %r" % cell[:40])
            guarded += cell[:1] == "'" and cell[1:2] in ("=", "+", "-", "@")
    check(guarded > 0, "no guarded formula cell found: the fixture should have some")
    print("csv: %d rows, %d formula cells guarded" % (len(rows) - 1, guarded))


# --------------------------------------------------------------------------- well-formedness

def case_wellformed(out, kind):
    for group in ("host", "rule"):
        paths, exp = run_fixture(out, kind=kind, group=group)
        well_formed(paths["junit"])
        validate(paths["junit"], SCHEMA)
        well_formed(paths["html"])
        read_csv(paths["csv"])
        for path in paths.values():
            data = open(path, "rb").read()
            data.decode("utf-8")
            if kind == "control":
                for b in (b"\x01", b"\x1b", b"\x7f", b"\xef\xbf\xbe"):
                    check(b not in data, "%r survived into %s" % (b, path))
        junit_counts(paths["junit"], exp, group)
        # Round trip: what a reader gets back from a failure body is the value itself,
        # markup characters, "]]>" and carriage returns included (a CR written as it is
        # would come back as a line feed).
        bodies = [f.text or "" for f in ET.parse(paths["junit"]).getroot().iter("failure")]
        check(bodies, "no failure bodies")
        want = {"xss": ["<script>document.title='XSS-", "]]>", "\"'&amp;</td>"],
                "control": ["]]>", "\r\n\t=cmd|' /C calc'!A0"]}[kind]
        for w in want:
            check(all(w in b for b in bodies), "%r does not come back from every failure body"
                  % w)
    print("%s: every format well-formed, JUnit valid, counts agree" % kind)


# --------------------------------------------------------------------------- HTML (static)

def sha256_b64(text):
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def parse_html(path):
    tree = ET.parse(path)  # the page is polyglot: well-formed XML too
    return tree.getroot()


def case_html_structure(out):
    paths, exp = run_fixture(out, formats=("html",))
    root = parse_html(paths["html"])
    body = root.find(XHTML + "body")
    tags = [c.tag.replace(XHTML, "") for c in body]
    for landmark in ("header", "nav", "main", "footer"):
        check(landmark in tags, "no <%s> landmark" % landmark)
    check(root.get("lang") == "en", "no lang on <html>")
    main = body.find(XHTML + "main")
    ids = [s.get("id") for s in main.findall(XHTML + "section")]
    check(ids == ["summary", "servers", "rules", "hosts", "history", "waivers"],
          "sections: %s" % ids)
    for s in main.findall(XHTML + "section"):
        check(s.get("aria-labelledby") and s.find(XHTML + "h2") is not None,
              "section %s lacks its heading" % s.get("id"))
    for th in root.iter(XHTML + "th"):
        check(th.get("scope") in ("col", "row"), "a <th> without scope")
    # nothing that loads from elsewhere
    for el in root.iter():
        for attr in ("src", "srcset", "data", "poster", "action"):
            check(el.get(attr) is None, "<%s %s=…>" % (el.tag, attr))
        href = el.get("href")
        check(href is None or href.startswith("#"), "external link %r" % href)
    # the CSP names exactly the page's own style and script
    head = root.find(XHTML + "head")
    csp = [m.get("content") for m in head.findall(XHTML + "meta")
           if m.get("http-equiv") == "Content-Security-Policy"]
    check(len(csp) == 1 and "default-src 'none'" in csp[0], "no strict CSP: %s" % csp)
    style = head.find(XHTML + "style").text
    script = body.find(XHTML + "script").text
    check("'sha256-%s'" % sha256_b64(style) in csp[0], "CSP hash of the style does not match")
    check("'sha256-%s'" % sha256_b64(script) in csp[0], "CSP hash of the script does not match")
    check(len(list(root.iter(XHTML + "script"))) == 1, "more than one script")
    # per-host details start collapsed; the filters are hidden without JS
    hosts = [d for d in root.iter(XHTML + "details") if d.get("class") == "host"]
    check(hosts and all(d.get("open") is None for d in hosts), "host details not collapsed")
    form = body.find(".//%sform" % XHTML)
    check(form is not None and form.get("hidden") is not None, "filters visible without JS")
    # the headline: the server inventory with verdicts and reasons
    table = root.find(".//%stable[@id='server-table']" % XHTML)
    check(table is not None, "no server inventory table")
    text = ET.tostring(table, encoding="unicode", method="text")
    check("stale" in text and "No account uses it" in text and "No probe succeeded" in text,
          "the inventory does not say why servers are stale")
    # summary counts agree with what the fixture wrote
    summary = main.find(XHTML + "section")
    nums = [td.text for td in summary.iter(XHTML + "td")]
    totals = [str(exp[k]) for k in ("passed", "failures", "errors", "notapplicable", "waived")]
    check(" ".join(totals) in " ".join(n.replace(",", "") for n in nums),
          "results table %s does not show %s" % (nums, totals))
    check(len(list(root.iter("{http://www.w3.org/2000/svg}svg"))) == 1, "no trend chart")

    def text_of(el):
        return " ".join(" ".join(el.itertext()).split())
    # the run header: policy and version, when, the window of reports
    header = text_of(body.find(XHTML + "header"))
    for want in ("Policy", "baseline, version 2026.11", "Generated at", "Window of reports",
                 "2026-11-30 10:00 UTC", " to "):
        check(want in header, "the run header lacks %r: %s" % (want, header[:300]))
    # the summary: hosts, compliant share, failing rules by severity, errors, waivers,
    # hosts that stopped reporting (the fixture's Macs 1, 3, 4, 6 of every ten)
    st = text_of(summary)
    compliant = exp["hosts"] - exp["hosts_failing_or_error"]
    share = "%.1f%%" % (100.0 * compliant / exp["hosts"])
    for want in ("%d Macs evaluated" % exp["hosts"], share + " compliant", "Failing rules by severity",
                 "Macs with errors", "waived results", "Macs that stopped reporting (%d)" %
                 exp["stopped"]):
        check(want in st, "the summary lacks %r: %s" % (want, st[:400]))
    sev_rows = {tr.get("data-rule-sev"): [td.text for td in tr.findall(XHTML + "td")]
                for tr in summary.iter(XHTML + "tr") if tr.get("data-rule-sev")}
    check(set(SEVERITIES) <= set(sev_rows), "failing rules by severity: rows %s" % list(sev_rows))
    check(sum(int(v[1].replace(",", "")) for v in sev_rows.values()) ==
          exp["failures"], "failed results by severity %s do not add up to %d" %
          (sev_rows, exp["failures"]))
    stopped = [a.text for a in summary.iter(XHTML + "a") if (a.get("href") or "").startswith("#host-")]
    check(len(stopped) == exp["stopped"], "%d stopped Macs listed, expected %d" %
          (len(stopped), exp["stopped"]))
    for a in summary.iter(XHTML + "a"):
        target = (a.get("href") or "#")[1:]
        if target.startswith("host-"):
            check(root.find(".//*[@id='%s']" % target) is not None, "dangling link #" + target)
    # the rules table: one column per state, and when each rule first failed
    rules = main.find(".//%ssection[@id='rules']" % XHTML)
    heads = [text_of(t) for t in rules.iter(XHTML + "th") if t.get("scope") == "col"]
    for want in ("Failed", "Errors", "Waived", "N/A", "Passed", "First failure"):
        check(want in heads, "rules table lacks the %r column: %s" % (want, heads))
    # per-host results carry the day each failure first appeared
    fails = [tr for tr in root.iter(XHTML + "tr") if tr.get("data-state") == "fail"]
    dated = [tr for tr in fails if re.search(r"\d{4}-\d\d-\d\d", text_of(tr))]
    check(fails and len(dated) == len(fails), "%d of %d failed rows show a first-failure day" %
          (len(dated), len(fails)))
    print("html: landmarks, scoped headers, strict CSP with matching hashes, no outside "
          "references, collapsed hosts, inventory with reasons")


# --------------------------------------------------------------------------- HTML (Chromium)

def need_chromium():
    import cdp
    if not cdp.available():
        raise Skip("chromium is not installed (bash scripts/setup.sh --browser)")
    return cdp


def case_html_chromium(out):
    cdp = need_chromium()
    paths, exp = run_fixture(out, formats=("html",))
    url = "file://" + paths["html"]
    with cdp.Browser() as b:
        page = b.open(url)
        check(not page.console, "console messages: %s" % page.console)
        check(not page.requests, "the page requested %s" % page.requests)
        shot = os.path.join(out, "report.png")
        page.screenshot(shot, 1280, 2400)
        check(os.path.getsize(shot) > 20000, "screenshot is suspiciously small")
        # the script ran: filters shown; unchecking "failed" hides failed rows
        check(page.evaluate("document.getElementById('filters').hidden") is False,
              "the filter form stayed hidden: the script did not run")
        fails = page.evaluate("document.querySelectorAll('tr[data-state=fail]').length")
        check(fails > 0, "no failed result rows")
        page.evaluate("(function(){var b=document.querySelector('input[name=state][value=fail]');"
                      "b.checked=false;b.dispatchEvent(new Event('change'));})()")
        hidden = page.evaluate("Array.prototype.filter.call(document.querySelectorAll("
                               "'tr[data-state=fail]'),function(r){return r.hidden;}).length")
        check(hidden == fails, "%d of %d failed rows hidden by the filter" % (hidden, fails))
        page.evaluate("(function(){var b=document.querySelector('input[name=state][value=fail]');"
                      "b.checked=true;b.dispatchEvent(new Event('change'));})()")
        # severity: unchecking "critical" hides exactly the critical rows and rules
        crit = page.evaluate("document.querySelectorAll('tr[data-state][data-sev=critical]').length")
        check(crit > 0, "no critical result rows in the fixture")
        page.evaluate("(function(){var b=document.querySelector('input[name=sev][value=critical]');"
                      "b.checked=false;b.dispatchEvent(new Event('change'));})()")
        r = json.loads(page.evaluate(
            "JSON.stringify((function(){var h=0,o=0;document.querySelectorAll('tr[data-state]')"
            ".forEach(function(t){if(t.dataset.sev==='critical'){if(t.hidden)h++;}"
            "else if(t.hidden)o++;});return [h,o,document.querySelector("
            "'tr[data-rule-sev=critical]').hidden];})())"))
        check(r == [crit, 0, True], "severity filter: %d of %d critical rows hidden, %d others "
              "hidden, critical rule row hidden %s" % (r[0], crit, r[1], r[2]))
        page.evaluate("(function(){var b=document.querySelector('input[name=sev][value=critical]');"
                      "b.checked=true;b.dispatchEvent(new Event('change'));})()")
        # search: one host's name narrows the host list
        before = page.evaluate("document.getElementById('shown').textContent")
        page.evaluate("(function(){var q=document.getElementById('q');q.value='carol-mbp0';"
                      "q.dispatchEvent(new Event('input'));})()")
        # The search runs after a short debounce: wait for the count to change (not for a
        # fixed time, which a busy machine can outlast), at most a minute.
        shown = page.evaluate(
            "new Promise(function(done){var t0=Date.now();(function poll(){"
            "var s=document.getElementById('shown').textContent;"
            "if(s!==%s||Date.now()-t0>60000){done(s);}else{setTimeout(poll,50);}})();})"
            % json.dumps(before))
        check(re.match(r"^[1-9]\d* of \d+ hosts shown$", shown or ""), "search gave %r" % shown)
        check(not shown.startswith("%d of" % exp["hosts"]), "search did not narrow: %r" % shown)
        check(not page.console, "console messages after interaction: %s" % page.console)
        print("chromium: no console messages, no requests, load %s ms, filters and search work; "
              "screenshot %s" % (page.timing.get("load_ms"), shot))


def case_html_nojs(out):
    """JavaScript off: everything is still there and readable; only the filters (which
    need the script) stay hidden."""
    cdp = need_chromium()
    paths, exp = run_fixture(out, formats=("html",))
    with cdp.Browser() as b:
        page = b.open("file://" + paths["html"], scripts=False)
        r = json.loads(page.evaluate("""JSON.stringify((function(){
          var d = document, vis = function (el) { return !!el && el.getClientRects().length > 0; };
          var ids = ['summary', 'servers', 'rules', 'hosts', 'history', 'waivers'];
          return {
            sections: ids.filter(function (i) { return vis(d.getElementById(i)); }),
            filters: vis(d.getElementById('filters')),
            hosts: d.querySelectorAll('details.host').length,
            hostSummariesVisible: Array.prototype.filter.call(
              d.querySelectorAll('details.page[open] details.host summary'), vis).length,
            hiddenRows: Array.prototype.filter.call(d.querySelectorAll('tr[data-state]'),
              function (t) { return t.hidden; }).length,
            title: d.title,
            text: d.body.innerText.length
          };
        })())"""))
        check(r["sections"] == ["summary", "servers", "rules", "hosts", "history", "waivers"],
              "sections shown without JS: %s" % r["sections"])
        check(not r["filters"], "the filter form shows without JS (it cannot work then)")
        check(r["hosts"] == exp["hosts_failing_or_error"] and r["hostSummariesVisible"] > 0,
              "host details without JS: %s" % r)
        check(r["hiddenRows"] == 0, "%d result rows hidden without JS" % r["hiddenRows"])
        check(not page.console, "console messages: %s" % page.console)
        # the first host opens by a click, without any script
        opened = page.evaluate("(function(){var s=document.querySelector('details.host summary');"
                               "s.click();return s.parentNode.open;})()")
        check(opened is True, "a host's details do not open without JS")
        print("no JS: all six sections and %d hosts readable, filters hidden, %d characters of "
              "text" % (r["hosts"], r["text"]))


def case_html_print(out):
    """Print media: navigation and filters gone, every host's details opened for a small
    fleet, and Chromium's own print to PDF works."""
    cdp = need_chromium()
    paths, exp = run_fixture(out, formats=("html",))
    with cdp.Browser() as b:
        page = b.open("file://" + paths["html"])
        page.media("print")
        r = json.loads(page.evaluate("""JSON.stringify((function(){
          var d = document, cs = function (el) { return getComputedStyle(el); };
          window.dispatchEvent(new Event('beforeprint'));
          return {
            nav: cs(d.querySelector('nav')).display,
            filters: cs(d.getElementById('filters')).display,
            bodySize: cs(d.body).fontSize,
            closed: d.querySelectorAll('details:not([open])').length,
            details: d.querySelectorAll('details').length,
            rowBreak: cs(d.querySelector('tr')).breakInside
          };
        })())"""))
        check(r["nav"] == "none" and r["filters"] == "none",
              "navigation or filters are printed: %s" % r)
        check(r["closed"] == 0 and r["details"] > 0,
              "%d of %d details stay closed in print" % (r["closed"], r["details"]))
        check(r["rowBreak"] == "avoid", "table rows may break across pages: %s" % r)
        pdf = page.print_pdf()
        check(pdf.startswith(b"%PDF-"), "print to PDF did not give a PDF")
        pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
        check(pages >= 2, "the printed report has %d pages" % pages)
        with open(os.path.join(out, "report.pdf"), "wb") as f:
            f.write(pdf)
        check(not page.console, "console messages: %s" % page.console)
        print("print: nav and filters hidden, %d details opened, %d PDF pages (%d bytes)" %
              (r["details"], pages, len(pdf)))


# WCAG 2 contrast of every visible text against the background it is drawn on (the
# first ancestor with an opaque background colour): 4.5:1, or 3:1 for large text.
CONTRAST = """JSON.stringify((function(){
  function rgb(s) { var m = s.match(/[\\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; }
  function lum(c) {
    var v = c.slice(0, 3).map(function (x) { x /= 255;
      return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  }
  function bg(el) {
    for (; el; el = el.parentElement) {
      var c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] === 1) return c;
    }
    return [255, 255, 255, 1];
  }
  var bad = [], checked = 0, seen = {};
  var walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (var n = walk.nextNode(); n; n = walk.nextNode()) {
    if (!n.data.trim()) continue;
    var el = n.parentElement;
    if (!el || !el.getClientRects().length) continue;
    var cs = getComputedStyle(el);
    if (cs.visibility !== 'visible' || el.closest('svg')) continue;
    var fg = rgb(cs.color), b = bg(el);
    if (fg.length === 4 && fg[3] < 1)
      fg = [0, 1, 2].map(function (i) { return fg[i] * fg[3] + b[i] * (1 - fg[3]); });
    var l1 = lum(fg), l2 = lum(b), ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    var size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
    var need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    checked++;
    var key = cs.color + '/' + b.join(',');
    if (ratio < need && !seen[key]) {
      seen[key] = 1;
      bad.push(el.tagName + '.' + el.className + ' "' + n.data.trim().slice(0, 30) + '" ' +
               ratio.toFixed(2) + ':1 (' + cs.color + ' on rgb(' + b.slice(0, 3).join(',') + '))');
    }
  }
  return {bad: bad, checked: checked};
})())"""


def case_html_contrast(out):
    """Accessibility in the browser: WCAG AA contrast for all visible text (every state
    and severity badge included), landmarks and scoped headers as Chromium sees them."""
    cdp = need_chromium()
    paths, exp = run_fixture(out, formats=("html",))
    with cdp.Browser() as b:
        page = b.open("file://" + paths["html"])
        # open everything so that the badges inside hosts' details are measured too
        page.evaluate("document.querySelectorAll('details').forEach(function(d){d.open=true;})")
        r = json.loads(page.evaluate(CONTRAST))
        check(r["checked"] > 500, "only %d text nodes measured" % r["checked"])
        check(not r["bad"], "text below WCAG AA contrast: %s" % r["bad"][:10])
        roles = json.loads(page.evaluate(
            "JSON.stringify(['banner','navigation','main','contentinfo'].map(function(r){"
            "var t={banner:'body > header',navigation:'body > nav',main:'main',"
            "contentinfo:'body > footer'}[r];return document.querySelectorAll(t).length;}))"))
        check(roles == [1, 1, 1, 1], "landmarks (banner, navigation, main, contentinfo): %s" % roles)
        unscoped = page.evaluate("document.querySelectorAll('th:not([scope])').length")
        check(unscoped == 0, "%d table headers without scope" % unscoped)
        print("contrast: %d text nodes at WCAG AA or better; landmarks and scoped headers" %
              r["checked"])


XSS_CHECKS = """(function(){
  var d = document, bad = [];
  if (/^XSS-\\d+$/.test(d.title) || d.title.indexOf('mailfleet report: ') !== 0)
    bad.push('title changed: ' + d.title);
  if (d.querySelectorAll('.xss-marker').length) bad.push('marker element in the DOM');
  if (d.querySelectorAll('script').length !== 1) bad.push(d.querySelectorAll('script').length + ' scripts');
  if (d.querySelectorAll('img').length) bad.push('img element');
  if (d.querySelectorAll('svg').length !== 1) bad.push(d.querySelectorAll('svg').length + ' svg elements');
  d.querySelectorAll('*').forEach(function (el) {
    for (var i = 0; i < el.attributes.length; i++)
      if (/^on/i.test(el.attributes[i].name)) bad.push('handler ' + el.attributes[i].name + ' on ' + el.tagName);
  });
  var text = d.body.textContent, ids = {};
  (text.match(/document\\.title='XSS-\\d+'/g) || []).forEach(function (m) { ids[m] = 1; });
  function t(el) { return el ? el.textContent : ''; }
  return JSON.stringify({bad: bad, inert: Object.keys(ids).length,
    h1: t(d.querySelector('h1')),
    hosts: t(d.querySelector('details.host summary')),
    servers: t(d.getElementById('servers')),
    waivers: t(d.getElementById('waivers')),
    rules: t(d.getElementById('rules'))});
})()"""


def case_html_xss(out):
    cdp = need_chromium()
    paths, exp = run_fixture(out, kind="xss", formats=("html",))
    html = open(paths["html"], encoding="utf-8").read()
    # A copy without the Content-Security-Policy: escaping alone must keep the payloads
    # inert (the CSP is a second line of defence, not the proof).
    nocsp = os.path.join(out, "xss-nocsp.html")
    stripped = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*/>', "", html, count=1)
    check(stripped != html, "could not remove the CSP for the second run")
    with open(nocsp, "w", encoding="utf-8") as f:
        f.write(stripped)
    with cdp.Browser() as b:
        for path in (paths["html"], nocsp):
            page = b.open("file://" + path, debugger=True)
            r = json.loads(page.evaluate(XSS_CHECKS))
            check(not r["bad"], "%s: %s" % (os.path.basename(path), r["bad"]))
            check(not page.console, "console messages (a blocked injection?): %s" % page.console)
            # The proof that nothing ran: V8 compiled exactly one script for the page, its
            # own (an injected <script>, event handler or javascript: URL would add one).
            own = [u for u in page.scripts if u]
            check(own == ["file://" + path], "%s: scripts compiled for the page: %s" %
                  (os.path.basename(path), own))
            check(not page.requests, "requests: %s" % page.requests)
            payload = "<script>document.title='XSS-"
            for field in ("h1", "hosts", "servers", "waivers", "rules"):
                check(payload in r[field], "no inert payload text in the %s" % field)
            check(r["inert"] >= 20, "only %d distinct payloads visible as text" % r["inert"])
            print("%s: title intact, no injected element or handler, %d payloads shown as text" %
                  (os.path.basename(path), r["inert"]))


# --------------------------------------------------------------------------- end to end

def case_end_to_end(out):
    """Through mailfleet-collector: check with --junit/--html/--csv on real report files."""
    import e2e
    e2e.run(out, check, Skip, validate_all, junit_counts, need_chromium)


def case_history(out):
    """--history: first failures keep their day across runs, end when they stop failing
    on an evaluated Mac and restart when they come back; one trend point per day."""
    import e2e
    coll = e2e.collector()
    if not coll:
        raise Skip("MF_COLLECTOR is not set (mailfleet-collector not built)")
    reports = os.path.join(out, "in")
    os.makedirs(reports)
    e2e.fleet_reports(reports, 6, None)
    policy = os.path.join(os.environ.get("MF_SOURCE_DIR", ""), "policies", "baseline.json")
    hist = os.path.join(out, "h.db")
    waiver = os.path.join(out, "w.json")
    with open(waiver, "w") as f:
        json.dump({"waivers": [{"rule": "no-unused-entries", "host": "*", "server": "*",
                                "justification": "test", "expires": "2099-01-01"}]}, f)

    def run(day, waive=False):
        csv_path = os.path.join(out, "%s.csv" % day)
        html = os.path.join(out, "%s.html" % day)
        args = [coll, "check", reports, "--policy", policy, "--as-of", day, "--history", hist,
                "--csv", csv_path, "--html", html, "-q"]
        if waive:
            args += ["--waivers", waiver]
        p = subprocess.run(args, capture_output=True, text=True)
        check(p.returncode in (0, 100, 101), "check failed: " + p.stderr[-1000:])
        rows = read_csv(csv_path)
        h = rows[0]
        first = {}
        for r in rows[1:]:
            if r[h.index("state")] == "fail":
                first[(r[h.index("host_id")], r[h.index("rule")], r[h.index("entity")])] = \
                    r[h.index("first_failed")]
        return first, html

    f1, _ = run("2026-11-20")
    check(f1 and all(v == "2026-11-20" for v in f1.values()), "first run: %s" %
          sorted(set(f1.values())))
    f2, _ = run("2026-11-25")
    check(f2 == f1, "still failing on the second run, but first days changed")
    f3, _ = run("2026-11-27", waive=True)
    unused = [k for k in f1 if k[1] == "no-unused-entries"]
    check(unused and not any(k in f3 for k in unused), "the waiver did not stop the failures")
    check(all(f3[k] == "2026-11-20" for k in f3), "other failures lost their first day")
    f4, html = run("2026-11-28")
    for k in f4:
        want = "2026-11-28" if k[1] == "no-unused-entries" else "2026-11-20"
        check(f4[k] == want, "%s: first failed %s, expected %s" % (k, f4[k], want))
    root = parse_html(html)
    svg = root.find(".//{http://www.w3.org/2000/svg}svg")
    check(svg is not None, "no trend chart after four runs")
    points = svg.findall("{http://www.w3.org/2000/svg}circle")
    check(len(points) == 4, "%d points in the trend, expected 4 days" % len(points))
    print("history: %d failures keep their first day, %d restarted after a waiver, 4 days "
          "in the trend" % (len(f4) - len(unused), len(unused)))


def case_demo(out):
    """The main job (scripts/demo/demo.py) on this build, its reports checked."""
    import e2e
    e2e.run_demo(out, check, Skip, validate_all, junit_counts, need_chromium)


CASES = {
    "junit-schema": case_junit_schema,
    "junit-consumer": case_junit_consumer,
    "junit-group-rule": case_junit_group_rule,
    "junit-stream": case_junit_stream,
    "csv": case_csv,
    "wellformed-control": lambda out: case_wellformed(out, "control"),
    "wellformed-xss": lambda out: case_wellformed(out, "xss"),
    "html-structure": case_html_structure,
    "html-chromium": case_html_chromium,
    "html-xss": case_html_xss,
    "html-nojs": case_html_nojs,
    "html-print": case_html_print,
    "html-contrast": case_html_contrast,
    "end-to-end": case_end_to_end,
    "history": case_history,
    "demo": case_demo,
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES and sys.argv[1] != "--list":
        sys.exit("usage: run_reports_tests.py CASE|--list")
    if sys.argv[1] == "--list":
        print("\n".join(CASES))
        return 0
    name = sys.argv[1]
    out = tempfile.mkdtemp(prefix="mf-reports-%s-" % name)
    try:
        CASES[name](out)
        print("PASS " + name)
        return 0
    except Skip as e:
        print("SKIP: %s" % e)
        return SKIP
    except Fail as e:
        print("FAIL %s: %s" % (name, e))
        return 1
    finally:
        if os.environ.get("MF_KEEP"):
            print("kept " + out)
        else:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
