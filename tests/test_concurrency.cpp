// The manager under real threads. CI runs these under ThreadSanitizer, so
// they are sized to take seconds there. Catch2's assertions are not
// thread-safe: threads record what they saw, the main thread checks it.

#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using s3repl::ManualClock;
using s3repl::ReplicationStats;
using s3repl::ReplicationStatus;
using s3repl::ReplicationStatusEntry;
using s3repl::Timestamp;
using namespace s3repl_test;

namespace {

// Runs body(0) .. body(count - 1) on `count` threads released at once, so
// they really overlap, and joins them.
template <class Body>
void run_together(int count, Body&& body) {
    std::promise<void> go;
    const std::shared_future<void> ready = go.get_future().share();
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(count));
    for (int t = 0; t < count; ++t)
        threads.emplace_back([&body, ready, t] {
            ready.wait();
            body(t);
        });
    go.set_value();
    for (std::thread& thread : threads) thread.join();
}

} // namespace

TEST_CASE("generations from 8 threads x 100k calls are unique and increasing per thread", "[concurrent][generation]") {
    s3repl::ReplicationManager m;
    constexpr int threads = 8;
    constexpr std::size_t per_thread = 100000;
    std::vector<std::vector<std::uint64_t>> minted(threads);
    run_together(threads, [&](int t) {
        std::vector<std::uint64_t>& mine = minted[static_cast<std::size_t>(t)];
        mine.reserve(per_thread);
        for (std::size_t i = 0; i < per_thread; ++i) mine.push_back(m.next_generation());
    });
    std::vector<std::uint64_t> all;
    for (const std::vector<std::uint64_t>& mine : minted) {
        REQUIRE(mine.size() == per_thread);
        CHECK(std::adjacent_find(mine.begin(), mine.end(), [](std::uint64_t a, std::uint64_t b) { return a >= b; }) ==
              mine.end());
        all.insert(all.end(), mine.begin(), mine.end());
    }
    std::sort(all.begin(), all.end());
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
    CHECK(all.front() == 1);
    CHECK(all.back() == threads * per_thread);
    CHECK(m.stats().generations_minted == threads * per_thread);
}

TEST_CASE("threads racing to the last generations share them out exactly, then all are refused",
          "[concurrent][generation]") {
    constexpr std::uint64_t left = 100000;
    auto m = s3repl::ReplicationManager::from_json(R"({"by_bucket":{},"statuses":[],"next_generation":)" +
                                                   std::to_string(max_u64 - left + 1) + "}");
    constexpr int threads = 8;
    std::vector<std::vector<std::uint64_t>> minted(threads);
    std::vector<int> refusals(threads);
    run_together(threads, [&](int t) {
        for (;;) {
            try {
                minted[static_cast<std::size_t>(t)].push_back(m.next_generation());
            } catch (const s3repl::GenerationExhausted&) {
                if (++refusals[static_cast<std::size_t>(t)] == 3) return;
            }
        }
    });
    std::vector<std::uint64_t> all;
    for (const std::vector<std::uint64_t>& mine : minted) all.insert(all.end(), mine.begin(), mine.end());
    std::sort(all.begin(), all.end());
    REQUIRE(all.size() == left);
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
    CHECK(all.front() == max_u64 - left + 1);
    CHECK(all.back() == max_u64);
    CHECK(m.stats().generations_minted == left);
}

TEST_CASE("linearizability: concurrent stamps, lookups and sweeps agree with the accepted history",
          "[concurrent][cas][sweep]") {
    constexpr int stampers = 4;
    constexpr int ops_per_stamper = 20000;
    constexpr int buckets = 4, keys_per_bucket = 64, old_terminal = 2000, old_live = 200;
    constexpr std::size_t key_count = buckets * keys_per_bucket;

    ManualClock clock(start);
    Manager m(clock);
    std::vector<std::pair<std::string, std::string>> keys;
    for (int b = 0; b < buckets; ++b)
        for (int k = 0; k < keys_per_bucket; ++k)
            keys.emplace_back("src-" + std::to_string(b), "obj/" + std::to_string(k));

    // Old entries, recorded 30 days ago in the same buckets: the terminal ones
    // must be swept, the PENDING and REPLICA ones never.
    clock.set(start - std::chrono::hours(24 * 30));
    for (int i = 0; i < old_terminal; ++i)
        m.record_status("src-" + std::to_string(i % buckets), "old/" + std::to_string(i),
                        i % 2 ? ReplicationStatus::Completed : ReplicationStatus::Failed);
    for (int i = 0; i < old_live; ++i)
        m.record_status("src-" + std::to_string(i % buckets), "old-live/" + std::to_string(i),
                        i % 2 ? ReplicationStatus::Pending : ReplicationStatus::Replica);
    clock.set(start);
    const ReplicationStats seeded = m.stats();
    REQUIRE(seeded.stamps_accepted == old_terminal + old_live);

    struct Stamp {
        std::uint32_t key;
        std::uint64_t generation;
        ReplicationStatus status;
        bool accepted;
    };
    std::vector<std::vector<Stamp>> logs(stampers);
    std::vector<std::uint64_t> minted_by(stampers), dropped_by(stampers);
    // Recently minted generations, shared so that several threads stamp one
    // generation (duplicate tasks of one PUT) and late ones arrive stale.
    std::array<std::atomic<std::uint64_t>, 16> recent{};
    std::atomic<int> stampers_running{stampers};
    // Set after the reader's first lookup: stampers wait for it halfway, so
    // reads overlap stamps even when the scheduler starts the reader last.
    std::atomic<bool> reader_started{false};

    std::uint64_t reads = 0, read_violations = 0, sweeps = 0, swept = 0, snapshots = 0, snapshot_violations = 0;
    auto reader = [&] {
        std::vector<std::uint64_t> seen_generation(key_count, 0);
        std::vector<bool> seen(key_count, false), seen_completed(key_count, false);
        std::mt19937_64 rng(99);
        while (stampers_running.load() != 0) {
            const std::size_t k = rng() % key_count;
            const auto e = m.lookup_entry(keys[k].first, keys[k].second);
            ++reads;
            reader_started.store(true);
            if (!e) {
                read_violations += seen[k]; // stamper entries are never swept
                continue;
            }
            // The generation never goes back; COMPLETED stays within its generation.
            if (seen[k] &&
                (e->generation < seen_generation[k] || (e->generation == seen_generation[k] && seen_completed[k] &&
                                                        e->status != ReplicationStatus::Completed)))
                ++read_violations;
            if (!seen[k] || e->generation > seen_generation[k]) seen_completed[k] = false;
            seen[k] = true;
            seen_generation[k] = e->generation;
            seen_completed[k] = seen_completed[k] || e->status == ReplicationStatus::Completed;
            if (m.lookup_status(keys[k].first, keys[k].second) == std::nullopt) ++read_violations;
            if (reads % 500 == 0) { // whole-map readers take every shard lock
                const ReplicationStats s = m.stats();
                const std::size_t total =
                    s.entries_pending + s.entries_completed + s.entries_failed + s.entries_replica;
                if (total > old_terminal + old_live + key_count || s.stamps_accepted < seeded.stamps_accepted)
                    ++snapshot_violations;
                std::size_t visited = 0;
                m.for_each_entry([&](std::string_view, std::string_view, const ReplicationStatusEntry&) { ++visited; });
                if (visited > old_terminal + old_live + key_count) ++snapshot_violations;
                (void)m.stuck_pending(clock.now(), 1h);
                (void)m.failed_entries();
                ++snapshots;
            }
        }
    };
    auto sweeper = [&] {
        do { // at least once, and on until the stampers are done
            swept += sweeps % 2 ? m.sweep_stale(clock.now(), 24h)
                                : m.sweep_stale(clock.now(), s3repl::SweepPolicy{24h, 48h});
            ++sweeps;
            std::this_thread::yield();
        } while (stampers_running.load() != 0);
    };
    auto stamper = [&](int t) {
        std::mt19937_64 rng(1000 + static_cast<std::uint64_t>(t));
        std::vector<Stamp>& log = logs[static_cast<std::size_t>(t)];
        log.reserve(ops_per_stamper);
        for (int op = 0; op < ops_per_stamper; ++op) {
            if (op == ops_per_stamper / 2) eventually([&] { return reader_started.load(); });
            std::uint64_t generation;
            if (rng() % 3 == 0) {
                generation = m.next_generation();
                ++minted_by[static_cast<std::size_t>(t)];
                recent[generation % recent.size()].store(generation);
            } else {
                generation = recent[rng() % recent.size()].load();
            }
            const auto k = static_cast<std::uint32_t>(rng() % key_count);
            const ReplicationStatus status = all_statuses[rng() % 4];
            const bool accepted = m.record_status_if_newer(keys[k].first, keys[k].second, generation, status);
            log.push_back({k, generation, status, accepted});
            if (!accepted && rng() % 4 == 0) {
                m.note_dropped();
                ++dropped_by[static_cast<std::size_t>(t)];
            }
            clock.advance(1us); // time moves, but far less than the TTL
        }
        stampers_running.fetch_sub(1);
    };
    run_together(stampers + 2, [&](int t) {
        if (t == stampers)
            reader();
        else if (t == stampers + 1)
            sweeper();
        else
            stamper(t);
    });

    INFO(reads << " reads, " << sweeps << " sweeps, " << snapshots << " whole-map reads");
    CHECK(read_violations == 0);
    CHECK(snapshot_violations == 0);
    CHECK(reads > 0);
    CHECK(sweeps > 0);

    // The accepted history, per key: the highest generation and what was
    // stamped at it.
    struct History {
        bool stamped = false;
        std::uint64_t top = 0;
        std::set<ReplicationStatus> top_statuses;
    };
    std::vector<History> history(key_count);
    std::uint64_t accepted = 0, rejected = 0;
    for (const std::vector<Stamp>& log : logs) {
        // One thread's accepted stamps on one key never go back in generation.
        std::map<std::uint32_t, std::uint64_t> last_accepted;
        for (const Stamp& s : log) {
            if (!s.accepted) {
                ++rejected;
                continue;
            }
            ++accepted;
            const auto previous = last_accepted.find(s.key);
            if (previous != last_accepted.end()) CHECK(s.generation >= previous->second);
            last_accepted[s.key] = s.generation;
            History& h = history[s.key];
            if (!h.stamped || s.generation > h.top) {
                h.top = s.generation;
                h.top_statuses.clear();
            }
            h.stamped = true;
            if (s.generation == h.top) h.top_statuses.insert(s.status);
        }
    }
    // A rejected stamp was beaten by an accepted one: a greater generation,
    // or COMPLETED at its own generation.
    for (const std::vector<Stamp>& log : logs)
        for (const Stamp& s : log) {
            if (s.accepted) continue;
            const History& h = history[s.key];
            REQUIRE(h.stamped);
            const bool beaten =
                h.top > s.generation || (h.top == s.generation && s.status != ReplicationStatus::Completed &&
                                         h.top_statuses.count(ReplicationStatus::Completed) != 0);
            if (!beaten) {
                INFO("key " << s.key << ", rejected generation " << s.generation << ", highest accepted " << h.top);
                CHECK(beaten);
            }
        }

    // Every stamped key holds the highest accepted generation, and a status
    // accepted at it (COMPLETED if any was: it is final within a generation).
    std::size_t stamped_keys = 0;
    for (std::size_t k = 0; k < key_count; ++k) {
        INFO(keys[k].first << "/" << keys[k].second);
        const auto entry = m.lookup_entry(keys[k].first, keys[k].second);
        const History& h = history[k];
        REQUIRE(entry.has_value() == h.stamped);
        if (!h.stamped) continue;
        ++stamped_keys;
        CHECK(entry->generation == h.top);
        CHECK(h.top_statuses.count(entry->status) == 1);
        if (h.top_statuses.count(ReplicationStatus::Completed) != 0)
            CHECK(entry->status == ReplicationStatus::Completed);
        CHECK(entry->recorded_at >= start);
    }
    CHECK(stamped_keys == key_count);

    // Every old terminal entry is gone; the old live ones are all still there.
    for (int i = 0; i < old_terminal; ++i)
        CHECK_FALSE(m.lookup_entry("src-" + std::to_string(i % buckets), "old/" + std::to_string(i)).has_value());
    for (int i = 0; i < old_live; ++i)
        CHECK(m.lookup_status("src-" + std::to_string(i % buckets), "old-live/" + std::to_string(i)) ==
              (i % 2 ? ReplicationStatus::Pending : ReplicationStatus::Replica));
    CHECK(swept == old_terminal);
    CHECK(m.size() == old_live + stamped_keys);

    // The counters equal a recount of the map and of the threads' own tallies.
    ReplicationStats expected = recount(m);
    for (const std::uint64_t minted : minted_by) expected.generations_minted += minted;
    for (const std::uint64_t dropped : dropped_by) expected.dropped_total += dropped;
    expected.stamps_accepted = seeded.stamps_accepted + accepted;
    expected.stamps_rejected = rejected;
    expected.entries_swept = old_terminal;
    check_stats(m.stats(), expected);
    CHECK(rejected > 0); // the mix did produce stale and COMPLETED-final stamps
}

TEST_CASE("distinct keys inserted from 4 threads into shared buckets all land", "[concurrent][scale]") {
    ManualClock clock(start);
    Manager m(clock);
    constexpr int threads = 4, per_thread = 25000;
    std::atomic<int> writers{threads};
    std::uint64_t observer_rounds = 0, observer_violations = 0;
    run_together(threads + 1, [&](int t) {
        if (t == threads) { // watches the map grow: sizes never shrink
            std::size_t last = 0;
            while (writers.load() != 0) {
                const std::size_t now = m.size();
                observer_violations += now < last;
                last = now;
                ++observer_rounds;
            }
            return;
        }
        for (int i = 0; i < per_thread; ++i)
            m.record_status("bucket-" + std::to_string(i % 10), "t" + std::to_string(t) + "/" + std::to_string(i),
                            ReplicationStatus::Pending);
        writers.fetch_sub(1);
    });
    CHECK(observer_violations == 0);
    CHECK(m.size() == threads * per_thread);
    for (int t = 0; t < threads; ++t)
        for (int i = 0; i < per_thread; ++i)
            REQUIRE(m.lookup_status("bucket-" + std::to_string(i % 10),
                                    "t" + std::to_string(t) + "/" + std::to_string(i)) == ReplicationStatus::Pending);
    const ReplicationStats s = m.stats();
    CHECK(s.entries_pending == threads * per_thread);
    CHECK(s.stamps_accepted == threads * per_thread);
}

TEST_CASE("readers of the bucket rules see a whole configuration or none", "[concurrent][rules]") {
    s3repl::ReplicationManager m;
    auto config_of = [](const std::string& name, std::uint32_t rules) {
        s3repl::ReplicationConfig config{"role-" + name, {}};
        for (std::uint32_t i = 0; i < rules; ++i)
            config.rules.push_back(
                {name + "-" + std::to_string(i), i, true, {std::nullopt, {}}, "dst-" + name, std::nullopt});
        return config;
    };
    const s3repl::ReplicationConfig a = config_of("a", 3), b = config_of("b", 5);
    std::atomic<bool> writing{true};
    std::atomic<std::uint64_t> reads{0};
    std::uint64_t torn = 0;
    run_together(2, [&](int t) {
        if (t == 0) { // writes on until the reader has really overlapped with it
            for (int i = 0; i < 2000 || reads.load() < 1000; ++i) {
                m.put_config("src", i % 2 ? a : b);
                if (i % 5 == 0) m.delete_config("src");
            }
            writing.store(false);
            return;
        }
        while (writing.load()) {
            const auto config = m.get_config("src");
            torn += config && *config != a && *config != b;
            const auto rule = m.match_rule("src", "k", {});
            // The highest priority, the last rule of either configuration.
            torn += rule && *rule != a.rules.back() && *rule != b.rules.back();
            reads.fetch_add(1);
        }
    });
    CHECK(torn == 0);
    CHECK(reads.load() >= 1000);
}
