#!/usr/bin/env bash
# Sets up, builds and runs the attex demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build attex >/dev/null
exec ./build/attex demo
