#!/usr/bin/env bash
# Builds s3repl-bench in Release and runs it on s3repl, on the naive
# baseline and on the abseil peer (the strongest obvious alternative, when
# libabsl-dev and libsimdjson-dev are installed: setup-deps.sh bench) with
# the same arguments, then prints markdown tables: ns per op of s3repl and
# naive and the ratio naive/s3repl (above 1: s3repl is faster), plus the
# snapshot size and resident bytes per entry; then the same lines for s3repl
# and abseil with the ratio s3repl/abseil (below 1: s3repl is faster, the
# way the performance targets are stated); then the peak memory of loading such a
# snapshot (s3repl-snapshot-rss) and the cost of one dependent random read
# (s3repl-memory-latency), the floor under a lookup.
#
#   scripts/bench-compare.sh [bench arguments...]     (default: --n 1000000)
#
#   BUILD_DIR  build directory, default build/bench under the repository
#   JOBS       parallel compile jobs, default 2
#
# Installs nothing: the dependencies come from scripts/setup-deps.sh (see the
# README's setup). A full run at N = 1,000,000 takes a few minutes; for
# figures worth quoting, run it on a quiet machine (check `uptime`).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$repo/build/bench}"
jobs="${JOBS:-2}"
if [ "$#" -eq 0 ]; then set -- --n 1000000; fi

generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
cmake -S "$repo" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DS3REPL_BUILD_BENCHMARKS=ON -DS3REPL_BUILD_TESTS=OFF -DS3REPL_BUILD_EXAMPLES=OFF -DS3REPL_INSTALL=OFF >&2
cmake --build "$build_dir" --target s3repl-bench s3repl-snapshot-rss s3repl-memory-latency -j "$jobs" >&2

bench="$build_dir/bench/s3repl-bench"
impls=(s3repl naive)
# --impl abseil is built only where CMake found Abseil and simdjson.
if "$bench" --n 1 --only mint --impl abseil </dev/null >/dev/null 2>&1; then
    impls+=(abseil)
else
    echo "== no --impl abseil in this build (libabsl-dev, libsimdjson-dev: bash scripts/setup-deps.sh bench)" >&2
fi
rm -f "$build_dir/bench-abseil.txt"
load_before="$(uptime)"
for impl in "${impls[@]}"; do
    echo "== $impl: $bench $* --impl $impl" >&2
    "$bench" "$@" --impl "$impl" | tee "$build_dir/bench-$impl.txt" >&2
done

# The restore memory promise: peak RSS of a process that loads such a file.
n_arg="$(printf '%s\n' "$@" | awk 'prev == "--n" { print; exit } { prev = $0 }')"
echo "== $build_dir/bench/s3repl-snapshot-rss --n ${n_arg:-1000000}" >&2
"$build_dir/bench/s3repl-snapshot-rss" --n "${n_arg:-1000000}" >&2

# What the hardware allows: one dependent random read in regions the size of
# the index and of the entries at a million entries.
echo "== $build_dir/bench/s3repl-memory-latency 16 48" >&2
"$build_dir/bench/s3repl-memory-latency" 16 48 >&2

echo "load before: $load_before" >&2
echo "load after:  $(uptime)" >&2
# One table: s3repl against `other`, ratio a/b or b/a (`invert`), `digits` decimals.
compare() { # other-impl ratio-header invert digits
    awk '
    # bench <name> n=<ops> ns_per_op=<x> | bytes=<x> | bytes_per_entry=<x>
    $1 == "bench" {
        split($4, field, "=")
        if (!($2 in seen)) { seen[$2] = 1; names[++count] = $2 }
        value[FILENAME, $2] = field[2]
        unit[$2] = field[1]
    }
    END {
        print "| workload | s3repl | " other " | " header " |"
        print "| --- | ---: | ---: | ---: |"
        for (i = 1; i <= count; ++i) {
            name = names[i]
            a = value[s3repl_file, name]; b = value[other_file, name]
            ratio = "-"
            if (a != "" && b != "" && (invert ? b + 0 > 0 : a + 0 > 0))
                ratio = sprintf("%." digits "fx", invert ? a / b : b / a)
            label = unit[name] == "ns_per_op" ? name " (ns/op)" : name " (" unit[name] ")"
            printf "| %s | %s | %s | %s |\n", label, (a == "" ? "-" : a), (b == "" ? "-" : b), ratio
        }
    }
' other="$1" header="$2" invert="$3" digits="$4" \
        s3repl_file="$build_dir/bench-s3repl.txt" other_file="$build_dir/bench-$1.txt" \
        "$build_dir/bench-s3repl.txt" "$build_dir/bench-$1.txt"
}
compare naive naive/s3repl 0 1
# The thread count's promise: restore_2threads against restore, one run of s3repl.
awk '$1 == "bench" { split($4, f, "="); v[$2] = f[2] }
     END { if (v["restore"] > 0 && v["restore_2threads"] != "")
               printf "\ns3repl restore_2threads / restore: %.2fx\n", v["restore_2threads"] / v["restore"] }' \
    "$build_dir/bench-s3repl.txt"
if [ -e "$build_dir/bench-abseil.txt" ]; then
    # The targets are ratios of times and sizes, s3repl/abseil, two decimals.
    echo
    compare abseil "s3repl/abseil (lower is better)" 1 2
fi
