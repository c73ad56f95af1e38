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
# With --with-redis it also runs --impl redis (the Redis manager, on a
# redis-server the benchmark starts on loopback and stops by its PID) with
# the same arguments but --n, and prints its table: ns per op, operations per
# second in all and per client thread, the server's time per call, s3repl's
# ns per op beside them; then what pipelining, client threads and the one
# generation key do.
#
#   scripts/bench-compare.sh [--with-redis] [bench arguments...]     (default: --n 1000000)
#
#   BUILD_DIR  build directory, default build/bench under the repository
#   JOBS       parallel compile jobs, default 2
#   REDIS_N    --impl redis's --n, default the benchmark's (50000; docs/bench-spec.md)
#
# Installs nothing: the dependencies come from scripts/setup-deps.sh (see the
# README's setup). A full run at N = 1,000,000 takes a few minutes; for
# figures worth quoting, run it on a quiet machine (check `uptime`).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$repo/build/bench}"
jobs="${JOBS:-2}"
with_redis=0
if [ "${1:-}" = --with-redis ]; then
    with_redis=1
    shift
fi
if [ "$#" -eq 0 ]; then set -- --n 1000000; fi
# --impl redis's arguments: these without --n, and REDIS_N's.
redis_args=()
skip=0
for arg in "$@"; do
    if [ "$skip" -eq 1 ]; then skip=0; continue; fi
    case "$arg" in
    --n) skip=1 ;;
    --n=*) ;;
    *) redis_args+=("$arg") ;;
    esac
done
if [ -n "${REDIS_N:-}" ]; then redis_args+=(--n "$REDIS_N"); fi

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
rm -f "$build_dir/bench-abseil.txt" "$build_dir/bench-redis.txt"
if [ "$with_redis" -eq 1 ] && ! "$bench" --impl redis --help >/dev/null 2>&1; then
    echo "== no --impl redis in this build (libhiredis-dev: bash scripts/setup-deps.sh test)" >&2
    with_redis=0
fi
load_before="$(uptime)"
for impl in "${impls[@]}"; do
    echo "== $impl: $bench $* --impl $impl" >&2
    "$bench" "$@" --impl "$impl" | tee "$build_dir/bench-$impl.txt" >&2
done
if [ "$with_redis" -eq 1 ]; then
    echo "== redis: $bench ${redis_args[*]} --impl redis" >&2
    "$bench" "${redis_args[@]}" --impl redis | tee "$build_dir/bench-redis.txt" >&2
fi

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
if [ -e "$build_dir/bench-redis.txt" ]; then
    threads_arg="$(printf '%s\n' "$@" | awk 'prev == "--threads" { print; exit } { prev = $0 }')"
    echo
    # The Redis manager: a round trip per call, so throughput is the figure;
    # a _tT workload ran T client threads, mixed --threads (default 2), the rest one.
    awk '
    $1 == "bench" {
        split($3, ops, "="); split($4, field, "=")
        if (FILENAME == s3repl_file) { s3repl[$2] = field[2]; next }
        names[++count] = $2; value[$2] = field[2]; unit[$2] = field[1]; n[$2] = ops[2]
        if (split($5, server_field, "=") == 2) server[$2] = server_field[2]
    }
    function clients(name) {
        if (match(name, /_t[0-9]+$/)) return substr(name, RSTART + 2) + 0
        return name == "mixed" ? mixed_threads : 1
    }
    function ratio(a, b) { return (a > 0 && b > 0) ? sprintf("%.2fx", a / b) : "-" }
    END {
        print "| workload (redis) | n | ns/op | ops/s | ops/s per client thread | server ns/op | s3repl ns/op (its n) |"
        print "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        for (i = 1; i <= count; ++i) {
            name = names[i]; v = value[name]
            if (unit[name] == "ns_per_op" && v > 0) {
                t = clients(name)
                printf "| %s | %s | %s | %.0f | %.0f | %s | %s |\n", name, n[name], v, 1e9 / v, 1e9 / v / t,
                       (name in server ? server[name] : "-"), (name in s3repl ? s3repl[name] : "-")
            } else {
                printf "| %s (%s) | %s | %s | | | | |\n", name, unit[name], n[name], v
            }
        }
        print ""
        print "| what | ratio |"
        print "| --- | ---: |"
        printf "| pipelining: stamp_update / redis_stamp_batch (64 per call) | %s |\n", ratio(value["stamp_update"], value["redis_stamp_batch"])
        printf "| pipelining: lookup_hit / lookup_batch (64 per call) | %s |\n", ratio(value["lookup_hit"], value["lookup_batch"])
        split("2 4 8", more, " ")
        for (k = 1; k <= 3; ++k) {
            t = more[k]
            printf "| throughput of %s client threads against 1: redis_stamp_t1 / redis_stamp_t%s | %s |\n", t, t, ratio(value["redis_stamp_t1"], value["redis_stamp_t" t])
            printf "| throughput of %s client threads against 1: redis_lookup_t1 / redis_lookup_t%s | %s |\n", t, t, ratio(value["redis_lookup_t1"], value["redis_lookup_t" t])
        }
        split("1 2 4 8", all, " ")
        for (k = 1; k <= 4; ++k) {
            t = all[k]
            printf "| the generation key, time per call: redis_mint_t%s / redis_stamp_t%s | %s |\n", t, t, ratio(value["redis_mint_t" t], value["redis_stamp_t" t])
            printf "| the generation key, server time per call: redis_mint_t%s / redis_stamp_t%s | %s |\n", t, t, ratio(server["redis_mint_t" t], server["redis_stamp_t" t])
        }
    }
' mixed_threads="${threads_arg:-2}" s3repl_file="$build_dir/bench-s3repl.txt" \
        "$build_dir/bench-s3repl.txt" "$build_dir/bench-redis.txt"
fi
