#!/usr/bin/env bash
# The whole test suite: the quick start's second command and what CI runs
# (.ci/run). Installs the missing Debian packages, then runs every leg below
# in order; a failing leg does not stop the next. Ends with a summary whose
# last line is "N passed, M failed" (counting legs; skipped legs are listed
# but counted in neither) and exits non-zero when any leg failed.
#
#   bash scripts/test.sh            every leg
#   bash scripts/test.sh LEG...     only the named legs (asan, release, ...)
#
# Build directories live under build/ and are reused, so a second run only
# rebuilds what changed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"
jobs=2
fixtures="$root/tests/fixtures/snapshots"
skipped=77 # a leg returns this when what it tests does not exist yet

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"

# --- helpers ---------------------------------------------------------------

say() { echo "test.sh: $*"; }

configure() { # build-dir, then cmake -D options
    local dir="$1"
    shift
    cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "$@"
}

has_target() { # build-dir target
    # Not `| grep -q`: under pipefail, grep leaving early makes ninja's SIGPIPE the answer.
    local targets
    targets="$(ninja -C "$1" -t targets all 2>/dev/null)" || return 1
    grep -q "^$2:" <<<"$targets"
}

# The example server's real-client test (label real-clients) has its own leg.
run_ctest() { # build-dir
    ctest --test-dir "$1" --output-on-failure -j"$jobs" --timeout 300 --label-exclude real-clients
}

# The test programs tests/CMakeLists.txt makes: tests/test_<area>.cpp -> s3repl-test-<area>.
test_programs() {
    local source
    for source in "$root"/tests/test_*.cpp; do
        [ -e "$source" ] || continue
        source="$(basename "$source" .cpp)"
        echo "s3repl-test-${source#test_}"
    done
}

# --- legs ------------------------------------------------------------------

leg_asan() {
    configure "$build/asan" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=g++ \
        -DCMAKE_CXX_STANDARD=17 -DCMAKE_CXX_EXTENSIONS=OFF \
        -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
        -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
        -DS3REPL_BUILD_EXAMPLES=ON -DS3REPL_BUILD_BENCHMARKS=ON
    cmake --build "$build/asan" -j"$jobs"
    run_ctest "$build/asan"
}

leg_release() {
    configure "$build/release" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_CXX_STANDARD=20 -DCMAKE_CXX_EXTENSIONS=OFF \
        -DS3REPL_BUILD_EXAMPLES=ON -DS3REPL_BUILD_BENCHMARKS=ON
    cmake --build "$build/release" -j"$jobs"
    run_ctest "$build/release"
}

leg_tsan() {
    # Only programs whose source mentions the tag can hold such a test case;
    # --list-tags below is what decides.
    local program candidates=()
    for program in $(test_programs); do
        grep -q '\[concurrent\]' "$root/tests/test_${program#s3repl-test-}.cpp" && candidates+=("$program")
    done
    if [ "${#candidates[@]}" -eq 0 ]; then
        say "no test file has a [concurrent] test case yet"
        return "$skipped"
    fi
    configure "$build/tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
        -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
        -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
        -DS3REPL_BUILD_EXAMPLES=OFF -DS3REPL_BUILD_BENCHMARKS=OFF
    cmake --build "$build/tsan" -j"$jobs" --target "${candidates[@]}"
    local ran=0 failed=0
    for program in "${candidates[@]}"; do
        local binary="$build/tsan/tests/$program"
        # Catch2 v2's --list-tags exits with the number of tags: read its output only.
        if ! { "$binary" --list-tags || true; } | grep -q '\[concurrent\]'; then
            say "$program: no test case tagged [concurrent]"
            continue
        fi
        say "$program \"[concurrent]\" under ThreadSanitizer"
        ran=$((ran + 1))
        # setarch -R: this TSan runtime cannot map its shadow under the
        # kernel's high-entropy address randomization.
        # timeout -s KILL: a TSan runtime that deadlocks in its own reporting
        # ignores SIGTERM, and a hung leg would eat CI's whole budget.
        if ! timeout -s KILL 600 setarch "$(uname -m)" -R "$binary" "[concurrent]"; then
            say "$program: FAILED under ThreadSanitizer"
            failed=$((failed + 1))
        fi
    done
    say "$ran program(s) run under ThreadSanitizer, $failed failed"
    [ "$failed" -eq 0 ] && [ "$ran" -gt 0 ]
}

leg_consumers() {
    local consumers="$root/tests/consumers" out="$build/consumers" failed=0
    local version
    version="$(sed -n 's/^#define S3REPL_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' \
        "$root/include/s3repl/version.hpp" | paste -sd.)"
    rm -rf "$out"
    mkdir -p "$out"
    # What a consumer without nlohmann/json sees: find_package(nlohmann_json) finds nothing.
    local no_json=-DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON

    # Configures, builds and runs one consumer project; its program prints "OK s3repl <version>"
    # (and consumer-json / consumer-redis, when the project builds them, "OK s3repl::json" /
    # "OK s3repl::redis").
    consumer() { # project, build directory name, then extra cmake options
        local name="$1" dir="$out/$2"
        shift 2
        say "consumer $name ($(basename "$dir")${*:+: $*})"
        cmake -S "$consumers/$name" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" &&
            cmake --build "$dir" -j"$jobs" &&
            "$dir/consumer" | tee "$dir.log" && grep -qx "OK s3repl $version" "$dir.log" &&
            if [ -e "$dir/consumer-json" ]; then "$dir/consumer-json" | grep -qx "OK s3repl::json"; fi &&
            if [ -e "$dir/consumer-redis" ]; then "$dir/consumer-redis" | grep -qx "OK s3repl::redis"; fi
    }

    consumer add_subdirectory add_subdirectory -DS3REPL_SOURCE_DIR="$root" ||
        { say "FAILED: add_subdirectory"; failed=$((failed + 1)); }
    consumer add_subdirectory add_subdirectory-no-json -DS3REPL_SOURCE_DIR="$root" "$no_json" ||
        { say "FAILED: add_subdirectory without nlohmann/json"; failed=$((failed + 1)); }
    consumer fetch_content fetch_content -DS3REPL_SOURCE_DIR="$root" -DFETCHCONTENT_FULLY_DISCONNECTED=ON ||
        { say "FAILED: fetch_content"; failed=$((failed + 1)); }

    say "install into $out/prefix"
    local prefix="$out/prefix"
    if cmake -S "$root" -B "$out/install-build" -G Ninja -DS3REPL_INSTALL=ON \
        -DS3REPL_BUILD_TESTS=OFF -DS3REPL_BUILD_EXAMPLES=OFF -DS3REPL_BUILD_BENCHMARKS=OFF &&
        cmake --install "$out/install-build" --prefix "$prefix"; then
        consumer find_package find_package -DCMAKE_PREFIX_PATH="$prefix" -DS3REPL_EXPECTED_VERSION="$version" ||
            { say "FAILED: find_package"; failed=$((failed + 1)); }
        consumer find_package find_package-no-json -DCMAKE_PREFIX_PATH="$prefix" \
            -DS3REPL_EXPECTED_VERSION="$version" -DS3REPL_EXPECT_JSON=OFF "$no_json" ||
            { say "FAILED: find_package without nlohmann/json"; failed=$((failed + 1)); }

        # Far newer, the next major, and a newer minor of this major: all refused.
        # Before 1.0 a minor release may break the API, so an older minor is refused too.
        local major="${version%%.*}" minor
        minor="$(echo "$version" | cut -d. -f2)"
        local requested refused=(99 "$((major + 1))" "$major.$((minor + 1))")
        [ "$major" -eq 0 ] && [ "$minor" -gt 0 ] && refused+=("0.$((minor - 1))")
        for requested in "${refused[@]}"; do
            say "consumer wrong_version: requesting $requested must be refused"
            if cmake -S "$consumers/wrong_version" -B "$out/wrong_version-$requested" -G Ninja \
                -DCMAKE_PREFIX_PATH="$prefix" -DS3REPL_REQUESTED_VERSION="$requested" \
                >"$out/wrong_version-$requested.log" 2>&1; then
                say "FAILED: s3repl $version was accepted for a request of $requested"
                failed=$((failed + 1))
            elif tr -s ' \n' ' ' <"$out/wrong_version-$requested.log" |
                grep -q "compatible with requested version \"$requested\".*s3repl-config.cmake, version: $version"; then
                say "refused, as it must be: installed $version is not compatible with $requested"
            else
                cat "$out/wrong_version-$requested.log"
                say "FAILED: configure failed, but not because of the version"
                failed=$((failed + 1))
            fi
        done

        say "the LICENSE is installed beside the package"
        if ! cmp "$root/LICENSE" "$prefix/share/doc/s3repl/LICENSE"; then
            say "FAILED: $prefix/share/doc/s3repl/LICENSE is missing or differs"
            failed=$((failed + 1))
        fi

        say "consumer pkg-config: c++ \$(pkg-config --cflags --libs s3repl)"
        local pc_version pc_flags pc_include
        if pc_version="$(PKG_CONFIG_PATH="$prefix/share/pkgconfig" pkg-config --modversion s3repl)" &&
            pc_flags="$(PKG_CONFIG_PATH="$prefix/share/pkgconfig" pkg-config --cflags --libs s3repl)" &&
            pc_include="$(PKG_CONFIG_PATH="$prefix/share/pkgconfig" pkg-config --variable=includedir s3repl)" &&
            [ "$pc_version" = "$version" ] && [ "$(realpath "$pc_include")" = "$(realpath "$prefix/include")" ] &&
            # shellcheck disable=SC2086 # one flag per word
            c++ -std=c++17 -Wall -Wextra -Wpedantic -Werror "$consumers/main.cpp" $pc_flags -o "$out/pkg-config" &&
            "$out/pkg-config" | tee "$out/pkg-config.log" && grep -qx "OK s3repl $version" "$out/pkg-config.log"; then
            say "pkg-config: s3repl ${pc_version:-?}, $pc_flags"
        else
            say "FAILED: pkg-config consumer (version '${pc_version:-}', flags '${pc_flags:-}')"
            failed=$((failed + 1))
        fi
    else
        say "FAILED: install"
        failed=$((failed + 1))
    fi

    say "consumer plain: c++ -std=c++17 -I include (dependencies from the system include path)"
    if c++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -I "$root/include" "$consumers/main.cpp" -pthread \
        -o "$out/plain" && "$out/plain" | tee "$out/plain.log" && grep -qx "OK s3repl $version" "$out/plain.log"; then
        :
    else
        say "FAILED: plain compile"
        failed=$((failed + 1))
    fi
    [ "$failed" -eq 0 ]
}

# Every public header compiled on its own the way a consumer who vendors s3repl
# without SYSTEM sees it: a plain -I and strict warnings, g++ and clang++, each
# C++ standard. Plus tests/consumers/strict.cpp, which instantiates the templates
# (a bare include compiles no template body). -fsyntax-only: no code generated.
strict_consumer_compile() {
    local out="$build/strict" header cxx std tu tus=()
    rm -rf "$out"
    mkdir -p "$out"
    for header in "$root"/include/s3repl/*.hpp; do
        tu="$out/$(basename "$header" .hpp).cpp"
        echo "#include <s3repl/$(basename "$header")>" >"$tu"
        tus+=("$tu")
    done
    tus+=("$root/tests/consumers/strict.cpp")
    for cxx in g++ clang++; do
        local cxx23=c++23 # clang++ 14 spells it c++2b
        echo | "$cxx" -std=c++23 -x c++ -fsyntax-only - 2>/dev/null || cxx23=c++2b
        for std in c++17 c++20 "$cxx23"; do
            for tu in "${tus[@]}"; do printf '%s %s %s\n' "$cxx" "$std" "$tu"; done
        done
    done >"$out/jobs"
    say "$(wc -l <"$out/jobs") strict consumer compiles (g++, clang++ x C++17/20/23): ${strict_flags[*]}"
    # xargs appends each line (compiler, standard, TU) to the flags; it fails if any compile did.
    S3REPL_INCLUDE="$root/include" xargs -P "$jobs" -L 1 bash -c '
        n=$# c=$(($# - 2)) s=$(($# - 1)); cxx=${!c} std=${!s} tu=${!n}
        "$cxx" -std="$std" -fsyntax-only "${@:1:n-3}" -I "$S3REPL_INCLUDE" "$tu" ||
            { echo "test.sh: FAILED: $cxx -std=$std $tu under strict consumer flags"; exit 1; }' _ \
        "${strict_flags[@]}" <"$out/jobs"
}
strict_flags=(-Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Wold-style-cast -Werror)

# Under -std=c++14, every public header stops at one diagnostic saying s3repl
# needs C++17, not at the hundreds the first C++17 construct would start.
cxx14_diagnostic() {
    local header cxx output errors ok=0
    for cxx in g++ clang++; do
        for header in "$root"/include/s3repl/*.hpp; do
            header="s3repl/$(basename "$header")"
            output="$(echo "#include <$header>" | "$cxx" -std=c++14 -x c++ -fsyntax-only -I "$root/include" - 2>&1)" &&
                { say "FAILED: $cxx -std=c++14 compiled $header"; ok=1; continue; }
            errors="$(grep -c 'error:' <<<"$output")"
            if [ "$errors" -ne 1 ] || ! grep 'error:' <<<"$output" | grep -q 'C++17'; then
                head -n 20 <<<"$output"
                say "FAILED: $cxx -std=c++14 on $header: $errors error(s), expected one naming C++17"
                ok=1
            fi
        done
    done
    [ "$ok" -eq 0 ] && say "-std=c++14: one error naming C++17 for every public header (g++, clang++)"
    return "$ok"
}

leg_headers() {
    # Every public header compiled on its own (s3repl-header-check), and every
    # header included by a second TU linked into each test program
    # (s3repl-odr-check), with both compilers.
    local dir header ok=0
    strict_consumer_compile || ok=1
    cxx14_diagnostic || ok=1
    # The second TU includes the umbrella header (and, by name, any optional
    # header the umbrella leaves out): between them they must name every public one.
    for header in "$root"/include/s3repl/*.hpp; do
        header="s3repl/$(basename "$header")"
        [ "$header" = s3repl/s3repl.hpp ] && continue
        # Files as grep arguments, not `cat | grep -q`: under pipefail an early
        # match would make cat's SIGPIPE the answer (this flaked in CI).
        if ! grep -qh "^#include [\"<]${header}[\">]" \
            "$root/include/s3repl/s3repl.hpp" "$root/tests/odr_second_tu.cpp"; then
            say "neither include/s3repl/s3repl.hpp nor tests/odr_second_tu.cpp includes $header:" \
                "the ODR check misses it"
            ok=1
        fi
    done
    for dir in "$build/asan" "$build/release"; do
        if ! has_target "$dir" s3repl-header-check; then
            say "$dir has no s3repl-header-check target (did its configure fail?)"
            ok=1
            continue
        fi
        # The ODR check happens when the test programs link the second TU in.
        # shellcheck disable=SC2046 # one target per word
        cmake --build "$dir" -j"$jobs" --target s3repl-header-check s3repl-odr-check $(test_programs) || ok=1
    done
    return "$ok"
}

leg_examples() {
    local examples="$build/release/examples" failed=0 program
    local programs=(s3repl-demo)
    [ -e "$root/examples/dispatch_thread_pool.cpp" ] && programs+=(s3repl-example-dispatch)
    for program in "${programs[@]}"; do
        say "running $program"
        if [ ! -x "$examples/$program" ]; then
            say "FAILED: $examples/$program was not built (see the release leg)"
            failed=$((failed + 1))
        elif ! timeout 300 "$examples/$program" </dev/null; then
            say "FAILED: $program exited non-zero"
            failed=$((failed + 1))
        fi
    done
    [ "$failed" -eq 0 ]
}

leg_format() {
    local files file unformatted=()
    mapfile -t files < <(cd "$root" && find include tests examples bench -type f \( -name '*.cpp' -o -name '*.hpp' \) | sort)
    say "clang-format-14 --dry-run --Werror on ${#files[@]} files (style: .clang-format)"
    for file in "${files[@]}"; do
        (cd "$root" && clang-format-14 --dry-run --Werror "$file" >/dev/null 2>&1) || unformatted+=("$file")
    done
    if [ "${#unformatted[@]}" -gt 0 ]; then
        say "${#unformatted[@]} file(s) not formatted:"
        printf '  %s\n' "${unformatted[@]}"
        say "to see why: clang-format-14 --dry-run <file>; to fix: clang-format-14 -i ${unformatted[*]}"
        return 1
    fi
}

leg_docs() {
    local ok=0 hits
    # Every ```cpp block of README.md compiles as shown and runs (see the script for
    # how a block that is part of an example says so).
    python3 "$root/tests/readme/check_snippets.py" "$root" "$build/readme" g++ || ok=1
    # The CHANGELOG's newest section is the version in version.hpp (which CMake reads).
    local version changelog
    version="$(sed -n 's/^#define S3REPL_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' \
        "$root/include/s3repl/version.hpp" | paste -sd.)"
    changelog="$(sed -n 's/^## \([0-9][0-9.]*\).*/\1/p' "$root/CHANGELOG.md" | head -n 1)"
    if [ "$changelog" = "$version" ]; then
        say "CHANGELOG.md's newest section is $version, as in version.hpp"
    else
        say "FAILED: CHANGELOG.md's newest section is '$changelog', version.hpp says $version"
        ok=1
    fi
    # The repository speaks for itself: no path out of it, no tracker number.
    if hits="$(cd "$root" && git ls-files -z | xargs -0 grep -n -i -I -E '[.][.]/shared|(^|[^a-z])issue #?[0-9]')"; then
        echo "$hits"
        say "FAILED: the files above point outside the repository or at tracker numbers"
        ok=1
    else
        say "no tracked file points outside the repository or at a tracker number"
    fi
    return "$ok"
}

leg_fuzz() {
    local source="$root/tests/fuzz/fuzz_snapshot.cpp" out="$build/fuzz"
    if [ ! -e "$source" ]; then
        say "tests/fuzz/fuzz_snapshot.cpp does not exist yet: nothing to fuzz"
        return "$skipped"
    fi
    mkdir -p "$out"
    # fuzz TARGET SEED-GLOB [extra compiler arguments]: builds tests/fuzz/TARGET.cpp, fuzzes it 30 s.
    fuzz() {
        local target="$1" pattern="$2" seeds
        shift 2
        clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
            -I "$root/include" "$root/tests/fuzz/$target.cpp" "$@" -pthread -o "$out/$target" || return 1
        rm -rf "$out/corpus-$target" "$out/artifacts-$target"
        mkdir -p "$out/corpus-$target" "$out/artifacts-$target"
        mapfile -t seeds < <(compgen -G "$pattern")
        if [ "${#seeds[@]}" -gt 0 ]; then
            cp "${seeds[@]}" "$out/corpus-$target/"
        else
            say "warning: no seeds match $pattern; fuzzing from an empty corpus"
        fi
        # Saved findings seed too; libFuzzer writes new inputs to the first directory only.
        local corpora=("$out/corpus-$target")
        [ "$target" = fuzz_snapshot ] && [ -d "$root/tests/fuzz/regressions" ] && corpora+=("$root/tests/fuzz/regressions")
        say "$target: fuzzing for 30 s from $(find "${corpora[@]}" -type f | wc -l) seed(s)"
        # libFuzzer logs every new input: keep that in a file, show the end.
        if "$out/$target" -max_total_time=30 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$out/artifacts-$target/" "${corpora[@]}" >"$out/$target.log" 2>&1; then
            tail -n 6 "$out/$target.log"
        else
            tail -n 120 "$out/$target.log"
            say "FAILED: the crashing input is in $out/artifacts-$target/ (full log: $out/$target.log)"
            return 1
        fi
    }
    local failed=0
    fuzz fuzz_snapshot "$fixtures/*.json" || failed=1
    fuzz fuzz_aws_config "$root/tests/fixtures/aws-config/*" -lpugixml || failed=1
    [ "$failed" -eq 0 ]
}

leg_s3_server() {
    local script="$root/examples/s3-server/test/run.sh"
    if [ ! -e "$script" ]; then
        say "examples/s3-server/test/run.sh does not exist yet: no server to test"
        return "$skipped"
    fi
    # The clang++ release server, then g++'s under ASan+UBSan: real traffic
    # through the manager and the dispatcher, with the sanitizers watching.
    local dir server failed=0
    for dir in release asan; do
        server="$build/$dir/examples/s3-server/s3repl-s3-server"
        if [ ! -x "$server" ]; then
            say "FAILED: $server was not built (see the $dir leg)"
            failed=$((failed + 1))
            continue
        fi
        say "bash examples/s3-server/test/run.sh $server"
        bash "$script" "$server" </dev/null || failed=$((failed + 1))
    done
    [ "$failed" -eq 0 ]
}

leg_rust_reader() {
    local script="$root/tests/rust-reader/run.sh"
    if [ ! -e "$script" ]; then
        say "tests/rust-reader/run.sh does not exist yet: no Rust reader to check against"
        return "$skipped"
    fi
    # It exits 77 itself when Debian's Rust toolchain or crates are missing.
    bash "$script" "$build/rust-reader" </dev/null
}

leg_bench() {
    if ! has_target "$build/release" s3repl-bench; then
        say "the release build defines no s3repl-bench target yet"
        return "$skipped"
    fi
    local bench impl n name failed=0
    bench="$(find "$build/release" -name s3repl-bench -type f -perm -u+x | head -n 1)"
    if [ -z "$bench" ]; then
        say "FAILED: s3repl-bench was not built (see the release leg)"
        return 1
    fi
    local impls=(s3repl naive s3repl-system-clock s3repl-std-shared-mutex s3repl-general-reader)
    # --impl abseil is built only where CMake found libabsl-dev and libsimdjson-dev.
    if "$bench" --n 1 --only mint --impl abseil </dev/null >/dev/null 2>&1; then
        impls+=(abseil)
    else
        say "s3repl-bench has no --impl abseil (libabsl-dev or libsimdjson-dev missing when configured): not run"
    fi
    # --impl redis is built only where hiredis was found; `--help` after it
    # exits 0 only then, and starts no server. Its run starts a redis-server
    # of its own on loopback and stops it by its PID; N = 2003, as each of its
    # calls is a round trip.
    if "$bench" --impl redis --help </dev/null >/dev/null 2>&1; then
        impls+=(redis)
    else
        say "s3repl-bench has no --impl redis (libhiredis-dev missing when configured): not run"
    fi
    for impl in "${impls[@]}"; do
        n=20011
        if [ "$impl" = redis ]; then n=2003; fi
        say "s3repl-bench --n $n --impl $impl"
        if ! "$bench" --n "$n" --impl "$impl" </dev/null | tee "$build/bench-$impl.log"; then
            say "FAILED: s3repl-bench --impl $impl"
            failed=$((failed + 1))
        elif ! grep -q '^bench ' "$build/bench-$impl.log"; then
            say "FAILED: s3repl-bench --impl $impl printed no 'bench' line"
            failed=$((failed + 1))
        fi
    done
    # Every implementation prints a line for each of s3repl's workloads (a
    # figure, or `unsupported=` saying why not).
    for impl in "${impls[@]}"; do
        for name in $(awk '$1 == "bench" { print $2 }' "$build/bench-s3repl.log"); do
            if ! grep -q "^bench $name " "$build/bench-$impl.log"; then
                say "FAILED: --impl $impl printed no '$name' line"
                failed=$((failed + 1))
            fi
        done
    done
    # Each run checked its snapshot text against s3repl's; the ones that
    # record whole seconds must also print s3repl's snapshot_bytes line.
    local expected bytes
    expected="$(grep '^bench snapshot_bytes ' "$build/bench-s3repl.log" || true)"
    for impl in "${impls[@]}"; do
        case "$impl" in s3repl-std-shared-mutex | s3repl-general-reader | abseil) ;; *) continue ;; esac
        bytes="$(grep '^bench snapshot_bytes ' "$build/bench-$impl.log" || true)"
        if [ -z "$expected" ] || [ "$bytes" != "$expected" ]; then
            say "FAILED: --impl $impl printed '$bytes', --impl s3repl '$expected'"
            failed=$((failed + 1))
        fi
    done
    local rss="${bench%/*}/s3repl-snapshot-rss"
    say "s3repl-snapshot-rss --n 20011 --file $build/snapshot-rss.json"
    if ! "$rss" --n 20011 --file "$build/snapshot-rss.json" </dev/null; then
        say "FAILED: s3repl-snapshot-rss"
        failed=$((failed + 1))
    fi
    say "s3repl-memory-latency 1"
    if ! "${bench%/*}/s3repl-memory-latency" 1 </dev/null; then
        say "FAILED: s3repl-memory-latency"
        failed=$((failed + 1))
    fi
    [ "$failed" -eq 0 ]
}

# --- driver ----------------------------------------------------------------

legs=(
    "asan|g++ C++17 Debug, AddressSanitizer + UndefinedBehaviorSanitizer, ctest|leg_asan"
    "release|clang++ C++20 Release with examples and benchmark, ctest|leg_release"
    "tsan|clang++ ThreadSanitizer, every [concurrent] test case|leg_tsan"
    "consumers|add_subdirectory, FetchContent, find_package (with and without nlohmann), wrong versions, LICENSE, pkg-config, plain -I|leg_consumers"
    "headers|each public header on its own (strict consumer flags, C++17/20/23; one line under C++14), the ODR second TU (g++, clang++)|leg_headers"
    "examples|example programs run to completion|leg_examples"
    "format|clang-format-14 check of include/ tests/ examples/ bench/|leg_format"
    "docs|README C++ snippets compile and run; CHANGELOG matches version.hpp; no reference outside the repository or to tracker numbers|leg_docs"
    "fuzz|libFuzzer on snapshot restore and the AWS configuration parsers, 30 s each|leg_fuzz"
    "s3-server|example S3 server (release, then ASan) against boto3, the AWS CLI, promtool and a real Prometheus, malformed requests, a load test|leg_s3_server"
    "bench|benchmark smoke run, --n 20011, every implementation (redis at --n 2003, on its own redis-server)|leg_bench"
    "rust-reader|s3repl's snapshots read by the Rust server's serde types|leg_rust_reader"
)

if [ "$#" -gt 0 ]; then
    selected=()
    for wanted in "$@"; do
        match=""
        for entry in "${legs[@]}"; do
            [ "${entry%%|*}" = "$wanted" ] && match="$entry"
        done
        if [ -z "$match" ]; then
            say "unknown leg '$wanted'; the legs are: $(printf '%s\n' "${legs[@]}" | cut -d'|' -f1 | paste -sd' ')"
            exit 2
        fi
        selected+=("$match")
    done
    legs=("${selected[@]}")
fi

cd "$root" || exit 1
exec </dev/null
if ! bash "$root/scripts/setup-deps.sh" test; then
    say "could not install the packages the tests need (see above)"
    echo "0 passed, 1 failed"
    exit 1
fi
mkdir -p "$build"

summary=()
passed=0
failed=0
skips=0
started=$SECONDS
for entry in "${legs[@]}"; do
    IFS='|' read -r name what function <<<"$entry"
    echo
    echo "==== leg $name: $what"
    leg_start=$SECONDS
    # set -e inside the subshell: any failing step not already handled fails the leg.
    (
        set -e
        "$function"
    )
    rc=$?
    seconds=$((SECONDS - leg_start))
    if [ "$rc" -eq 0 ]; then
        result="passed"
        passed=$((passed + 1))
    elif [ "$rc" -eq "$skipped" ]; then
        result="skipped"
        skips=$((skips + 1))
    else
        result="FAILED"
        failed=$((failed + 1))
    fi
    echo "==== leg $name: $result in ${seconds} s"
    summary+=("$(printf '%-12s %-8s %5d s  %s' "$name" "$result" "$seconds" "$what")")
done

echo
echo "==== summary ($((SECONDS - started)) s)"
printf '%s\n' "${summary[@]}"
[ "$skips" -gt 0 ] && echo "$skips leg(s) skipped: what they test does not exist yet"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
