#!/usr/bin/python3
"""End-to-end cases of the report writers, through mailfleet-collector (imported by
run_reports_tests.py, which passes in its helpers):

end-to-end  report documents (bench/fleetgen's generator) with an HTML/JS injection
            payload, control characters and "]]>" in every string field the agent
            fills (host names, descriptions, user names, banners, EHLO lines,
            certificate subjects and issuers, e-mail addresses) and a waivers file with
            payloads in its justification, evaluated with `check --junit --html --csv
            --json`: JUnit valid and counted like the JSON, CSV parsed, HTML inert in
            Chromium with and without its Content-Security-Policy.
demo        scripts/demo/demo.py on the build being tested: the main job, with its
            reports checked the same way and a screenshot taken (MF_UPDATE_SCREENSHOT=1
            copies it to docs/images/report.png, the README's picture).
"""
import csv
import datetime
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MF_SOURCE_DIR", os.path.normpath(os.path.join(HERE, "..", "..")))

PAYLOAD = ("<script>document.title='XSS-{n}'</script><img src=x onerror=\"document.title="
           "'XSS-{n}'\"><b class=\"xss-marker\">x</b>\x01\x1b]]>")


def collector():
    c = os.environ.get("MF_COLLECTOR")
    if not c or not os.access(c, os.X_OK):
        return None
    return c


class Counter:
    """Appends a numbered payload; controls=False leaves out the control characters (the
    waivers parser refuses them, rightly)."""

    def __init__(self):
        self.n = 0

    def __call__(self, s, controls=True):
        self.n += 1
        p = PAYLOAD.format(n=self.n)
        if not controls:
            p = p.replace("\x01", "").replace("\x1b", "")
        return "%s %s" % (s, p)


def poison(doc, tag):
    """Payloads into every free-text string a report carries."""
    h = doc["host"]
    h["hostname"] = tag(h["hostname"])
    for s in doc["servers"]:
        for k in ("description", "username"):
            if s.get(k):
                s[k] = tag(s[k])
        if s.get("user"):
            s["user"] = tag(s["user"])
    for a in doc["accounts"]:
        a["description"] = tag(a.get("description") or "account")
        a["emails"] = [tag(e) for e in a.get("emails", [])]
        if a.get("user"):
            a["user"] = tag(a["user"])
    for src in doc["sources"]:
        if src.get("user"):
            src["user"] = tag(src["user"])
        if src.get("error"):
            src["error"] = tag(src["error"])
    for p in doc["probes"]:
        if p.get("banner"):
            p["banner"] = tag(p["banner"])
        if p.get("detail"):
            p["detail"] = tag(p["detail"])
        p["ehlo"] = [tag(e) for e in p.get("ehlo", [])]
        tls = p.get("tls")
        if tls and tls.get("cert"):
            tls["cert"]["subject"] = tag(tls["cert"]["subject"])
            tls["cert"]["issuer"] = tag(tls["cert"]["issuer"])
        if tls and tls.get("verify_error"):
            tls["verify_error"] = tag(tls["verify_error"])
    return doc


def fleet_reports(out, n, tag):
    sys.path.insert(0, os.path.join(SRC, "bench", "fleetgen"))
    import fleetgen
    rng = random.Random(11)
    now = datetime.datetime.utcnow().replace(microsecond=0)
    paths = []
    for i in range(n):
        host = fleetgen.Host(rng, i)
        doc = fleetgen.report(rng, host, now - datetime.timedelta(hours=i))
        if tag:
            doc = poison(doc, tag)
        p = os.path.join(out, "r%03d.json" % i)
        with open(p, "w") as f:
            json.dump(doc, f)
        paths.append(p)
    return paths


def check_reports(paths, results_json, check, validate_all, junit_counts, read_csv=None):
    """JUnit valid and agreeing with the results JSON; CSV rows = results."""
    from run_reports_tests import validate_results_json
    res = validate_results_json(results_json)
    s = res["summary"]
    hosts = {r["host"] for r in res["results"] if r.get("host")}
    fleet = any(not r.get("host") for r in res["results"])
    validate_all(paths["junit"])
    exp = {"suites": len(hosts) + (1 if fleet else 0),
           "tests": sum(s[k] for k in ("pass", "fail", "error", "notapplicable", "waived")),
           "failures": s["fail"], "errors": s["error"],
           "skipped": s["notapplicable"] + s["waived"]}
    junit_counts(paths["junit"], exp, "host")
    text = open(paths["csv"], "rb").read().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    check(len(rows) - 1 == exp["tests"], "CSV has %d rows for %d results" %
          (len(rows) - 1, exp["tests"]))
    p = subprocess.run(["xmllint", "--noout", "--nonet", paths["html"]], capture_output=True,
                       text=True)
    check(p.returncode == 0, "HTML not well-formed: " + p.stderr[:500])
    return res, exp


def run(out, check, Skip, validate_all, junit_counts, need_chromium):
    coll = collector()
    if not coll:
        raise Skip("MF_COLLECTOR is not set (mailfleet-collector not built)")
    tag = Counter()
    reports = os.path.join(out, "in")
    os.makedirs(reports)
    fleet_reports(reports, 12, tag)
    waivers = os.path.join(out, "waivers.json")
    with open(waivers, "w") as f:
        json.dump({"waivers": [
            {"rule": "no-unused-entries", "host": "*", "server": "*",
             "justification": tag("Archive mailbox", False),
             "approved_by": tag("it@example.com", False),
             "expires": "2099-12-31"}]}, f)
    paths = {k: os.path.join(out, "out." + e) for k, e in
             (("junit", "xml"), ("html", "html"), ("csv", "csv"), ("json", "json"))}
    p = subprocess.run([coll, "check", reports, "--policy",
                        os.path.join(SRC, "policies", "approved-servers.example.json"),
                        "--waivers", waivers, "--junit", paths["junit"], "--html",
                        paths["html"], "--csv", paths["csv"], "--json", paths["json"],
                        "--history", os.path.join(out, "history.db"), "-q"],
                       capture_output=True, text=True)
    check(p.returncode in (0, 100, 101), "check failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
    res, exp = check_reports(paths, paths["json"], check, validate_all, junit_counts)
    check(res["summary"]["waived"] > 0, "the waiver with a payload waived nothing")
    # --junit-group-by rule through the command line: one suite per rule of the policy
    by_rule = os.path.join(out, "by-rule.xml")
    p = subprocess.run([coll, "check", reports, "--policy",
                        os.path.join(SRC, "policies", "approved-servers.example.json"),
                        "--waivers", waivers, "--junit", by_rule, "--junit-group-by", "rule",
                        "-q"], capture_output=True, text=True)
    check(p.returncode in (0, 100, 101), "check --junit-group-by rule failed (%d): %s" %
          (p.returncode, p.stderr[-2000:]))
    validate_all(by_rule)
    rexp = dict(exp, suites=len(res["rules"]))
    junit_counts(by_rule, rexp, "rule")
    texts = json.dumps(res["results"], ensure_ascii=False)
    check("]]>" in texts and "<script>document.title='XSS-" in texts,
          "the JSON lost the payloads instead of keeping them as text")
    for path in paths.values():
        data = open(path, "rb").read()
        check(b"\x01" not in data and b"\x1b" not in data, "control character in " + path)
    cdp = need_chromium()
    from run_reports_tests import XSS_CHECKS
    html = open(paths["html"], encoding="utf-8").read()
    nocsp = os.path.join(out, "nocsp.html")
    with open(nocsp, "w", encoding="utf-8") as f:
        f.write(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*/>', "", html, count=1))
    with cdp.Browser() as b:
        for path in (paths["html"], nocsp):
            page = b.open("file://" + path, debugger=True)
            r = json.loads(page.evaluate(XSS_CHECKS))
            check(not r["bad"], "%s: %s" % (os.path.basename(path), r["bad"]))
            check(not page.console, "console: %s" % page.console)
            own = [u for u in page.scripts if u]
            check(own == ["file://" + path], "scripts compiled for %s: %s" %
                  (os.path.basename(path), own))
            check(r["inert"] >= 10, "only %d payloads visible as text" % r["inert"])
            for field in ("hosts", "waivers"):
                check("<script>document.title='XSS-" in r[field],
                      "no inert payload in the %s" % field)
    print("end-to-end: %d results; JUnit valid, counts agree with the JSON; payloads in %d "
          "fields stay text" % (exp["tests"], tag.n))


def run_demo(out, check, Skip, validate_all, junit_counts, need_chromium):
    build = os.environ.get("MF_BUILD_DIR")
    if not build or not collector():
        raise Skip("MF_BUILD_DIR / MF_COLLECTOR not set")
    for tool in ("/usr/sbin/sshd", "/usr/bin/ssh-keygen"):
        if not os.access(tool, os.X_OK):
            raise Skip(tool + " is not installed")
    p = subprocess.run(["/usr/bin/python3", "-c", "import aiosmtpd"], capture_output=True)
    if p.returncode != 0:
        raise Skip("python3-aiosmtpd is not installed")
    macs = os.environ.get("MF_DEMO_MACS", "200")
    demo_out = os.path.join(out, "demo")
    p = subprocess.run(["/usr/bin/python3", os.path.join(SRC, "scripts", "demo", "demo.py"),
                        "--build", build, "--out", demo_out, "--macs", macs],
                       capture_output=True, text=True)
    print(p.stdout[-3000:])
    check(p.returncode == 0, "demo failed (%d): %s" % (p.returncode, p.stderr[-3000:]))
    r = os.path.join(demo_out, "reports")
    paths = {"junit": os.path.join(r, "junit.xml"), "html": os.path.join(r, "report.html"),
             "csv": os.path.join(r, "results.csv")}
    res, exp = check_reports(paths, os.path.join(r, "results.json"), check, validate_all,
                             junit_counts)
    check(exp["suites"] - 1 == int(macs), "%d host suites for %s Macs" % (exp["suites"], macs))
    cdp = need_chromium()
    with cdp.Browser() as b:
        page = b.open("file://" + paths["html"])
        check(not page.console, "console: %s" % page.console)
        check(not page.requests, "requests: %s" % page.requests)
        stale = page.evaluate("Array.prototype.map.call(document.querySelectorAll("
                              "'#server-table tbody tr'),function(t){return t.textContent;})")
        for name in ("mx1.old-example-corp.net", "smtp.isp-2012.invalid",
                     "smtp.example-corp.com"):
            check(any(name in t and "stale" in t for t in stale),
                  "%s is not shown as stale in the inventory" % name)
        shots = os.path.join(build, "tests", "reports")
        os.makedirs(shots, exist_ok=True)
        shot = os.path.join(shots, "report.png")
        page.screenshot(shot, 1280, 1600)
    print("demo: %s Macs, %d results, reports checked; screenshot %s (load %s ms)" %
          (macs, exp["tests"], shot, page.timing.get("load_ms")))
    if os.environ.get("MF_UPDATE_SCREENSHOT"):
        dest = os.path.join(SRC, "docs", "images", "report.png")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(shot, dest)
        print("copied to " + dest)
