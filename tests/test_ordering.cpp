// The promise end to end: a stale copy never rolls a destination back, and a
// PUT's generation follows the order its bytes were committed in.
#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using s3repl::ReplicationResult;
using s3repl::ReplicationStatus;
using s3repl::WriteResult;
using s3repl_test::Destination;
using s3repl_test::Gate;
using s3repl_test::Metadata;
using s3repl_test::Source;

namespace {

s3repl::ReplicationManager replicating_manager() {
    s3repl::ReplicationManager manager;
    s3repl::ReplicationRule rule;
    rule.id = "all";
    rule.destination_bucket = "dst";
    manager.put_config("src", s3repl::ReplicationConfig{"role", {rule}});
    return manager;
}

// A PUT through the commit overload: the body is "received" first, then committed.
template <class Manager>
std::optional<s3repl::ReplicationJob> put_object(Manager& manager, Source& source, const std::string& key,
                                                 const std::string& body) {
    return s3repl_test::begin_one(manager, "src", key, {},
                                  [&](std::uint64_t generation) { source.commit(key, body, generation); });
}

void check_replicated(const s3repl::ReplicationManager& manager, const Source& source, const Destination& destination,
                      const std::string& key) {
    INFO("key " << key);
    const Source::Version latest = source.latest(key);
    const auto replica = destination.get(key);
    REQUIRE(replica);
    CHECK(replica->body == latest.body);
    CHECK(s3repl::replica_generation_of(replica->metadata) == latest.generation);
    const auto entry = manager.lookup_entry("src", key);
    REQUIRE(entry);
    CHECK(entry->status == ReplicationStatus::Completed);
    CHECK(entry->generation == latest.generation);
}

} // namespace

// ==== a stale write landing last =============================================

TEST_CASE("an older job whose write lands after a newer job completed cannot overwrite the newer replica",
          "[ordering][concurrent]") {
    auto manager = replicating_manager();
    Source source;
    Destination destination;
    const auto older = put_object(manager, source, "k", "old bytes");
    REQUIRE(older);
    Gate older_in_put, newer_done;
    destination.before_put = [&]() -> std::optional<WriteResult> {
        if (destination.puts == 1) { // the older job's first put: stall until the newer job is done
            older_in_put.open();
            newer_done.wait();
        }
        return std::nullopt;
    };
    s3repl::ReplicationOutcome older_outcome;
    std::thread older_copy([&] {
        older_outcome = s3repl::replicate_object(manager, *older, std::string("old bytes"), Metadata{}, destination);
    });
    REQUIRE(older_in_put.wait());

    const auto newer = put_object(manager, source, "k", "new bytes");
    REQUIRE(newer);
    const auto newer_outcome =
        s3repl::replicate_object(manager, *newer, std::string("new bytes"), Metadata{}, destination);
    newer_done.open();
    older_copy.join();

    CHECK(newer_outcome.result == ReplicationResult::Completed);
    CHECK(older_outcome.result == ReplicationResult::Superseded);
    check_replicated(manager, source, destination, "k");
    CHECK(manager.take_redrive_candidates().empty());
}

TEST_CASE("the unconditional put overload reports a stale write landing last and queues the key for re-drive",
          "[ordering][concurrent]") {
    auto manager = replicating_manager();
    Source source;
    Destination destination;
    const auto put = [&](const std::string& bucket, const std::string& key, const std::string& body,
                         const Metadata& metadata) {
        return destination.put(bucket, key, body, metadata, s3repl::WriteCondition{}) == WriteResult::Written;
    };
    const auto older = put_object(manager, source, "k", "old bytes");
    REQUIRE(older);
    Gate older_in_put, newer_done;
    destination.before_put = [&]() -> std::optional<WriteResult> {
        if (destination.puts == 1) {
            older_in_put.open();
            newer_done.wait();
        }
        return std::nullopt;
    };
    s3repl::ReplicationOutcome older_outcome;
    std::thread older_copy(
        [&] { older_outcome = s3repl::replicate_object(manager, *older, std::string("old bytes"), Metadata{}, put); });
    REQUIRE(older_in_put.wait());
    const auto newer = put_object(manager, source, "k", "new bytes");
    REQUIRE(newer);
    CHECK(s3repl::replicate_object(manager, *newer, std::string("new bytes"), Metadata{}, put).result ==
          ReplicationResult::Completed);
    newer_done.open();
    older_copy.join();

    // The old bytes landed last: the result says so and the key waits for a re-drive.
    CHECK(older_outcome.result == ReplicationResult::SupersededAfterWrite);
    CHECK(destination.get("k")->body == "old bytes");
    const auto candidates = manager.take_redrive_candidates();
    REQUIRE(candidates.size() == 1);
    CHECK(candidates[0].key == "k");
    CHECK(candidates[0].entry.generation == newer->generation);

    // The re-drive copies the newest generation again.
    const s3repl::ReplicationJob redrive{newer->rule, "src", "k", candidates[0].entry.generation};
    CHECK(s3repl::replicate_object(manager, redrive, source.latest("k").body, Metadata{}, put).result ==
          ReplicationResult::Completed);
    check_replicated(manager, source, destination, "k");
}

// ==== generation order is commit order ======================================

namespace {
// Forwards to a manager, opening a gate when begin_replication reaches the ordered commit.
struct ArrivalSignallingManager {
    s3repl::ReplicationManager& manager;
    Gate& arrived;
    std::vector<s3repl::ReplicationRule> match_rules(std::string_view bucket, std::string_view key,
                                                     const s3repl::TagSet& tags) const {
        return manager.match_rules(bucket, key, tags);
    }
    bool record_destination_status_if_newer(const s3repl::ObjectId& object, std::string_view destination,
                                            std::uint64_t generation, ReplicationStatus status) {
        return manager.record_destination_status_if_newer(object, destination, generation, status);
    }
    const s3repl::CoarseSystemClock& clock() const { return manager.clock(); }
    template <class Commit>
    std::uint64_t commit_in_order(std::string_view bucket, std::string_view key, Commit&& commit) {
        arrived.open();
        return manager.commit_in_order(bucket, key, std::forward<Commit>(commit));
    }
};
} // namespace

TEST_CASE("two PUTs of one key: the one committed last carries the higher generation", "[ordering][concurrent]") {
    auto manager = replicating_manager();
    Source source;
    Gate first_in_commit, second_arrived, release_first;
    std::optional<s3repl::ReplicationJob> first, second;

    std::thread first_put([&] {
        first = s3repl_test::begin_one(manager, "src", "k", {}, [&](std::uint64_t generation) {
            source.commit("k", "first", generation);
            first_in_commit.open();
            release_first.wait(); // a slow rename: the second PUT arrives meanwhile
        });
    });
    REQUIRE(first_in_commit.wait());
    std::thread second_put([&] {
        ArrivalSignallingManager signalling{manager, second_arrived};
        second = s3repl_test::begin_one(signalling, "src", "k", {},
                                        [&](std::uint64_t generation) { source.commit("k", "second", generation); });
    });
    REQUIRE(second_arrived.wait());
    release_first.open();
    first_put.join();
    second_put.join();

    REQUIRE(first);
    REQUIRE(second);
    const std::vector<Source::Version> log = source.log();
    REQUIRE(log.size() == 2);
    CHECK(log[0].body == "first"); // the second commit waited for the first one's lock
    CHECK(log[0].generation < log[1].generation);
    CHECK(second->generation > first->generation);
    // The higher generation carries the bytes committed last, so its copy makes the destination equal the source.
    Destination destination;
    CHECK(s3repl::replicate_object(manager, *second, log[1].body, Metadata{}, destination).result ==
          ReplicationResult::Completed);
    CHECK(s3repl::replicate_object(manager, *first, log[0].body, Metadata{}, destination).result ==
          ReplicationResult::Superseded);
    check_replicated(manager, source, destination, "k");
}

TEST_CASE("a commit step taking two arguments learns whether a rule selected the object", "[ordering]") {
    auto manager = replicating_manager();
    std::vector<std::pair<std::uint64_t, bool>> told;
    const auto commit = [&](std::uint64_t generation, bool replicated) { told.emplace_back(generation, replicated); };
    CHECK(s3repl_test::begin_one(manager, "src", "k", {}, commit));
    CHECK_FALSE(s3repl_test::begin_one(manager, "other", "k", {}, commit));
    CHECK(told == std::vector<std::pair<std::uint64_t, bool>>{{1, true}, {2, false}});
}

TEST_CASE("a commit that throws stamps nothing and propagates", "[ordering]") {
    auto manager = replicating_manager();
    CHECK_THROWS_WITH(
        s3repl_test::begin_one(manager, "src", "k", {}, [](std::uint64_t) { throw std::runtime_error("disk full"); }),
        "disk full");
    CHECK(manager.size() == 0);
    // The key's lock was released: the next PUT goes through.
    CHECK(s3repl_test::begin_one(manager, "src", "k", {}, [](std::uint64_t) {})->generation == 2);
}

// ==== the conditional-write loop =============================================

TEST_CASE("PreconditionFailed means someone wrote in between: head again and decide again", "[ordering]") {
    auto manager = replicating_manager();
    Source source;
    Destination destination;
    const auto job = put_object(manager, source, "k", "bytes");
    REQUIRE(job);
    s3repl::ReplicationOptions options;
    options.sleeper = [](std::chrono::nanoseconds) {};

    SECTION("a foreign write between head and put: the next round overwrites it") {
        destination.overwrite("k", 0); // a replica from before s3repl, generation unknown
        destination.before_put = [&]() -> std::optional<WriteResult> {
            if (destination.puts <= 2) destination.overwrite("k", 0); // two writes race our put
            return std::nullopt;
        };
        const auto outcome =
            s3repl::replicate_object(manager, *job, std::string("bytes"), Metadata{}, destination, options);
        CHECK(outcome.result == ReplicationResult::Completed);
        CHECK(outcome.attempts == 1); // the conflicts consumed no attempt
        CHECK(destination.heads == 3);
        CHECK(destination.puts == 3);
        check_replicated(manager, source, destination, "k");
    }
    SECTION("a newer replica written in between: Superseded, never overwritten") {
        destination.before_put = [&]() -> std::optional<WriteResult> {
            destination.overwrite("k", job->generation + 1);
            return std::nullopt;
        };
        const auto outcome =
            s3repl::replicate_object(manager, *job, std::string("bytes"), Metadata{}, destination, options);
        CHECK(outcome.result == ReplicationResult::Superseded);
        CHECK(destination.puts == 1);
        CHECK(destination.get("k")->body == "foreign");
        CHECK(manager.lookup_status("src", "k") == ReplicationStatus::Pending); // the newer job's to finish
    }
    SECTION("conflicts past precondition_retries fail the attempt; attempts retry with backoff") {
        options.precondition_retries = 2;
        options.retry.attempts = 2;
        destination.before_put = []() -> std::optional<WriteResult> { return WriteResult::PreconditionFailed; };
        const auto outcome =
            s3repl::replicate_object(manager, *job, std::string("bytes"), Metadata{}, destination, options);
        CHECK(outcome.result == ReplicationResult::Failed);
        CHECK(outcome.attempts == 2);
        CHECK(destination.puts == 2 * 3);
        CHECK_THAT(outcome.last_error, Catch::Contains("PreconditionFailed"));
        CHECK(manager.lookup_status("src", "k") == ReplicationStatus::Failed);
    }
    SECTION("a failed write and a throwing head are failed attempts, their messages kept") {
        int heads = 0;
        destination.before_head = [&] {
            if (++heads == 1) throw std::runtime_error("connection reset");
        };
        destination.before_put = [&]() -> std::optional<WriteResult> {
            if (destination.puts == 1) return WriteResult::Failed;
            return std::nullopt;
        };
        std::vector<std::string> errors;
        const auto outcome =
            s3repl::replicate_object(manager, *job, std::string("bytes"), Metadata{}, destination, options);
        CHECK(outcome.result == ReplicationResult::Completed);
        CHECK(outcome.attempts == 3);
        CHECK(outcome.last_error == "the destination reported a failed write");
        check_replicated(manager, source, destination, "k");
    }
    SECTION("negative precondition_retries are refused before any call") {
        options.precondition_retries = -1;
        CHECK_THROWS_AS(s3repl::replicate_object(manager, *job, std::string("bytes"), Metadata{}, destination, options),
                        s3repl::InvalidArgument);
        CHECK(destination.heads == 0);
    }
}

TEST_CASE("a replica at the job's generation is this job's copy: Completed without a write; a newer one: Superseded",
          "[ordering]") {
    auto manager = replicating_manager();
    Source source;
    Destination destination;
    const auto job = put_object(manager, source, "k", "bytes");
    REQUIRE(job);

    SECTION("equal") {
        destination.overwrite("k", job->generation);
        CHECK(s3repl::replicate_object(manager, *job, std::string("bytes"), Metadata{}, destination).result ==
              ReplicationResult::Completed);
        CHECK(manager.lookup_status("src", "k") == ReplicationStatus::Completed);
    }
    SECTION("newer") {
        destination.overwrite("k", job->generation + 1);
        CHECK(s3repl::replicate_object(manager, *job, std::string("bytes"), Metadata{}, destination).result ==
              ReplicationResult::Superseded);
        CHECK(manager.lookup_status("src", "k") == ReplicationStatus::Pending);
    }
    CHECK(destination.puts == 0);
    CHECK(destination.get("k")->body == "foreign");
}

TEST_CASE("a stale job whose entry was swept after a newer PUT completed is Superseded without a call", "[ordering]") {
    s3repl::BasicReplicationManager<s3repl::ManualClock> manager{s3repl::ManualClock{s3repl_test::start}};
    s3repl::ReplicationRule rule;
    rule.id = "all";
    rule.destination_bucket = "dst";
    manager.put_config("src", s3repl::ReplicationConfig{"role", {rule}});
    Source source;
    Destination destination;
    const auto older = put_object(manager, source, "k", "old");
    const auto newer = put_object(manager, source, "k", "new");
    REQUIRE(older);
    REQUIRE(newer);
    REQUIRE(s3repl::replicate_object(manager, *newer, std::string("new"), Metadata{}, destination).result ==
            ReplicationResult::Completed);
    manager.clock().advance(48h);
    REQUIRE(manager.sweep_stale(manager.clock().now(), 24h) == 1);
    const int heads = destination.heads;

    const auto outcome = s3repl::replicate_object(manager, *older, std::string("old"), Metadata{}, destination);
    CHECK(outcome.result == ReplicationResult::Superseded);
    CHECK(outcome.attempts == 0);
    CHECK(destination.heads == heads);
    CHECK(destination.get("k")->body == "new");
}

// ==== the randomized stress ==================================================

TEST_CASE("stress: overwrite storms with slow, failing destination writes end with every replica equal to its source",
          "[ordering][stress][concurrent]") {
    const unsigned seed = std::random_device{}();
    INFO("seed " << seed << " (to replay, set it in this test)");
    auto manager = replicating_manager();
    Source source;
    Destination destination;
    std::atomic<bool> flaky{true};
    std::mutex random_mutex;
    std::mt19937 random(seed); // guarded by random_mutex
    const auto roll = [&](unsigned n) {
        std::lock_guard<std::mutex> lock(random_mutex);
        return static_cast<unsigned>(random() % n);
    };
    // Random delays, so that copies of one key overlap: they widen the window between a copy's head and
    // its put, where a newer PUT's copy may slip in. A delay here orders nothing the test checks.
    // Mostly short, sometimes long: a slow old copy is the one that would land after a newer one.
    const auto delay = [&] {
        const unsigned r = roll(100);
        std::this_thread::sleep_for(std::chrono::microseconds(r < 90 ? roll(100) : 1000 + roll(2000)));
    };
    destination.before_head = delay;
    destination.before_put = [&]() -> std::optional<WriteResult> {
        delay();
        if (!flaky) return std::nullopt;
        const unsigned r = roll(100);
        if (r < 15) return WriteResult::Failed;
        if (r < 20) throw std::runtime_error("injected: connection reset");
        return std::nullopt;
    };

    // The dispatcher: a queue of jobs with the bytes their PUT committed.
    struct Task {
        s3repl::ReplicationJob job;
        std::string body;
    };
    std::mutex queue_mutex;
    std::condition_variable queue_ready;
    std::deque<Task> queue; // guarded by queue_mutex
    bool puts_done = false; // guarded by queue_mutex
    s3repl::ReplicationOptions options;
    options.sleeper = [](std::chrono::nanoseconds) {};
    const auto run_dispatcher = [&] {
        for (;;) {
            std::unique_lock<std::mutex> lock(queue_mutex);
            queue_ready.wait(lock, [&] { return puts_done || !queue.empty(); });
            if (queue.empty()) return;
            Task task = std::move(queue.front());
            queue.pop_front();
            lock.unlock();
            s3repl::replicate_object(manager, task.job, task.body, Metadata{}, destination, options);
        }
    };

    // Rounds in which every PUT thread overwrites every key in the same random order, so each key's
    // PUTs arrive together and their copies overlap: a stale write landing last would survive to the
    // final check.
    constexpr int put_threads = 4, rounds = 6, dispatchers = 6, keys = 16;
    std::vector<int> order;
    for (int r = 0; r < rounds; ++r) {
        std::vector<int> round(keys);
        for (int k = 0; k < keys; ++k) round[static_cast<std::size_t>(k)] = k;
        std::shuffle(round.begin(), round.end(), random);
        order.insert(order.end(), round.begin(), round.end());
    }
    std::vector<std::thread> threads;
    for (int d = 0; d < dispatchers; ++d) threads.emplace_back(run_dispatcher);
    std::vector<std::thread> putters;
    for (int p = 0; p < put_threads; ++p)
        putters.emplace_back([&, p] {
            for (std::size_t i = 0; i < order.size(); ++i) {
                const std::string key = "key-" + std::to_string(order[i]);
                const std::string body = "body of put " + std::to_string(p) + "/" + std::to_string(i);
                if (auto job = put_object(manager, source, key, body)) {
                    {
                        std::lock_guard<std::mutex> lock(queue_mutex);
                        queue.push_back(Task{std::move(*job), body});
                    }
                    queue_ready.notify_one();
                }
                delay(); // PUTs trickle in while copies run, as on a server
            }
        });
    for (auto& t : putters) t.join();
    {
        std::lock_guard<std::mutex> lock(queue_mutex);
        puts_done = true;
    }
    queue_ready.notify_all();
    for (auto& t : threads) t.join();

    // Quiescence: re-drive what the library says to re-drive, with a healthy destination.
    flaky = false;
    const auto rule = *manager.match_rule("src", "key-0", {});
    for (int round = 0; round < 3; ++round) {
        auto redrive = manager.failed_entries();
        for (auto& stuck : manager.stuck_pending(manager.clock().now() + 1s, 0s)) redrive.push_back(stuck);
        for (const s3repl::EntryRef& e : redrive) {
            const Source::Version latest = source.latest(e.key);
            s3repl::replicate_object(manager, s3repl::ReplicationJob{rule, e.bucket, e.key, e.entry.generation},
                                     latest.body, Metadata{}, destination, options);
        }
    }
    CHECK(destination.rollbacks == 0);
    CHECK(manager.failed_entries().empty());
    for (const std::string& key : source.keys()) check_replicated(manager, source, destination, key);
    CHECK(manager.take_redrive_candidates().empty());
}
