#!/usr/bin/python3
"""The peer of the JUnit writer: python3-junitparser (Debian's) building the same JUnit
from the results JSON of `mailfleet-collector report --json`.

    py_junit.py RESULTS.json OUT.xml

One testsuite per host, one testcase per result, failure / error / skipped as
report_junit.c writes them (message and a short body), so the work compared is the
same. junitparser builds the document in memory (xml.etree) before writing it.
"""
import json
import sys

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        doc = json.load(f)
    rules = {r["id"]: r for r in doc.get("rules", [])}
    xml = JUnitXml()
    suites = {}
    for r in doc["results"]:
        host = r.get("hostname") or r.get("host") or "fleet"
        suite = suites.get(host)
        if suite is None:
            suite = suites[host] = TestSuite(host)
            suite.hostname = host
            suite.add_property("timezone", "UTC")
            xml.add_testsuite(suite)
        case = TestCase(r.get("entity") or "-", "%s.%s" % (host, r["rule"]), 0)
        state = r["state"]
        sev = r.get("severity") or rules.get(r["rule"], {}).get("severity", "info")
        body = "Evidence: %s\nRule: %s (%s)\n" % (r.get("message", ""), r["rule"], sev)
        if state == "fail":
            res = Failure(r.get("message", ""), sev)
            res.text = body
            case.result = [res]
        elif state == "error":
            res = Error(r.get("message", ""), "error")
            res.text = body
            case.result = [res]
        elif state in ("waived", "notapplicable"):
            case.result = [Skipped("%s: %s" % (state, r.get("message", "")))]
        suite.add_testcase(case)
    for suite in suites.values():
        suite.update_statistics()
    xml.write(dst)


if __name__ == "__main__":
    main()
