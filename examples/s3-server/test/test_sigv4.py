#!/usr/bin/env python3
"""AWS Signature Version 4 on s3repl-s3-server, checked with boto3.

usage: test_sigv4.py path/to/s3repl-s3-server [test-name ...]

The right key works; a wrong secret, an unknown key, an unsigned request, a
skewed clock, an expired presigned URL and a tampered aws-chunked upload are
refused as S3 refuses them, and refused requests store nothing; a credentials
file others may read, or none at all, stops the server at start-up. Uses the
Server class and the output format of test_s3_clients.py.
"""

import datetime
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import boto3
from botocore import UNSIGNED
from botocore.config import Config

import sigv4_client
import test_s3_clients as s3t
from test_s3_clients import Server, error_of, expect_equal


def client(server, key=sigv4_client.ACCESS_KEY_ID, secret=sigv4_client.SECRET_ACCESS_KEY, **config):
    return boto3.client(
        "s3", endpoint_url="http://127.0.0.1:%d" % server.port, region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config))


def fetch(url, method="GET", data=None):
    """(status, body) of a plain HTTP request (no signing of its own)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def code_of(body):
    return ET.fromstring(body).findtext("Code")


def test_the_right_key_works_and_others_do_not():
    with Server() as server:
        s3 = client(server)
        s3.create_bucket(Bucket="bkt")
        s3.put_object(Bucket="bkt", Key="k", Body=b"signed")
        expect_equal(s3.get_object(Bucket="bkt", Key="k")["Body"].read(), b"signed", "GET with the right key")
        expect_equal(error_of(client(server, secret="wrong-secret").get_object, Bucket="bkt", Key="k"),
                     ("SignatureDoesNotMatch", 403), "GET with a wrong secret")
        expect_equal(error_of(client(server, secret="wrong-secret").put_object, Bucket="bkt", Key="w", Body=b"x"),
                     ("SignatureDoesNotMatch", 403), "PUT with a wrong secret")
        expect_equal(error_of(client(server, key="unknown-key").list_buckets), ("InvalidAccessKeyId", 403),
                     "ListBuckets with an unknown key")
        expect_equal(error_of(s3.head_object, Bucket="bkt", Key="w")[1], 404, "a refused PUT stores nothing")


def test_unsigned_requests_are_denied():
    with Server() as server:
        s3 = client(server)
        s3.create_bucket(Bucket="bkt")
        anonymous = client(server, signature_version=UNSIGNED)
        expect_equal(error_of(anonymous.put_object, Bucket="bkt", Key="k", Body=b"x"), ("AccessDenied", 403),
                     "an unsigned boto3 PUT")
        expect_equal(error_of(anonymous.list_objects_v2, Bucket="bkt"), ("AccessDenied", 403), "an unsigned listing")
        status, body = fetch("http://127.0.0.1:%d/bkt/raw" % server.port, "PUT", b"raw")
        expect_equal((status, code_of(body)), (403, "AccessDenied"), "a raw unsigned PUT")
        expect_equal(error_of(s3.head_object, Bucket="bkt", Key="k")[1], 404, "the unsigned PUT stored nothing")
        # GET /metrics has its own (bearer token) protection, not SigV4.
        expect_equal(fetch("http://127.0.0.1:%d/metrics" % server.port)[0], 200, "an unsigned GET /metrics")


def test_presigned_get_and_put_work_then_expire():
    with Server() as server:
        s3 = client(server, signature_version="s3v4")
        s3.create_bucket(Bucket="bkt")
        put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "bkt", "Key": "up/loaded file"},
                                            ExpiresIn=300)
        expect_equal(fetch(put_url, "PUT", b"via a presigned PUT")[0], 200, "a presigned PUT")
        get_url = s3.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "up/loaded file"},
                                            ExpiresIn=300)
        expect_equal(fetch(get_url), (200, b"via a presigned PUT"), "a presigned GET")
        status, body = fetch(get_url.replace("up/loaded", "up/other"))
        expect_equal((status, code_of(body)), (403, "SignatureDoesNotMatch"), "a presigned URL for another key")

        short = s3.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "up/loaded file"}, ExpiresIn=1)
        short_put = s3.generate_presigned_url("put_object", Params={"Bucket": "bkt", "Key": "late"}, ExpiresIn=1)
        time.sleep(2.5)  # to let the URLs' one second pass, not a timed assertion
        for url, method, data in [(short, "GET", None), (short_put, "PUT", b"too late")]:
            status, body = fetch(url, method, data)
            error = ET.fromstring(body)
            expect_equal((status, error.findtext("Code"), error.findtext("Message")),
                         (403, "AccessDenied", "Request has expired"), "an expired presigned " + method)
        expect_equal(error_of(s3.head_object, Bucket="bkt", Key="late")[1], 404, "an expired PUT stores nothing")

        # boto3's default presigning for us-east-1 is SigV2, which the server does not take.
        legacy = client(server).generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "up/loaded file"})
        status, body = fetch(legacy)
        expect_equal((status, code_of(body)), (400, "InvalidRequest"), "a SigV2 presigned URL")


def test_a_skewed_clock_is_refused():
    with Server() as server:
        s3 = client(server)
        s3.create_bucket(Bucket="bkt")
        with sigv4_client.clock_shifted(datetime.timedelta(minutes=-20)):
            expect_equal(error_of(s3.put_object, Bucket="bkt", Key="k", Body=b"x"), ("RequestTimeTooSkewed", 403),
                         "a PUT signed 20 minutes ago")
        with sigv4_client.clock_shifted(datetime.timedelta(minutes=20)):
            expect_equal(error_of(s3.list_buckets), ("RequestTimeTooSkewed", 403), "a request signed 20 minutes ahead")
        with sigv4_client.clock_shifted(datetime.timedelta(minutes=-10)):
            s3.put_object(Bucket="bkt", Key="k", Body=b"ten minutes is within the skew")
        expect_equal(s3.get_object(Bucket="bkt", Key="k")["Body"].read(), b"ten minutes is within the skew",
                     "a PUT signed 10 minutes ago")


def test_signed_payloads_are_checked():
    with Server() as server:
        client(server).create_bucket(Bucket="bkt")
        port = server.port
        chunks = [b"a" * 8192, b"second chunk"]
        headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(sum(map(len, chunks)))}
        signed = sigv4_client.sign(port, "PUT", "/bkt/chunked", headers=headers,
                                   payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        body = sigv4_client.chunk_signed_body(signed, chunks)
        expect_equal(sigv4_client.send(port, "PUT", "/bkt/chunked", body, signed)[0], 200, "a chunk-signed upload")
        expect_equal(client(server).get_object(Bucket="bkt", Key="chunked")["Body"].read(), b"".join(chunks),
                     "the chunk-signed object")

        signed = sigv4_client.sign(port, "PUT", "/bkt/tampered", headers=headers,
                                   payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        body = sigv4_client.chunk_signed_body(signed, chunks).replace(b"second", b"SECOND")
        status, error = sigv4_client.send(port, "PUT", "/bkt/tampered", body, signed)
        expect_equal((status, error.findtext("Code")), (403, "SignatureDoesNotMatch"), "a tampered chunk")
        expect_equal(error_of(client(server).head_object, Bucket="bkt", Key="tampered")[1], 404,
                     "a tampered upload stores nothing")

        signed = sigv4_client.sign(port, "PUT", "/bkt/hashed", b"the signed body")
        status, error = sigv4_client.send(port, "PUT", "/bkt/hashed", b"another body!!!", signed)
        expect_equal((status, error.findtext("Code")), (400, "XAmzContentSHA256Mismatch"), "a body its hash misses")
        expect_equal(error_of(client(server).head_object, Bucket="bkt", Key="hashed")[1], 404,
                     "a mismatched body stores nothing")
        expect_equal(sigv4_client.signed_request(port, "PUT", "/bkt/unsigned-payload", b"x", payload="UNSIGNED-PAYLOAD")[0],
                     200, "UNSIGNED-PAYLOAD")


def start_refused(*flags):
    """The exit status and stderr of a server start expected to fail."""
    data_dir = tempfile.mkdtemp(prefix="s3repl-s3-test-")
    try:
        run = subprocess.run([s3t.SERVER, "--port", "0", "--data-dir", os.path.join(data_dir, "data")] + list(flags),
                             capture_output=True, timeout=s3t.DEADLINE_SECONDS)
        return run.returncode, run.stderr.decode()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_credentials_files_the_server_refuses():
    secrets = tempfile.mkdtemp(prefix="s3repl-s3-test-secret-")
    try:
        def credentials(name, text, mode):
            path = os.path.join(secrets, name)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, mode)
            return path

        for path, why in [(credentials("world", "dummy-key:dummy-secret\n", 0o644),
                           "group or others may access it (mode 0644); make it private with chmod 600"),
                          (credentials("bad-line", "# keys\ndummy-key:dummy-secret\nno-colon\n", 0o600),
                           "bad-line:3: expected ACCESS_KEY_ID:SECRET_ACCESS_KEY"),
                          (credentials("twice", "a:1\na:2\n", 0o600), "twice:2: access key ID 'a' is listed twice"),
                          (os.path.join(secrets, "absent"), "No such file")]:
            status, stderr = start_refused("--credentials", path)
            if status == 0 or why not in stderr:
                raise AssertionError("expected a refusal naming %r, got status %d:\n%s" % (why, status, stderr))
        status, stderr = start_refused()
        if status == 0 or "--credentials FILE is required (or --allow-anonymous" not in stderr:
            raise AssertionError("a start without credentials: status %d:\n%s" % (status, stderr))
    finally:
        shutil.rmtree(secrets, ignore_errors=True)


def test_allow_anonymous_lets_unsigned_requests_in():
    with Server("--allow-anonymous") as server:
        if "--allow-anonymous without --credentials: s3repl-s3-server does NOT" not in server.output():
            raise AssertionError("no warning for an anonymous server:\n" + server.output())
        anonymous = client(server, signature_version=UNSIGNED)
        anonymous.create_bucket(Bucket="open")
        anonymous.put_object(Bucket="open", Key="k", Body=b"anyone")
        expect_equal(client(server, key="whoever", secret="whatever").get_object(Bucket="open", Key="k")["Body"].read(),
                     b"anyone", "any key on an anonymous server")


def main():
    s3t.suite_main(__doc__, [v for k, v in globals().items() if k.startswith("test_")])


if __name__ == "__main__":
    main()
