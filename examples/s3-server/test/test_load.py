#!/usr/bin/env python3
"""A bounded load test of s3repl-s3-server with boto3.

usage: test_load.py path/to/s3repl-s3-server [--processes N] [--objects N]

Several client processes (each its own boto3 client, with the credentials
test_s3_clients.py uses) PUT and HEAD a fixed count of objects at once
against one server replicating to a second bucket. Passes when every
request succeeded (no error, so no 5xx), every object reached the
destination byte for byte and every source status is COMPLETED at the end
(polled against a deadline). Prints `load: N requests in S s, R req/s` for
the PUT and HEAD phase: a figure for the README, never asserted. Output
otherwise as test_s3_clients.py's.
"""

import argparse
import hashlib
import multiprocessing
import os
import time

import test_s3_clients as suite
from test_s3_clients import ClientError, expect_equal

SERVER = None  # the running suite.Server, inherited by the forked workers
PROCESSES, OBJECTS = 4, 300  # from the command line
DEADLINE_SECONDS = 120  # replication of every object, also under ASan on 2 cores


def body_of(process, index):
    """A distinct body per object, 1 to 4 KiB."""
    seed = hashlib.sha256(b"%d/%d" % (process, index)).digest()
    return seed * (32 + (index % 97))


def key_of(process, index):
    return "load/p%d/o%04d" % (process, index)


def put_and_head(job):
    """PUTs then HEADs each of one process's objects; returns (requests, failures)."""
    process, objects = job
    s3 = SERVER.client()
    requests, failures = 0, []
    for index in range(objects):
        key = key_of(process, index)
        body = body_of(process, index)
        try:
            etag = s3.put_object(Bucket="src", Key=key, Body=body)["ETag"]
            requests += 1
            head = s3.head_object(Bucket="src", Key=key)
            requests += 1
            if head["ETag"] != etag or head["ContentLength"] != len(body):
                failures.append("%s: HEAD says %s, %d bytes" % (key, head["ETag"], head["ContentLength"]))
        except ClientError as e:
            failures.append("%s: %s %s" % (key, e.response["ResponseMetadata"]["HTTPStatusCode"],
                                           e.response["Error"].get("Code")))
    return requests, failures


def verify(job):
    """Waits until each of one process's objects is COMPLETED, then compares
    its replica; returns the problems found."""
    process, objects = job
    s3 = SERVER.client()
    problems = []
    end = time.monotonic() + DEADLINE_SECONDS
    for index in range(objects):
        key = key_of(process, index)
        while True:
            state = s3.head_object(Bucket="src", Key=key).get("ReplicationStatus")
            if state == "COMPLETED" or time.monotonic() > end:
                break
            time.sleep(0.05)
        if state != "COMPLETED":
            problems.append("%s is %s after %d s" % (key, state, DEADLINE_SECONDS))
            continue
        replica = s3.get_object(Bucket="dst", Key=key)["Body"].read()
        if replica != body_of(process, index):
            problems.append("%s: the replica differs (%d bytes)" % (key, len(replica)))
    return problems


def test_load():
    global SERVER
    processes, objects = PROCESSES, OBJECTS
    with suite.Server() as server:
        SERVER = server
        s3 = server.client()
        suite.make_buckets(s3, "src", "dst")
        s3.put_bucket_replication(Bucket="src", ReplicationConfiguration={"Role": suite.ROLE, "Rules": [
            {"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
             "DeleteMarkerReplication": {"Status": "Disabled"},
             "Destination": {"Bucket": suite.arn("dst")}}]})
        jobs = [(process, objects) for process in range(processes)]
        # fork: each worker inherits SERVER and builds its own client.
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            started = time.monotonic()
            results = pool.map(put_and_head, jobs)
            seconds = time.monotonic() - started
            requests = sum(count for count, _ in results)
            print("load: %d requests in %.1f s, %.0f req/s (%d processes x %d objects, PUT and HEAD)" %
                  (requests, seconds, requests / seconds, processes, objects), flush=True)
            failures = [failure for _, found in results for failure in found]
            expect_equal(failures[:5], [], "failed requests (%d in all)" % len(failures))
            expect_equal(requests, 2 * processes * objects, "requests answered")
            problems = [problem for found in pool.map(verify, jobs) for problem in found]
        expect_equal(problems[:5], [], "objects not replicated byte for byte (%d in all)" % len(problems))
        listed = s3.get_paginator("list_objects_v2").paginate(Bucket="dst", Prefix="load/")
        expect_equal(sum(page.get("KeyCount", 0) for page in listed), processes * objects, "objects in dst")


def main():
    global PROCESSES, OBJECTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server")
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument("--objects", type=int, default=OBJECTS, help="per process")
    args = parser.parse_args()
    suite.SERVER = os.path.abspath(args.server)
    PROCESSES, OBJECTS = args.processes, args.objects
    suite.run_tests([test_load], [])


if __name__ == "__main__":
    main()
