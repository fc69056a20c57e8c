#!/usr/bin/env bash
# scripts/test.sh: set up, build and run the whole test suite twice: a normal build
# (warnings are errors) and an ASan + UBSan build. This is what CI runs (.ci/run).
#   bash scripts/test.sh              both builds
#   MF_QUICK=1 bash scripts/test.sh   normal build only, no integration tests
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc 2>/dev/null || echo 2)

bash scripts/setup.sh

run_suite() {
  local dir=$1; shift
  echo "== configure $dir ($*)"
  cmake -S "$root" -B "$dir" -DMAILFLEET_WERROR=ON "$@" >/dev/null
  echo "== build $dir"
  cmake --build "$dir" -j"$jobs" -- --no-print-directory >/dev/null
  echo "== test $dir"
  local label_args=()
  [[ -n "${MF_QUICK:-}" ]] && label_args=(-LE integration)
  # A test that fails is run once more before the suite fails: the integration tests
  # start real servers on a shared 2-core machine, and a second failure is a real one.
  # Both attempts' output is kept in the log.
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 600 --repeat until-pass:2 \
     "${label_args[@]}")
}

# Sanitizers: fail on the first UB report, detect leaks, keep going through the suite.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_suite build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [[ -z "${MF_QUICK:-}" ]]; then
  run_suite build/ci-asan -DCMAKE_BUILD_TYPE=Debug -DMAILFLEET_SANITIZE=ON
fi
echo "== all suites passed"
