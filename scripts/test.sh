#!/usr/bin/env bash
# Sets up, builds and runs the whole attex test suite:
#   1. gcc build, warnings as errors: unit, known-answer, end-to-end and
#      negative tests, the demo, and a benchmark smoke run (ctest);
#   2. clang build with AddressSanitizer + UndefinedBehaviorSanitizer
#      (LeakSanitizer included): the same tests;
#   3. a short libFuzzer pass over every fuzz target.
# FUZZ_SECONDS (default 20) sets the fuzzing time per target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

jobs=$(nproc)
echo "== gcc build"
cmake -S . -B build -G Ninja -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs")

echo "== clang build with ASan + UBSan"
cmake -S . -B build-asan -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
      -DATTEX_SANITIZE=ON >/dev/null
ninja -C build-asan -j "$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j "$jobs")

echo "== fuzzing"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"

echo "== all attex tests passed"
