#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

using namespace std::chrono_literals;
using s3repl::ReplicationResult;
using s3repl::ReplicationStatus;
using Metadata = std::map<std::string, std::string>;

using s3repl_test::Gate;

namespace {

// The commit step of a PUT whose bytes the test does not store.
const auto no_commit = [](std::uint64_t) {};

s3repl::ReplicationRule rule_to(std::string destination, std::optional<std::string> storage_class = std::nullopt) {
    s3repl::ReplicationRule rule;
    rule.id = "to-" + destination;
    rule.filter.prefix = "docs/";
    rule.destination_bucket = std::move(destination);
    rule.destination_storage_class = std::move(storage_class);
    return rule;
}

// A manager replicating "src" objects under docs/ to "dst".
s3repl::ReplicationManager replicating_manager(std::optional<std::string> storage_class = std::nullopt) {
    s3repl::ReplicationManager manager;
    manager.put_config("src", s3repl::ReplicationConfig{"role", {rule_to("dst", std::move(storage_class))}});
    return manager;
}

struct PutCall {
    std::string bucket;
    std::string key;
    std::string body;
    Metadata metadata;
};

// A put that records every call and answers from a script (true when the
// script runs out). Not thread-safe: each test runs it on one thread.
struct RecordingPut {
    std::vector<PutCall>* calls;
    std::vector<bool> answers;
    bool operator()(const std::string& bucket, const std::string& key, const std::string& body,
                    const Metadata& metadata) {
        calls->push_back({bucket, key, body, metadata});
        return calls->size() > answers.size() || answers[calls->size() - 1];
    }
};

// Records the delays asked for and returns at once.
struct RecordingSleeper {
    std::vector<std::chrono::nanoseconds>* delays;
    void operator()(std::chrono::nanoseconds delay) const { delays->push_back(delay); }
};

s3repl::ReplicationOptions options_recording(std::vector<std::chrono::nanoseconds>& delays) {
    s3repl::ReplicationOptions options;
    options.sleeper = RecordingSleeper{&delays};
    return options;
}

// Checks that "src"/`key` holds `status` at `generation`.
void check_entry(const s3repl::ReplicationManager& manager, ReplicationStatus status, std::uint64_t generation,
                 const std::string& key = "docs/a.txt") {
    const auto entry = manager.lookup_entry("src", key);
    REQUIRE(entry);
    CHECK(entry->status == status);
    CHECK(entry->generation == generation);
}

} // namespace

TEST_CASE("begin_replication stamps PENDING at a fresh generation when a rule matches", "[dispatch]") {
    auto manager = replicating_manager();
    manager.next_generation(); // the job must carry the generation it mints, not a fixed one

    const auto job = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(job);
    CHECK(job->rule == rule_to("dst"));
    CHECK(job->source_bucket == "src");
    CHECK(job->source_key == "docs/a.txt");
    CHECK(job->generation == 2);
    check_entry(manager, ReplicationStatus::Pending, job->generation);
}

TEST_CASE("begin_replication without a matching rule still commits, with a fresh generation, and stamps nothing",
          "[dispatch]") {
    auto manager = replicating_manager();
    std::vector<std::uint64_t> committed;
    const auto commit = [&](std::uint64_t generation) { committed.push_back(generation); };
    CHECK_FALSE(s3repl_test::begin_one(manager, "src", "photos/a.jpg", {}, commit));
    CHECK_FALSE(s3repl_test::begin_one(manager, "other-bucket", "docs/a.txt", {}, commit));
    CHECK(committed == std::vector<std::uint64_t>{1, 2});
    CHECK(manager.size() == 0);
    CHECK(manager.stats().generations_minted == 2);
}

TEST_CASE("happy path: one put of a REPLICA with the source metadata, then COMPLETED", "[dispatch]") {
    auto manager = replicating_manager();
    const auto job = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(job);
    std::vector<PutCall> calls;
    std::vector<std::chrono::nanoseconds> delays;
    const Metadata source{{"content-type", "text/plain"}, {"x-amz-meta-owner", "alice"}};

    const auto outcome = s3repl::replicate_object(manager, *job, std::string("hello"), source, RecordingPut{&calls, {}},
                                                  options_recording(delays));

    CHECK(outcome.result == ReplicationResult::Completed);
    CHECK(outcome.attempts == 1);
    CHECK(outcome.last_error.empty());
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].bucket == "dst");
    CHECK(calls[0].key == "docs/a.txt");
    CHECK(calls[0].body == "hello");
    const Metadata expected{{"content-type", "text/plain"},
                            {"x-amz-meta-owner", "alice"},
                            {"x-amz-meta-s3repl-generation", std::to_string(job->generation)},
                            {"x-amz-replication-status", "REPLICA"}};
    CHECK(calls[0].metadata == expected);
    check_entry(manager, ReplicationStatus::Completed, job->generation);
    CHECK(manager.stats().dropped_total == 0);
    CHECK(delays.empty());
}

TEST_CASE("a put failing every attempt ends FAILED after the budget, backing off 50 then 100 ms", "[dispatch]") {
    auto manager = replicating_manager();
    const auto job = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(job);
    std::vector<PutCall> calls;
    std::vector<std::chrono::nanoseconds> delays;

    const auto outcome =
        s3repl::replicate_object(manager, *job, std::string("x"), Metadata{},
                                 RecordingPut{&calls, {false, false, false}}, options_recording(delays));

    CHECK(outcome.result == ReplicationResult::Failed);
    CHECK(outcome.attempts == 3);
    CHECK(outcome.last_error == "put reported failure");
    CHECK(calls.size() == 3);
    CHECK(delays == std::vector<std::chrono::nanoseconds>{50ms, 100ms});
    check_entry(manager, ReplicationStatus::Failed, job->generation);
    CHECK(manager.stats().dropped_total == 1);
}

TEST_CASE("a failed attempt followed by a success completes", "[dispatch]") {
    auto manager = replicating_manager();
    const auto job = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(job);
    std::vector<PutCall> calls;
    std::vector<std::chrono::nanoseconds> delays;

    const auto outcome = s3repl::replicate_object(manager, *job, std::string("x"), Metadata{},
                                                  RecordingPut{&calls, {false, true}}, options_recording(delays));

    CHECK(outcome.result == ReplicationResult::Completed);
    CHECK(outcome.attempts == 2);
    CHECK(outcome.last_error == "put reported failure"); // why the retry was needed
    CHECK(delays == std::vector<std::chrono::nanoseconds>{50ms});
    CHECK(manager.lookup_status("src", "docs/a.txt") == ReplicationStatus::Completed);
    CHECK(manager.stats().dropped_total == 0);
}

TEST_CASE("a put that throws is a failed attempt whose message is kept", "[dispatch]") {
    auto manager = replicating_manager();
    const auto job = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(job);
    std::vector<std::chrono::nanoseconds> delays;
    int calls = 0;

    SECTION("a std::exception on every attempt") {
        const auto outcome = s3repl::replicate_object(
            manager, *job, 0, Metadata{},
            [&](const std::string&, const std::string&, int, const Metadata&) -> bool {
                ++calls;
                throw std::runtime_error("connection reset by peer");
            },
            options_recording(delays));
        CHECK(outcome.result == ReplicationResult::Failed);
        CHECK(outcome.attempts == 3);
        CHECK(outcome.last_error == "connection reset by peer");
        CHECK(calls == 3);
        CHECK(manager.lookup_status("src", "docs/a.txt") == ReplicationStatus::Failed);
        CHECK(manager.stats().dropped_total == 1);
    }
    SECTION("an exception of another type, then success") {
        const auto outcome = s3repl::replicate_object(
            manager, *job, 0, Metadata{},
            [&](const std::string&, const std::string&, int, const Metadata&) {
                if (++calls == 1) throw 42;
                return true;
            },
            options_recording(delays));
        CHECK(outcome.result == ReplicationResult::Completed);
        CHECK(outcome.attempts == 2);
        CHECK_FALSE(outcome.last_error.empty());
        CHECK(manager.lookup_status("src", "docs/a.txt") == ReplicationStatus::Completed);
    }
}

TEST_CASE("a rule's storage class overrides the source's", "[dispatch]") {
    auto manager = replicating_manager("GLACIER");
    const auto job = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(job);
    std::vector<PutCall> calls;

    s3repl::replicate_object(manager, *job, std::string("x"), Metadata{{"x-amz-storage-class", "STANDARD"}},
                             RecordingPut{&calls, {}});

    REQUIRE(calls.size() == 1);
    CHECK(calls[0].metadata.at("x-amz-storage-class") == "GLACIER");
}

TEST_CASE("object-lock headers come from the options' lock state", "[dispatch]") {
    auto manager = replicating_manager();
    const auto job = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(job);
    std::vector<PutCall> calls;
    s3repl::ReplicationOptions options;
    const Metadata stale_lock{{"x-amz-object-lock-mode", "GOVERNANCE"},
                              {"x-amz-object-lock-retain-until-date", "2020-01-01T00:00:00Z"},
                              {"x-amz-object-lock-legal-hold", "ON"}};

    SECTION("a full lock state gives all three headers") {
        const auto retain_until =
            std::chrono::system_clock::time_point{} + std::chrono::hours(24 * 365 * 60) + 123456789ns;
        options.object_lock = s3repl::ObjectLockState{s3repl::ObjectLockMode::Compliance, retain_until, true};
        s3repl::replicate_object(manager, *job, std::string("x"), stale_lock, RecordingPut{&calls, {}}, options);
        REQUIRE(calls.size() == 1);
        const Metadata& m = calls[0].metadata;
        CHECK(m.at("x-amz-object-lock-mode") == "COMPLIANCE");
        CHECK(m.at("x-amz-object-lock-legal-hold") == "ON");
        CHECK(m.at("x-amz-object-lock-retain-until-date") == "2029-12-17T00:00:00.123456789Z");
        CHECK(s3repl::parse_rfc3339(m.at("x-amz-object-lock-retain-until-date")) == retain_until);
    }
    SECTION("a legal hold alone gives only the legal-hold header") {
        options.object_lock = s3repl::ObjectLockState{};
        s3repl::replicate_object(manager, *job, std::string("x"), stale_lock, RecordingPut{&calls, {}}, options);
        REQUIRE(calls.size() == 1);
        const Metadata expected{{"x-amz-meta-s3repl-generation", std::to_string(job->generation)},
                                {"x-amz-object-lock-legal-hold", "OFF"},
                                {"x-amz-replication-status", "REPLICA"}};
        CHECK(calls[0].metadata == expected);
    }
    SECTION("governance mode") {
        options.object_lock = s3repl::ObjectLockState{s3repl::ObjectLockMode::Governance, std::nullopt, false};
        s3repl::replicate_object(manager, *job, std::string("x"), Metadata{}, RecordingPut{&calls, {}}, options);
        REQUIRE(calls.size() == 1);
        CHECK(calls[0].metadata.at("x-amz-object-lock-mode") == "GOVERNANCE");
        CHECK(calls[0].metadata.count("x-amz-object-lock-retain-until-date") == 0);
    }
    SECTION("no lock state gives none of the three, even if the source metadata had them") {
        s3repl::replicate_object(manager, *job, std::string("x"), stale_lock, RecordingPut{&calls, {}}, options);
        REQUIRE(calls.size() == 1);
        CHECK(calls[0].metadata == Metadata{{"x-amz-meta-s3repl-generation", std::to_string(job->generation)},
                                            {"x-amz-replication-status", "REPLICA"}});
    }
}

TEST_CASE("the destination key can be overridden", "[dispatch]") {
    auto manager = replicating_manager();
    const auto job = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(job);
    std::vector<PutCall> calls;
    s3repl::ReplicationOptions options;
    options.destination_key = "docs/a.txt/v7";

    s3repl::replicate_object(manager, *job, std::string("x"), Metadata{}, RecordingPut{&calls, {}}, options);

    REQUIRE(calls.size() == 1);
    CHECK(calls[0].bucket == "dst");
    CHECK(calls[0].key == "docs/a.txt/v7");
}

TEST_CASE("metadata may be an unordered_map and put may return a bool-like value", "[dispatch]") {
    auto manager = replicating_manager();
    const auto job = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(job);
    using Headers = std::unordered_map<std::string, std::string>;
    struct Status { // as an HTTP client's response might
        int code;
        explicit operator bool() const { return code == 200; }
    };
    Headers seen;

    const auto outcome = s3repl::replicate_object(
        manager, *job, std::vector<char>{'x'}, Headers{{"etag", "1"}},
        [&](const std::string&, const std::string&, const std::vector<char>&, const Headers& headers) {
            seen = headers;
            return Status{200};
        });

    CHECK(outcome.result == ReplicationResult::Completed);
    CHECK(seen == Headers{{"etag", "1"},
                          {"x-amz-meta-s3repl-generation", std::to_string(job->generation)},
                          {"x-amz-replication-status", "REPLICA"}});
}

TEST_CASE("a job whose key has a newer generation makes no put", "[dispatch]") {
    auto manager = replicating_manager();
    const auto older = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    const auto newer = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(older);
    REQUIRE(newer);
    std::vector<PutCall> calls;

    const auto outcome =
        s3repl::replicate_object(manager, *older, std::string("old"), Metadata{}, RecordingPut{&calls, {}});

    CHECK(outcome.result == ReplicationResult::Superseded);
    CHECK(outcome.attempts == 0);
    CHECK(calls.empty());
    CHECK(manager.lookup_entry("src", "docs/a.txt")->generation == newer->generation);
    CHECK(manager.stats().dropped_total == 0); // nothing was written
}

TEST_CASE("a put that succeeds after a newer PUT arrived is SupersededAfterWrite, counted dropped and queued for "
          "re-drive",
          "[dispatch]") {
    auto manager = replicating_manager();
    const auto older = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(older);
    std::optional<s3repl::ReplicationJob> newer;

    // The newer PUT lands while the older job's copy is in flight.
    const auto put = [&](const std::string&, const std::string&, const std::string&, const Metadata&) {
        newer = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
        return true;
    };
    const auto outcome = s3repl::replicate_object(manager, *older, std::string("old"), Metadata{}, put);

    REQUIRE(newer);
    CHECK(outcome.result == ReplicationResult::SupersededAfterWrite);
    CHECK(outcome.attempts == 1);
    check_entry(manager, ReplicationStatus::Pending, newer->generation);
    CHECK(manager.stats().dropped_total == 1);
    // The older bytes may be what the destination holds now: the newest generation must be copied again.
    const auto candidates = manager.take_redrive_candidates();
    REQUIRE(candidates.size() == 1);
    CHECK(candidates[0].bucket == "src");
    CHECK(candidates[0].key == "docs/a.txt");
    CHECK(candidates[0].entry.generation == newer->generation);
    CHECK(manager.take_redrive_candidates().empty()); // taken once
}

TEST_CASE("a FAILED stamp never overwrites a newer COMPLETED", "[dispatch]") {
    auto manager = replicating_manager();
    const auto older = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(older);
    std::vector<std::chrono::nanoseconds> delays;
    std::vector<PutCall> newer_calls;
    std::optional<s3repl::ReplicationJob> newer;
    std::optional<s3repl::ReplicationOutcome> newer_outcome;
    int older_calls = 0;

    // The newer PUT replicates completely while the older job's last attempt is in flight.
    const auto outcome = s3repl::replicate_object(
        manager, *older, std::string("old"), Metadata{},
        [&](const std::string&, const std::string&, const std::string&, const Metadata&) {
            if (++older_calls == 3) {
                newer = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
                if (newer)
                    newer_outcome = s3repl::replicate_object(manager, *newer, std::string("new"), Metadata{},
                                                             RecordingPut{&newer_calls, {}});
            }
            return false;
        },
        options_recording(delays));

    REQUIRE(newer_outcome);
    CHECK(newer_outcome->result == ReplicationResult::Completed);
    CHECK(older_calls == 3);
    CHECK(outcome.result == ReplicationResult::Superseded);
    CHECK(outcome.attempts == 3);
    check_entry(manager, ReplicationStatus::Completed, newer->generation);
    CHECK(manager.stats().dropped_total == 1); // the older job gave up
}

TEST_CASE("race: an older job failing slowly makes no further put once a newer job completed",
          "[dispatch][concurrent]") {
    auto manager = replicating_manager();
    const auto job_a = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(job_a);
    Gate a_in_put, b_done;
    std::atomic<int> a_calls{0};
    bool b_done_seen = false;
    s3repl::ReplicationOutcome outcome_a, outcome_b;
    s3repl::ReplicationOptions a_options;
    a_options.sleeper = [](std::chrono::nanoseconds) {}; // the race is decided by the gates, not the backoff

    std::thread a([&] {
        outcome_a = s3repl::replicate_object(
            manager, *job_a, std::string("old"), Metadata{},
            [&](const std::string&, const std::string&, const std::string&, const Metadata&) {
                ++a_calls;
                a_in_put.open();
                b_done_seen = b_done.wait(); // "slow": fails only after B finished
                return false;
            },
            a_options);
    });
    REQUIRE(a_in_put.wait());
    const auto job_b = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(job_b);
    std::thread b([&] {
        outcome_b = s3repl::replicate_object(
            manager, *job_b, std::string("new"), Metadata{},
            [](const std::string&, const std::string&, const std::string&, const Metadata&) { return true; });
        b_done.open();
    });
    b.join();
    a.join();

    CHECK(b_done_seen);
    CHECK(a_calls == 1);
    CHECK(outcome_a.result == ReplicationResult::Superseded);
    CHECK(outcome_a.attempts == 1);
    CHECK(outcome_b.result == ReplicationResult::Completed);
    check_entry(manager, ReplicationStatus::Completed, job_b->generation);
    CHECK(manager.stats().dropped_total == 0);
}

TEST_CASE("many jobs for one key on many threads: the newest generation's COMPLETED stands", "[dispatch][concurrent]") {
    auto manager = replicating_manager();
    constexpr int job_count = 8;
    std::vector<s3repl::ReplicationJob> jobs;
    for (int i = 0; i < job_count; ++i)
        jobs.push_back(*s3repl_test::begin_one(manager, "src", "docs/k", {}, no_commit));
    std::vector<ReplicationResult> results(job_count);

    std::vector<std::thread> threads;
    for (int i = 0; i < job_count; ++i)
        threads.emplace_back([&, i] {
            results[static_cast<std::size_t>(i)] =
                s3repl::replicate_object(
                    manager, jobs[static_cast<std::size_t>(i)], i, Metadata{},
                    [](const std::string&, const std::string&, int, const Metadata&) { return true; })
                    .result;
        });
    for (auto& t : threads) t.join();

    CHECK(results.back() == ReplicationResult::Completed);
    for (int i = 0; i + 1 < job_count; ++i)
        CHECK(results[static_cast<std::size_t>(i)] == ReplicationResult::Superseded);
    check_entry(manager, ReplicationStatus::Completed, jobs.back().generation, "docs/k");
}

TEST_CASE("RetryPolicy backoff grows, caps and never overflows", "[dispatch][retry]") {
    const s3repl::RetryPolicy defaults;
    CHECK(defaults.backoff_after(1) == 50ms);
    CHECK(defaults.backoff_after(2) == 100ms);
    CHECK(defaults.backoff_after(3) == 200ms);
    CHECK(defaults.backoff_after(100) == defaults.max_backoff);
    CHECK(defaults.backoff_after(std::numeric_limits<int>::max()) == defaults.max_backoff);

    s3repl::RetryPolicy unbounded;
    unbounded.max_backoff = std::chrono::milliseconds::max(); // more than nanoseconds can hold
    unbounded.multiplier = 10;
    CHECK(unbounded.backoff_after(2) == 500ms);
    CHECK(unbounded.backoff_after(1000) == std::chrono::nanoseconds::max());

    s3repl::RetryPolicy fixed;
    fixed.multiplier = 1;
    CHECK(fixed.backoff_after(1000) == 50ms);
    fixed.initial_backoff = 0ms;
    CHECK(fixed.backoff_after(3) == 0ms);
}

TEST_CASE("an unusable RetryPolicy is refused before any put", "[dispatch][retry]") {
    auto manager = replicating_manager();
    const auto job = s3repl_test::begin_one(manager, "src", "docs/a.txt", {}, no_commit);
    REQUIRE(job);
    std::vector<PutCall> calls;
    s3repl::ReplicationOptions options;
    SECTION("no attempts") { options.retry.attempts = 0; }
    SECTION("negative backoff") { options.retry.initial_backoff = -1ms; }
    SECTION("shrinking backoff") { options.retry.multiplier = 0.5; }

    CHECK_THROWS_AS(
        s3repl::replicate_object(manager, *job, std::string("x"), Metadata{}, RecordingPut{&calls, {}}, options),
        s3repl::InvalidArgument);
    CHECK(calls.empty());
    CHECK(manager.lookup_status("src", "docs/a.txt") == ReplicationStatus::Pending);
}
