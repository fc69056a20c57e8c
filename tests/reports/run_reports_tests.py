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
        # search: one host's name narrows the host list
        page.evaluate("(function(){var q=document.getElementById('q');q.value='carol-mbp0';"
                      "q.dispatchEvent(new Event('input'));})()")
        import time
        time.sleep(0.6)
        shown = page.evaluate("document.getElementById('shown').textContent")
        check(re.match(r"^[1-9]\d* of \d+ hosts shown$", shown or ""), "search gave %r" % shown)
        check(not shown.startswith("%d of" % exp["hosts"]), "search did not narrow: %r" % shown)
        check(not page.console, "console messages after interaction: %s" % page.console)
        print("chromium: no console messages, no requests, load %s ms, filters and search work; "
              "screenshot %s" % (page.timing.get("load_ms"), shot))


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
            page = b.open("file://" + path)
            r = json.loads(page.evaluate(XSS_CHECKS))
            check(not r["bad"], "%s: %s" % (os.path.basename(path), r["bad"]))
            check(not page.console, "console messages (a blocked injection?): %s" % page.console)
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
    "csv": case_csv,
    "wellformed-control": lambda out: case_wellformed(out, "control"),
    "wellformed-xss": lambda out: case_wellformed(out, "xss"),
    "html-structure": case_html_structure,
    "html-chromium": case_html_chromium,
    "html-xss": case_html_xss,
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
