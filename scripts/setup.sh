#!/usr/bin/env bash
# scripts/setup.sh: install what mailfleet needs on Debian/Ubuntu, and nothing twice.
# Idempotent: packages already installed are left alone; it says what it installs.
#   bash scripts/setup.sh            build + test dependencies
#   bash scripts/setup.sh --browser  also headless Chromium (HTML report tests)
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libssl-dev libssh2-1-dev libjansson-dev libxml2-dev libplist-dev libsqlite3-dev
  libcmocka-dev
  # real peers and tools used by the tests
  openssl openssh-server openssh-client swaks libxml2-utils sqlite3 util-linux procps groff-base time
  python3 python3-aiosmtpd python3-jsonschema python3-junitparser
)
if [[ "${1:-}" == "--browser" ]]; then
  packages+=(chromium)
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: this script installs Debian/Ubuntu packages; see README.md for macOS (Homebrew)." >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  # A package that does not exist in this release (e.g. libclang-rt-14-dev on Ubuntu) is
  # reported by apt-get below, not silently skipped.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages are already installed."
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "setup: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done."
