#!/usr/bin/env bash
# Shows that a snapshot written by s3repl loads in the Rust server's format
# reader (src/main.rs: the server's serde types, built with Debian's serde,
# serde_json and chrono) with the same content. Usage: run.sh [BUILD_DIR]
#
# 1. The reader prints each fixture's .expect exactly (its types are the
#    server's: same accepted content, same serde_json error wording).
# 2. s3repl loads and re-saves each fixture; the reader sees in the re-saved
#    file what it saw in the original (entries the original had no
#    recorded_at for carry s3repl's load time; next_generation is s3repl's
#    counter rule). Fixtures the reader rejects, s3repl rejects too.
# 3. A snapshot s3repl writes from a manager holding every edge case of the
#    format, and three of random content (entries with several destinations,
#    versions and delete markers among them), read back in the reader, and in
#    s3repl, as what the manager held (its unversioned entries).
# 4. A snapshot of objects replicated to two and three destinations in every
#    aggregate, beside single-destination entries: the reader (whose types
#    have no "destinations": serde skips the member) and s3repl's reload see
#    each entry's status, generation and recorded_at as canonical.cpp worked
#    them out by hand. The same file with one aggregate made wrong must show
#    in the reader's output and be refused by s3repl: the check can fail.
# 5. A snapshot of versions and delete markers (some with several
#    destinations, version IDs at the edges) beside unversioned entries of
#    the same keys: the reader skips "versions" and sees exactly the
#    unversioned entries as canonical.cpp worked them out by hand, and so
#    does s3repl's reload (canonical.cpp checks each version there by its
#    ObjectId). The check can fail both ways: a version moved into
#    "statuses" (keyed without its version ID) must show in the reader's
#    output as one more entry, an unversioned entry moved into "versions"
#    as one entry less.
#
# Exits 77 (skipped) when Debian's Rust toolchain or crates are missing; it
# installs nothing. Builds offline: nothing is fetched from crates.io.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-/tmp/b-rust-reader}
fixtures=${S3REPL_FIXTURES_DIR:-$root/tests/fixtures/snapshots}
# Debian's toolchain by default, whatever else is on PATH: CI has only that.
cargo=${CARGO:-/usr/bin/cargo}
rustc=${RUSTC:-/usr/bin/rustc}
cxx=${CXX:-c++}
packages=(cargo rustc librust-serde-dev librust-serde-derive-dev librust-serde-json-dev librust-chrono-dev)

skip() {
    echo "SKIPPED: $1 (apt-get install ${packages[*]})"
    exit 77
}
[[ -x $cargo && -x $rustc ]] || skip "no cargo/rustc at $cargo and $rustc"
command -v dpkg-query >/dev/null || skip "no dpkg-query to find Debian's Rust crates"
for package in "${packages[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) == *'install ok installed'* ]] ||
        skip "Debian package $package is not installed"
done
[[ -d $fixtures ]] || { echo "no fixture directory $fixtures" >&2; exit 1; }

# Built from a copy, so Cargo.lock and cargo's home stay out of the work tree
# and no ~/.cargo configuration can point somewhere else.
mkdir -p "$build/crate" "$build/out"
build=$(cd "$build" && pwd) # cargo runs from the crate's copy
rm -rf "$build/crate/src"
cp -R "$here/Cargo.toml" "$here/src" "$here/.cargo" "$build/crate/"
start=$SECONDS
(cd "$build/crate" && CARGO_HOME="$build/cargo-home" CARGO_TARGET_DIR="$build/target" RUSTC="$rustc" \
    "$cargo" build --offline --quiet -j2) || { echo "cargo build failed" >&2; exit 1; }
echo "rust reader built in $((SECONDS - start)) s"
"$cxx" -std=c++17 -O1 -Wall -Wextra -Wpedantic -Werror -pthread -I "$root/include" "$here/canonical.cpp" \
    -o "$build/canonical" || { echo "canonical.cpp failed to build" >&2; exit 1; }
reader=$build/target/debug/s3repl-rust-reader
s3repl=$build/canonical
out=$build/out
rm -f "$out"/*

passed=0
failed=0
check() { # NAME EXPECTED_FILE ACTUAL_FILE
    if cmp -s "$2" "$3"; then
        passed=$((passed + 1))
        echo "ok   $1"
    else
        failed=$((failed + 1))
        echo "FAIL $1"
        diff "$2" "$3" | head -20 | cut -c1-300
    fi
}

# Decimal strings, as generations go past what bash's integers hold.
u64_less() { (( ${#1} < ${#2} )) || { (( ${#1} == ${#2} )) && [[ $1 < $2 ]]; }; }
plus_one() {
    local digits=$1 result="" carry=1 i d
    for ((i = ${#digits} - 1; i >= 0; i--)); do
        d=$((${digits:i:1} + carry))
        carry=$((d / 10))
        result=$((d % 10))$result
    done
    ((carry)) && result=1$result
    echo "$result"
}

# What the reader must see in s3repl's re-save of a file it read as $1: NOW
# is the load clock $2, and next_generation is
# min(max(file's, highest stored + 1), 2^64-1).
expected_resaved() {
    local next highest=0 generation
    next=$(sed -n 's/^next_generation //p' "$1")
    while read -r generation; do
        u64_less "$highest" "$generation" && highest=$generation
    done < <(awk '$1 == "status" { print $(NF - 1) }' "$1")
    if grep -q '^status ' "$1"; then
        highest=$(plus_one "$highest")
        u64_less "$next" "$highest" && next=$highest
        u64_less 18446744073709551615 "$next" && next=18446744073709551615
    fi
    echo "next_generation $next"
    grep -v '^next_generation ' "$1" | sed "/^status /s/ NOW\$/ $2/"
}

fixture_count=0
for fixture in "$fixtures"/*.json; do
    name=$(basename "$fixture")
    [[ -f $fixture.expect ]] || continue
    fixture_count=$((fixture_count + 1))
    "$reader" "$fixture" >"$out/$name.rust"
    check "rust reader reads $name as its .expect says" "$fixture.expect" "$out/$name.rust"

    if grep -q '^ERR ' "$out/$name.rust"; then
        # Only the rejection must match, not the wording.
        if "$s3repl" resave "$fixture" "$out/$name.resaved" >"$out/$name.resave-log" 2>&1; then
            failed=$((failed + 1)); echo "FAIL s3repl rejects $name too (it loaded it)"
        elif ! grep -q '^ERR ' "$out/$name.resave-log"; then
            failed=$((failed + 1)); echo "FAIL s3repl rejects $name with a SnapshotError"; cat "$out/$name.resave-log"
        else
            passed=$((passed + 1)); echo "ok   s3repl rejects $name too"
        fi
        continue
    fi
    if ! load_clock=$("$s3repl" resave "$fixture" "$out/$name.resaved"); then
        failed=$((failed + 1)); echo "FAIL s3repl re-saves $name: $load_clock"
        continue
    fi
    expected_resaved "$out/$name.rust" "$load_clock" >"$out/$name.resaved.expected"
    "$reader" "$out/$name.resaved" >"$out/$name.resaved.rust"
    check "rust reader reads s3repl's re-save of $name as the original" \
        "$out/$name.resaved.expected" "$out/$name.resaved.rust"
done
if ((fixture_count == 0)); then
    failed=$((failed + 1)); echo "FAIL no fixtures in $fixtures"
fi

written_by_s3repl() { # NAME WRITE-MODE [SEED]: the writer prints what it expects read back
    local name=$1
    shift
    if ! "$s3repl" "$@" "$out/$name.json" >"$out/$name.held"; then
        failed=$((failed + 1)); echo "FAIL s3repl writes the $name snapshot"
        return
    fi
    "$reader" "$out/$name.json" >"$out/$name.rust"
    "$s3repl" canonical "$out/$name.json" >"$out/$name.s3repl"
    check "rust reader reads s3repl's $name snapshot as the writer expects" "$out/$name.held" "$out/$name.rust"
    check "s3repl reads its $name snapshot as the writer expects" "$out/$name.held" "$out/$name.s3repl"
}
written_by_s3repl rich write-rich
# Fixed seeds: a failure reproduces with `canonical write-random SEED OUT.json`.
for seed in 1 2 3; do
    written_by_s3repl "random-$seed" write-random "$seed"
done
written_by_s3repl destinations write-destinations

# The destinations check, shown able to fail: ("two", "failed") written
# FAILED (a destination failed, the other completed), made COMPLETED.
wrong_aggregate() {
    local name=destinations-wrong-aggregate entry='\[\["two","failed"\],{"status":"'
    if ! grep -q "${entry}Failed\"" "$out/destinations.json"; then
        failed=$((failed + 1)); echo "FAIL the destinations snapshot holds (\"two\", \"failed\") as FAILED"
        return
    fi
    sed "s/\(${entry}\)Failed\"/\1Completed\"/" "$out/destinations.json" >"$out/$name.json"
    "$reader" "$out/$name.json" >"$out/$name.rust"
    if cmp -s "$out/destinations.held" "$out/$name.rust"; then
        failed=$((failed + 1)); echo "FAIL rust reader's output shows a wrong aggregate (it matched)"
    elif [[ $(diff "$out/destinations.held" "$out/$name.rust" | grep -c '^[<>]') != 2 ]] ||
        ! grep -q '^status "two" "failed" COMPLETED ' "$out/$name.rust"; then
        failed=$((failed + 1)); echo "FAIL rust reader's output differs in that entry's status alone"
        diff "$out/destinations.held" "$out/$name.rust" | head -20 | cut -c1-300
    else
        passed=$((passed + 1)); echo "ok   rust reader's output shows a wrong aggregate"
    fi
    if "$s3repl" canonical "$out/$name.json" >"$out/$name.s3repl"; then
        failed=$((failed + 1)); echo "FAIL s3repl refuses a wrong aggregate (it loaded it)"
    elif ! grep -q '^ERR .*"Completed" but its destinations aggregate to "Failed"' "$out/$name.s3repl"; then
        failed=$((failed + 1)); echo "FAIL s3repl refuses a wrong aggregate saying so"; cat "$out/$name.s3repl"
    else
        passed=$((passed + 1)); echo "ok   s3repl refuses a wrong aggregate"
    fi
}
wrong_aggregate

written_by_s3repl versions write-versions

# Rewrites snapshot $1 with its entry keyed [$2] (JSON text of the key's
# strings; the entry holds no "}") moved to the front of the top-level array
# $4 (non-empty) and keyed [$3] there; writes $5.
move_entry() { # SNAPSHOT FROM-KEY TO-KEY TO-ARRAY OUT
    local text body before
    text=$(<"$1")
    [[ $text == *"[[$2],{"* ]] || return 1
    body=${text#*"[[$2],{"}
    body=${body%%\}\]*}
    before=$text
    text=${text/",[[$2],{$body}]"/}
    [[ $text != "$before" ]] || text=${text/"[[$2],{$body}],"/}
    [[ $text != "$before" && $text == *"\"$4\":[["* ]] || return 1
    text=${text/"\"$4\":["/"\"$4\":[[[$3],{$body}],"}
    printf '%s' "$text" >"$5"
}

# The versions check, shown able to fail. $1: the new file's name; $2, $3:
# the key moved and its new key, $4: its new array; $5: "<" when the
# reader's output must lose the entry's line, ">" when it must gain it.
moved_entry() { # NAME FROM-KEY TO-KEY TO-ARRAY DIRECTION
    local name=$1 lines plain=$2
    [[ $5 == '>' ]] && plain=$3 # the unversioned of the two keys, as the reader prints it
    plain=${plain/,/ }
    if ! move_entry "$out/versions.json" "$2" "$3" "$4" "$out/$name.json"; then
        failed=$((failed + 1)); echo "FAIL the versions snapshot holds [$2] (for $name)"
        return
    fi
    "$reader" "$out/$name.json" >"$out/$name.rust"
    "$s3repl" canonical "$out/$name.json" >"$out/$name.s3repl"
    lines=$(diff "$out/versions.held" "$out/$name.rust" | grep '^[<>]')
    if [[ $(wc -l <<<"$lines") == 1 && $lines == "$5 status $plain "* ]]; then
        passed=$((passed + 1)); echo "ok   rust reader's output shows $name, in that entry alone"
    else
        failed=$((failed + 1)); echo "FAIL rust reader's output shows $name, in that entry alone"
        diff "$out/versions.held" "$out/$name.rust" | head -20 | cut -c1-300
    fi
    check "s3repl reads $name as the rust reader does" "$out/$name.rust" "$out/$name.s3repl"
}
# Keys here have no "," or "}" inside a string.
moved_entry version-in-statuses '"ver","only-a-version","v1"' '"ver","only-a-version"' statuses '>'
moved_entry unversioned-in-versions '"ver","k"' '"ver","k","v9"' versions '<'

echo "$passed passed, $failed failed"
((failed == 0))
