#!/usr/bin/env python3
"""Drives s3repl-s3-server with boto3, an unmodified real S3 client.

usage: test_s3_clients.py path/to/s3repl-s3-server [test-name ...]

Every test starts its own server on a free loopback port with a fresh data
directory and kills it afterwards. Every wait polls against a deadline, so a
broken server fails a test instead of hanging it. Prints one `PASS name` or
`FAIL name: why` line per test, then `N passed, M failed`; exits 1 on any
failure.
"""

import atexit
import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xml.etree.ElementTree as ET

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import sigv4_client

DEADLINE_SECONDS = 20
SERVER = None  # the binary, from argv
CREDENTIALS = None  # the suites' --credentials file, written once by credentials_file()


def credentials_file():
    """A private (mode 600) credentials file holding the key every client here signs with."""
    global CREDENTIALS
    if CREDENTIALS is None:
        directory = tempfile.mkdtemp(prefix="s3repl-s3-test-credentials-")
        atexit.register(shutil.rmtree, directory, True)
        path = os.path.join(directory, "credentials")
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write("%s:%s\n" % (sigv4_client.ACCESS_KEY_ID, sigv4_client.SECRET_ACCESS_KEY))
        CREDENTIALS = path
    return CREDENTIALS


class Server:
    """One server process: free port, own data directory, always killed."""

    def __init__(self, *flags, data_dir=None, stdout_only=False):
        self.flags = [str(f) for f in flags]
        self.stdout_only = stdout_only  # output() without stderr (which then goes nowhere)
        self.owns_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="s3repl-s3-test-")
        self.proc = None
        self.port = None

    def start(self):
        self.log_path = os.path.join(self.data_dir, "server-%d.log" % time.monotonic_ns())
        self.log = open(self.log_path, "wb")
        # Signed requests unless a test asks otherwise.
        auth = [] if {"--credentials", "--allow-anonymous"} & set(self.flags) else ["--credentials", credentials_file()]
        self.proc = subprocess.Popen(
            [SERVER, "--listen", "127.0.0.1", "--port", "0", "--data-dir", os.path.join(self.data_dir, "data")]
            + auth + self.flags,
            stdout=self.log, stderr=subprocess.DEVNULL if self.stdout_only else subprocess.STDOUT)
        try:
            self.port = wait_for(self._port_from_log, "the server to print its port")
        except BaseException:
            self.close()
            raise
        return self

    def _port_from_log(self):
        if self.proc.poll() is not None:
            raise AssertionError("server exited with %s:\n%s" % (self.proc.returncode, self.output()))
        for line in self.output().splitlines():
            if line.startswith("listening on 127.0.0.1:"):
                return int(line.rsplit(":", 1)[1])
        return None

    def output(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=DEADLINE_SECONDS)
        self.log.close()

    def terminate(self):
        """SIGTERM; returns the exit status (killing it if it does not stop in time)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise AssertionError("server ignored SIGTERM for %d s" % DEADLINE_SECONDS)
        finally:
            self.log.close()

    def client(self):
        return boto3.client(
            "s3", endpoint_url="http://127.0.0.1:%d" % self.port, region_name="us-east-1",
            aws_access_key_id=sigv4_client.ACCESS_KEY_ID, aws_secret_access_key=sigv4_client.SECRET_ACCESS_KEY,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                          connect_timeout=5, read_timeout=DEADLINE_SECONDS))

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.kill9()
        self.log.close()
        if self.owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


@contextlib.contextmanager
def data_directory():
    """A data directory for servers a test starts in turn on it (restarts), removed at the end."""
    path = tempfile.mkdtemp(prefix="s3repl-s3-test-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def crashed_mid_copy(data_dir, *flags):
    """A client of a server on data_dir whose copies never finish, killed with kill -9 at the end of the block: every
    entry of a PUT made through it is PENDING at the crash."""
    with Server("--slow-destination-ms", 60000, *flags, data_dir=data_dir) as server:
        yield server.client()
        server.kill9()


def stop_process(proc):
    """SIGTERM to a process a test started (by its PID), then SIGKILL if it does not end in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(probe, what, deadline=DEADLINE_SECONDS):
    """Polls probe() until it returns something other than None or False."""
    end = time.monotonic() + deadline
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > end:
            raise AssertionError("timed out after %d s waiting for %s" % (deadline, what))
        time.sleep(0.05)


def status(s3, bucket, key):
    return s3.head_object(Bucket=bucket, Key=key).get("ReplicationStatus")


def wait_status(s3, bucket, key, wanted, deadline=DEADLINE_SECONDS):
    seen = []

    def probe():
        seen[:] = [status(s3, bucket, key)]
        return seen[0] == wanted

    try:
        wait_for(probe, "%s/%s to be %s" % (bucket, key, wanted), deadline=deadline)
    except AssertionError as e:
        raise AssertionError("%s (last seen: %s)" % (e, seen[0] if seen else None))


def error_response(call, **kwargs):
    """The response of the ClientError the call must raise."""
    try:
        call(**kwargs)
    except ClientError as e:
        return e.response
    raise AssertionError("%s(%s) succeeded; an error was expected" % (call.__name__, kwargs))


def error_of(call, **kwargs):
    """(code, HTTP status) of the ClientError the call must raise."""
    response = error_response(call, **kwargs)
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def run_writers(writer, threads, errors):
    """Runs writer(0) .. writer(threads - 1), each on a thread of its own, and
    waits for them; raises naming the first errors they collected, or when one
    is still running after the deadline."""
    pool = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=DEADLINE_SECONDS * 3)
    if any(t.is_alive() for t in pool) or errors:
        raise AssertionError("writers failed: %s" % errors[:3])


def expect_equal(actual, expected, what):
    if actual != expected:
        raise AssertionError("%s: expected %r, got %r" % (what, expected, actual))


def arn(bucket):
    return "arn:aws:s3:::" + bucket


def make_buckets(s3, *names):
    for name in names:
        s3.create_bucket(Bucket=name)


# The rules most tests use: docs/ to dst (with a storage-class override),
# objects tagged team=blue under logs/ to dst2, and a disabled catch-all.
RULES = [
    {"ID": "docs", "Priority": 2, "Status": "Enabled", "Filter": {"Prefix": "docs/"},
     "DeleteMarkerReplication": {"Status": "Disabled"},
     "Destination": {"Bucket": arn("dst"), "StorageClass": "STANDARD_IA"}},
    {"ID": "blue-logs", "Priority": 1, "Status": "Enabled",
     "Filter": {"And": {"Prefix": "logs/", "Tags": [{"Key": "team", "Value": "blue"}]}},
     "DeleteMarkerReplication": {"Status": "Disabled"},
     "Destination": {"Bucket": arn("dst2")}},
    {"ID": "tagged-only", "Priority": 3, "Status": "Enabled", "Filter": {"Tag": {"Key": "copy", "Value": "yes"}},
     "DeleteMarkerReplication": {"Status": "Disabled"},
     "Destination": {"Bucket": arn("dst2")}},
    {"ID": "off", "Priority": 0, "Status": "Disabled", "Filter": {},
     "DeleteMarkerReplication": {"Status": "Disabled"},
     "Destination": {"Bucket": arn("dst")}},
]
ROLE = "arn:aws:iam::123456789012:role/replication"


def configure(s3):
    make_buckets(s3, "src", "dst", "dst2")
    s3.put_bucket_replication(Bucket="src", ReplicationConfiguration={"Role": ROLE, "Rules": RULES})


# ---- tests --------------------------------------------------------------------


def test_replication_config_round_trip():
    with Server() as server:
        s3 = server.client()
        configure(s3)
        got = s3.get_bucket_replication(Bucket="src")["ReplicationConfiguration"]
        expect_equal(got["Role"], ROLE, "Role")
        expect_equal(got["Rules"], RULES, "Rules")
        s3.delete_bucket_replication(Bucket="src")
        expect_equal(error_of(s3.get_bucket_replication, Bucket="src"),
                     ("ReplicationConfigurationNotFoundError", 404), "after DeleteBucketReplication")


# Every element of a V2 rule (the library's fixture full-v2, to another destination).
FULL_RULE = {
    "ID": "everything", "Priority": 7, "Status": "Enabled",
    "Filter": {"And": {"Prefix": "docs/", "Tags": [{"Key": "team", "Value": "storage"}]}},
    "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"},
                                "ReplicaModifications": {"Status": "Disabled"}},
    "ExistingObjectReplication": {"Status": "Enabled"},
    "Destination": {"Bucket": arn("dst"), "Account": "111122223333", "StorageClass": "INTELLIGENT_TIERING",
                    "AccessControlTranslation": {"Owner": "Destination"},
                    "EncryptionConfiguration": {"ReplicaKmsKeyID": "arn:aws:kms:us-east-1:111122223333:key/example"},
                    "ReplicationTime": {"Status": "Enabled", "Time": {"Minutes": 15}},
                    "Metrics": {"Status": "Enabled", "EventThreshold": {"Minutes": 15}}},
    "DeleteMarkerReplication": {"Status": "Disabled"},
}


def test_full_v2_document_round_trips():
    with Server() as server:
        s3 = server.client()
        make_buckets(s3, "src", "dst")
        s3.put_bucket_replication(Bucket="src", ReplicationConfiguration={"Role": ROLE, "Rules": [FULL_RULE]})
        got = s3.get_bucket_replication(Bucket="src")["ReplicationConfiguration"]
        expect_equal(got, {"Role": ROLE, "Rules": [FULL_RULE]}, "the whole document")


def test_invalid_documents_get_the_s3_code():
    with Server() as server:
        s3 = server.client()
        make_buckets(s3, "src", "dst")
        without_metrics = dict(FULL_RULE, Destination={k: v for k, v in FULL_RULE["Destination"].items()
                                                       if k != "Metrics"})
        without_key = dict(FULL_RULE, Destination={k: v for k, v in FULL_RULE["Destination"].items()
                                                   if k != "EncryptionConfiguration"})
        cases = [
            ("ReplicationTime without Metrics", [without_metrics], "InvalidRequest"),
            ("SSE-KMS objects without a replica key", [without_key], "InvalidRequest"),
            ("delete markers with a tag filter", [dict(FULL_RULE, DeleteMarkerReplication={"Status": "Enabled"})],
             "InvalidRequest"),
            ("a V2 rule without DeleteMarkerReplication",
             [{k: v for k, v in RULES[0].items() if k != "DeleteMarkerReplication"}], "InvalidRequest"),
            ("a V2 rule without Priority", [{k: v for k, v in RULES[0].items() if k != "Priority"}],
             "InvalidRequest"),
            ("an ID over 255 characters", [dict(RULES[0], ID="x" * 256)], "InvalidArgument"),
            ("RTC of 10 minutes", [dict(FULL_RULE, Destination=dict(FULL_RULE["Destination"],
                                                                     ReplicationTime={"Status": "Enabled",
                                                                                      "Time": {"Minutes": 10}}))],
             "InvalidArgument"),
            ("a storage class S3 does not replicate to",
             [dict(RULES[0], Destination={"Bucket": arn("dst"), "StorageClass": "EXPRESS_ONEZONE"})],
             "InvalidArgument"),
            ("a tag key twice", [dict(RULES[1], Destination={"Bucket": arn("dst")},
                                      Filter={"And": {"Prefix": "a", "Tags": [{"Key": "k", "Value": "1"},
                                                                              {"Key": "k", "Value": "2"}]}})],
             "InvalidRequest"),
        ]
        for what, rules, code in cases:
            expect_equal(error_of(s3.put_bucket_replication, Bucket="src",
                                  ReplicationConfiguration={"Role": ROLE, "Rules": rules}), (code, 400), what)
        expect_equal(error_of(s3.get_bucket_replication, Bucket="src"),
                     ("ReplicationConfigurationNotFoundError", 404), "nothing was stored")
        body = (b"<ReplicationConfiguration><Role>r</Role><Rule><ID>x</ID><Priority>1</Priority><Filter/>"
                b"<Status>Enabled</Status><Bogus/><Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination>"
                b"</Rule></ReplicationConfiguration>")
        code, error = raw_request(server, "PUT", "/src?replication", body)
        expect_equal((code, error.findtext("Code")), (400, "MalformedXML"), "an unknown element")


def test_matching_put_replicates_bytes_metadata_tags():
    with Server() as server:
        s3 = server.client()
        configure(s3)
        body = b"report \x00\xff bytes " * 100
        s3.put_object(Bucket="src", Key="docs/report.bin", Body=body, ContentType="application/x-report",
                      Metadata={"owner": "ada", "level": "2"}, Tagging="team=red&kind=report%20card")
        first = status(s3, "src", "docs/report.bin")
        if first not in ("PENDING", "COMPLETED"):
            raise AssertionError("status right after the PUT: %r" % first)
        wait_status(s3, "src", "docs/report.bin", "COMPLETED")

        replica = s3.get_object(Bucket="dst", Key="docs/report.bin")
        expect_equal(replica["Body"].read(), body, "replica bytes")
        # The source generation travels as user metadata; the first PUT of a fresh server is generation 1.
        expect_equal(replica["Metadata"], {"owner": "ada", "level": "2", "s3repl-generation": "1"},
                     "replica metadata")
        expect_equal(replica["ContentType"], "application/x-report", "replica content type")
        expect_equal(replica.get("ReplicationStatus"), "REPLICA", "replica status (GET)")
        expect_equal(replica.get("StorageClass"), "STANDARD_IA", "replica storage class (rule override)")
        expect_equal(status(s3, "dst", "docs/report.bin"), "REPLICA", "replica status (HEAD)")
        tags = s3.get_object_tagging(Bucket="dst", Key="docs/report.bin")["TagSet"]
        expect_equal(sorted((t["Key"], t["Value"]) for t in tags), [("kind", "report card"), ("team", "red")],
                     "replica tags")
        source = s3.get_object(Bucket="src", Key="docs/report.bin")
        expect_equal(source.get("ReplicationStatus"), "COMPLETED", "source status (GET)")


def test_tag_filters_select_objects():
    with Server() as server:
        s3 = server.client()
        configure(s3)
        s3.put_object(Bucket="src", Key="logs/blue.log", Body=b"blue", Tagging="team=blue&extra=1")
        s3.put_object(Bucket="src", Key="anywhere/copied", Body=b"tagged", Tagging="copy=yes")
        wait_status(s3, "src", "logs/blue.log", "COMPLETED")
        wait_status(s3, "src", "anywhere/copied", "COMPLETED")
        expect_equal(s3.get_object(Bucket="dst2", Key="logs/blue.log")["Body"].read(), b"blue", "And-filter replica")
        expect_equal(s3.get_object(Bucket="dst2", Key="anywhere/copied")["Body"].read(), b"tagged",
                     "Tag-filter replica")


def test_unmatched_keys_get_no_status():
    with Server() as server:
        s3 = server.client()
        configure(s3)
        s3.put_object(Bucket="src", Key="other/file.txt", Body=b"outside every prefix")
        s3.put_object(Bucket="src", Key="logs/red.log", Body=b"wrong tag value", Tagging="team=red")
        s3.put_object(Bucket="src", Key="logs/untagged.log", Body=b"no tags")
        # A matching object put last: once it is COMPLETED, the workers have
        # had every chance to (wrongly) copy the others.
        s3.put_object(Bucket="src", Key="docs/marker", Body=b"m")
        wait_status(s3, "src", "docs/marker", "COMPLETED")
        for key in ("other/file.txt", "logs/red.log", "logs/untagged.log"):
            head = s3.head_object(Bucket="src", Key=key)
            expect_equal(head.get("ReplicationStatus"), None, "status of unmatched %s" % key)
            for bucket in ("dst", "dst2"):
                expect_equal(error_of(s3.head_object, Bucket=bucket, Key=key)[1], 404, "%s in %s" % (key, bucket))


def test_overwrite_storm_converges():
    # Several clients overwrite a few keys with distinct bodies while every
    # copy is slow by a random amount, so copies of one key overlap and land
    # out of order; the conditional replica writes must still leave every
    # replica equal to its source's latest bytes.
    keys = ["docs/storm-%d" % i for i in range(3)]
    threads, writes = 4, 15
    with Server("--slow-destination-ms", 5, "--slow-destination-jitter-ms", 60, "--workers", 6) as server:
        s3 = server.client()
        configure(s3)
        errors = []

        def writer(thread):
            client = server.client()  # boto3 clients are thread-safe, sessions are not: one each
            for i in range(writes):
                key = keys[(thread + i) % len(keys)]
                body = ("thread %d write %d of %s " % (thread, i, key)).encode() * 50
                try:
                    client.put_object(Bucket="src", Key=key, Body=body, Metadata={"writer": str(thread)})
                except Exception as e:  # collected, reported below
                    errors.append(repr(e))

        run_writers(writer, threads, errors)
        # Every PUT queued one job and every job logs its outcome once: after
        # that no copy is in flight.
        total = threads * writes
        wait_for(lambda: server.output().count("replication src/docs/storm-") >= total,
                 "all %d jobs to finish" % total, deadline=DEADLINE_SECONDS * 3)
        for key in keys:
            latest = s3.get_object(Bucket="src", Key=key)["Body"].read()
            expect_equal(s3.get_object(Bucket="dst", Key=key)["Body"].read(), latest, "replica of " + key)
            expect_equal(status(s3, "src", key), "COMPLETED", "source status of " + key)


def test_conditional_put_object():
    with Server() as server:
        s3 = server.client()
        configure(s3)
        first = s3.put_object(Bucket="src", Key="docs/cas", Body=b"v1")["ETag"]
        if len(first) < 3 or first[0] != '"' or first[-1] != '"':
            raise AssertionError("ETag %r is not quoted as S3 quotes it" % first)
        second = s3.put_object(Bucket="src", Key="docs/cas", Body=b"v2", IfMatch=first)["ETag"]
        wait_status(s3, "src", "docs/cas", "COMPLETED")
        try:
            s3.put_object(Bucket="src", Key="docs/cas", Body=b"stale", IfMatch=first)
            raise AssertionError("a PUT with a stale If-Match succeeded")
        except ClientError as e:
            expect_equal((e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]),
                         ("PreconditionFailed", 412), "a stale If-Match")
            if not e.response["Error"].get("Message"):
                raise AssertionError("the 412 carries no S3 error message: %r" % e.response)
        expect_equal(error_of(s3.put_object, Bucket="src", Key="docs/cas", Body=b"again", IfNoneMatch="*"),
                     ("PreconditionFailed", 412), "If-None-Match: * on an existing key")
        expect_equal(error_of(s3.put_object, Bucket="src", Key="docs/absent", Body=b"x", IfMatch=first),
                     ("NoSuchKey", 404), "If-Match on a missing key")
        # A refused PUT stores nothing and stamps nothing: a PENDING stamp
        # without its bytes would stay PENDING for good.
        head = s3.head_object(Bucket="src", Key="docs/cas")
        expect_equal((head["ETag"], head.get("ReplicationStatus")), (second, "COMPLETED"), "after the refused PUTs")
        expect_equal(s3.get_object(Bucket="src", Key="docs/cas")["Body"].read(), b"v2", "source bytes")
        expect_equal(s3.get_object(Bucket="dst", Key="docs/cas")["Body"].read(), b"v2", "replica bytes")
        expect_equal(error_of(s3.head_object, Bucket="src", Key="docs/absent")[1], 404, "a refused create")
        s3.put_object(Bucket="src", Key="docs/cas", Body=b"v3", IfMatch=second)
        s3.put_object(Bucket="src", Key="docs/created", Body=b"new", IfNoneMatch="*")
        for key, body in (("docs/cas", b"v3"), ("docs/created", b"new")):
            wait_status(s3, "src", key, "COMPLETED")
            expect_equal(s3.get_object(Bucket="dst", Key=key)["Body"].read(), body, "replica of " + key)


def test_failing_destination_ends_failed():
    with Server("--fail-destination-percent", 100) as server:
        s3 = server.client()
        configure(s3)
        s3.put_object(Bucket="src", Key="docs/doomed", Body=b"never arrives")
        wait_status(s3, "src", "docs/doomed", "FAILED")
        expect_equal(error_of(s3.head_object, Bucket="dst", Key="docs/doomed")[1], 404, "replica of a FAILED copy")
        if "generation 1: Failed after 3 attempt(s); last error: injected" not in server.output():
            raise AssertionError("expected three attempts in the log:\n" + server.output())


def snapshot_document(data_dir):
    """The server's snapshot file, parsed, or None while it is missing."""
    try:
        with open(os.path.join(data_dir, "data", "snapshot.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def snapshot_statuses(data_dir):
    """{key: status word} from the server's snapshot file, or None while it is missing."""
    snapshot = snapshot_document(data_dir)
    if snapshot is None:
        return None
    return {entry[0][1]: entry[1]["status"] for entry in snapshot["statuses"] if entry[0][0] == "src"}


def test_kill9_mid_replication_then_restart():
    with data_directory() as data_dir:
        with Server("--snapshot-interval-ms", 100, data_dir=data_dir) as server:
            s3 = server.client()
            configure(s3)
            s3.put_object(Bucket="src", Key="docs/done", Body=b"replicated before the crash")
            wait_status(s3, "src", "docs/done", "COMPLETED")
            server.terminate()

        # Slow destination: the copies below are still in flight when killed.
        with crashed_mid_copy(data_dir, "--snapshot-interval-ms", 100) as s3:
            for i in range(3):
                s3.put_object(Bucket="src", Key="docs/in-snapshot-%d" % i, Body=b"early %d" % i)
            # These three are in a periodic snapshot before the crash...
            wait_for(lambda: all((snapshot_statuses(data_dir) or {}).get("docs/in-snapshot-%d" % i) == "Pending"
                                 for i in range(3)), "a snapshot holding the PENDING entries")
            # ...these two probably are not: the restart finds them from the stored objects.
            for i in range(2):
                s3.put_object(Bucket="src", Key="docs/after-snapshot-%d" % i, Body=b"late %d" % i)
            for key in ["docs/in-snapshot-%d" % i for i in range(3)] + ["docs/after-snapshot-%d" % i for i in range(2)]:
                expect_equal(status(s3, "src", key), "PENDING", "before the crash: " + key)

        with Server("--snapshot-interval-ms", 100, data_dir=data_dir) as server:
            s3 = server.client()
            expect_equal(status(s3, "src", "docs/done"), "COMPLETED", "a COMPLETED status across the crash")
            expect_equal(s3.get_bucket_replication(Bucket="src")["ReplicationConfiguration"]["Rules"][0]["ID"],
                         "docs", "the configuration across the crash")
            for i in range(3):
                wait_status(s3, "src", "docs/in-snapshot-%d" % i, "COMPLETED")
                expect_equal(s3.get_object(Bucket="dst", Key="docs/in-snapshot-%d" % i)["Body"].read(),
                             b"early %d" % i, "re-driven replica")
            for i in range(2):
                wait_status(s3, "src", "docs/after-snapshot-%d" % i, "COMPLETED")
                expect_equal(s3.get_object(Bucket="dst", Key="docs/after-snapshot-%d" % i)["Body"].read(),
                             b"late %d" % i, "re-driven replica")
            # A PUT after the restart must still win over the restored generations.
            s3.put_object(Bucket="src", Key="docs/after-snapshot-0", Body=b"newest")
            wait_status(s3, "src", "docs/after-snapshot-0", "COMPLETED")
            expect_equal(s3.get_object(Bucket="dst", Key="docs/after-snapshot-0")["Body"].read(), b"newest",
                         "a PUT after the restart")


def test_sigterm_saves_and_restores():
    with data_directory() as data_dir:
        # A snapshot interval far beyond the test: only the shutdown save can keep the state.
        with Server("--snapshot-interval-ms", 3600000, "--fail-destination-percent", 100, data_dir=data_dir) as server:
            s3 = server.client()
            configure(s3)
            s3.put_object(Bucket="src", Key="docs/failed", Body=b"x")
            wait_status(s3, "src", "docs/failed", "FAILED")
            expect_equal(server.terminate(), 0, "exit status after SIGTERM")
        if "snapshot saved" not in server.output():
            raise AssertionError("no shutdown snapshot in the log:\n" + server.output())
        statuses = snapshot_statuses(data_dir)
        expect_equal(statuses, {"docs/failed": "Failed"}, "the shutdown snapshot")
        # The restart re-drives FAILED copies: with the destination still
        # failing, the status stays FAILED throughout.
        with Server("--fail-destination-percent", 100, data_dir=data_dir) as server:
            s3 = server.client()
            expect_equal(status(s3, "src", "docs/failed"), "FAILED", "a FAILED status across a restart")
            expect_equal(len(s3.get_bucket_replication(Bucket="src")["ReplicationConfiguration"]["Rules"]),
                         len(RULES), "the configuration across a restart")


def test_first_line_is_listening_on_every_start():
    with data_directory() as data_dir:
        # A FAILED copy in the shutdown snapshot: the restart restores it and re-drives it.
        with Server("--fail-destination-percent", 100, data_dir=data_dir) as server:
            s3 = server.client()
            configure(s3)
            s3.put_object(Bucket="src", Key="docs/again", Body=b"x")
            wait_status(s3, "src", "docs/again", "FAILED")
            expect_equal(server.terminate(), 0, "exit status after SIGTERM")
        with Server(data_dir=data_dir, stdout_only=True) as server:
            wait_status(server.client(), "src", "docs/again", "COMPLETED")
            lines = server.output().splitlines()
            expect_equal(lines[0], "listening on 127.0.0.1:%d" % server.port, "the first line of stdout")
            for wanted in ["restored ", "re-driving 1 PENDING or FAILED destination(s)", "replication src/docs/again"]:
                if not any(line.startswith(wanted) for line in lines[1:]):
                    raise AssertionError("no line %r after the first:\n%s" % (wanted, server.output()))


def test_restart_mints_above_replica_generations():
    # A replica outlives its source. After a crash that saved no snapshot
    # after the PUTs, the new manager's first generations must still be above
    # the replica's (raise_generation_floor at start-up), or the next PUT of
    # the key would be superseded by that replica and stay PENDING.
    with data_directory() as data_dir:
        with Server("--snapshot-interval-ms", 3600000, data_dir=data_dir) as server:
            s3 = server.client()
            configure(s3)  # saved at once: the snapshot then holds the configuration, no generation yet
            for i in range(5):
                s3.put_object(Bucket="src", Key="docs/moved", Body=b"old %d" % i)
            wait_status(s3, "src", "docs/moved", "COMPLETED")
            s3.delete_object(Bucket="src", Key="docs/moved")
            server.kill9()
        snapshot = snapshot_document(data_dir)
        if snapshot is not None and (snapshot["statuses"] or snapshot.get("next_generation", 0) > 1):
            raise AssertionError("the snapshot knows the PUTs' generations: the restart would not need the floor:\n"
                                 + json.dumps(snapshot))
        with Server(data_dir=data_dir) as server:
            s3 = server.client()
            s3.put_object(Bucket="src", Key="docs/moved", Body=b"new")
            wait_status(s3, "src", "docs/moved", "COMPLETED")
            expect_equal(s3.get_object(Bucket="dst", Key="docs/moved")["Body"].read(), b"new", "replica after restart")


def test_put_bucket_replication_is_durable_before_the_answer():
    # No periodic snapshot during the test, and kill -9 right after the
    # answers: only a save before the 200 keeps the configuration.
    with data_directory() as data_dir:
        # A slow destination: the copy is still in flight when killed.
        with crashed_mid_copy(data_dir, "--snapshot-interval-ms", 3600000) as s3:
            configure(s3)
            s3.put_object(Bucket="src", Key="docs/in-flight", Body=b"before the crash")
            expect_equal(status(s3, "src", "docs/in-flight"), "PENDING", "before the crash")
        with Server("--snapshot-interval-ms", 3600000, data_dir=data_dir) as server:
            s3 = server.client()
            expect_equal(s3.get_bucket_replication(Bucket="src")["ReplicationConfiguration"]["Rules"], RULES,
                         "the configuration after kill -9")
            wait_status(s3, "src", "docs/in-flight", "COMPLETED")
            expect_equal(s3.get_object(Bucket="dst", Key="docs/in-flight")["Body"].read(), b"before the crash",
                         "the re-driven replica")


def test_delete_bucket_replication_is_durable_before_the_answer():
    with data_directory() as data_dir:
        with Server("--snapshot-interval-ms", 3600000, data_dir=data_dir) as server:
            configure(server.client())
            expect_equal(server.terminate(), 0, "exit status after SIGTERM")  # the shutdown save holds it
        with Server("--snapshot-interval-ms", 3600000, data_dir=data_dir) as server:
            s3 = server.client()
            s3.delete_bucket_replication(Bucket="src")
            server.kill9()
        with Server("--snapshot-interval-ms", 3600000, data_dir=data_dir) as server:
            s3 = server.client()
            expect_equal(error_of(s3.get_bucket_replication, Bucket="src"),
                         ("ReplicationConfigurationNotFoundError", 404), "the deleted configuration after kill -9")
            s3.put_object(Bucket="src", Key="docs/unreplicated", Body=b"x")
            expect_equal(status(s3, "src", "docs/unreplicated"), None, "a PUT after the restart")


def test_swept_status_stays_visible():
    with Server("--sweep-ttl", 1, "--snapshot-interval-ms", 100) as server:
        s3 = server.client()
        configure(s3)
        s3.put_object(Bucket="src", Key="docs/old", Body=b"old")
        wait_status(s3, "src", "docs/old", "COMPLETED")
        # The sweeper drops the COMPLETED entry from the manager (a later
        # snapshot no longer holds it)...
        wait_for(lambda: "swept 1 old entries" in server.output(), "the sweeper to report a pass")
        wait_for(lambda: snapshot_statuses(server.data_dir) == {}, "a snapshot without the swept entry")
        # ...and HEAD still answers from the outcome stored beside the object.
        expect_equal(status(s3, "src", "docs/old"), "COMPLETED", "status after the sweep")


# ---- several destinations ------------------------------------------------------

# Two V2 rules for one prefix, with distinct priorities: every docs/ object
# is copied to dst-a and to dst-b.
DESTINATIONS = ["dst-a", "dst-b"]
TWO_DESTINATIONS = [
    {"ID": "to-" + bucket, "Priority": priority, "Status": "Enabled", "Filter": {"Prefix": "docs/"},
     "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": arn(bucket)}}
    for priority, bucket in enumerate(DESTINATIONS, start=1)
]


def configure_two_destinations(s3):
    make_buckets(s3, "src", *DESTINATIONS)
    s3.put_bucket_replication(Bucket="src", ReplicationConfiguration={"Role": ROLE, "Rules": TWO_DESTINATIONS})


def head_or_none(s3, bucket, key):
    """The HEAD response, or None for a 404."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return None
        raise


def expect_replica(s3, bucket, key, body, generation):
    """The replica's GET response, after checking its bytes, status and generation."""
    replica = s3.get_object(Bucket=bucket, Key=key)
    expect_equal(replica["Body"].read(), body, "bytes of the replica in " + bucket)
    expect_equal(replica.get("ReplicationStatus"), "REPLICA", "status of the replica in " + bucket)
    expect_equal(replica["Metadata"].get("s3repl-generation"), str(generation), "generation of the replica in " + bucket)
    return replica


def watch_until_completed(s3, key):
    """Polls the source HEAD until COMPLETED, failing if it says COMPLETED while
    a replica is missing or says anything but PENDING before. Returns how many
    polls saw PENDING with exactly one replica in place."""
    partial = [0]

    def probe():
        replicas = [b for b in DESTINATIONS if head_or_none(s3, b, key)]
        seen = status(s3, "src", key)
        if seen == "PENDING":
            partial[0] += len(replicas) == 1
            return False
        expect_equal(seen, "COMPLETED", "the source status while copying")
        # Each copy is stamped COMPLETED after its write: both are in place now.
        missing = [b for b in DESTINATIONS if not head_or_none(s3, b, key)]
        if missing:
            raise AssertionError("the source says COMPLETED, but %s has no replica" % missing)
        return True

    wait_for(probe, "src/%s to be COMPLETED" % key)
    return partial[0]


def expect_copies_in_turn(s3, key, body):
    """src/key is PENDING while one replica of generation 1 is in place, then COMPLETED with both."""
    if watch_until_completed(s3, key) == 0:
        raise AssertionError("never saw PENDING with one of the two replicas in place")
    for bucket in DESTINATIONS:
        expect_replica(s3, bucket, key, body, 1)


def test_two_destination_configuration_round_trips():
    with Server() as server:
        s3 = server.client()
        make_buckets(s3, "src", "dst-a")
        expect_equal(error_of(s3.put_bucket_replication, Bucket="src",
                              ReplicationConfiguration={"Role": ROLE, "Rules": TWO_DESTINATIONS}),
                     ("InvalidRequest", 400), "a second destination that does not exist")
        expect_equal(error_of(s3.get_bucket_replication, Bucket="src"),
                     ("ReplicationConfigurationNotFoundError", 404), "nothing was stored")
        make_buckets(s3, "dst-b")
        s3.put_bucket_replication(Bucket="src", ReplicationConfiguration={"Role": ROLE, "Rules": TWO_DESTINATIONS})
        expect_equal(s3.get_bucket_replication(Bucket="src")["ReplicationConfiguration"],
                     {"Role": ROLE, "Rules": TWO_DESTINATIONS}, "the document")


def test_two_destinations_get_the_same_replica():
    with Server() as server:
        s3 = server.client()
        configure_two_destinations(s3)
        body = b"for both \x00\xff " * 100
        s3.put_object(Bucket="src", Key="docs/both", Body=body, Metadata={"owner": "ada"}, Tagging="team=red")
        wait_status(s3, "src", "docs/both", "COMPLETED")
        for bucket in DESTINATIONS:
            replica = expect_replica(s3, bucket, "docs/both", body, 1)
            expect_equal(replica["Metadata"].get("owner"), "ada", "metadata of the replica in " + bucket)
            tags = s3.get_object_tagging(Bucket=bucket, Key="docs/both")["TagSet"]
            expect_equal(tags, [{"Key": "team", "Value": "red"}], "tags of the replica in " + bucket)
            expect_equal(server.output().count("replication src/docs/both to %s generation 1: Completed" % bucket), 1,
                         "log lines of the copy to " + bucket)
        expect_equal(s3.get_object(Bucket="src", Key="docs/both").get("ReplicationStatus"), "COMPLETED",
                     "source status (GET)")


def test_source_pending_until_every_destination_completes():
    # One worker and slow writes: the two copies run one after the other, so
    # for a while one replica is in place and the other is not.
    with Server("--workers", 1, "--slow-destination-ms", 500) as server:
        s3 = server.client()
        configure_two_destinations(s3)
        s3.put_object(Bucket="src", Key="docs/slow", Body=b"slow")
        expect_copies_in_turn(s3, "docs/slow", b"slow")


def test_failed_destination_is_redriven_alone():
    body = b"to both, one of them failing " * 100
    with data_directory() as data_dir:
        with Server("--fail-destination-bucket", "dst-b", data_dir=data_dir) as server:
            s3 = server.client()
            configure_two_destinations(s3)
            s3.put_object(Bucket="src", Key="docs/half", Body=body)
            wait_status(s3, "src", "docs/half", "FAILED")
            # FAILED as soon as dst-b gives up, whether or not dst-a is done yet.
            wait_for(lambda: "replication src/docs/half to dst-a generation 1: Completed after 1 attempt(s)"
                     in server.output(), "the copy to dst-a")
            before = expect_replica(s3, "dst-a", "docs/half", body, 1)
            expect_equal(head_or_none(s3, "dst-b", "docs/half"), None, "dst-b's replica while its writes fail")
            expect_equal(status(s3, "src", "docs/half"), "FAILED", "the source with dst-a done and dst-b failed")
            wanted = ("replication src/docs/half to dst-b generation 1: Failed after 3 attempt(s); last error: "
                      "injected destination failure (--fail-destination-bucket dst-b)")
            if wanted not in server.output():
                raise AssertionError("expected %r in the log:\n%s" % (wanted, server.output()))
            expect_equal(server.terminate(), 0, "exit status after SIGTERM")

        # Without the flag the restart re-copies to dst-b, and only there.
        with Server(data_dir=data_dir) as server:
            s3 = server.client()
            wait_status(s3, "src", "docs/half", "COMPLETED")
            expect_replica(s3, "dst-b", "docs/half", body, 1)
            after = expect_replica(s3, "dst-a", "docs/half", body, 1)
            expect_equal((after["ETag"], after["LastModified"]), (before["ETag"], before["LastModified"]),
                         "dst-a's replica across the restart")
            expect_equal(server.output().count("replication src/docs/half to "), 1, "copies after the restart")
            if "replication src/docs/half to dst-b generation 1: Completed after 1 attempt(s)" not in server.output():
                raise AssertionError("expected the copy to dst-b in the log:\n" + server.output())


def restart_copies_to_both_destinations(data_dir, key, body):
    """A restart on data_dir copies src/key (generation 1) to both destinations, one after the other."""
    # One worker and slow writes, as above: PENDING until both copies are done.
    with Server("--workers", 1, "--slow-destination-ms", 500, data_dir=data_dir) as server:
        expect_copies_in_turn(server.client(), key, body)


def test_restart_stamps_every_destination_of_a_lost_put():
    with data_directory() as data_dir:
        with Server(data_dir=data_dir) as server:
            configure_two_destinations(server.client())
            expect_equal(server.terminate(), 0, "exit status after SIGTERM")  # the snapshot holds the rules

        # Copies that never finish and no snapshot after the PUT: the crash
        # loses its PENDING stamps; the object records that it was selected.
        with crashed_mid_copy(data_dir, "--snapshot-interval-ms", 3600000) as s3:
            s3.put_object(Bucket="src", Key="docs/lost", Body=b"lost")
            expect_equal(status(s3, "src", "docs/lost"), "PENDING", "before the crash")
        expect_equal(snapshot_statuses(data_dir), {}, "the snapshot from before the PUT")

        restart_copies_to_both_destinations(data_dir, "docs/lost", b"lost")


def test_restart_gives_a_single_status_entry_each_destination():
    # A snapshot written before statuses per destination (the Rust server's
    # format) holds one PENDING standing for both destinations of the object.
    with data_directory() as data_dir:
        with crashed_mid_copy(data_dir, "--snapshot-interval-ms", 100) as s3:
            configure_two_destinations(s3)
            s3.put_object(Bucket="src", Key="docs/old-form", Body=b"old form")
            wait_for(lambda: (snapshot_statuses(data_dir) or {}).get("docs/old-form") == "Pending",
                     "a snapshot holding the PENDING entry")
        path = os.path.join(data_dir, "data", "snapshot.json")
        with open(path) as f:
            snapshot = json.load(f)
        for _, entry in snapshot["statuses"]:
            del entry["destinations"]
        with open(path, "w") as f:
            json.dump(snapshot, f, separators=(",", ":"))

        restart_copies_to_both_destinations(data_dir, "docs/old-form", b"old form")


def test_restart_copies_no_bytes_under_an_older_generation():
    # A copy still PENDING when a PUT that no rule selected replaced the
    # object: at the restart its generation's bytes are gone.
    with data_directory() as data_dir:
        with crashed_mid_copy(data_dir, "--snapshot-interval-ms", 100) as s3:
            configure_two_destinations(s3)
            s3.put_object(Bucket="src", Key="docs/replaced", Body=b"replicated")
            s3.delete_bucket_replication(Bucket="src")
            s3.put_object(Bucket="src", Key="docs/replaced", Body=b"never replicated")
            s3.put_bucket_replication(Bucket="src",
                                      ReplicationConfiguration={"Role": ROLE, "Rules": TWO_DESTINATIONS})
            expect_equal(status(s3, "src", "docs/replaced"), None, "the unselected PUT's status")
            # (The file exists once snapshot_statuses has read it; replacing it is a rename.)
            wait_for(lambda: (snapshot_statuses(data_dir) or {}).get("docs/replaced") == "Pending"
                     and "to-dst-a" in open(os.path.join(data_dir, "data", "snapshot.json")).read(),
                     "a snapshot holding the rules and the first PUT's PENDING entry")

        with Server(data_dir=data_dir) as server:
            s3 = server.client()
            for bucket in DESTINATIONS:
                wanted = "re-drive src/docs/replaced generation 1 to %s: the object holds generation 2" % bucket
                wait_for(lambda: wanted in server.output(), "the re-drive to %s to give up" % bucket)
                expect_equal(head_or_none(s3, bucket, "docs/replaced"), None, "a replica in " + bucket)
            expect_equal(server.output().count("replication src/docs/replaced "), 0, "copies after the restart")
            expect_equal(status(s3, "src", "docs/replaced"), None, "the unselected PUT's status after the restart")


def raw_request(server, method, path, body=b""):
    """(status, parsed error XML or None) for a request boto3 would refuse to build."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=DEADLINE_SECONDS)
    try:
        connection.request(method, path, body=body,
                           headers=sigv4_client.sign(server.port, method, path, body, {"Content-Type": "application/xml"}))
        response = connection.getresponse()
        data = response.read()
        return response.status, (ET.fromstring(data) if data else None)
    finally:
        connection.close()


def test_errors_have_s3_codes_and_statuses():
    with Server() as server:
        s3 = server.client()
        configure(s3)
        for body in (b"<ReplicationConfiguration><Rule>", b"not xml at all",
                     b"<ReplicationConfiguration><Rule><ID>x</ID><Status>Maybe</Status>"
                     b"<Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination></Rule></ReplicationConfiguration>",
                     b"<Other/>"):
            code, error = raw_request(server, "PUT", "/src?replication", body)
            expect_equal(code, 400, "HTTP status for %r" % body)
            expect_equal(error.findtext("Code"), "MalformedXML", "code for %r" % body)
            expect_equal(error.findtext("Resource"), "/src", "Resource")
            if not error.findtext("Message") or not error.findtext("RequestId"):
                raise AssertionError("error body lacks Message or RequestId")
        # The rules from before the rejected PUTs are untouched.
        expect_equal(len(s3.get_bucket_replication(Bucket="src")["ReplicationConfiguration"]["Rules"]), len(RULES),
                     "rules after rejected PUTs")

        bad_rule = dict(RULES[0], Destination={"Bucket": arn("no-such-destination")})
        expect_equal(error_of(s3.put_bucket_replication, Bucket="src",
                              ReplicationConfiguration={"Role": ROLE, "Rules": [bad_rule]}),
                     ("InvalidRequest", 400), "a destination that does not exist")
        twice = [RULES[0], dict(RULES[0], Priority=9)]
        expect_equal(error_of(s3.put_bucket_replication, Bucket="src",
                              ReplicationConfiguration={"Role": ROLE, "Rules": twice}),
                     ("InvalidArgument", 400), "two rules with one ID")
        not_arn = dict(RULES[0], Destination={"Bucket": "dst"})
        expect_equal(error_of(s3.put_bucket_replication, Bucket="src",
                              ReplicationConfiguration={"Role": ROLE, "Rules": [not_arn]}),
                     ("InvalidArgument", 400), "a destination that is not an ARN")

        expect_equal(error_of(s3.put_object, Bucket="nope", Key="k", Body=b"x"), ("NoSuchBucket", 404), "PUT")
        expect_equal(error_of(s3.get_object, Bucket="nope", Key="k"), ("NoSuchBucket", 404), "GET")
        expect_equal(error_of(s3.list_objects_v2, Bucket="nope"), ("NoSuchBucket", 404), "ListObjectsV2")
        expect_equal(error_of(s3.get_bucket_replication, Bucket="nope"), ("NoSuchBucket", 404),
                     "GetBucketReplication")
        expect_equal(error_of(s3.put_bucket_replication, Bucket="nope",
                              ReplicationConfiguration={"Role": ROLE, "Rules": RULES[:1]}),
                     ("NoSuchBucket", 404), "PutBucketReplication")
        expect_equal(error_of(s3.get_object, Bucket="src", Key="missing"), ("NoSuchKey", 404), "GET of a missing key")
        expect_equal(error_of(s3.head_object, Bucket="src", Key="missing")[1], 404, "HEAD of a missing key")
        expect_equal(error_of(s3.get_bucket_replication, Bucket="dst"),
                     ("ReplicationConfigurationNotFoundError", 404), "a bucket without replication")
        expect_equal(error_of(s3.create_bucket, Bucket="src"), ("BucketAlreadyOwnedByYou", 409), "bucket twice")


def test_range_past_the_end_is_invalid_range():
    with Server() as server:
        s3 = server.client()
        make_buckets(s3, "src")
        s3.put_object(Bucket="src", Key="small", Body=b"eleven byte")
        try:
            s3.get_object(Bucket="src", Key="small", Range="bytes=1000-")
            raise AssertionError("GetObject with a range past the end succeeded")
        except ClientError as e:
            error = e.response["Error"]
            expect_equal((error["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]), ("InvalidRange", 416),
                         "GetObject Range=bytes=1000-")
            expect_equal((error.get("Message"), error.get("RangeRequested"), error.get("ActualObjectSize")),
                         ("The requested range is not satisfiable", "bytes=1000-", "11"), "the InvalidRange body")
            expect_equal(e.response["ResponseMetadata"]["HTTPHeaders"].get("content-range"), "bytes */11",
                         "Content-Range of a 416")
        expect_equal(error_of(s3.get_object, Bucket="src", Key="small", Range="bytes=11-"), ("InvalidRange", 416),
                     "a range starting at the size")
        expect_equal(s3.get_object(Bucket="src", Key="small", Range="bytes=7-")["Body"].read(), b"byte",
                     "a range inside the object")
        # An error's body comes whole, whatever the Range: the code is read from it.
        expect_equal(error_of(s3.get_object, Bucket="src", Key="absent", Range="bytes=0-3"), ("NoSuchKey", 404),
                     "GetObject of a missing key with a Range")


def test_range_running_past_the_end_is_clamped():
    with Server() as server:
        s3 = server.client()
        make_buckets(s3, "src")
        s3.put_object(Bucket="src", Key="small", Body=b"eleven byte")
        for asked, content_range, body in (("bytes=7-1000", "bytes 7-10/11", b"byte"),
                                           ("bytes=0-10", "bytes 0-10/11", b"eleven byte"),
                                           ("bytes=-4", "bytes 7-10/11", b"byte"),
                                           ("bytes=-100", "bytes 0-10/11", b"eleven byte")):
            got = s3.get_object(Bucket="src", Key="small", Range=asked)
            expect_equal((got["ResponseMetadata"]["HTTPStatusCode"], got.get("ContentRange"), got["Body"].read()),
                         (206, content_range, body), "GetObject Range=" + asked)
            head = s3.head_object(Bucket="src", Key="small", Range=asked)
            expect_equal((head["ResponseMetadata"]["HTTPStatusCode"], head.get("ContentRange"),
                          head["ContentLength"]), (206, content_range, len(body)), "HeadObject Range=" + asked)
        # S3 serves one range; a list of them, or a Range it cannot parse,
        # is ignored: the whole object with 200.
        for ignored in ("bytes=0-1,4-5", "bytes=5-2", "items=0-1", "bytes=x-"):
            got = s3.get_object(Bucket="src", Key="small", Range=ignored)
            expect_equal((got["ResponseMetadata"]["HTTPStatusCode"], got.get("ContentRange"), got["Body"].read()),
                         (200, None, b"eleven byte"), "GetObject Range=" + ignored)
        expect_equal(error_of(s3.get_object, Bucket="src", Key="small", Range="bytes=-0"), ("InvalidRange", 416),
                     "a suffix of no bytes")


def put_raw(server, path, body, headers):
    """PUT over http.client with `headers` exactly as given (and signed); returns the status."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=DEADLINE_SECONDS)
    try:
        connection.request("PUT", path, body=body, headers=sigv4_client.sign(server.port, "PUT", path, body, headers))
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_header_values_are_kept_as_sent():
    # RFC 9110: a field value is opaque; only the x-amz-tagging value is
    # query-string encoded, and the server decodes it once, by S3's rules.
    with Server() as server:
        s3 = server.client()
        configure(s3)
        expect_equal(put_raw(server, "/src/raw-tagging", b"x", {"x-amz-tagging": "a=%41%2B"}), 200, "raw PUT")
        expect_equal(s3.get_object_tagging(Bucket="src", Key="raw-tagging")["TagSet"], [{"Key": "a", "Value": "A+"}],
                     "tags of x-amz-tagging: a=%41%2B")
        s3.put_object(Bucket="src", Key="docs/escaped", Body=b"escaped", Tagging="note=a%2Bb%3Dc%26d",
                      Metadata={"note": "100%25 sure", "crlf": "before%0D%0Aafter"})
        wait_status(s3, "src", "docs/escaped", "COMPLETED")
        for bucket in ("src", "dst"):
            expect_equal(s3.get_object_tagging(Bucket=bucket, Key="docs/escaped")["TagSet"],
                         [{"Key": "note", "Value": "a+b=c&d"}], "tags in " + bucket)
            metadata = s3.head_object(Bucket=bucket, Key="docs/escaped")["Metadata"]
            expect_equal((metadata.get("note"), metadata.get("crlf")), ("100%25 sure", "before%0D%0Aafter"),
                         "metadata in " + bucket)


def test_aws_chunked_uploads():
    # The framing newer SDKs use for streamed PUTs (over HTTPS, so the
    # clients above do not send it here): signed chunks, and unsigned chunks
    # with a trailing checksum.
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "11"}
    with Server() as server:
        s3 = server.client()
        configure(s3)
        signed = sigv4_client.sign(server.port, "PUT", "/src/docs/signed", headers=headers,
                                   payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        trailer = sigv4_client.sign(server.port, "PUT", "/src/docs/trailer", headers=headers,
                                    payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        framings = {
            "docs/signed": (signed, sigv4_client.chunk_signed_body(signed, [b"hello ", b"world"])),
            "docs/trailer": (trailer, b"6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"),
        }
        for key, (signed_headers, framed) in framings.items():
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=DEADLINE_SECONDS)
            try:
                connection.request("PUT", "/src/" + key, body=framed, headers=signed_headers)
                response = connection.getresponse()
                response.read()
                expect_equal(response.status, 200, "PUT %s" % key)
            finally:
                connection.close()
            expect_equal(s3.get_object(Bucket="src", Key=key)["Body"].read(), b"hello world", "decoded " + key)
            wait_status(s3, "src", key, "COMPLETED")
            expect_equal(s3.get_object(Bucket="dst", Key=key)["Body"].read(), b"hello world", "replica of " + key)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=DEADLINE_SECONDS)
        try:
            connection.request("PUT", "/src/docs/torn", body=b"ff\r\nshort\r\n", headers=sigv4_client.sign(
                server.port, "PUT", "/src/docs/torn", headers={"Content-Encoding": "aws-chunked"},
                payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER"))
            response = connection.getresponse()
            expect_equal((response.status, ET.fromstring(response.read()).findtext("Code")), (400, "IncompleteBody"),
                         "a torn aws-chunked body")
        finally:
            connection.close()
        expect_equal(error_of(s3.head_object, Bucket="src", Key="docs/torn")[1], 404, "a torn PUT stores nothing")


def test_listing_and_delete():
    with Server() as server:
        s3 = server.client()
        configure(s3)
        keys = ["a/1", "a/2", "b/1", "b/2/x", "c", "odd key+ü%"]
        for key in keys:
            s3.put_object(Bucket="src", Key=key, Body=key.encode())
        expect_equal([b["Name"] for b in s3.list_buckets()["Buckets"]], ["dst", "dst2", "src"], "ListBuckets")
        listed = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="src", PaginationConfig={"PageSize": 2}):
            listed += [o["Key"] for o in page.get("Contents", [])]
        expect_equal(listed, sorted(keys), "paginated keys")
        top = s3.list_objects_v2(Bucket="src", Delimiter="/")
        expect_equal([p["Prefix"] for p in top.get("CommonPrefixes", [])], ["a/", "b/"], "common prefixes")
        expect_equal([o["Key"] for o in top["Contents"]], ["c", "odd key+ü%"], "top-level keys")
        under_b = s3.list_objects_v2(Bucket="src", Prefix="b/")
        expect_equal([(o["Key"], o["Size"]) for o in under_b["Contents"]], [("b/1", 3), ("b/2/x", 5)], "prefix")
        expect_equal(s3.get_object(Bucket="src", Key="odd key+ü%")["Body"].read(), "odd key+ü%".encode(),
                     "an odd key")
        s3.delete_object(Bucket="src", Key="c")
        expect_equal(error_of(s3.get_object, Bucket="src", Key="c"), ("NoSuchKey", 404), "after DeleteObject")
        s3.delete_object(Bucket="src", Key="c")  # idempotent, as in S3


# ---- versioning -----------------------------------------------------------------

# on/ replicates delete markers to vdst, off/ does not; both copy versions.
VERSIONED_RULES = [
    {"ID": "markers", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": "on/"},
     "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": arn("vdst")}},
    {"ID": "no-markers", "Priority": 2, "Status": "Enabled", "Filter": {"Prefix": "off/"},
     "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": arn("vdst")}},
]


def set_versioning(s3, bucket, state):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": state})


def configure_versioned(s3):
    make_buckets(s3, "vsrc", "vdst")
    set_versioning(s3, "vsrc", "Enabled")
    set_versioning(s3, "vdst", "Enabled")
    s3.put_bucket_replication(Bucket="vsrc", ReplicationConfiguration={"Role": ROLE, "Rules": VERSIONED_RULES})


def version_status(s3, bucket, key, version_id):
    return s3.head_object(Bucket=bucket, Key=key, VersionId=version_id).get("ReplicationStatus")


def wait_version_status(s3, key, version_id, wanted):
    wait_for(lambda: version_status(s3, "vsrc", key, version_id) == wanted,
             "vsrc/%s version %s to be %s" % (key, version_id, wanted))


def versions_of(s3, bucket, prefix=""):
    """(key, version ID, is latest, ETag or None for a marker), newest first per key."""
    listed = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    found = [(v["Key"], v["VersionId"], v["IsLatest"], v["ETag"]) for v in listed.get("Versions", [])]
    found += [(m["Key"], m["VersionId"], m["IsLatest"], None) for m in listed.get("DeleteMarkers", [])]
    return sorted(found, key=lambda v: (v[0], not v[2]))


def error_headers(call, **kwargs):
    """(HTTP status, response headers) of the ClientError the call must raise."""
    metadata = error_response(call, **kwargs)["ResponseMetadata"]
    return metadata["HTTPStatusCode"], metadata["HTTPHeaders"]


def put_versions(s3, key, count):
    """The version IDs of `count` PUTs of key to vsrc, oldest first."""
    return [s3.put_object(Bucket="vsrc", Key=key, Body=b"%s #%d" % (key.encode(), i))["VersionId"]
            for i in range(count)]


def test_bucket_versioning_round_trips_and_survives_kill9():
    with data_directory() as data_dir:
        with Server(data_dir=data_dir) as server:
            s3 = server.client()
            make_buckets(s3, "never", "enabled", "paused")
            expect_equal(s3.get_bucket_versioning(Bucket="never").get("Status"), None, "a bucket never configured")
            set_versioning(s3, "enabled", "Enabled")
            set_versioning(s3, "paused", "Enabled")
            set_versioning(s3, "paused", "Suspended")
            expect_equal(error_of(s3.put_bucket_versioning, Bucket="enabled",
                                  VersioningConfiguration={"Status": "Disabled"}),
                         ("IllegalVersioningConfigurationException", 400), "a Status S3 does not know")
            expect_equal(error_of(s3.get_bucket_versioning, Bucket="nope"), ("NoSuchBucket", 404), "no bucket")
            server.kill9()  # no shutdown save: the acknowledged changes must already be on disk
        with Server(data_dir=data_dir) as server:
            s3 = server.client()
            expect_equal([s3.get_bucket_versioning(Bucket=b).get("Status") for b in ("never", "enabled", "paused")],
                         [None, "Enabled", "Suspended"], "versioning after kill -9")


def test_replication_needs_versioning_on_both_buckets():
    with Server() as server:
        s3 = server.client()
        make_buckets(s3, "vsrc", "vdst")
        config = {"Role": ROLE, "Rules": VERSIONED_RULES}
        set_versioning(s3, "vsrc", "Enabled")
        refused = "Destination bucket must have versioning enabled."
        for state in (None, "Suspended"):
            if state:
                set_versioning(s3, "vdst", state)
            try:
                s3.put_bucket_replication(Bucket="vsrc", ReplicationConfiguration=config)
                raise AssertionError("replication into a destination with versioning %s was accepted" % state)
            except ClientError as e:
                expect_equal((e.response["Error"]["Code"], e.response["Error"]["Message"]),
                             ("InvalidRequest", refused), "destination with versioning %s" % state)
        expect_equal(error_of(s3.get_bucket_replication, Bucket="vsrc"),
                     ("ReplicationConfigurationNotFoundError", 404), "nothing applied")
        set_versioning(s3, "vdst", "Enabled")
        set_versioning(s3, "vsrc", "Suspended")
        try:
            s3.put_bucket_replication(Bucket="vsrc", ReplicationConfiguration=config)
            raise AssertionError("replication from a Suspended source was accepted")
        except ClientError as e:
            expect_equal((e.response["Error"]["Code"], e.response["Error"]["Message"]),
                         ("InvalidRequest",
                          "Versioning must be 'Enabled' on the bucket to apply a replication configuration"),
                         "a Suspended source")
        set_versioning(s3, "vsrc", "Enabled")
        s3.put_bucket_replication(Bucket="vsrc", ReplicationConfiguration=config)
        expect_equal(len(s3.get_bucket_replication(Bucket="vsrc")["ReplicationConfiguration"]["Rules"]), 2,
                     "accepted once both have versioning Enabled")
        expect_equal(error_of(s3.put_bucket_versioning, Bucket="vsrc",
                              VersioningConfiguration={"Status": "Suspended"}),
                     ("InvalidBucketState", 409), "suspending a replicated source")
        s3.delete_bucket_replication(Bucket="vsrc")
        set_versioning(s3, "vsrc", "Suspended")
        expect_equal(s3.get_bucket_versioning(Bucket="vsrc").get("Status"), "Suspended",
                     "after DeleteBucketReplication")


def test_versions_replicate_with_their_version_ids():
    with Server() as server:
        s3 = server.client()
        configure_versioned(s3)
        ids = put_versions(s3, "on/k", 3)
        expect_equal(len(set(ids)), 3, "three distinct version IDs")
        for version_id in ids:
            wait_version_status(s3, "on/k", version_id, "COMPLETED")
        source = versions_of(s3, "vsrc")
        expect_equal([v[1] for v in source], ids[::-1], "source versions, newest first")
        expect_equal([v[2] for v in source], [True, False, False], "IsLatest at the source")
        expect_equal(versions_of(s3, "vdst"), source, "the destination's versions: same IDs, ETags, latest")
        for i, version_id in enumerate(ids):
            replica = s3.get_object(Bucket="vdst", Key="on/k", VersionId=version_id)
            expect_equal(replica["Body"].read(), b"on/k #%d" % i, "bytes of replica version %d" % i)
            expect_equal(replica.get("ReplicationStatus"), "REPLICA", "status of replica version %d" % i)
            expect_equal(replica["VersionId"], version_id, "the replica's version ID")
        current = s3.get_object(Bucket="vdst", Key="on/k")
        expect_equal((current["VersionId"], current["Body"].read()), (ids[2], b"on/k #2"), "the replica's latest")
        expect_equal(s3.get_object(Bucket="vsrc", Key="on/k")["VersionId"], ids[2], "the source's latest")


def test_each_version_reports_its_own_status():
    with Server("--slow-destination-ms", 1500) as server:
        s3 = server.client()
        configure_versioned(s3)
        first = put_versions(s3, "on/slow", 1)[0]
        expect_equal(version_status(s3, "vsrc", "on/slow", first), "PENDING", "the first version while it copies")
        wait_version_status(s3, "on/slow", first, "COMPLETED")
        second = put_versions(s3, "on/slow", 1)[0]
        expect_equal((version_status(s3, "vsrc", "on/slow", first), version_status(s3, "vsrc", "on/slow", second)),
                     ("COMPLETED", "PENDING"), "the first version done while the second copies")
        expect_equal(status(s3, "vsrc", "on/slow"), "PENDING", "HEAD without a version: the latest's status")
        wait_version_status(s3, "on/slow", second, "COMPLETED")
        expect_equal(version_status(s3, "vdst", "on/slow", second), "REPLICA", "the second replica")


def test_delete_markers_replicate_where_the_rule_says():
    with Server() as server:
        s3 = server.client()
        configure_versioned(s3)
        kept = {}
        for key in ("on/gone", "off/gone"):
            kept[key] = put_versions(s3, key, 1)[0]
            wait_version_status(s3, key, kept[key], "COMPLETED")
        markers = {}
        for key in ("on/gone", "off/gone"):
            deleted = s3.delete_object(Bucket="vsrc", Key=key)
            expect_equal(deleted.get("DeleteMarker"), True, "DeleteObject's x-amz-delete-marker")
            markers[key] = deleted["VersionId"]
            if markers[key] in (None, "null", kept[key]):
                raise AssertionError("the marker of %s has version ID %r" % (key, markers[key]))
            code, headers = error_headers(s3.get_object, Bucket="vsrc", Key=key)
            expect_equal((code, headers.get("x-amz-delete-marker")), (404, "true"), "GET of %s at the source" % key)
        wait_for(lambda: ("on/gone", markers["on/gone"], True, None) in versions_of(s3, "vdst"),
                 "the delete marker of on/gone at the destination")
        expect_equal(versions_of(s3, "vdst", "on/"), versions_of(s3, "vsrc", "on/"),
                     "on/gone at the destination: the replicated marker over the version")
        expect_equal([v[1:3] for v in versions_of(s3, "vdst", "on/")],
                     [(markers["on/gone"], True), (kept["on/gone"], False)], "on/gone's versions at the destination")
        code, headers = error_headers(s3.get_object, Bucket="vdst", Key="on/gone")
        expect_equal((code, headers.get("x-amz-delete-marker")), (404, "true"), "GET of on/gone at the destination")
        # DeleteMarkerReplication Disabled: no marker, the replica stays current.
        expect_equal([v[1:3] for v in versions_of(s3, "vdst", "off/")], [(kept["off/gone"], True)],
                     "off/gone at the destination")
        expect_equal(s3.get_object(Bucket="vdst", Key="off/gone")["Body"].read(), b"off/gone #0",
                     "off/gone's replica is still readable")
        code, headers = error_headers(s3.head_object, Bucket="vsrc", Key="on/gone", VersionId=markers["on/gone"])
        expect_equal((code, headers.get("x-amz-delete-marker")), (405, "true"), "HEAD of the marker version")
        # Removing the marker (a version delete) makes the version current again at the source only.
        removed = s3.delete_object(Bucket="vsrc", Key="on/gone", VersionId=markers["on/gone"])
        expect_equal((removed.get("DeleteMarker"), removed.get("VersionId")), (True, markers["on/gone"]),
                     "DeleteObject of the marker version")
        expect_equal(s3.get_object(Bucket="vsrc", Key="on/gone")["Body"].read(), b"on/gone #0", "after the marker")


def test_version_delete_is_not_replicated():
    with Server() as server:
        s3 = server.client()
        configure_versioned(s3)
        ids = put_versions(s3, "on/v", 2)
        for version_id in ids:
            wait_version_status(s3, "on/v", version_id, "COMPLETED")
        deleted = s3.delete_object(Bucket="vsrc", Key="on/v", VersionId=ids[0])
        expect_equal((deleted.get("VersionId"), deleted.get("DeleteMarker")), (ids[0], None), "a version delete")
        expect_equal(error_of(s3.head_object, Bucket="vsrc", Key="on/v", VersionId=ids[0]), ("404", 404),
                     "the deleted version at the source")
        expect_equal([v[1] for v in versions_of(s3, "vsrc")], [ids[1]], "the source keeps the other version")
        # A later version's copy has completed after the delete was acknowledged.
        third = put_versions(s3, "on/v", 1)[0]
        wait_version_status(s3, "on/v", third, "COMPLETED")
        expect_equal([v[1] for v in versions_of(s3, "vdst")], [third, ids[1], ids[0]],
                     "the destination keeps the deleted version")
        expect_equal(s3.get_object(Bucket="vdst", Key="on/v", VersionId=ids[0])["Body"].read(), b"on/v #0",
                     "the deleted version's replica")


def test_swept_version_statuses_stay_visible():
    with Server("--sweep-ttl", 1) as server:
        s3 = server.client()
        configure_versioned(s3)
        ids = put_versions(s3, "on/swept", 2)
        for version_id in ids:
            wait_version_status(s3, "on/swept", version_id, "COMPLETED")

        def swept():
            return sum(int(line.split()[1]) for line in server.output().splitlines() if line.startswith("swept "))

        wait_for(lambda: swept() >= 2, "the sweeper to drop both versions' entries")
        # Each version's outcome is kept beside that version.
        expect_equal([version_status(s3, "vsrc", "on/swept", v) for v in ids], ["COMPLETED", "COMPLETED"],
                     "each version's status after the sweep")


def test_kill9_mid_version_replication_then_restart():
    # The only snapshot is the first run's, from before any version: the
    # restart finds the versions and the marker PENDING from their files
    # alone and copies each with its ID.
    with data_directory() as data_dir:
        with Server(data_dir=data_dir) as server:
            configure_versioned(server.client())
            expect_equal(server.terminate(), 0, "exit status after SIGTERM")
        with crashed_mid_copy(data_dir, "--snapshot-interval-ms", 3600000) as s3:
            ids = put_versions(s3, "on/crash", 2)
            marker = s3.delete_object(Bucket="vsrc", Key="on/crash")["VersionId"]
            expect_equal([version_status(s3, "vsrc", "on/crash", v) for v in ids], ["PENDING", "PENDING"],
                         "before the crash")
        with Server(data_dir=data_dir) as server:
            s3 = server.client()
            for version_id in ids:
                wait_version_status(s3, "on/crash", version_id, "COMPLETED")
            wait_for(lambda: ("on/crash", marker, True, None) in versions_of(s3, "vdst"), "the delete marker's copy")
            expect_equal([v[1] for v in versions_of(s3, "vdst")], [marker, ids[1], ids[0]],
                         "the destination's versions after the restart")


def test_suspended_bucket_writes_the_null_version():
    with Server() as server:
        s3 = server.client()
        make_buckets(s3, "paused")
        set_versioning(s3, "paused", "Enabled")
        kept = s3.put_object(Bucket="paused", Key="k", Body=b"versioned")["VersionId"]
        set_versioning(s3, "paused", "Suspended")
        for body in (b"null 1", b"null 2"):  # the second replaces the first: one null version
            s3.put_object(Bucket="paused", Key="k", Body=body)
        expect_equal([v[1:3] for v in versions_of(s3, "paused")], [("null", True), (kept, False)],
                     "the null version over the older one")
        current = s3.get_object(Bucket="paused", Key="k")
        expect_equal((current["VersionId"], current["Body"].read()), ("null", b"null 2"), "GET of the null version")
        deleted = s3.delete_object(Bucket="paused", Key="k")
        expect_equal((deleted.get("DeleteMarker"), deleted.get("VersionId")), (True, "null"), "DELETE when Suspended")
        kept_etag = s3.head_object(Bucket="paused", Key="k", VersionId=kept)["ETag"]
        expect_equal([v[1:] for v in versions_of(s3, "paused")], [("null", True, None), (kept, False, kept_etag)],
                     "the null delete marker replaces the null version")
        expect_equal(error_of(s3.get_object, Bucket="paused", Key="k"), ("NoSuchKey", 404), "GET under the marker")
        expect_equal(s3.list_objects_v2(Bucket="paused").get("KeyCount"), 0, "ListObjectsV2 skips a deleted key")


def test_versions_and_statuses_survive_a_restart():
    with data_directory() as data_dir:
        # Every destination write fails until the restart: each version ends
        # FAILED, and the restart re-drives each to the destination with its ID.
        # SIGTERM: FAILED entries are in the shutdown snapshot.
        with Server("--fail-destination-percent", 100, data_dir=data_dir) as server:
            s3 = server.client()
            configure_versioned(s3)
            ids = put_versions(s3, "on/r", 2)
            done = put_versions(s3, "off/r", 1)
            for key, version_id in [("on/r", ids[0]), ("on/r", ids[1]), ("off/r", done[0])]:
                wait_version_status(s3, key, version_id, "FAILED")
            marker = s3.delete_object(Bucket="vsrc", Key="on/r")["VersionId"]
            marker_line = "replication vsrc/on/r version %s (delete marker) to vdst generation " % marker
            wait_for(lambda: any(line.startswith(marker_line) and ": Failed after" in line
                                 for line in server.output().splitlines()), "the delete marker's copy to fail")
            before = versions_of(s3, "vsrc")
            expect_equal(server.terminate(), 0, "exit status after SIGTERM")
        with Server(data_dir=data_dir) as server:
            s3 = server.client()
            expect_equal(versions_of(s3, "vsrc"), before, "the source's versions after a restart")
            for key, version_id in [("on/r", ids[0]), ("on/r", ids[1]), ("off/r", done[0])]:
                wait_version_status(s3, key, version_id, "COMPLETED")
                expect_equal(version_status(s3, "vdst", key, version_id), "REPLICA", "re-driven replica")
            wait_for(lambda: ("on/r", marker, True, None) in versions_of(s3, "vdst"), "the re-driven delete marker")
            expect_equal([v[1] for v in versions_of(s3, "vdst", "on/")], [marker, ids[1], ids[0]],
                         "the destination's versions of on/r")
        # A second restart: the statuses are kept beside the versions.
        with Server(data_dir=data_dir) as server:
            s3 = server.client()
            expect_equal([version_status(s3, "vsrc", "on/r", v) for v in ids], ["COMPLETED", "COMPLETED"],
                         "statuses after a second restart")
            expect_equal(error_headers(s3.get_object, Bucket="vsrc", Key="on/r")[0], 404, "the marker is current")
            expect_equal(s3.get_bucket_versioning(Bucket="vsrc").get("Status"), "Enabled", "versioning kept")


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


def run_tests(tests, wanted):
    """Runs `tests` (those named in `wanted`, if any), one PASS or FAIL line each; exits 1 on any failure."""
    passed = failed = 0
    for test in tests:
        if wanted and test.__name__ not in wanted:
            continue
        started = time.monotonic()
        try:
            test()
        except Exception as e:  # every failure is reported, then the next test runs
            failed += 1
            print("FAIL %s (%.1f s): %s" % (test.__name__, time.monotonic() - started, e), flush=True)
            traceback.print_exc(file=sys.stdout)
        else:
            passed += 1
            print("PASS %s (%.1f s)" % (test.__name__, time.monotonic() - started), flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)


def suite_main(usage, tests):
    """A suite's command line: `SUITE.py path/to/s3repl-s3-server [TEST...]` runs `tests` against that server."""
    global SERVER
    if len(sys.argv) < 2:
        sys.exit(usage)
    SERVER = os.path.abspath(sys.argv[1])
    run_tests(tests, sys.argv[2:])


def main():
    suite_main(__doc__, TESTS)


if __name__ == "__main__":
    main()
