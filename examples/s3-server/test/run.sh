#!/usr/bin/env bash
# CI entry for the real-client tests of the example S3 server: the boto3
# suite, its signature checks, the AWS CLI subset, /metrics against promtool
# and a real Prometheus server, the malformed-request battery over raw
# sockets, the bounded load test, then two servers on one data directory and
# one Redis. usage: run.sh path/to/s3repl-s3-server
# Ends with one line `N passed, M failed`; exits non-zero on any failure.
# Needs python3 with boto3, the aws CLI, Prometheus and redis-server (Debian:
# python3-boto3, awscli, prometheus, redis-server), and a server built with
# hiredis (Redis support).
set -u
server_bin=$(realpath "${1:?usage: run.sh path/to/s3repl-s3-server}")
here=$(cd "$(dirname "$0")" && pwd)
log=$(mktemp "${TMPDIR:-/tmp}/s3repl-s3-tests.XXXXXX")
trap 'rm -f "$log"' EXIT

passed=0
failed=0
# run_suite NAME COMMAND...: every suite prints PASS/FAIL lines; a suite that
# dies without reporting a failure (missing module, timeout) counts as one.
run_suite() {
    local name=$1
    shift
    echo "== $name"
    timeout --kill-after=10 900 "$@" >"$log" 2>&1
    local status=$?
    cat "$log"
    local suite_passed suite_failed
    suite_passed=$(grep -c '^PASS ' "$log")
    suite_failed=$(grep -c '^FAIL ' "$log")
    if [ "$status" -ne 0 ] && [ "$suite_failed" -eq 0 ]; then
        echo "FAIL $name: exited with status $status"
        suite_failed=1
    fi
    passed=$((passed + suite_passed))
    failed=$((failed + suite_failed))
}

run_suite boto3 python3 "$here/test_s3_clients.py" "$server_bin"
run_suite sigv4 python3 "$here/test_sigv4.py" "$server_bin"
run_suite awscli "$here/test_awscli.sh" "$server_bin"
run_suite prometheus python3 "$here/test_prometheus.py" "$server_bin"
run_suite malformed python3 "$here/test_malformed.py" "$server_bin"
run_suite load python3 "$here/test_load.py" "$server_bin"
run_suite two-nodes python3 "$here/test_two_nodes.py" "$server_bin"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
