#!/usr/bin/env bash
# Drives s3repl-s3-server with the AWS CLI (`aws s3api ... --endpoint-url`):
# put-bucket-replication from a JSON file, put-object, head-object, and the
# errors the CLI reports. usage: test_awscli.sh path/to/s3repl-s3-server
# Prints `PASS name` / `FAIL name: why` per check, then `N passed, M failed`.
set -u
server_bin=${1:?usage: test_awscli.sh path/to/s3repl-s3-server}
deadline_seconds=20

work=$(mktemp -d "${TMPDIR:-/tmp}/s3repl-awscli-test.XXXXXX")
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill -9 "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; }
# check NAME EXPECTED ACTUAL
check() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi; }

# A private CLI configuration: dummy credentials, path-style addressing, no
# pager, SigV4 presigned URLs (AWS CLI v1 presigns with SigV2 otherwise).
cat >"$work/config" <<'CONF'
[default]
region = us-east-1
s3 =
    addressing_style = path
    signature_version = s3v4
CONF
export AWS_CONFIG_FILE="$work/config" AWS_SHARED_CREDENTIALS_FILE="$work/none"
export AWS_ACCESS_KEY_ID=dummy-key AWS_SECRET_ACCESS_KEY=dummy-secret AWS_DEFAULT_REGION=us-east-1
export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

# The server's key file: the CLI's key, private to its owner (the server refuses it otherwise).
(umask 077 && echo "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" >"$work/credentials")
"$server_bin" --listen 127.0.0.1 --port 0 --data-dir "$work/data" --credentials "$work/credentials" \
    >"$work/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq $((deadline_seconds * 20))); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/server.log")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
done
if [ -z "$port" ]; then
    fail server-start "no port printed within ${deadline_seconds}s: $(cat "$work/server.log")"
    echo "$passed passed, $failed failed"
    exit 1
fi

s3api() { timeout 60 aws --endpoint-url "http://127.0.0.1:$port" s3api "$@"; }

# replication_status BUCKET KEY: the header's value, or None.
replication_status() {
    s3api head-object --bucket "$1" --key "$2" --query ReplicationStatus --output text 2>"$work/head.err"
}

# same_configuration BUCKET FILE: "same" when get-bucket-replication returns
# the document in FILE, else what each holds.
same_configuration() {
    s3api get-bucket-replication --bucket "$1" --output json >"$work/got.json"
    python3 -c '
import json, sys
sent = json.load(open(sys.argv[1]))
got = json.load(open(sys.argv[2]))["ReplicationConfiguration"]
print("same" if sent == got else "sent %s, got %s" % (sent, got))' "$2" "$work/got.json"
}

wait_completed() {
    local end=$((SECONDS + deadline_seconds)) seen
    while [ $SECONDS -le $end ]; do
        seen=$(replication_status "$1" "$2")
        [ "$seen" = COMPLETED ] && { echo COMPLETED; return; }
        sleep 0.1
    done
    echo "$seen (after ${deadline_seconds}s)"
}

s3api create-bucket --bucket src >/dev/null && s3api create-bucket --bucket dst >/dev/null
check create-bucket 0 $?

cat >"$work/replication.json" <<'JSON'
{
  "Role": "arn:aws:iam::123456789012:role/replication",
  "Rules": [
    {
      "ID": "docs",
      "Priority": 1,
      "Status": "Enabled",
      "Filter": { "Prefix": "docs/" },
      "DeleteMarkerReplication": { "Status": "Disabled" },
      "Destination": { "Bucket": "arn:aws:s3:::dst" }
    }
  ]
}
JSON
s3api put-bucket-replication --bucket src --replication-configuration "file://$work/replication.json"
check put-bucket-replication-from-json-file 0 $?
check get-bucket-replication "docs	1	Enabled	docs/	arn:aws:s3:::dst" \
    "$(s3api get-bucket-replication --bucket src --output text \
        --query 'ReplicationConfiguration.Rules[0].[ID,Priority,Status,Filter.Prefix,Destination.Bucket]')"

head -c 100000 /dev/urandom >"$work/payload.bin"
s3api put-object --bucket src --key docs/cli.bin --body "$work/payload.bin" --metadata owner=cli \
    --tagging team=cli >/dev/null
check put-object 0 $?
first=$(replication_status src docs/cli.bin)
case "$first" in
PENDING | COMPLETED) pass head-object-right-after-put ;;
*) fail head-object-right-after-put "status '$first'" ;;
esac
check head-object-completes COMPLETED "$(wait_completed src docs/cli.bin)"
check replica-status REPLICA "$(replication_status dst docs/cli.bin)"
check replica-metadata cli "$(s3api head-object --bucket dst --key docs/cli.bin --query Metadata.owner --output text)"
s3api get-object --bucket dst --key docs/cli.bin "$work/replica.bin" >/dev/null
if cmp -s "$work/payload.bin" "$work/replica.bin"; then pass replica-bytes; else fail replica-bytes "bytes differ"; fi

s3api put-object --bucket src --key notes/outside.txt --body "$work/replication.json" >/dev/null
check unmatched-key-has-no-status None "$(replication_status src notes/outside.txt)"

replication_status src docs/missing >/dev/null
status=$?
if [ $status -ne 0 ] && grep -q "404" "$work/head.err"; then pass head-missing-key-404; else
    fail head-missing-key-404 "exit $status: $(cat "$work/head.err")"; fi

expect_error() { # NAME CODE COMMAND...
    local name=$1 code=$2
    shift 2
    if "$@" >/dev/null 2>"$work/error.txt"; then fail "$name" "succeeded"; return; fi
    if grep -q "($code)" "$work/error.txt"; then pass "$name"; else fail "$name" "$(cat "$work/error.txt")"; fi
}
expect_error no-replication-config ReplicationConfigurationNotFoundError s3api get-bucket-replication --bucket dst
expect_error unknown-bucket NoSuchBucket s3api put-bucket-replication --bucket nope \
    --replication-configuration "file://$work/replication.json"
expect_error unknown-key NoSuchKey s3api get-object --bucket src --key docs/missing "$work/missing.bin"
# Conditional PutObject: a stale If-Match and If-None-Match: * on an existing key are refused.
etag=$(s3api head-object --bucket src --key docs/cli.bin --query ETag --output text)
expect_error if-none-match-existing PreconditionFailed s3api put-object --bucket src --key docs/cli.bin \
    --body "$work/replication.json" --if-none-match '*'
expect_error if-match-stale PreconditionFailed s3api put-object --bucket src --key docs/cli.bin \
    --body "$work/replication.json" --if-match '"0123456789abcdef0123456789abcdef"'
s3api put-object --bucket src --key docs/cli.bin --body "$work/replication.json" --if-match "$etag" >/dev/null
check if-match-current 0 $?
echo '{"Role": "r", "Rules": [{"ID": "x", "Priority": 1, "Status": "Enabled", "Filter": {},
    "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": "arn:aws:s3:::absent"}}]}' \
    >"$work/bad.json"
expect_error missing-destination InvalidRequest s3api put-bucket-replication --bucket src \
    --replication-configuration "file://$work/bad.json"

# A V2 document with every element (the library's fixture) comes back as it went in.
full="$(cd "$(dirname "$0")" && pwd)/../../../tests/fixtures/aws-config/full-v2.json"
s3api create-bucket --bucket full-src >/dev/null &&
    s3api create-bucket --bucket amzn-s3-demo-destination-bucket >/dev/null &&
    s3api put-bucket-replication --bucket full-src --replication-configuration "file://$full"
check put-bucket-replication-full-v2 0 $?
check get-bucket-replication-full-v2 same "$(same_configuration full-src "$full")"

# Two destinations: V2 rules for one prefix with distinct priorities; both
# buckets get the object, and the source is COMPLETED once both have it.
s3api create-bucket --bucket two-src >/dev/null && s3api create-bucket --bucket dst-a >/dev/null &&
    s3api create-bucket --bucket dst-b >/dev/null
check create-destination-buckets 0 $?
cat >"$work/two.json" <<'JSON'
{
  "Role": "arn:aws:iam::123456789012:role/replication",
  "Rules": [
    {
      "ID": "to-a",
      "Priority": 1,
      "Status": "Enabled",
      "Filter": { "Prefix": "docs/" },
      "DeleteMarkerReplication": { "Status": "Disabled" },
      "Destination": { "Bucket": "arn:aws:s3:::dst-a" }
    },
    {
      "ID": "to-b",
      "Priority": 2,
      "Status": "Enabled",
      "Filter": { "Prefix": "docs/" },
      "DeleteMarkerReplication": { "Status": "Disabled" },
      "Destination": { "Bucket": "arn:aws:s3:::dst-b" }
    }
  ]
}
JSON
s3api put-bucket-replication --bucket two-src --replication-configuration "file://$work/two.json"
check put-bucket-replication-two-destinations 0 $?
check get-bucket-replication-two-destinations same "$(same_configuration two-src "$work/two.json")"
s3api put-object --bucket two-src --key docs/two.bin --body "$work/payload.bin" >/dev/null
check put-object-two-destinations 0 $?
check head-object-two-destinations-completes COMPLETED "$(wait_completed two-src docs/two.bin)"
for bucket in dst-a dst-b; do
    check "replica-status-$bucket" REPLICA "$(replication_status "$bucket" docs/two.bin)"
    s3api get-object --bucket "$bucket" --key docs/two.bin "$work/replica-$bucket.bin" >/dev/null
    if cmp -s "$work/payload.bin" "$work/replica-$bucket.bin"; then pass "replica-bytes-$bucket"; else
        fail "replica-bytes-$bucket" "bytes differ"; fi
done

# Signatures: a wrong secret, an unknown key, an unsigned request; a presigned URL.
AWS_SECRET_ACCESS_KEY=wrong-secret expect_error wrong-secret SignatureDoesNotMatch s3api list-buckets
AWS_ACCESS_KEY_ID=unknown-key expect_error unknown-access-key InvalidAccessKeyId s3api list-buckets
expect_error unsigned AccessDenied s3api list-buckets --no-sign-request
url=$(timeout 60 aws --endpoint-url "http://127.0.0.1:$port" s3 presign s3://src/docs/cli.bin --expires-in 300)
python3 -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' "$url" \
    >"$work/presigned.bin" 2>"$work/presign.err"
s3api get-object --bucket src --key docs/cli.bin "$work/signed.bin" >/dev/null
if [ -s "$work/signed.bin" ] && cmp -s "$work/presigned.bin" "$work/signed.bin"; then pass presigned-get; else
    fail presigned-get "$url: $(cat "$work/presign.err")"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
