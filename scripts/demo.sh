#!/usr/bin/env bash
# scripts/demo.sh: the main job. Sets up, builds, writes a small company of sample Mac
# home folders, and runs the agent over them, printing the SMTP server list with the
# accounts that use each server and the findings (unused, duplicate, plaintext, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/setup.sh
echo "== build (build/release)"
cmake -S "$root" -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release -j"$(nproc 2>/dev/null || echo 2)" -- --no-print-directory >/dev/null
out=build/demo
rm -rf "$out"
echo "== sample homes ($out/Users)"
/usr/bin/python3 tests/fixtures/mkfixtures.py --samples "$out"
echo "== mailfleet-agent list --users-root $out/Users --profiles $out/Profiles"
echo
profiles=()
[[ -d "$out/Profiles" ]] && profiles=(--profiles "$out/Profiles")
status=0
build/release/agent/mailfleet-agent list --users-root "$out/Users" "${profiles[@]}" || status=$?
echo
build/release/agent/mailfleet-agent collect --no-probe --pretty --users-root "$out/Users" \
  "${profiles[@]}" -o "$out/report.json" || true
echo "The full report document is in $out/report.json (exit status of list: $status;"
echo "1 means some sample source is deliberately broken, and the list above says which)."
