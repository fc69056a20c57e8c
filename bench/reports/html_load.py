#!/usr/bin/python3
"""Load HTML reports in headless Chromium (tests/reports/cdp.py) and say how long it took.

    html_load.py REPORT.html...

For each file: its size; DOMContentLoaded and load as the page's own navigation timing
measures them (from the start of navigation); wall time from navigate to the load event
as seen from outside; the number of DOM elements; the time a search for one host name
takes to filter the page (the report's own script, measured in the page); console
messages (there should be none). Each file is loaded in a fresh browser, twice: the first
load warms the file cache, the second is reported.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "reports"))
import cdp  # noqa: E402

SEARCH = """new Promise(function (done) {
  var q = document.getElementById('q'), t0 = performance.now();
  var first = document.querySelector('[data-pairs]');
  q.value = first ? first.textContent.trim().split(' ')[0] : 'x';
  q.dispatchEvent(new Event('input'));
  (function wait() {
    var s = document.getElementById('shown').textContent;
    if (s) { done(JSON.stringify({ms: Math.round(performance.now() - t0), shown: s})); }
    else { setTimeout(wait, 20); }
  })();
})"""


def main():
    for path in sys.argv[1:]:
        if not os.path.exists(path):
            continue
        mb = os.path.getsize(path) / 1e6
        with cdp.Browser() as b:
            b.open("file://" + os.path.abspath(path), timeout=600)
            t = time.monotonic()
            page = b.open("file://" + os.path.abspath(path), timeout=600)
            wall = time.monotonic() - t
            nodes = page.evaluate("document.getElementsByTagName('*').length")
            search = json.loads(page.evaluate(SEARCH, timeout=600))
        print("chromium %s (%.1f MB): DOMContentLoaded %.1f s, load %.1f s (wall %.1f s), "
              "%d elements; search: %d ms (includes the 150 ms debounce), %s; console: %s" %
              (os.path.basename(path), mb, page.timing["dom_content_loaded_ms"] / 1000,
               page.timing["load_ms"] / 1000, wall, nodes, search["ms"], search["shown"],
               page.console or "none"))


if __name__ == "__main__":
    main()
