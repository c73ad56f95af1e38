#!/usr/bin/env python3
"""GET /metrics of s3repl-s3-server, checked by Prometheus's own tools.

usage: test_prometheus.py path/to/s3repl-s3-server [test-name ...]

promtool (Debian package prometheus) lints the exposition; a real Prometheus
server, started here on a free loopback port with its own configuration and
data directory, scrapes the example server and is queried through its HTTP
API. Uses the Server class and the output format of test_s3_clients.py.
"""

import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse

import test_s3_clients as s3t
from test_s3_clients import Server, configure, expect_equal, wait_for, wait_status

PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
# Prometheus takes a few seconds to start and scrapes once a second; the
# polls below end as soon as the answer is there.
PROMETHEUS_DEADLINE_SECONDS = 120
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def need(binary):
    if not os.access(binary, os.X_OK):
        raise AssertionError("%s is missing: install the Debian package prometheus "
                             "(bash scripts/setup-deps.sh test)" % binary)


def scrape(server, token=None):
    """(HTTP status, Content-Type, body) of GET /metrics."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=s3t.DEADLINE_SECONDS)
    try:
        headers = {} if token is None else {"Authorization": "Bearer " + token}
        conn.request("GET", "/metrics", headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read().decode()
    finally:
        conn.close()


def replicate(server, count):
    """`count` PUTs that replicate, each waited for until COMPLETED."""
    s3 = server.client()
    configure(s3)
    for i in range(count):
        s3.put_object(Bucket="src", Key="docs/m-%d" % i, Body=b"metric %d" % i)
    for i in range(count):
        wait_status(s3, "src", "docs/m-%d" % i, "COMPLETED")


def private_file(directory, name, text):
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def free_port():
    # Prometheus takes an address, not a port 0: find one the OS considers
    # free. Another process could take it before Prometheus binds; the start
    # then fails with a clear message rather than a wrong result.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """A real Prometheus server scraping one s3repl-s3-server every second."""

    def __init__(self, target_port, token_file=None):
        need(PROMETHEUS)
        self.dir = tempfile.mkdtemp(prefix="s3repl-prometheus-test-")
        self.port = free_port()
        job = ["scrape_configs:",
               "  - job_name: s3repl",
               "    scrape_interval: 1s",
               "    scrape_timeout: 1s",
               "    static_configs:",
               "      - targets: ['127.0.0.1:%d']" % target_port]
        if token_file:
            job += ["    authorization:", "      credentials_file: %s" % json.dumps(token_file)]
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(["global:", "  scrape_interval: 1s"] + job) + "\n")
        self.log_path = os.path.join(self.dir, "prometheus.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + self.config, "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT)

    def output(self):
        with open(self.log_path, "r", errors="replace") as f:
            return f.read()

    def get(self, path):
        """The decoded JSON of a GET, or None while Prometheus is not answering."""
        if self.proc.poll() is not None:
            raise AssertionError("prometheus exited with %s:\n%s" % (self.proc.returncode, self.output()))
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=s3t.DEADLINE_SECONDS)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            return json.loads(body) if response.status == 200 else None
        except (OSError, ValueError):
            return None
        finally:
            conn.close()

    def value(self, query):
        """The single sample's value of an instant query, or None while it has none."""
        answer = self.get("/api/v1/query?query=" + urllib.parse.quote(query))
        if not answer or answer.get("status") != "success" or len(answer["data"]["result"]) != 1:
            return None
        return answer["data"]["result"][0]["value"][1]

    def wait_value(self, query, wanted):
        seen = []

        def probe():
            seen[:] = [self.value(query)]
            return seen[0] == wanted

        try:
            wait_for(probe, "%s to be %s" % (query, wanted), PROMETHEUS_DEADLINE_SECONDS)
        except AssertionError as e:
            raise AssertionError("%s (last seen: %s)\n%s" % (e, seen[0] if seen else None, self.output()))

    def close(self):
        s3t.stop_process(self.proc)  # by its PID, the one process this test started
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def expect_scraped(prometheus, completed):
    prometheus.wait_value('up{job="s3repl"}', "1")
    prometheus.wait_value('s3repl_replications_total{result="completed"}', str(completed))
    prometheus.wait_value('s3repl_replications_total{result="failed"}', "0")
    prometheus.wait_value('s3repl_replication_attempts_count', str(completed))
    prometheus.wait_value('s3repl_entries{status="completed"}', str(completed))


# ---- tests --------------------------------------------------------------------


def test_promtool_finds_nothing_in_the_metrics():
    need(PROMTOOL)
    with Server("--fail-destination-bucket", "dst2") as server:
        replicate(server, 3)
        s3 = server.client()
        s3.put_object(Bucket="src", Key="logs/doomed", Body=b"x", Tagging="team=blue")
        wait_status(s3, "src", "logs/doomed", "FAILED")
        code, content_type, body = scrape(server)
        expect_equal((code, content_type), (200, METRICS_CONTENT_TYPE), "GET /metrics")
        for line in ['s3repl_replications_total{result="completed"} 3',
                     's3repl_replications_total{result="failed"} 1',
                     's3repl_replication_attempts_count 4']:
            if line not in body.splitlines():
                raise AssertionError("no line %r in /metrics:\n%s" % (line, body))
        lint = subprocess.run([PROMTOOL, "check", "metrics"], input=body.encode(), capture_output=True)
        if lint.returncode != 0 or lint.stdout.strip() or lint.stderr.strip():
            raise AssertionError("promtool check metrics (status %d):\n%s%s\non:\n%s" % (
                lint.returncode, lint.stdout.decode(), lint.stderr.decode(), body))
        # The path is the endpoint's, so the name is no bucket's.
        expect_equal(s3t.error_of(s3.create_bucket, Bucket="metrics"), ("InvalidBucketName", 400),
                     "CreateBucket metrics")


def test_metrics_token_is_required_when_configured():
    secrets = tempfile.mkdtemp(prefix="s3repl-s3-test-secret-")
    try:
        token_file = private_file(secrets, "token", "s3cr3t-token\n")
        with Server("--metrics-token-file", token_file) as server:
            expect_equal(scrape(server)[0], 401, "GET /metrics without a token")
            expect_equal(scrape(server, "wrong-token")[0], 403, "GET /metrics with a wrong token")
            expect_equal(scrape(server, "s3cr3t-token-and-more")[0], 403, "GET /metrics with a longer token")
            code, content_type, body = scrape(server, "s3cr3t-token")
            expect_equal((code, content_type), (200, METRICS_CONTENT_TYPE), "GET /metrics with the token")
            if "s3repl_entries" not in body:
                raise AssertionError("no metrics with the right token:\n" + body)
            # The S3 API is not behind the metrics token.
            server.client().create_bucket(Bucket="open")
        # A token others may read is refused at start-up, and so is an empty one.
        os.chmod(token_file, 0o640)
        for path, why in [(token_file, "group or others may access it (mode 0640)"),
                          (private_file(secrets, "empty", "\n"), "the file holds no token"),
                          (os.path.join(secrets, "absent"), "No such file")]:
            run = subprocess.run([s3t.SERVER, "--data-dir", os.path.join(secrets, "data"), "--credentials",
                                  s3t.credentials_file(), "--metrics-token-file", path],
                                 capture_output=True, timeout=s3t.DEADLINE_SECONDS)
            if run.returncode == 0 or why not in run.stderr.decode():
                raise AssertionError("expected a refusal naming %r, got status %d:\n%s" % (
                    why, run.returncode, run.stderr.decode()))
    finally:
        shutil.rmtree(secrets, ignore_errors=True)


def test_prometheus_scrapes_the_replications():
    with Server() as server:
        with Prometheus(server.port) as prometheus:
            replicate(server, 4)
            expect_scraped(prometheus, 4)


def test_prometheus_scrapes_with_the_bearer_token():
    secrets = tempfile.mkdtemp(prefix="s3repl-s3-test-secret-")
    try:
        token_file = private_file(secrets, "token", "prom-scrape-token\n")
        with Server("--metrics-token-file", token_file) as server:
            with Prometheus(server.port, token_file) as prometheus:
                replicate(server, 2)
                expect_scraped(prometheus, 2)
    finally:
        shutil.rmtree(secrets, ignore_errors=True)


def main():
    s3t.suite_main(__doc__, [v for k, v in globals().items() if k.startswith("test_")])


if __name__ == "__main__":
    main()
