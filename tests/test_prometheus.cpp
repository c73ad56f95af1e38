// The manager's counters and the dispatcher's outcomes in the Prometheus
// text exposition format; the scrape itself is tested against a real
// Prometheus by the example server's tests.
#include "support.hpp"

#include <s3repl/prometheus.hpp>
#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using s3repl::FailureReason;
using s3repl::ReplicationResult;
using s3repl::ReplicationStatus;
using s3repl_test::Metadata;

namespace {

// The value of the one sample line that starts with `series` followed by a space.
std::optional<std::string> sample(const std::string& text, const std::string& series) {
    std::istringstream lines(text);
    std::optional<std::string> found;
    for (std::string line; std::getline(lines, line);) {
        if (line.compare(0, series.size() + 1, series + " ") != 0) continue;
        if (found) FAIL("two samples of " << series);
        found = line.substr(series.size() + 1);
    }
    return found;
}

s3repl_test::Manager two_destinations() {
    s3repl_test::Manager m;
    s3repl::ReplicationRule a;
    a.id = "a";
    a.priority = 2;
    a.destination_bucket = "dst-a";
    a.delete_marker_replication = false;
    s3repl::ReplicationRule b = a;
    b.id = "b";
    b.priority = 1;
    b.destination_bucket = "dst\"b\\";
    m.put_config("src", s3repl::ReplicationConfig{"role", {a, b}});
    return m;
}

} // namespace

TEST_CASE("to_prometheus: every counter of the manager, exactly", "[prometheus]") {
    auto m = two_destinations();
    REQUIRE(m.record_destination_status_if_newer("src", "k1", "dst-a", 1, ReplicationStatus::Completed));
    REQUIRE(m.record_destination_status_if_newer("src", "k1", "dst\"b\\", 1, ReplicationStatus::Failed));
    REQUIRE(m.record_destination_status_if_newer("src", "k2", "dst-a", 2, ReplicationStatus::Pending));
    CHECK_FALSE(m.record_destination_status_if_newer("src", "k2", "dst-a", 1, ReplicationStatus::Pending));
    m.record_status("dst-a", "k1", ReplicationStatus::Replica);
    m.note_dropped();
    const std::string text = s3repl::to_prometheus(m);

    CHECK(sample(text, R"(s3repl_entries{status="pending"})") == "1");
    CHECK(sample(text, R"(s3repl_entries{status="failed"})") == "1");
    CHECK(sample(text, R"(s3repl_entries{status="completed"})") == "0");
    CHECK(sample(text, R"(s3repl_entries{status="replica"})") == "1");
    CHECK(sample(text, R"(s3repl_destination_entries{destination_bucket="dst-a",status="completed"})") == "1");
    CHECK(sample(text, R"(s3repl_destination_entries{destination_bucket="dst-a",status="pending"})") == "1");
    // Label values escape the quote and the backslash.
    CHECK(sample(text, R"(s3repl_destination_entries{destination_bucket="dst\"b\\",status="failed"})") == "1");
    CHECK(sample(text, "s3repl_generations_minted_total") == "0");
    CHECK(sample(text, R"(s3repl_stamps_total{outcome="accepted"})") == "4");
    CHECK(sample(text, R"(s3repl_stamps_total{outcome="rejected"})") == "1");
    CHECK(sample(text, "s3repl_entries_swept_total") == "0");
    CHECK(sample(text, "s3repl_replications_dropped_total") == "1");
    CHECK(text.find("# TYPE s3repl_stamps_total counter\n") != std::string::npos);
    CHECK(text.find("# TYPE s3repl_entries gauge\n") != std::string::npos);
    CHECK(text.find("s3repl_replications_total") == std::string::npos); // no outcome metrics without them
}

TEST_CASE("the outcome hook records results, reasons, attempts and latency", "[prometheus][dispatch]") {
    auto m = two_destinations();
    s3repl::OutcomeMetrics metrics;
    s3repl_test::Destination store;
    s3repl::ReplicationOptions options;
    options.sleeper = [&](std::chrono::nanoseconds) { m.clock().advance(1s); };
    options.on_outcome = metrics.recorder(m.clock());
    std::vector<ReplicationResult> seen;
    const auto recorder = options.on_outcome;
    options.on_outcome = [&](const s3repl::ReplicationJob& job, const s3repl::ReplicationOutcome& outcome) {
        // Called after the stamp: the manager already shows the outcome.
        if (outcome.result == ReplicationResult::Completed)
            CHECK(m.lookup_destinations("src", job.source_key).front().status != ReplicationStatus::Pending);
        seen.push_back(outcome.result);
        recorder(job, outcome);
    };

    const auto jobs = s3repl::begin_replication(m, "src", "k", {}, [](std::uint64_t) {});
    REQUIRE(jobs.size() == 2);
    CHECK(jobs[0].committed_at == m.clock().now()); // the epoch: a ManualClock starts there
    m.clock().advance(3s);
    CHECK(s3repl::replicate_object(m, jobs[0], std::string("v"), Metadata{}, store, options).result ==
          ReplicationResult::Completed);
    store.before_put = [] { return std::optional<s3repl::WriteResult>(s3repl::WriteResult::Failed); };
    const auto failed = s3repl::replicate_object(m, jobs[1], std::string("v"), Metadata{}, store, options);
    CHECK(failed.result == ReplicationResult::Failed);
    CHECK(failed.last_failure == FailureReason::WriteFailed);
    CHECK(failed.attempts == 3);
    store.before_put = []() -> std::optional<s3repl::WriteResult> { throw std::runtime_error("disk on fire"); };
    CHECK(s3repl::replicate_object(m, jobs[1], std::string("v"), Metadata{}, store, options).last_failure ==
          FailureReason::DestinationException);
    CHECK(seen.size() == 3); // once per call

    CHECK(metrics.results(ReplicationResult::Completed) == 1);
    CHECK(metrics.results(ReplicationResult::Failed) == 2);
    CHECK(metrics.failures(FailureReason::WriteFailed) == 1);
    CHECK(metrics.failures(FailureReason::DestinationException) == 1);
    CHECK(metrics.latency().count() == 1);
    CHECK(metrics.latency().sum() == Approx(3.0));
    CHECK(metrics.attempts().count() == 3);

    const std::string text = s3repl::to_prometheus(m, &metrics);
    CHECK(sample(text, R"(s3repl_replications_total{result="completed"})") == "1");
    CHECK(sample(text, R"(s3repl_replications_total{result="failed"})") == "2");
    CHECK(sample(text, R"(s3repl_replications_total{result="superseded_after_write"})") == "0");
    CHECK(sample(text, R"(s3repl_replication_failures_total{reason="write_failed"})") == "1");
    CHECK(sample(text, R"(s3repl_replication_failures_total{reason="destination_exception"})") == "1");
    // Cumulative buckets: 3 s is above 2.5 and at most 5.
    CHECK(sample(text, R"(s3repl_replication_latency_seconds_bucket{le="2.5"})") == "0");
    CHECK(sample(text, R"(s3repl_replication_latency_seconds_bucket{le="5"})") == "1");
    CHECK(sample(text, R"(s3repl_replication_latency_seconds_bucket{le="+Inf"})") == "1");
    CHECK(sample(text, "s3repl_replication_latency_seconds_sum") == "3");
    CHECK(sample(text, "s3repl_replication_latency_seconds_count") == "1");
    CHECK(sample(text, R"(s3repl_replication_attempts_bucket{le="1"})") == "1");
    CHECK(sample(text, R"(s3repl_replication_attempts_bucket{le="3"})") == "3");
    CHECK(sample(text, "s3repl_replication_attempts_count") == "3");
    CHECK(text.find("# TYPE s3repl_replication_latency_seconds histogram\n") != std::string::npos);
}

TEST_CASE("outcome metrics may be recorded from many threads while a scrape reads", "[prometheus][concurrent]") {
    s3repl_test::Manager m;
    s3repl::OutcomeMetrics metrics;
    std::atomic<bool> done{false};
    std::thread scraper([&] {
        while (!done) {
            const std::string text = s3repl::to_prometheus(m, &metrics);
            CHECK(text.find("s3repl_replication_attempts_count") != std::string::npos);
        }
    });
    std::vector<std::thread> workers;
    for (int t = 0; t < 3; ++t)
        workers.emplace_back([&] {
            s3repl::ReplicationJob job;
            s3repl::ReplicationOutcome outcome;
            outcome.result = ReplicationResult::Completed;
            outcome.attempts = 1;
            for (int i = 0; i < 2000; ++i) metrics.record(job, outcome, m.clock().now());
        });
    for (auto& w : workers) w.join();
    done = true;
    scraper.join();
    CHECK(metrics.results(ReplicationResult::Completed) == 6000);
    CHECK(metrics.attempts().count() == 6000);
    CHECK(metrics.latency().count() == 0); // the jobs carried no commit time
}
