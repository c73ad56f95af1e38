"""SigV4 for the tests' hand-made requests, signed by botocore's own signer.

The real-client suites send a few requests boto3 would not build (malformed
XML, aws-chunked framing); against a server that checks signatures they must
be signed too. botocore signs them (S3SigV4Auth), so nothing here
re-implements the signature; only the aws-chunked chunk signatures, which
botocore does not produce, are computed here with hmac and hashlib.
"""

import contextlib
import datetime
import hashlib
import hmac
import http.client
import importlib
import types
import xml.etree.ElementTree as ET

import botocore.auth
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY_ID = "dummy-key"
SECRET_ACCESS_KEY = "dummy-secret"
REGION = "us-east-1"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def sign(port, method, path, body=b"", headers=None, payload=None, key=ACCESS_KEY_ID, secret=SECRET_ACCESS_KEY):
    """The headers (a dict) of `method path` signed for the server on `port`.

    `path` is sent as given (already URI-encoded). `payload`: the
    x-amz-content-sha256 to sign instead of the body's SHA-256 (e.g.
    UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD)."""
    request = AWSRequest(method=method, url="http://127.0.0.1:%d%s" % (port, path), data=body,
                         headers=dict(headers or {}))
    auth = S3SigV4Auth(Credentials(key, secret), "s3", REGION)
    if payload is not None:
        auth.payload = lambda _request: payload
    auth.add_auth(request)
    return dict(request.headers.items())


def send(port, method, path, body=b"", headers=None):
    """(status, parsed XML body or None) of one request on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, (ET.fromstring(data) if data.startswith(b"<") else None)
    finally:
        connection.close()


def signed_request(port, method, path, body=b"", headers=None, payload=None):
    """send() of a request signed with the suites' key."""
    return send(port, method, path, body, sign(port, method, path, body, headers, payload))


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256)


def chunk_signed_body(signed_headers, chunks):
    """The aws-chunked body of STREAMING-AWS4-HMAC-SHA256-PAYLOAD `chunks`
    (a list of bytes; the final empty chunk is added), each chunk signed in
    a chain from the seed signature in `signed_headers` (from sign())."""
    timestamp = signed_headers["X-Amz-Date"]
    scope = "%s/%s/s3/aws4_request" % (timestamp[:8], REGION)
    key = ("AWS4" + SECRET_ACCESS_KEY).encode()
    for part in (timestamp[:8], REGION, "s3", "aws4_request"):
        key = _hmac(key, part).digest()
    previous = signed_headers["Authorization"].rsplit("Signature=", 1)[1]
    body = b""
    for chunk in list(chunks) + [b""]:
        string_to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", timestamp, scope, previous, EMPTY_SHA256,
                                    hashlib.sha256(chunk).hexdigest()])
        previous = _hmac(key, string_to_sign).hexdigest()
        body += b"%x;chunk-signature=%s\r\n%s\r\n" % (len(chunk), previous.encode(), chunk)
    return body


def _signing_modules():
    """botocore's signer, and the AWS CRT's that botocore uses instead when
    awscrt is installed (as Debian's python3-awscrt is)."""
    modules = [botocore.auth]
    try:
        modules.append(importlib.import_module("botocore.crt.auth"))
    except ImportError:
        pass
    return modules


@contextlib.contextmanager
def clock_shifted(delta):
    """botocore signs as if its clock were `delta` (a timedelta) off."""

    class ShiftedDatetime(datetime.datetime):  # botocore < 1.32 calls datetime.datetime.utcnow()
        @classmethod
        def utcnow(cls):
            return datetime.datetime.utcnow() + delta

    saved = []
    for module in _signing_modules():
        if hasattr(module, "get_current_datetime"):  # botocore >= 1.32
            original = module.get_current_datetime
            saved.append((module, "get_current_datetime", original))
            module.get_current_datetime = lambda *args, original=original, **kwargs: original(*args, **kwargs) + delta
        else:
            saved.append((module, "datetime", module.datetime))
            module.datetime = types.SimpleNamespace(datetime=ShiftedDatetime, timezone=datetime.timezone)
    try:
        yield
    finally:
        for module, name, value in reversed(saved):
            setattr(module, name, value)
