// The Redis manager when its server fails mid-run: a stopped server (SIGSTOP)
// fails calls with BackendError within the timeout and the manager works
// again once it resumes; a killed one (SIGKILL, restarted on the same port
// and directory with appendfsync always) loses no acknowledged stamp, the
// manager reconnects by itself, and no stamp is ever half-applied.
#include "redis_server.hpp"
#include "support.hpp"

#include <s3repl/redis.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using s3repl::ObjectId;
using s3repl::ReplicationStatus;

namespace {

using Manager = s3repl::BasicRedisReplicationManager<s3repl::ManualClock>;

// Patient enough for a restart, quick to give up on a stopped server.
s3repl::RedisOptions options_for(const s3repl_test::RedisServer& server, std::chrono::milliseconds timeout) {
    s3repl::RedisOptions o = server.options(timeout);
    o.connect_attempts = 10;
    o.first_backoff = 5ms;
    o.max_backoff = 200ms;
    return o;
}

// Every entry key under `prefix`, counted straight from the server (SCAN,
// deduplicated), independently of the manager's indexes and counters.
std::size_t entry_keys(const s3repl_test::RedisServer& server, const std::string& prefix) {
    s3repl::detail::RedisConnection c(server.options());
    std::set<std::string> keys;
    std::string cursor = "0";
    do {
        const auto reply = c.command({"SCAN", cursor, "MATCH", "{" + prefix + ":*}:e:*", "COUNT", "1000"}, "scan");
        cursor = reply.elements.at(0).text;
        for (const auto& key : reply.elements.at(1).elements) keys.insert(key.text);
    } while (cursor != "0");
    return keys.size();
}

// The manager's counters agree with its sorted sets (recount) and with the
// entries themselves (entry_keys): what a half-applied stamp would break.
void check_consistent(const Manager& m, const s3repl_test::RedisServer& server) {
    const s3repl::ReplicationStats s = m.stats();
    s3repl_test::check_entry_counts(s, s3repl_test::recount(m));
    CHECK(m.size() == entry_keys(server, m.prefix()));
}

} // namespace

TEST_CASE("a stopped server: calls fail with BackendError, and work again once it resumes", "[redis][faults]") {
    s3repl_test::RedisServer server;
    s3repl::ManualClock clock{s3repl_test::start};
    Manager m(options_for(server, 200ms), s3repl_test::fresh_prefix(), clock);
    CHECK(m.record_status_if_newer("src", "k", m.next_generation(), ReplicationStatus::Pending));
    server.pause();
    CHECK_THROWS_AS(m.record_status_if_newer("src", "k", 2, ReplicationStatus::Completed), s3repl::BackendError);
    CHECK_THROWS_WITH(m.lookup_status("src", "k"), Catch::StartsWith("[s3repl.redis] lookup_entry: "));
    CHECK_THROWS_AS(m.next_generation(), s3repl::BackendError);
    server.resume();
    // The stamp sent before the timeout may have run once the server resumed:
    // the entry holds one whole stamp or the other.
    const auto entry = m.lookup_entry("src", "k");
    REQUIRE(entry);
    CHECK((entry->generation == 1 ? entry->status == ReplicationStatus::Pending
                                  : entry->generation == 2 && entry->status == ReplicationStatus::Completed));
    CHECK(m.record_status_if_newer("src", "k", m.next_generation(), ReplicationStatus::Failed));
    CHECK(m.lookup_status("src", "k") == ReplicationStatus::Failed);
    check_consistent(m, server);
}

TEST_CASE("SIGKILL and restart under running stamps: every acknowledged stamp survives, none half-applied",
          "[redis][faults][concurrent]") {
    s3repl_test::RedisServer server(true); // appendonly yes, appendfsync always
    s3repl::ManualClock clock{s3repl_test::start};
    Manager m(options_for(server, 2s), s3repl_test::fresh_prefix(), clock);

    constexpr int threads = 4, keys_per_thread = 8;
    struct Key {
        std::string name;
        std::atomic<std::uint64_t> acknowledged{0}; // the last generation the server confirmed
        std::atomic<std::uint64_t> attempted{0};    // the last generation sent
    };
    std::vector<std::unique_ptr<Key>> keys;
    for (int i = 0; i < threads * keys_per_thread; ++i) {
        keys.push_back(std::make_unique<Key>());
        keys.back()->name = "k" + std::to_string(i);
    }
    std::atomic<bool> stop{false};
    std::atomic<int> acks{0}, failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            for (std::uint64_t round = 1; !stop.load(); ++round)
                for (int j = 0; j < keys_per_thread && !stop.load(); ++j) {
                    Key& key = *keys[static_cast<std::size_t>(t * keys_per_thread + j)];
                    key.attempted.store(round);
                    // Until confirmed: a stamp whose answer was lost is sent again (equal generation).
                    for (;;) {
                        try {
                            m.record_destination_status_if_newer(ObjectId{"src", key.name}, "dst", round,
                                                                 round % 2 ? ReplicationStatus::Pending
                                                                           : ReplicationStatus::Failed);
                            key.acknowledged.store(round);
                            ++acks;
                            break;
                        } catch (const s3repl::BackendError&) {
                            ++failures;
                            if (stop.load()) return;
                        }
                    }
                }
        });

    REQUIRE(s3repl_test::eventually([&] { return acks.load() >= 200; }));
    server.crash();
    // No reply comes from a dead server: what is acknowledged now was
    // confirmed before the kill (with appendfsync always, after its fsync).
    std::vector<std::uint64_t> confirmed;
    for (const auto& key : keys) confirmed.push_back(key->acknowledged.load());
    server.restart();
    const int acks_at_restart = acks.load();
    // The workers reconnect by themselves and go on.
    CHECK(s3repl_test::eventually([&] { return acks.load() >= acks_at_restart + 200; }));
    stop.store(true);
    for (auto& w : workers) w.join();
    CHECK(failures.load() > 0); // the kill was seen

    for (std::size_t i = 0; i < keys.size(); ++i) {
        const auto entry = m.lookup_entry("src", keys[i]->name);
        REQUIRE(entry);
        CHECK(entry->generation >= confirmed[i]);
        CHECK(entry->generation >= keys[i]->acknowledged.load());
        CHECK(entry->generation <= keys[i]->attempted.load());
        CHECK(entry->status == (entry->generation % 2 ? ReplicationStatus::Pending : ReplicationStatus::Failed));
    }
    CHECK(m.size() == keys.size());
    check_consistent(m, server);
}

TEST_CASE("after a restart the scripts are loaded again and the counter goes on", "[redis][faults]") {
    s3repl_test::RedisServer server(true);
    s3repl::ManualClock clock{s3repl_test::start};
    Manager m(options_for(server, 2s), s3repl_test::fresh_prefix(), clock);
    CHECK(m.next_generation() == 1);
    CHECK(m.record_status_if_newer("src", "k", 1, ReplicationStatus::Completed));
    server.crash();
    server.restart();                // an empty script cache: NOSCRIPT, then SCRIPT LOAD
    CHECK(m.next_generation() == 2); // the closed idle connection is noticed before sending

    CHECK(m.lookup_status("src", "k") == ReplicationStatus::Completed);
    clock.advance(2h);
    CHECK(m.sweep_stale(clock.now(), 1h) == 1);
    check_consistent(m, server);
}
