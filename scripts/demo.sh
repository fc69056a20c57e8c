#!/usr/bin/env bash
# scripts/demo.sh: the main job, end to end on this machine, in about a minute.
#
#   1. install what is missing (scripts/setup.sh) and build (build/release);
#   2. start the company's SMTP servers on loopback (aiosmtpd), some broken on purpose;
#   3. write 200 Macs' home folders with the fixture builder: Apple Mail, Thunderbird,
#      MailMate, MDM profiles, iCloud; migrated Macs that still carry decommissioned
#      servers;
#   4. start an OpenSSH sshd on 127.0.0.1 whose forced command is the real
#      `mailfleet-collector receive`;
#   5. run the agent for every Mac (discover, probe, ship over SSH), ingest the spool into
#      the store, and write the HTML, JUnit XML, JSON and CSV reports.
#
# At the end it names the folder with the reports (build/demo/reports). Details of each
# step: scripts/demo/demo.py. MF_DEMO_MACS changes the number of Macs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)
bash scripts/setup.sh
echo "== build (build/release)"
cmake -S "$root" -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release -j"$(nproc 2>/dev/null || echo 2)" -- --no-print-directory >/dev/null
echo "== built in $(( $(date +%s) - start )) s; the demo company"
/usr/bin/python3 scripts/demo/demo.py --build build/release --out build/demo \
  --macs "${MF_DEMO_MACS:-200}"
echo "== finished in $(( $(date +%s) - start )) s. Open build/demo/reports/report.html"
