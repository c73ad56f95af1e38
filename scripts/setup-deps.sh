#!/usr/bin/env bash
# Installs the Debian packages s3repl needs that are not installed yet, and
# nothing else: `apt-get update` runs only when something is missing.
#
#   bash scripts/setup-deps.sh [demo|bench|test]
#
#   demo  what scripts/demo.sh needs: a compiler, CMake, the library's
#         dependencies and the example server's.
#   bench demo's packages plus the benchmark's own: Abseil and simdjson for
#         its --impl abseil peer (scripts/bench-compare.sh). The library
#         never needs them.
#   test  (default) all of the above plus what scripts/test.sh needs: clang
#         and its sanitizer/fuzzer runtimes, clang-format, Catch2, the S3
#         clients the example server is tested with, and Debian's Rust
#         toolchain and crates for the Rust snapshot reader.
#
# Works as root, or through sudo; fails with a message saying what to run
# when it can do neither.
set -euo pipefail

profile="${1:-test}"

# package|why, one per line
demo_packages="
cmake|configures the build
ninja-build|runs the build
g++|compiles the library's users (GCC)
nlohmann-json3-dev|s3repl dependency: JSON snapshots
libhowardhinnant-date-dev|s3repl dependency: timestamp text forms
libpugixml-dev|s3repl/aws_xml.hpp (optional), its tests and the example S3 server: XML bodies
libboost-dev|example S3 server: HTTP (Boost.Beast), which leaves header values as sent
libssl-dev|example S3 server: SHA-256 and HMAC-SHA256 for AWS Signature Version 4
pkg-config|the pkg-config consumer test (a consumer that finds s3repl through s3repl.pc)
"
# The benchmark's alone: the alternative design it measures s3repl against.
bench_packages="
libabsl-dev|benchmark only: --impl abseil's flat_hash_map, hash and Mutex
libsimdjson-dev|benchmark only: --impl abseil's snapshot restore (simdjson On-Demand)
"
test_packages="
clang|the second compiler (C++20, ThreadSanitizer, libFuzzer)
libclang-rt-14-dev|clang's sanitizer and libFuzzer runtimes
clang-format-14|the formatting check
catch2|the unit test framework
python3|runs the example server's client tests and the README snippet check
python3-boto3|S3 client the example server is tested with
awscli|second S3 client the example server is tested with
prometheus|promtool and a real Prometheus server scrape the example server's /metrics
libhiredis-dev|s3repl/redis.hpp (optional): the Redis client its tests build against
redis-server|the Redis and Redis Cluster servers the Redis manager's tests start on loopback
redis-tools|redis-cli, which creates and reshards the tests' Redis Cluster
cargo|builds the Rust server's snapshot reader (tests/rust-reader)
rustc|compiles the Rust server's snapshot reader
librust-serde-dev|the Rust reader's serde, from Debian (no crates.io)
librust-serde-derive-dev|the Rust reader's serde derive
librust-serde-json-dev|the Rust reader's serde_json
librust-chrono-dev|the Rust reader's chrono
"

case "$profile" in
demo) wanted="$demo_packages" ;;
bench) wanted="$demo_packages$bench_packages" ;;
test) wanted="$demo_packages$bench_packages$test_packages" ;;
*)
    echo "setup-deps: unknown profile '$profile' (expected 'demo', 'bench' or 'test')" >&2
    exit 2
    ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-deps: dpkg-query/apt-get not found: this script supports Debian 12 (bookworm) only." >&2
    echo "setup-deps: install the equivalents of these packages yourself:" >&2
    echo "$wanted" | sed -n 's/^\([^|]*\)|\(.*\)$/  \1  (\2)/p' >&2
    exit 1
fi

missing=()
while IFS='|' read -r package why; do
    [ -n "$package" ] || continue
    if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) == *'install ok installed'* ]]; then
        continue
    fi
    missing+=("$package")
    echo "setup-deps: will install $package: $why"
done <<<"$wanted"

if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup-deps: all required Debian packages ($profile) are installed."
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
    echo "setup-deps: not root: using sudo (it may ask for your password)."
else
    echo "setup-deps: ${#missing[@]} package(s) missing and this is neither root nor a user with sudo." >&2
    echo "setup-deps: as root, run:  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi

# env: sudo resets the environment. The lock timeout waits out a concurrent apt run.
apt_get=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
echo "setup-deps: apt-get update"
if ! "${apt_get[@]}" update; then
    echo "setup-deps: 'apt-get update' failed (network? apt sources?); nothing was installed." >&2
    exit 1
fi
echo "setup-deps: apt-get install -y ${missing[*]}"
if ! "${apt_get[@]}" install -y "${missing[@]}"; then
    echo "setup-deps: 'apt-get install ${missing[*]}' failed; see apt's messages above." >&2
    exit 1
fi
echo "setup-deps: installed ${missing[*]}."
