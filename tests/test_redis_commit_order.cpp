// commit_in_order on the Redis manager across nodes: two managers on one
// server stand for two nodes (each its own connections and its own
// in-process stripes), committing the same keys at once. The commit appends
// its generation to the key's "file", so the file's order is the order of
// the commits: it must be the order of the generations. A node that dies
// holding a key's lock delays the key's next commit by the lease, no more.
#include "redis_server.hpp"
#include "support.hpp"

#include <s3repl/redis.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// What a key's commits leave behind, in the order they ran.
struct CommittedFile {
    std::mutex mutex;
    std::vector<std::uint64_t> generations; // guarded by mutex
};

} // namespace

TEST_CASE("two nodes committing the same keys at once: each key's commits follow its generations",
          "[redis][ordering][concurrent]") {
    s3repl_test::RedisServer server;
    std::array<s3repl::RedisReplicationManager, 2> nodes{s3repl::RedisReplicationManager(server.options()),
                                                         s3repl::RedisReplicationManager(server.options())};
    constexpr int keys = 3;
    constexpr int threads_per_node = 3;
    constexpr int commits_per_thread = 150;
    std::array<CommittedFile, keys> files;

    std::vector<std::thread> threads;
    for (int t = 0; t < 2 * threads_per_node; ++t)
        threads.emplace_back([&, t] {
            s3repl::RedisReplicationManager& node = nodes[static_cast<std::size_t>(t % 2)];
            for (int i = 0; i < commits_per_thread; ++i) {
                const int k = (t + i) % keys;
                CommittedFile& file = files[static_cast<std::size_t>(k)];
                node.commit_in_order("src", "key-" + std::to_string(k), [&](std::uint64_t generation) {
                    // Between the mint and the append another node's whole
                    // commit would fit, were the lock this node's alone.
                    std::this_thread::yield();
                    std::lock_guard<std::mutex> lock(file.mutex);
                    file.generations.push_back(generation);
                });
            }
        });
    for (std::thread& t : threads) t.join();

    std::size_t total = 0;
    for (CommittedFile& file : files) {
        CHECK(std::is_sorted(file.generations.begin(), file.generations.end()));
        CHECK(std::adjacent_find(file.generations.begin(), file.generations.end()) == file.generations.end());
        total += file.generations.size();
    }
    CHECK(total == 2U * threads_per_node * commits_per_thread);
}

TEST_CASE("a node stalled holding a key's commit lock delays the next commit by its lease, no longer",
          "[redis][ordering][concurrent]") {
    s3repl_test::RedisServer server;
    s3repl::RedisOptions short_lease = server.options();
    short_lease.commit_lease = 300ms;
    s3repl::RedisReplicationManager stalled(short_lease), taker(short_lease), third(short_lease);

    std::mutex mutex;
    std::condition_variable changed;
    bool stalled_holding = false, taken = false, stalled_released = false; // guarded by mutex
    std::atomic<bool> taker_committing{false};
    const auto wait_for = [&](const bool& flag) {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return flag; });
    };
    const auto set = [&](bool& flag) {
        {
            std::lock_guard<std::mutex> lock(mutex);
            flag = true;
        }
        changed.notify_all();
    };

    std::thread stuck([&] {
        stalled.commit_in_order("src", "k", [&](std::uint64_t) {
            set(stalled_holding);
            wait_for(taken); // stalled past the lease: the taker's commit went ahead
        });
        set(stalled_released);
    });
    wait_for(stalled_holding);
    std::thread late([&] {
        wait_for(stalled_released);
        // The stalled node's release came while the taker held the lock: it
        // must not have freed the taker's lease, so this commit waits for it.
        third.commit_in_order("src", "k", [&](std::uint64_t) { CHECK_FALSE(taker_committing.load()); });
    });
    const std::uint64_t generation = taker.commit_in_order("src", "k", [&](std::uint64_t) {
        taker_committing = true;
        set(taken);
        wait_for(stalled_released);
        std::this_thread::sleep_for(100ms); // room for a wrongly freed lock to be taken
        taker_committing = false;
    });
    CHECK(generation == 2);
    stuck.join();
    late.join();
}

TEST_CASE("a commit that throws releases the key's lock at once", "[redis][ordering]") {
    s3repl_test::RedisServer server;
    s3repl::RedisOptions long_lease = server.options();
    long_lease.commit_lease = 1h; // a lock left behind would stall the second commit for an hour
    s3repl::RedisReplicationManager a(long_lease), b(long_lease);
    CHECK_THROWS_AS(a.commit_in_order("src", "k", [](std::uint64_t) { throw std::runtime_error("disk full"); }),
                    std::runtime_error);
    CHECK(b.commit_in_order("src", "k", [](std::uint64_t) {}) == 2);
}
