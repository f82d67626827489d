#!/usr/bin/env bash
# Sets up and runs every test: the gcc release build and the clang ASan+UBSan build, each
# with the whole CTest suite. Prints each stage's time.
set -euo pipefail
cd "$(dirname "$0")/.."

stage() {  # stage NAME COMMAND...
  local name=$1; shift
  local start=$SECONDS
  echo "=== $name"
  "$@"
  echo "=== $name: $((SECONDS - start)) s"
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
jobs=$(nproc)

stage "install dependencies" scripts/setup.sh --deps-only
stage "build (gcc, release)" bash -c 'cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ -DCMAKE_C_COMPILER=gcc >/dev/null && cmake --build build/release --parallel '"$jobs"
stage "test (gcc, release)" ctest --test-dir build/release --output-on-failure --parallel "$jobs" --timeout 600
stage "build (clang, asan+ubsan)" bash -c 'cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFIELDSYNC_SANITIZE=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang >/dev/null && cmake --build build/asan --parallel '"$jobs"
stage "test (clang, asan+ubsan)" ctest --test-dir build/asan --output-on-failure --parallel "$jobs" --timeout 900
