#!/usr/bin/env python3
"""Malformed requests against s3repl-s3-server, over raw sockets.

usage: test_malformed.py path/to/s3repl-s3-server [test-name ...]

Each case sends bytes no well-behaved client would (torn bodies, broken
chunk framing, oversize headers, a Content-Length that lies, bad XML, keys
with NUL or invalid UTF-8, paths with ..) and checks what S3 does: an S3
error (4xx with an XML body), or for a key S3 keeps literally (a/../b) that
literal key; never a 5xx. After every case the same server must still
answer a normal request, and no file may have appeared outside its data
directory (run.sh runs this under ASan+UBSan too, where a memory error ends
the server). Output as test_s3_clients.py's.
"""

import os
import socket
import xml.etree.ElementTree as ET

import test_s3_clients as suite
from test_s3_clients import DEADLINE_SECONDS, expect_equal

BUCKET = "battery"


def anonymous_flags():
    """The flag that lets unsigned requests in, when the server has one."""
    usage = suite.subprocess.run([suite.SERVER, "--help"], capture_output=True, text=True).stdout
    return ["--allow-anonymous"] if "--allow-anonymous" in usage else []


def parse_responses(data):
    """[(status, headers, body)] of the responses in `data`, 1xx skipped."""
    responses = []
    while data:
        head, separator, rest = data.partition(b"\r\n\r\n")
        if not separator:
            raise AssertionError("a response without the end of its header: %r" % data[:200])
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body, data = rest[:length], rest[length:]
        if status >= 200:
            responses.append((status, headers, body))
    return responses


def exchange(server, raw, ending="wait"):
    """Sends `raw` and returns the parsed responses read until the server
    closes. `ending`: "wait" reads at once, "half-close" first ends the
    sending side (the server sees the end of the bytes), "close" closes the
    connection without reading anything."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE_SECONDS) as sock:
        sock.sendall(raw)
        if ending == "close":
            return []
        if ending == "half-close":
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    return parse_responses(data)


def request(method, path, body=b"", headers=(), close=True):
    """A request's bytes; Content-Length from the body unless `headers` has one."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    lines += ["%s: %s" % pair for pair in headers]
    names = {name.lower() for name, _ in headers}
    if (body or method == "PUT") and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def expect_s3_error(response, code, what):
    status, headers, body = response
    if not 400 <= status < 500:
        raise AssertionError("%s: expected a 4xx, got %d %r" % (what, status, body[:200]))
    try:
        got = ET.fromstring(body).findtext("Code")
    except ET.ParseError:
        raise AssertionError("%s: %d without an XML error body: %r" % (what, status, body[:200]))
    if code is not None:
        expect_equal(got, code, "%s: the error code" % what)


def expect_one_error(server, raw, code, what, ending="wait"):
    responses = exchange(server, raw, ending)
    expect_equal(len(responses), 1, "%s: responses" % what)
    expect_s3_error(responses[0], code, what)


def get(server, path):
    """(status, body) of a GET over a fresh connection."""
    responses = exchange(server, request("GET", path))
    expect_equal(len(responses), 1, "GET %s: responses" % path)
    return responses[0][0], responses[0][2]


def tree(root):
    """Every path under `root`, relative to it."""
    paths = set()
    for directory, subdirectories, files in os.walk(root):
        for name in subdirectories + files:
            paths.add(os.path.relpath(os.path.join(directory, name), root))
    return paths


class Battery:
    """One server for every case, checked after each."""

    def __enter__(self):
        self.server = suite.Server(*anonymous_flags()).start()
        status = exchange(self.server, request("PUT", "/" + BUCKET))[0][0]
        expect_equal(status, 200, "CreateBucket")
        self.root = self.server.data_dir  # holds data/ and the server's log
        self.outside = {p for p in tree(self.root) if not p.startswith("data" + os.sep) and p != "data"}
        return self

    def __exit__(self, *exc):
        self.server.close()

    def check_still_serving(self, what):
        if self.server.proc.poll() is not None:
            raise AssertionError("%s: the server died (status %s):\n%s" %
                                 (what, self.server.proc.returncode, self.server.output()[-3000:]))
        expect_equal(get(self.server, "/" + BUCKET + "?list-type=2")[0], 200, "%s: a normal request after it" % what)
        outside = {p for p in tree(self.root) if not p.startswith("data" + os.sep) and p != "data"}
        expect_equal(outside - self.outside, set(), "%s: files outside the data directory" % what)
        data = os.path.join(self.root, "data")
        expect_equal(set(os.listdir(data)) - {"buckets", "locks", "tmp", "snapshot.json"}, set(),
                     "%s: the data directory's top level" % what)
        expect_equal(set(os.listdir(os.path.join(data, "buckets"))), {BUCKET}, "%s: buckets" % what)


def stored(battery, key_path):
    return get(battery.server, "/%s/%s" % (BUCKET, key_path))


# ---- tests --------------------------------------------------------------------


def test_truncated_bodies():
    with Battery() as battery:
        head = request("PUT", "/%s/torn" % BUCKET, headers=[("Content-Length", "100")])
        # The client ends its side and waits for the answer.
        expect_one_error(battery.server, head + b"ten bytes.", "IncompleteBody", "a body 90 bytes short", "half-close")
        battery.check_still_serving("a body 90 bytes short")
        # The client closes without waiting.
        exchange(battery.server, head + b"ten bytes.", "close")
        battery.check_still_serving("a torn body, then the client gone")
        expect_equal(stored(battery, "torn")[0], 404, "a torn PUT stores nothing")


def test_bad_http_chunk_framing():
    cases = {
        "a chunk size that is not hex": b"zz\r\nhello\r\n0\r\n\r\n",
        "a chunk longer than its size": b"5\r\nhello, world\r\n0\r\n\r\n",
        "a chunk size too large to hold": b"ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    }
    with Battery() as battery:
        for what, body in cases.items():
            raw = request("PUT", "/%s/chunked" % BUCKET, body, [("Transfer-Encoding", "chunked")])
            expect_one_error(battery.server, raw, None, what)
            battery.check_still_serving(what)
        # The last chunk never comes.
        raw = request("PUT", "/%s/chunked" % BUCKET, b"5\r\nhello\r\n", [("Transfer-Encoding", "chunked")])
        expect_one_error(battery.server, raw, "IncompleteBody", "no last chunk", "half-close")
        battery.check_still_serving("no last chunk")
        expect_equal(stored(battery, "chunked")[0], 404, "a broken chunked PUT stores nothing")
        # Both framings at once is how requests are smuggled: refused.
        raw = request("PUT", "/%s/chunked" % BUCKET, b"5\r\nhello\r\n0\r\n\r\n",
                      [("Transfer-Encoding", "chunked"), ("Content-Length", "3")])
        expect_one_error(battery.server, raw, None, "Transfer-Encoding and Content-Length")
        raw = request("PUT", "/%s/chunked" % BUCKET, b"hello", [("Content-Length", "5"), ("Content-Length", "6")])
        expect_one_error(battery.server, raw, None, "two Content-Lengths that differ")
        battery.check_still_serving("smuggling framings")
        expect_equal(stored(battery, "chunked")[0], 404, "a doubly framed PUT stores nothing")


def test_bad_aws_chunked_framing():
    aws = [("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"), ("Content-Encoding", "aws-chunked")]
    cases = {
        "a size that is not hex": (b"zz\r\nhello\r\n0\r\n\r\n", aws),
        "a chunk shorter than its size": (b"ff\r\nshort\r\n", aws),
        "no CRLF after a size": (b"5", aws),
        "a decoded length that lies": (b"5\r\nhello\r\n0\r\n\r\n", aws + [("x-amz-decoded-content-length", "6")]),
    }
    with Battery() as battery:
        for what, (body, headers) in cases.items():
            expect_one_error(battery.server, request("PUT", "/%s/aws" % BUCKET, body, headers), "IncompleteBody", what)
            battery.check_still_serving(what)
        expect_equal(stored(battery, "aws")[0], 404, "a broken aws-chunked PUT stores nothing")


def test_oversize_headers():
    with Battery() as battery:
        one_big = request("GET", "/%s/k" % BUCKET, headers=[("x-amz-meta-big", "v" * 9000)])
        expect_one_error(battery.server, one_big, "RequestHeaderSectionTooLarge", "one 9000-byte header")
        battery.check_still_serving("one 9000-byte header")
        many = request("PUT", "/%s/k" % BUCKET, b"body",
                       [("x-amz-meta-m%d" % i, "v" * 90) for i in range(100)])
        expect_one_error(battery.server, many, "RequestHeaderSectionTooLarge", "100 headers of 100 bytes")
        battery.check_still_serving("100 headers of 100 bytes")
        target = request("GET", "/%s/%s" % (BUCKET, "k" * 9000))
        expect_one_error(battery.server, target, "RequestHeaderSectionTooLarge", "a 9000-byte target")
        battery.check_still_serving("a 9000-byte target")
        # Refused from the Content-Length alone, before a byte of the body.
        huge = request("PUT", "/%s/k" % BUCKET, headers=[("Content-Length", str(4 << 30))])
        expect_one_error(battery.server, huge, "EntityTooLarge", "a 4 GiB Content-Length")
        battery.check_still_serving("a 4 GiB Content-Length")
        expect_equal(stored(battery, "k")[0], 404, "oversize requests store nothing")


def test_content_length_that_lies():
    with Battery() as battery:
        # Shorter than the body: the rest is the next request, which is
        # not one (400), and the first PUT stores exactly its 5 bytes.
        raw = request("PUT", "/%s/short" % BUCKET, b"hello", [("Content-Length", "5")], close=False)
        responses = exchange(battery.server, raw + b"world and more\r\n\r\n")
        expect_equal(len(responses), 2, "responses to a PUT and its leftover bytes")
        expect_equal(responses[0][0], 200, "the PUT")
        expect_s3_error(responses[1], "BadRequest", "the leftover bytes as a request")
        battery.check_still_serving("a short Content-Length")
        expect_equal(stored(battery, "short"), (200, b"hello"), "the object")
        # The leftover bytes are a whole request: served as one, in order.
        raw = request("PUT", "/%s/pipelined" % BUCKET, b"first", close=False)
        responses = exchange(battery.server, raw + request("GET", "/%s/pipelined" % BUCKET))
        expect_equal([(status, body) for status, _, body in responses], [(200, b""), (200, b"first")],
                     "a PUT and a pipelined GET")
        battery.check_still_serving("a pipelined request")
        # Not a number, or negative.
        for lie in ("five", "-5", "5, 6"):
            raw = request("PUT", "/%s/nan" % BUCKET, b"hello", [("Content-Length", lie)])
            expect_one_error(battery.server, raw, None, "Content-Length: " + lie)
            battery.check_still_serving("Content-Length: " + lie)
        expect_equal(stored(battery, "nan")[0], 404, "a PUT with a bad Content-Length stores nothing")


def test_garbage_requests():
    cases = {
        "not HTTP": b"HELLO\r\n\r\n",
        "a bad version": b"GET / HTTP/9\r\n\r\n",
        "a header without a colon": b"GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",
        "a NUL in a header value": b"GET / HTTP/1.1\r\nx-amz-meta-a: b\x00c\r\n\r\n",
        "binary noise": bytes(range(256)) + b"\r\n\r\n",
    }
    with Battery() as battery:
        for what, raw in cases.items():
            expect_one_error(battery.server, raw, None, what)
            battery.check_still_serving(what)
        for what, raw, code in (
                ("an asterisk target", request("GET", "*"), "InvalidURI"),
                ("an absolute target", request("GET", "http://127.0.0.1/%s" % BUCKET), "InvalidURI"),
                ("a broken percent-escape", request("GET", "/%s/a%%zz" % BUCKET), "InvalidURI"),
                ("a truncated percent-escape", request("GET", "/%s/a%%4" % BUCKET), "InvalidURI"),
                ("an unknown method", request("PATCH", "/%s/k" % BUCKET, b"x"), "MethodNotAllowed")):
            expect_one_error(battery.server, raw, code, what)
            battery.check_still_serving(what)


def test_header_values_cannot_inject_headers():
    with Battery() as battery:
        # An obsolete line folding is one value (RFC 9110 lets a server
        # replace the fold by spaces); it never becomes a header of its own.
        raw = request("PUT", "/%s/folded" % BUCKET, b"x", [("x-amz-meta-a", "one\r\n Injected: two")])
        expect_equal(exchange(battery.server, raw)[0][0], 200, "PUT with a folded value")
        responses = exchange(battery.server, request("HEAD", "/%s/folded" % BUCKET))
        headers = responses[0][1]
        expect_equal((headers.get("x-amz-meta-a"), "injected" in headers), ("one Injected: two", False),
                     "the folded value on HEAD")
        battery.check_still_serving("a folded header value")
        for what, value in (("a bare CR", b"one\rInjected: two"), ("a bare LF", b"one\nInjected: two")):
            raw = (b"PUT /%s/bare HTTP/1.1\r\nHost: 127.0.0.1\r\nx-amz-meta-a: " % BUCKET.encode() + value +
                   b"\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx")
            responses = exchange(battery.server, raw)
            expect_equal(len(responses), 1, what + ": responses")
            if responses[0][0] != 200:
                expect_s3_error(responses[0], None, "a header value with " + what)
            battery.check_still_serving("a header value with " + what)
            if responses[0][0] == 200:
                headers = exchange(battery.server, request("HEAD", "/%s/bare" % BUCKET))[0][1]
                expect_equal("injected" in headers, False, what + ": a header of its own on HEAD")


def test_invalid_xml_configurations():
    documents = [b"", b"<", b"not xml", b"<VersioningConfiguration><Status>", b"\xff\xfe<a/>",
                 b"<?xml version='1.0'?><!DOCTYPE a [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><a>&e;</a>"]
    with Battery() as battery:
        for document in documents:
            for query in ("replication", "versioning"):
                what = "PUT ?%s with %r" % (query, document[:30])
                raw = request("PUT", "/%s?%s" % (BUCKET, query), document, [("Content-Length", str(len(document)))])
                expect_one_error(battery.server, raw, None, what)
                battery.check_still_serving(what)
        status, body = get(battery.server, "/%s?versioning" % BUCKET)
        expect_equal(status, 200, "GetBucketVersioning")
        expect_equal(ET.fromstring(body).find("{*}Status"), None, "versioning after the refused PUTs")
        expect_equal(get(battery.server, "/%s?replication" % BUCKET)[0], 404, "replication after the refused PUTs")


def test_keys_with_nul_or_invalid_utf8():
    with Battery() as battery:
        for what, path in (("a NUL", "nul%00key"), ("a NUL at the end", "k%00"), ("a byte 0xFF", "bad%FFkey"),
                           ("a torn UTF-8 sequence", "torn%C3"), ("an overlong '/'", "over%C0%AFlong")):
            for method in ("PUT", "GET", "DELETE"):
                raw = request(method, "/%s/%s" % (BUCKET, path), b"x" if method == "PUT" else b"")
                expect_one_error(battery.server, raw, "InvalidURI", "%s %s" % (method, what))
            battery.check_still_serving(what)
        status, body = get(battery.server, "/%s?list-type=2" % BUCKET)
        expect_equal(ET.fromstring(body).findall("{*}Contents"), [], "keys after the refused PUTs")


def test_paths_with_dot_dot():
    with Battery() as battery:
        for what, raw, code in (
                ("a bucket named ..", request("PUT", "/.."), "InvalidBucketName"),
                ("a bucket named %2e%2e", request("PUT", "/%2e%2e"), "InvalidBucketName"),
                ("a bucket named .", request("PUT", "/."), "InvalidBucketName"),
                ("an object in bucket ..", request("PUT", "/../escape", b"x"), "NoSuchBucket"),
                ("an object in bucket %2e%2e", request("PUT", "/%2e%2e/escape", b"x"), "NoSuchBucket"),
                ("an object in bucket .", request("PUT", "/./escape", b"x"), "NoSuchBucket"),
                ("a listing of bucket ..", request("GET", "/..?list-type=2"), "NoSuchBucket"),
                ("a listing of bucket %2e%2e", request("GET", "/%2e%2e?list-type=2"), "NoSuchBucket"),
                ("a replication to bucket ..", request(
                    "PUT", "/%s?replication" % BUCKET,
                    b"<ReplicationConfiguration><Role>arn:aws:iam::1:role/r</Role><Rule><ID>x</ID>"
                    b"<Status>Enabled</Status><Priority>1</Priority><Filter/><DeleteMarkerReplication>"
                    b"<Status>Disabled</Status></DeleteMarkerReplication><Destination>"
                    b"<Bucket>arn:aws:s3:::..</Bucket></Destination></Rule></ReplicationConfiguration>"), None)):
            expect_one_error(battery.server, raw, code, what)
            battery.check_still_serving(what)
        # S3 keeps dot segments in a key as they are: a/../b is its own key.
        for key, path in (("a/../b", "a/../b"), ("../x", "../x"), ("../../up", "%2e%2e/%2E%2E/up"),
                          ("./c/.", "./c/.")):
            body = ("the object " + key).encode()
            responses = exchange(battery.server, request("PUT", "/%s/%s" % (BUCKET, path), body))
            expect_equal(responses[0][0], 200, "PUT " + path)
            expect_equal(stored(battery, path), (200, body), "GET " + path)
            battery.check_still_serving("the key " + key)
        expect_equal(stored(battery, "b")[0], 404, "a/../b is not b")
        status, body = get(battery.server, "/%s?list-type=2" % BUCKET)
        keys = sorted(node.findtext("{*}Key") for node in ET.fromstring(body).findall("{*}Contents"))
        expect_equal(keys, sorted(["a/../b", "../x", "../../up", "./c/."]), "ListObjectsV2")


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


def main():
    suite.suite_main(__doc__, TESTS)


if __name__ == "__main__":
    main()
