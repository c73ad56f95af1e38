#!/usr/bin/env python3
"""Two s3repl-s3-server processes on one data directory and one Redis.

usage: test_two_nodes.py path/to/s3repl-s3-server [test-name ...]

The data directory stands for shared object storage; the replication state
is in a real redis-server started here on a free loopback port, in its own
temporary directory, and stopped by its PID (the Debian package
redis-server is required). Each test runs its own pair of servers under its
own --redis-prefix on that one Redis. Uses the Server class and the output
format of test_s3_clients.py: one `PASS name` or `FAIL name: why` line per
test, then `N passed, M failed`.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import threading

import test_s3_clients as s3t
from test_prometheus import free_port, scrape
from test_s3_clients import Server, configure, expect_equal, status, wait_for, wait_status

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
# A re-drive waits for --redrive-after-ms, checked every half of it, on the
# manager's clock (to the second): the polls below allow for all of that.
REDRIVE_DEADLINE_SECONDS = 60


class Redis:
    """A redis-server of the suite's own: no persistence, stopped by PID."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="s3repl-two-nodes-redis-")
        self.port = free_port()
        try:
            self.proc = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
                 "--appendonly", "no", "--daemonize", "no", "--logfile", self.dir + "/redis.log"])
        except FileNotFoundError:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise AssertionError("%s is missing: install the Debian package redis-server "
                                 "(bash scripts/setup-deps.sh test)" % REDIS_SERVER)
        try:
            wait_for(self._answers_ping, "redis-server to answer PING on port %d" % self.port)
        except BaseException:
            self.stop()
            raise

    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def command(self, *args):
        """Sends one command on a connection of its own; returns the first line of the reply (b"+OK", b"-ERR ...")."""
        words = [arg.encode() for arg in args]
        request = b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(word), word) for word in words)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(request)
            return s.makefile("rb").readline().rstrip(b"\r\n")

    def _answers_ping(self):
        if self.proc.poll() is not None:
            raise AssertionError("redis-server exited with %s" % self.proc.returncode)
        try:
            return self.command("PING") == b"+PONG"
        except OSError:
            return False

    def set_scripting(self, allowed):
        """Lets the servers' connections (the default user) run scripts, or refuses them: every stamp is a script."""
        reply = self.command("ACL", "SETUSER", "default", "+@all" if allowed else "-@scripting")
        expect_equal(reply, b"+OK", "the reply to ACL SETUSER")

    def stop(self):
        s3t.stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


REDIS = None  # started by main()


class Nodes:
    """Two servers (A and B) over one data directory, on REDIS under their own prefix."""

    def __init__(self, prefix, *flags):
        self.dir = tempfile.mkdtemp(prefix="s3repl-two-nodes-")
        shared = ["--redis", REDIS.url(), "--redis-prefix", prefix] + [str(f) for f in flags]
        self.a = Server(*shared, data_dir=self.dir)
        self.b = Server(*shared, data_dir=self.dir)

    def __enter__(self):
        try:
            self.a.start()
            self.b.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.a.close()
        self.b.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def body_of(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def missing(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3t.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    return False


# ---- tests --------------------------------------------------------------------


def test_put_on_one_node_pending_then_completed_on_the_other():
    # The slow copy keeps the entry PENDING for two seconds after the PUT is
    # answered: long enough for node B's HEAD to see it.
    with Nodes("pending", "--slow-destination-ms", 2000, "--redrive-after-ms", 7000) as nodes:
        a, b = nodes.a.client(), nodes.b.client()
        configure(a)
        expect_equal(b.get_bucket_replication(Bucket="src")["ReplicationConfiguration"],
                     a.get_bucket_replication(Bucket="src")["ReplicationConfiguration"],
                     "node B's view of the configuration node A stored")
        a.put_object(Bucket="src", Key="docs/a.txt", Body=b"written on A")
        expect_equal(status(b, "src", "docs/a.txt"), "PENDING", "node B's HEAD right after the PUT")
        wait_status(b, "src", "docs/a.txt", "COMPLETED")
        expect_equal(status(a, "src", "docs/a.txt"), "COMPLETED", "node A's HEAD")
        expect_equal(body_of(b, "dst", "docs/a.txt"), b"written on A", "the replica, read on node B")
        expect_equal(b.head_object(Bucket="dst", Key="docs/a.txt")["ReplicationStatus"], "REPLICA", "replica status")
        # Both nodes count the shared state.
        line = 's3repl_destination_entries{destination_bucket="dst",status="completed"} 1'
        for node in (nodes.a, nodes.b):
            code, _, metrics = scrape(node)
            if code != 200 or line not in metrics.splitlines():
                raise AssertionError("GET /metrics of a node (%d) lacks %r:\n%s" % (code, line, metrics))


def test_kill9_during_a_copy_is_redriven_by_the_other_node():
    # Node A copies slowly and dies mid-copy; node B, which copies fast,
    # re-drives the PENDING entry once it is older than --redrive-after-ms
    # (above A's slowest copy: 3 x 2000 ms + 150 ms).
    with Nodes("redrive", "--slow-destination-ms", 2000, "--redrive-after-ms", 6500) as nodes:
        a = nodes.a.client()
        configure(a)
        a.put_object(Bucket="src", Key="docs/lost.txt", Body=b"copied by B", Metadata={"from": "a"})
        nodes.a.kill9()  # within the copy's two-second delay, before its write
        b_node = nodes.b
        b = b_node.client()
        expect_equal(status(b, "src", "docs/lost.txt"), "PENDING", "the status node A left")
        expect_equal(missing(b, "dst", "docs/lost.txt"), True, "no replica written before the kill")
        wait_status(b, "src", "docs/lost.txt", "COMPLETED", deadline=REDRIVE_DEADLINE_SECONDS)
        replica = b.get_object(Bucket="dst", Key="docs/lost.txt")
        expect_equal(replica["Body"].read(), body_of(b, "src", "docs/lost.txt"), "the replica's bytes")
        expect_equal(replica["Metadata"].get("from"), "a", "the replica's metadata")
        if "re-driving 1 PENDING destination(s)" not in b_node.output():
            raise AssertionError("node B did not report the re-drive:\n" + b_node.output())


def test_a_starting_node_leaves_other_nodes_copies_alone():
    # Node B starts while node A's copy is in flight: its start-up recovery
    # must not copy that PENDING entry (A is copying it), so only A's log
    # has the copy's outcome.
    with Nodes("start", "--slow-destination-ms", 2000, "--redrive-after-ms", 30000) as nodes:
        a = nodes.a.client()
        configure(a)
        a.put_object(Bucket="src", Key="docs/in-flight.txt", Body=b"A copies this")
        late = Server("--redis", REDIS.url(), "--redis-prefix", "start", "--redrive-after-ms", 30000,
                      data_dir=nodes.dir)
        with late:
            wait_status(late.client(), "src", "docs/in-flight.txt", "COMPLETED")
            if "re-driving" in late.output() or "replication src/docs/in-flight.txt" in late.output():
                raise AssertionError("the starting node copied node A's in-flight entry:\n" + late.output())
        if "replication src/docs/in-flight.txt to dst" not in nodes.a.output():
            raise AssertionError("node A did not finish its copy:\n" + nodes.a.output())


def test_overwrite_storm_over_two_nodes_converges():
    # Clients overwrite a few keys with distinct bodies through both nodes,
    # in rounds where every client PUTs the same key at once, the last round
    # of each key included, while each source commit waits a random time
    # between its mint and its rename (--slow-commit-jitter-ms: without an
    # order of commits across nodes, renames then land out of generation
    # order) and every copy is slow by a random amount (copies overlap, on
    # two nodes, and land out of order). Once every job has ended, every
    # replica equals its source's latest bytes.
    keys = ["docs/storm-%d" % i for i in range(8)]
    threads, writes = 8, 16
    with Nodes("storm", "--slow-destination-ms", 5, "--slow-destination-jitter-ms", 60, "--slow-commit-jitter-ms", 20,
               "--workers", 6) as nodes:
        servers = (nodes.a, nodes.b)
        configure(nodes.a.client())
        errors = []
        round_start = threading.Barrier(threads, timeout=s3t.DEADLINE_SECONDS)

        def writer(thread):
            clients = [server.client() for server in servers]  # boto3 sessions are not thread-safe: one each
            for i in range(writes):
                key = keys[i % len(keys)]
                body = ("thread %d write %d of %s " % (thread, i, key)).encode() * 50
                try:
                    round_start.wait()
                    clients[(thread + i) % 2].put_object(Bucket="src", Key=key, Body=body)
                except Exception as e:  # collected, reported below
                    errors.append(repr(e))

        s3t.run_writers(writer, threads, errors)
        # Every PUT queued one job on its node, and every job logs its
        # outcome once there: after that no copy is in flight.
        total = threads * writes
        wait_for(lambda: sum(s.output().count("replication src/docs/storm-") for s in servers) >= total,
                 "all %d jobs to finish" % total, deadline=s3t.DEADLINE_SECONDS * 3)
        for key in keys:
            for server in servers:
                s3 = server.client()
                latest = body_of(s3, "src", key)
                expect_equal(body_of(s3, "dst", key), latest, "replica of " + key)
                expect_equal(status(s3, "src", key), "COMPLETED", "source status of " + key)


def test_conditional_creates_race_across_nodes():
    # If-None-Match: * PUTs of one new key, sent at once through both nodes:
    # the check and the rename are one step under the key's lock in every
    # process (KeyLocks), so exactly one wins and the key holds its bytes.
    rounds, per_node = 12, 4
    with Nodes("create") as nodes:
        servers = (nodes.a, nodes.b)
        nodes.a.client().create_bucket(Bucket="race")
        clients = [[server.client() for _ in range(per_node)] for server in servers]
        for round_ in range(rounds):
            key = "key-%d" % round_
            start = threading.Barrier(len(servers) * per_node)
            won, errors = [], []

            def create(client, body):
                start.wait()
                try:
                    client.put_object(Bucket="race", Key=key, Body=body, IfNoneMatch="*")
                    won.append(body)
                except s3t.ClientError as e:
                    if e.response["ResponseMetadata"]["HTTPStatusCode"] != 412:
                        errors.append(repr(e))

            pool = [threading.Thread(target=create, args=(client, b"node %d writer %d" % (n, w)))
                    for n, node_clients in enumerate(clients) for w, client in enumerate(node_clients)]
            for t in pool:
                t.start()
            for t in pool:
                t.join(timeout=s3t.DEADLINE_SECONDS)
            if errors:
                raise AssertionError("round %d: unexpected errors %s" % (round_, errors[:3]))
            expect_equal(len(won), 1, "round %d: creates that succeeded" % round_)
            expect_equal(body_of(nodes.b.client(), "race", key), won[0], "round %d: the stored bytes" % round_)


def test_each_node_removes_only_dead_nodes_temporary_files():
    # Every node writes under its own DIR/tmp/ directory, locked while it
    # lives; a starting node removes only those whose node died.
    def temp_dirs(nodes):
        return set(os.listdir(os.path.join(nodes.dir, "data", "tmp")))

    with Nodes("temp") as nodes:
        both = temp_dirs(nodes)
        expect_equal(len(both), 2, "temporary directories of two live nodes: %s" % sorted(both))
        nodes.a.kill9()
        with Server("--redis", REDIS.url(), "--redis-prefix", "temp", data_dir=nodes.dir) as late:
            after = temp_dirs(nodes)
            expect_equal(len(after), 2, "temporary directories after a node died and one started: %s" % sorted(after))
            if len(both & after) != 1:
                raise AssertionError("node B's directory should stay and node A's go: %s then %s"
                                     % (sorted(both), sorted(after)))
            late.client().create_bucket(Bucket="still-writable")
        nodes.b.client().put_object(Bucket="still-writable", Key="k", Body=b"node B writes on")


def test_a_put_whose_stamp_redis_refuses_is_stored_then_replicated():
    # Node A's commit waits (--hold-commits-file) after its mint; meanwhile
    # Redis is told to refuse scripts, so once the bytes are renamed into
    # place the PENDING stamp fails. The PUT is answered 200 (its bytes are
    # stored), and a node's periodic re-drive finds the object without a
    # status once it is older than --redrive-after-ms, stamps it and copies
    # it; without that it would stay without a status until a restart.
    key, body = "docs/unstamped.txt", b"stored although Redis refused the stamp"
    hold_dir = tempfile.mkdtemp(prefix="s3repl-two-nodes-hold-")
    hold = os.path.join(hold_dir, "hold")
    try:
        with Nodes("unstamped", "--hold-commits-file", hold, "--redrive-after-ms", 2000) as nodes:
            a = nodes.a.client()
            configure(a)
            open(hold, "w").close()
            answer = []
            writer = threading.Thread(target=lambda: answer.append(put_or_error(a, key, body)))
            writer.start()
            try:
                wait_for(lambda: "commit of src/%s held" % key in nodes.a.output(), "node A's commit to be held")
                REDIS.set_scripting(False)
                os.remove(hold)
                writer.join(timeout=s3t.DEADLINE_SECONDS)
            finally:
                REDIS.set_scripting(True)
            expect_equal(answer, [200], "the answer to the PUT whose stamp failed")
            if "stored src/%s generation" % key not in nodes.a.output():
                raise AssertionError("node A did not report the failed stamp:\n" + nodes.a.output())
            b = nodes.b.client()
            expect_equal(body_of(b, "src", key), body, "the object, read on node B")
            wait_status(b, "src", key, "COMPLETED", deadline=REDRIVE_DEADLINE_SECONDS)
            expect_equal(body_of(b, "dst", key), body, "the replica")
            if not any("objects stored without a status" in node.output() for node in (nodes.a, nodes.b)):
                raise AssertionError("no node reported the re-drive:\n%s\n%s" % (nodes.a.output(), nodes.b.output()))
    finally:
        shutil.rmtree(hold_dir, ignore_errors=True)


def test_a_put_whose_mint_redis_refuses_stores_nothing():
    # The other side of the test above: Redis refuses the mint, before the
    # rename, so nothing is stored and the answer is 500. (A raw request:
    # boto3 would retry, and the retry waits out the key's lease, whose
    # release Redis refused too.)
    key = "docs/refused.txt"
    with Nodes("refused") as nodes:
        configure(nodes.a.client())
        REDIS.set_scripting(False)
        try:
            code, error = s3t.raw_request(nodes.a, "PUT", "/src/" + key, b"never stored")
        finally:
            REDIS.set_scripting(True)
        expect_equal((code, None if error is None else error.findtext("Code")), (500, "InternalError"),
                     "the answer to the refused PUT")
        expect_equal(missing(nodes.b.client(), "src", key), True, "the object after a refused mint")


def put_or_error(s3, key, body):
    """The HTTP status of a PUT to src."""
    try:
        return s3.put_object(Bucket="src", Key=key, Body=body)["ResponseMetadata"]["HTTPStatusCode"]
    except s3t.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"]


TESTS = [
    test_put_on_one_node_pending_then_completed_on_the_other,
    test_kill9_during_a_copy_is_redriven_by_the_other_node,
    test_a_starting_node_leaves_other_nodes_copies_alone,
    test_overwrite_storm_over_two_nodes_converges,
    test_conditional_creates_race_across_nodes,
    test_each_node_removes_only_dead_nodes_temporary_files,
    test_a_put_whose_stamp_redis_refuses_is_stored_then_replicated,
    test_a_put_whose_mint_redis_refuses_stores_nothing,
]


def main():
    global REDIS
    try:
        REDIS = Redis()
    except AssertionError as e:
        print("FAIL redis-server: %s" % e, flush=True)
        raise SystemExit(1)
    try:
        s3t.suite_main(__doc__, TESTS)
    finally:
        REDIS.stop()


if __name__ == "__main__":
    main()
