// The Redis manager's restore_json across nodes: every node sees the state a
// restore switched in (each caches the epoch it last saw and is told when it
// was replaced), the replaced epoch's keys are deleted, and a stamp racing a
// restore is applied before it (and replaced) or after it, never to the
// replaced epoch.
#include "redis_server.hpp"
#include "support.hpp"

#include <s3repl/redis.hpp>
#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using s3repl::ObjectId;
using s3repl::ReplicationStatus;
using s3repl::ReplicationStatusEntry;
using RedisManager = s3repl::BasicRedisReplicationManager<s3repl::ManualClock>;

namespace {

constexpr ReplicationStatus P = ReplicationStatus::Pending;
constexpr ReplicationStatus C = ReplicationStatus::Completed;

// A snapshot document with `count` PENDING entries "base-<i>" at generation 5.
std::string snapshot_of(std::size_t count, const s3repl::ManualClock& clock) {
    s3repl_test::Manager memory(clock);
    for (std::size_t i = 0; i < count; ++i) memory.record_status_if_newer("src", "base-" + std::to_string(i), 5, P);
    return memory.to_json();
}

// Every key name under the prefix.
std::vector<std::string> keys_of(const std::string& prefix) {
    s3repl::detail::RedisConnection c(s3repl_test::shared_redis_server().options());
    std::vector<std::string> names;
    for (const auto& name : c.command({"KEYS", "{" + prefix + ":*"}, "test").elements) names.push_back(name.text);
    std::sort(names.begin(), names.end());
    return names;
}

} // namespace

TEST_CASE("a restore on one node is what every node on the prefix sees", "[redis][snapshot]") {
    s3repl::ManualClock clock{s3repl_test::start};
    const auto options = s3repl_test::shared_redis_server().options();
    const std::string prefix = s3repl_test::fresh_prefix();
    RedisManager a(options, prefix, clock), b(options, prefix, clock);
    const ObjectId old{"src", "old"}, base{"src", "base-0"}, fresh{"src", "fresh"}, version{"src", "v", "1"};
    CHECK(b.record_status_if_newer(old, 1, P)); // b now works in the first epoch
    CHECK(b.lookup_status(old) == P);

    a.restore_json(snapshot_of(3, clock));
    // b learns of the restore from its first call on the replaced epoch, whichever call it is.
    CHECK_FALSE(b.lookup_entry(old));
    CHECK(b.lookup_entry(base) == ReplicationStatusEntry{P, 5, clock.now()});
    a.restore_json(snapshot_of(2, clock));
    std::optional<ReplicationStatus> found[2];
    const ObjectId asked[2] = {old, base};
    b.lookup_statuses(asked, 2, found);
    CHECK_FALSE(found[0]);
    CHECK(found[1] == P);
    a.restore_json(snapshot_of(1, clock));
    const s3repl::StatusStamp stamps[] = {{fresh, 9, P}, {base, 9, C}};
    bool accepted[2] = {false, false};
    b.record_statuses_if_newer(stamps, 2, accepted);
    CHECK((accepted[0] && accepted[1]));
    CHECK(a.lookup_entry(fresh) == ReplicationStatusEntry{P, 9, clock.now()});
    CHECK(a.lookup_status(base) == C);
    a.restore_json(snapshot_of(1, clock));
    CHECK(b.record_status_if_newer(version, 10, C));
    b.mark_delete_marker(version);
    CHECK(a.failed_entries().empty());
    CHECK(a.size() == 2);
    a.restore_json(snapshot_of(1, clock));
    CHECK(b.forget(base));
    CHECK(a.size() == 0);
    CHECK(b.next_generation() == 11); // the counter never moved back
}

TEST_CASE("a restore deletes the replaced epoch's keys; a bad document writes none", "[redis][snapshot]") {
    s3repl::ManualClock clock{s3repl_test::start};
    const std::string prefix = s3repl_test::fresh_prefix();
    RedisManager m(s3repl_test::shared_redis_server().options(), prefix, clock);
    m.put_config("src", s3repl::ReplicationConfig{"role", {s3repl_test::rule_to("dst", 1)}});
    for (int i = 0; i < 700; ++i) // more than one deletion batch in some shards
        CHECK(m.record_status_if_newer(ObjectId{"src", "k" + std::to_string(i), i % 2 ? "v" : ""}, 2, P));
    const std::vector<std::string> before = keys_of(prefix);

    CHECK_THROWS_AS(m.restore_json(m.to_json().substr(1)), s3repl::SnapshotError);
    CHECK(keys_of(prefix) == before);

    m.restore_json(snapshot_of(1, clock));
    CHECK(m.size() == 1);
    CHECK_FALSE(m.get_config("src"));
    std::size_t markers = 0;
    for (const std::string& name : keys_of(prefix)) {
        INFO(name);
        const bool marker = name.size() > 3 && name.compare(name.size() - 3, 3, "}:x") == 0;
        markers += marker ? 1 : 0;
        CHECK((marker || name == "{" + prefix + ":gen}" || name.find("}:@") != std::string::npos));
    }
    CHECK(markers == s3repl::detail::redis_shard_count);
}

TEST_CASE("stamps racing restores: applied before one and replaced, or after it, never lost",
          "[redis][snapshot][concurrent]") {
    s3repl::ManualClock clock{s3repl_test::start};
    const auto options = s3repl_test::shared_redis_server().options();
    const std::string prefix = s3repl_test::fresh_prefix();
    const std::string document = snapshot_of(2000, clock);
    RedisManager restorer(options, prefix, clock);
    constexpr int threads = 4, restores = 3;
    std::atomic<int> started{0}, done{0}, stamped{0};
    std::atomic<bool> stop{false};
    struct Stamp {
        std::string key;
        int done_before, started_after; // restores done when it was sent, started when it returned
        bool accepted;
    };
    std::vector<std::vector<Stamp>> log(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            RedisManager node(options, prefix, clock); // each on the epoch it saw last
            for (int i = 0; !stop.load(); ++i) {
                Stamp s{"t" + std::to_string(t) + "-" + std::to_string(i), done.load(), 0, false};
                const ObjectId id{"src", s.key};
                if (t % 2 == 0) {
                    s.accepted = node.record_status_if_newer(id, 7, P);
                } else {
                    const s3repl::StatusStamp one{id, 7, P};
                    node.record_statuses_if_newer(&one, 1, &s.accepted);
                }
                s.started_after = started.load();
                log[static_cast<std::size_t>(t)].push_back(std::move(s));
                ++stamped;
            }
        });
    for (int r = 0; r < restores; ++r) {
        while (stamped.load() < 300 * (r + 1)) std::this_thread::yield();
        ++started;
        restorer.restore_json(document);
        ++done;
    }
    const int last = stamped.load();
    while (stamped.load() < last + 300) std::this_thread::yield();
    stop = true;
    for (auto& w : workers) w.join();

    std::size_t present = 0, raced = 0;
    for (const auto& stamps : log)
        for (const Stamp& s : stamps) {
            INFO(s.key);
            CHECK(s.accepted); // each key stamped once: nothing can refuse it
            const std::optional<ReplicationStatusEntry> entry = restorer.lookup_entry("src", s.key);
            if (s.done_before == restores) CHECK(entry);        // after the last restore: never lost
            if (s.started_after < restores) CHECK_FALSE(entry); // before it: replaced
            if (entry) CHECK(entry->generation == 7);
            present += entry ? 1 : 0;
            raced += s.done_before < restores && s.started_after == restores ? 1 : 0;
        }
    CAPTURE(raced);
    const s3repl::ReplicationStats stats = restorer.stats();
    CHECK(stats.entries_pending == 2000 + present); // the counters match the entries
    CHECK(s3repl_test::recount(restorer).entries_pending == 2000 + present);
    CHECK(restorer.lookup_status("src", "base-1999") == P);
}

TEST_CASE("a restorer that dies between its freeze and its switch: after the lease the next call thaws the state",
          "[redis][snapshot][faults]") {
    s3repl::ManualClock clock{s3repl_test::start};
    s3repl::RedisOptions options = s3repl_test::shared_redis_server().options();
    options.timeout = std::chrono::milliseconds(300); // the freeze's lease
    const std::string prefix = s3repl_test::fresh_prefix();
    RedisManager node(options, prefix, clock);
    const ObjectId object{"src", "k"};
    CHECK(node.record_status_if_newer(object, 1, P));

    // The restorer's first steps, as restore_json takes them, then nothing:
    // it was killed before its switch.
    s3repl::detail::RedisRouter router(options);
    const s3repl::detail::RedisKeys keys(prefix);
    s3repl::detail::RedisFreeze restorer(options.timeout);
    const auto fresh =
        static_cast<std::uint64_t>(router.command({"HINCRBY", keys.generation(), "epochs", "1"}, "test").integer);
    restorer.freeze(router, keys, 0, fresh);

    // Every call on the frozen state waits out the lease, then thaws it.
    CHECK(node.record_status_if_newer(object, 2, C));
    CHECK(node.lookup_entry(object) == ReplicationStatusEntry{C, 2, clock.now()});
    // A restorer that was only stalled finds its restore aborted.
    CHECK_THROWS_AS(restorer.switch_in(router, keys, 0, fresh, 0), s3repl::BackendError);
    CHECK(node.lookup_status(object) == C);
    // And the next restore goes through.
    node.restore_json(snapshot_of(1, clock));
    CHECK_FALSE(node.lookup_entry(object));
    CHECK(node.lookup_status(ObjectId{"src", "base-0"}) == P);
}
