// Defects an independent review reproduced against the manager, the counter
// and the sweeper, each pinned by the test that failed before its fix.
#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <functional>
#include <future>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using s3repl::ReplicationStatus;
using s3repl::SweepPolicy;
using s3repl_test::Manager;
using s3repl_test::max_u64;

namespace {

constexpr auto out_of_range_status = static_cast<ReplicationStatus>(6);

// Every observable of a manager that a refused call must leave alone.
struct Observed {
    std::string json;
    s3repl::ReplicationStats stats;
    friend bool operator==(const Observed& a, const Observed& b) { return a.json == b.json && a.stats == b.stats; }
};
template <class M>
Observed observe(const M& m) {
    return {m.to_json(), m.stats()};
}

Manager with_entries(std::size_t count, ReplicationStatus status = ReplicationStatus::Completed) {
    Manager m{s3repl::ManualClock{s3repl_test::start}};
    for (std::size_t i = 0; i < count; ++i) m.record_status_if_newer("b", "k" + std::to_string(i), i + 1, status);
    return m;
}

} // namespace

// ==== out-of-range statuses ===================================================

TEST_CASE("a status outside the four enumerators is refused by every stamp, changing nothing", "[hardening]") {
    Manager m = with_entries(3);
    const Observed before = observe(m);
    CHECK_THROWS_AS(m.record_status("b", "new", out_of_range_status), s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.record_status("b", "k0", out_of_range_status), s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.record_status_if_newer("b", "new", 99, out_of_range_status), s3repl::InvalidArgument);
    CHECK_THROWS_WITH(m.record_status_if_newer("b", "k1", 99, static_cast<ReplicationStatus>(255)),
                      Catch::Contains("status 255 is not a ReplicationStatus"));
    CHECK(observe(m) == before);
    // The counter did not move for the refused generation 99 either.
    CHECK(m.next_generation() == 4);
}

// ==== sweep TTLs ==============================================================

TEST_CASE("SweepPolicy saturates durations of any type: hours::max() keeps everything", "[hardening][sweep]") {
    Manager m = with_entries(5);
    m.record_status_if_newer("b", "failed", 9, ReplicationStatus::Failed);
    const auto far_future = s3repl_test::start + std::chrono::hours(24 * 365 * 200);

    CHECK(SweepPolicy{std::chrono::hours::max(), std::chrono::hours::max()}.completed_ttl == SweepPolicy::never);
    CHECK(m.sweep_stale(far_future, SweepPolicy{std::chrono::hours::max(), std::chrono::hours::max()}) == 0);
    CHECK(m.sweep_stale(far_future, std::chrono::duration<std::int64_t, std::ratio<86400 * 365>>::max()) == 0);
    CHECK(m.size() == 6);
    // Finer and coarser than nanoseconds, both exact where they fit.
    const SweepPolicy mixed{std::chrono::minutes(3), std::chrono::duration<double, std::milli>(1.5)};
    CHECK(mixed.completed_ttl == 180s);
    CHECK(mixed.failed_ttl == 1500us);
    CHECK(m.sweep_stale(far_future, SweepPolicy{std::chrono::hours::max(), 1h}) == 1);
    CHECK(m.size() == 5);
}

TEST_CASE("a negative TTL is refused by sweep_stale, sweeping nothing", "[hardening][sweep]") {
    Manager m = with_entries(4);
    const auto later = s3repl_test::start + 1h;
    CHECK_THROWS_AS(m.sweep_stale(later, -1s), s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.sweep_stale(later, SweepPolicy{1s, -1ns}), s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.sweep_stale(later, SweepPolicy{std::chrono::hours::min(), 1s}), s3repl::InvalidArgument);
    CHECK(m.size() == 4);
    CHECK(m.stats().entries_swept == 0);
    CHECK(m.sweep_stale(later, 0s) == 4); // zero is a TTL: everything recorded before now
}

TEST_CASE("sweep_stale asks keep_going before each shard and stops when it says no", "[hardening][sweep]") {
    Manager m = with_entries(2000);
    const auto later = s3repl_test::start + 1h;
    int asked = 0;
    const std::size_t swept = m.sweep_stale(later, SweepPolicy{1s, 1s}, [&] { return ++asked <= 3; });
    CHECK(asked == 4);
    CHECK(swept > 0);
    CHECK(swept < 2000 / 4); // three shards of 32
    CHECK(m.size() == 2000 - swept);
    CHECK(m.sweep_stale(later, SweepPolicy{1s, 1s}) == 2000 - swept); // the rest, next time
}

// ==== the counter: one invariant, live and restored ============================

TEST_CASE("a stamp above the counter raises it, so the live and the restored manager agree", "[hardening][counter]") {
    Manager live{s3repl::ManualClock{}};
    CHECK(live.record_status_if_newer("b", "k", 1000, ReplicationStatus::Pending));
    CHECK(live.next_generation() == 1001);
    CHECK(live.stats().generations_minted == 1);                                  // the jump is no mint
    CHECK(live.record_status_if_newer("b", "k2", 5, ReplicationStatus::Pending)); // below: no change
    Manager restored = Manager::from_json(live.to_json(), s3repl::ManualClock{});
    CHECK(restored.next_generation() == 1002);
    CHECK(live.next_generation() == 1002);
}

TEST_CASE("a stamp at 2^64-1 exhausts the counter at once, and the restored manager is exhausted too",
          "[hardening][counter]") {
    Manager live{s3repl::ManualClock{}};
    CHECK(live.record_status_if_newer("b", "k", max_u64, ReplicationStatus::Completed));
    CHECK_THROWS_AS(live.next_generation(), s3repl::GenerationExhausted);
    CHECK(live.stats().generations_minted == 0);
    const std::string json = live.to_json();
    const nlohmann::json doc = nlohmann::json::parse(json);
    CHECK(doc.at("next_generation") == max_u64);
    CHECK(doc.at("generations_exhausted") == true);
    Manager restored = Manager::from_json(json, s3repl::ManualClock{});
    CHECK_THROWS_AS(restored.next_generation(), s3repl::GenerationExhausted);
    // Stamps still work: the CAS needs no fresh generation.
    CHECK(restored.record_status_if_newer("b", "k2", max_u64, ReplicationStatus::Pending));
}

TEST_CASE("an exhausted counter is not reissued after save and restore", "[hardening][counter]") {
    Manager live{s3repl::ManualClock{}};
    live.raise_generation_floor(max_u64 - 1);
    CHECK(live.next_generation() == max_u64); // the last token, handed out once
    CHECK_THROWS_AS(live.next_generation(), s3repl::GenerationExhausted);
    Manager restored = Manager::from_json(live.to_json(), s3repl::ManualClock{});
    CHECK_THROWS_AS(restored.next_generation(), s3repl::GenerationExhausted);
    // The Rust server's snapshot with next_generation 2^64-1 and no member of ours: that token is still free.
    Manager from_rust = Manager::from_json(R"({"by_bucket":{},"statuses":[],"next_generation":18446744073709551615})",
                                           s3repl::ManualClock{});
    CHECK(from_rust.next_generation() == max_u64);
    CHECK_THROWS_AS(from_rust.next_generation(), s3repl::GenerationExhausted);
}

TEST_CASE("generations_exhausted is read strictly", "[hardening][counter][snapshot]") {
    const auto text = [](const std::string& member) {
        return R"({"by_bucket":{},"statuses":[],"next_generation":7)" + member + "}";
    };
    CHECK(Manager::from_json(text(R"(,"generations_exhausted":false)"), s3repl::ManualClock{}).next_generation() == 7);
    CHECK_THROWS_WITH(Manager::from_json(text(R"(,"generations_exhausted":1)"), s3repl::ManualClock{}),
                      Catch::Contains("/generations_exhausted: expected true or false"));
    CHECK_THROWS_AS(Manager::from_json(text(R"(,"generations_exhausted":true,"generations_exhausted":true)"),
                                       s3repl::ManualClock{}),
                    s3repl::SnapshotError);
}

TEST_CASE("raise_generation_floor: every later mint is above the floor, and it is no mint", "[hardening][counter]") {
    Manager m{s3repl::ManualClock{}};
    m.next_generation();
    m.raise_generation_floor(500);
    CHECK(m.next_generation() == 501);
    m.raise_generation_floor(10); // below: nothing changes
    CHECK(m.next_generation() == 502);
    CHECK(m.stats().generations_minted == 3);
}

TEST_CASE("restore_json never moves the counter back", "[hardening][counter][snapshot]") {
    Manager m{s3repl::ManualClock{}};
    for (int i = 0; i < 50; ++i) m.next_generation();
    m.restore_json(R"({"by_bucket":{},"statuses":[[["b","k"],{"status":"Pending","generation":7}]],)"
                   R"("next_generation":10})");
    CHECK(m.next_generation() == 51);
    m.restore_json(R"({"by_bucket":{},"statuses":[[["b","k"],{"status":"Pending","generation":90}]],)"
                   R"("next_generation":10})");
    CHECK(m.next_generation() == 91);
    CHECK(m.stats().generations_minted == 52);
}

// ==== to_json against a concurrent restore ====================================

TEST_CASE("a snapshot taken while a restore runs holds the state wholly before or wholly after it",
          "[hardening][snapshot][concurrent]") {
    // Two states, each a configuration and entries of its own bucket: a mix holds a
    // configuration of one and entries of the other (to_json reads the configurations first).
    const auto state_of = [](const char* bucket) {
        Manager m{s3repl::ManualClock{s3repl_test::start}};
        m.put_config(bucket, s3repl::ReplicationConfig{"role", {}});
        for (int i = 0; i < 64; ++i)
            m.record_status_if_newer(bucket, "k" + std::to_string(i), 1, ReplicationStatus::Pending);
        return m.to_json();
    };
    const std::string one = state_of("one"), two = state_of("two");
    Manager m = Manager::from_json(one, s3repl::ManualClock{});
    std::atomic<bool> done{false};
    std::thread restorer([&] {
        for (int i = 0; i < 1000; ++i) m.restore_json(i % 2 == 0 ? two : one);
        done = true;
    });
    int snapshots = 0, mixed = 0;
    while (!done || snapshots == 0) {
        const nlohmann::json doc = nlohmann::json::parse(m.to_json());
        const std::string configured = doc.at("by_bucket").begin().key();
        for (const auto& pair : doc.at("statuses"))
            if (pair.at(0).at(0) != configured) {
                ++mixed;
                break;
            }
        ++snapshots;
    }
    restorer.join();
    INFO(snapshots << " snapshots");
    CHECK(mixed == 0);
}

// ==== moved-from managers =====================================================

#ifndef NDEBUG
TEST_CASE("a call on a moved-from manager fails its assertion in debug builds", "[hardening]") {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(STDERR_FILENO);        // the assertion's message is expected
        std::signal(SIGABRT, SIG_DFL); // die of it, not through Catch's handler
        s3repl::ReplicationManager source;
        s3repl::ReplicationManager target(std::move(source));
        (void)target.size(); // the moved-to manager works
        (void)source.lookup_status("b", "k");
        ::_exit(0); // not reached when the assertion holds its ground
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGABRT);
}
#endif

TEST_CASE("a moved-from manager can be assigned to and destroyed", "[hardening]") {
    s3repl::ReplicationManager a;
    a.record_status("b", "k", ReplicationStatus::Pending);
    s3repl::ReplicationManager b(std::move(a));
    a = s3repl::ReplicationManager{};
    CHECK(a.size() == 0);
    CHECK(b.size() == 1);
}

// ==== the sweeper stops between shards ========================================

namespace {
// A shared_mutex whose exclusive lock calls a hook: lets a test act at the
// exact moment the sweeper's pass locks a shard.
struct HookedMutex {
    static inline std::function<void()> on_lock;
    void lock() {
        mutex.lock();
        if (on_lock) on_lock();
    }
    void unlock() { mutex.unlock(); }
    void lock_shared() { mutex.lock_shared(); }
    void unlock_shared() { mutex.unlock_shared(); }
    std::shared_mutex mutex;
};
using HookedManager = s3repl::BasicReplicationManager<s3repl::ManualClock, HookedMutex>;
} // namespace

TEST_CASE("a stop requested during a pass ends it after the shard being swept", "[hardening][sweeper][concurrent]") {
    HookedManager m{s3repl::ManualClock{s3repl_test::start}};
    constexpr std::size_t entries = 3200;
    for (std::size_t i = 0; i < entries; ++i)
        m.record_status_if_newer("b", "k" + std::to_string(i), i + 1, ReplicationStatus::Completed);
    m.clock().set(s3repl_test::start + 24h);

    std::mutex mutex;
    std::condition_variable reported;
    std::optional<std::size_t> swept; // guarded by mutex
    std::atomic<int> locks_in_pass{0};
    // The pass may start before the constructor returns: the hook waits to learn the sweeper.
    std::promise<s3repl::StaleSweeper<HookedManager>*> sweeper;
    std::shared_future<s3repl::StaleSweeper<HookedManager>*> sweeper_known = sweeper.get_future().share();
    const std::thread::id test_thread = std::this_thread::get_id();
    HookedMutex::on_lock = [&] {
        if (std::this_thread::get_id() == test_thread) return;
        if (locks_in_pass++ == 0) sweeper_known.get()->request_stop(); // the first shard of the first pass
    };
    {
        s3repl::StaleSweeper<HookedManager> running(m, SweepPolicy{1s, 1s}, 1ms,
                                                    [&](std::size_t count, std::chrono::nanoseconds) {
                                                        {
                                                            std::lock_guard<std::mutex> lock(mutex);
                                                            swept = count;
                                                        }
                                                        reported.notify_all();
                                                    });
        sweeper.set_value(&running);
        std::unique_lock<std::mutex> lock(mutex);
        REQUIRE(reported.wait_for(lock, 60s, [&] { return swept.has_value(); }));
    } // joins
    HookedMutex::on_lock = nullptr;

    CHECK(locks_in_pass == 1);
    CHECK(*swept > 0);
    CHECK(*swept < entries / 8); // one shard of 32
    CHECK(m.size() == entries - *swept);
}

// ==== begin_replication validates before it mints ============================

TEST_CASE("begin_replication with a key that is not UTF-8 throws before minting or committing", "[hardening]") {
    s3repl::ReplicationManager m;
    s3repl::ReplicationRule rule;
    rule.id = "all";
    rule.destination_bucket = "dst";
    m.put_config("src", s3repl::ReplicationConfig{"role", {rule}});
    int commits = 0;
    const auto commit = [&](std::uint64_t) { ++commits; };
    CHECK_THROWS_AS(s3repl_test::begin_one(m, "src", "bad\xff", {}, commit), s3repl::InvalidArgument);
    CHECK_THROWS_AS(s3repl_test::begin_one(m, "sr\xc0", "k", {}, commit), s3repl::InvalidArgument);
    CHECK(commits == 0);
    CHECK(m.stats().generations_minted == 0);
    CHECK(m.size() == 0);
    CHECK(s3repl_test::begin_one(m, "src", "good", {}, commit)->generation == 1);
}
