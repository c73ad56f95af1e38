// The Redis manager on a real three-master Redis Cluster on loopback: the
// client's key slots are the servers', the entries spread over every master,
// and a resharding while threads stamp loses nothing and applies nothing
// twice (the redirections are followed, and no other error is seen).
#include "redis_cluster.hpp"
#include "support.hpp"

#include <s3repl/redis.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

using s3repl::ObjectId;
using s3repl::ReplicationStatus;
using RedisManager = s3repl::BasicRedisReplicationManager<s3repl::ManualClock>;

namespace {

s3repl_test::RedisCluster& cluster() {
    static s3repl_test::RedisCluster c;
    return c;
}

} // namespace

TEST_CASE("the key slot is the cluster's: CRC16 of the hash tag, modulo 16384", "[redis][cluster]") {
    CHECK(s3repl::detail::redis_crc16("123456789") == 0x31C3); // the specification's check value
    std::vector<std::string> keys = {"",
                                     "foo",
                                     "{user1000}.following",
                                     "{user1000}.followers",
                                     "foo{}{bar}",
                                     "foo{{bar}}zap",
                                     "foo{bar}{zap}",
                                     "{}",
                                     "}{",
                                     "{a",
                                     "{s3repl:gen}:config",
                                     "{s3repl:255}:@3:e:3:src1:k"};
    for (int i = 0; i < 200; ++i) {
        std::string bytes;
        for (int j = 0; j <= i % 23; ++j) bytes.push_back(static_cast<char>((i * 131 + j * 17) % 256));
        keys.push_back(bytes);
    }
    for (const std::string& key : keys) {
        INFO(key);
        CHECK(s3repl::detail::redis_key_slot(key) == cluster().ask(0, {"CLUSTER", "KEYSLOT", key}).integer);
    }
}

TEST_CASE("on a cluster the entries spread over every master, and every walk visits them all", "[redis][cluster]") {
    s3repl::ManualClock clock{s3repl_test::start};
    RedisManager m(cluster().options(), s3repl_test::fresh_prefix(), clock);
    for (int i = 0; i < 300; ++i)
        CHECK(m.record_status_if_newer("src", "k" + std::to_string(i), 2, ReplicationStatus::Pending));
    for (std::size_t node = 0; node < cluster().size(); ++node) CHECK(cluster().ask(node, {"DBSIZE"}).integer > 0);
    CHECK(m.size() == 300);
    CHECK(s3repl_test::recount(m).entries_pending == 300);
    CHECK(m.stuck_pending(clock.now() + std::chrono::seconds(1), std::chrono::seconds(0)).size() == 300);
    const std::string json = m.to_json();
    m.restore_json(json);
    CHECK(m.to_json() == json);
    CHECK(m.sweep_stale(clock.now(), std::chrono::seconds(0)) == 0); // all PENDING: kept
    CHECK(m.lookup_status("src", "k299") == ReplicationStatus::Pending);
}

TEST_CASE("a resharding while threads stamp: every acknowledged stamp is there, none applied twice",
          "[redis][cluster][concurrent]") {
    s3repl::ManualClock clock{s3repl_test::start};
    const std::string prefix = s3repl_test::fresh_prefix();
    constexpr int threads = 4;
    std::atomic<bool> stop{false};
    std::atomic<int> stamped{0}, ended{0}; // ended: threads stopped by an error
    std::vector<std::vector<std::string>> acknowledged(threads);
    std::vector<std::string> errors(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            RedisManager node(cluster().options(), prefix, clock);
            try {
                for (int i = 0; !stop.load(); ++i) {
                    const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
                    const std::uint64_t generation = node.next_generation();
                    if (node.record_status_if_newer("src", key, generation, ReplicationStatus::Pending))
                        acknowledged[static_cast<std::size_t>(t)].push_back(key);
                    ++stamped;
                }
            } catch (const std::exception& e) {
                errors[static_cast<std::size_t>(t)] = e.what();
                ++ended;
            }
        });
    while (stamped.load() < 200 && ended.load() == 0) std::this_thread::yield();
    const int moved_there = cluster().reshard(0, 1, 1500);
    const int moved_back = cluster().reshard(1, 2, 1500);
    const int before = stamped.load();
    while (stamped.load() < before + 200 && ended.load() == 0) std::this_thread::yield();
    stop = true;
    for (auto& w : workers) w.join();
    CHECK(moved_there == 0);
    CHECK(moved_back == 0);
    for (const std::string& error : errors) CHECK(error.empty());

    RedisManager m(cluster().options(), prefix, clock);
    std::size_t total = 0;
    for (const auto& keys : acknowledged)
        for (const std::string& key : keys) {
            INFO(key);
            CHECK(m.lookup_status("src", key) == ReplicationStatus::Pending);
            ++total;
        }
    CHECK(total == static_cast<std::size_t>(stamped.load())); // a fresh key's stamp is never refused
    const s3repl::ReplicationStats stats = m.stats();
    CHECK(stats.entries_pending == total);
    CHECK(stats.stamps_accepted == total); // no stamp applied twice
    CHECK(stats.stamps_rejected == 0);
    CHECK(stats.generations_minted == total);
    CHECK(s3repl_test::recount(m).entries_pending == total);
}
