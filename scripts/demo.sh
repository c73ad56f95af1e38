#!/usr/bin/env bash
# Quick start, first command: installs the missing Debian packages, builds
# the demo (Release, in build/demo) and runs it.
#
#   bash scripts/demo.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bash "$root/scripts/setup-deps.sh" demo
cmake -S "$root" -B "$root/build/demo" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DS3REPL_BUILD_TESTS=OFF -DS3REPL_BUILD_EXAMPLES=ON -DS3REPL_BUILD_BENCHMARKS=OFF -DS3REPL_INSTALL=OFF
cmake --build "$root/build/demo" -j2 --target s3repl-demo
echo
exec "$root/build/demo/examples/s3repl-demo"
