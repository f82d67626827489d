#!/usr/bin/env bash
# Installs what fieldsync needs from Debian 12's packages (only what is missing) and builds.
#   scripts/setup.sh                 install + release build (gcc) in build/release
#   scripts/setup.sh --deps-only     install only
#   scripts/setup.sh --asan          also the clang ASan+UBSan build in build/asan
set -euo pipefail
cd "$(dirname "$0")/.."

# openssl is the command-line tool: tests/e2e/tls.sh makes its test certificates with it;
# chromium is the browser of the dashboard's browser test.
PACKAGES=(build-essential cmake ninja-build pkg-config ccache clang libclang-rt-14-dev
  libboost1.81-dev libboost-json1.81-dev libsqlite3-dev sqlite3 libsodium-dev libssl-dev
  catch2 libspdlog-dev libcli11-dev clang-format python3 curl procps openssl
  chromium)
# The browser test (tests/browser) drives chromium with playwright-core from npm: Node.js and
# npm from Debian unless the machine already has them.
command -v node >/dev/null && command -v npm >/dev/null || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ "${1:-}" = "--deps-only" ] && exit 0

build() {  # build DIR EXTRA_CMAKE_ARGS...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" --parallel "$(nproc)"
}

build build/release -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ -DCMAKE_C_COMPILER=gcc
if [ "${1:-}" = "--asan" ]; then
  build build/asan -DCMAKE_BUILD_TYPE=Debug -DFIELDSYNC_SANITIZE=ON \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang
fi
