// The generation counter's two halves: one fetch_add per mint below 2^63,
// a CAS loop that refuses at 2^64-1 above it, and the jumps between them.

#include <s3repl/detail/generation_counter.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

using s3repl::detail::GenerationCounter;

namespace {
constexpr std::uint64_t max_u64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t half = std::uint64_t{1} << 63;
} // namespace

TEST_CASE("the 2^63-th mint continues exactly into the upper half", "[generation]") {
    GenerationCounter c;
    c.raise_to(half - 3);
    CHECK(c.mint() == half - 2);
    CHECK(c.mint() == half - 1);
    CHECK(c.mint() == half);
    CHECK(c.mint() == half + 1);
    CHECK(c.last_issued() == half + 1);
    CHECK(c.minted() == 4);
    c.raise_to(half); // below the counter: nothing
    CHECK(c.mint() == half + 2);
    CHECK(c.minted() == 5);
}

TEST_CASE("a jump past 2^63 moves the counter there and counts no mint", "[generation]") {
    GenerationCounter c;
    CHECK(c.mint() == 1);
    CHECK(c.mint() == 2);
    c.raise_to(half + 100);
    CHECK(c.last_issued() == half + 100);
    CHECK(c.minted() == 2);
    CHECK(c.mint() == half + 101);
    c.raise_to(5); // below: nothing
    c.raise_to(half + 50);
    CHECK(c.mint() == half + 102);
    c.raise_to(max_u64 - 1);
    CHECK(c.mint() == max_u64);
    CHECK(c.exhausted());
    for (int i = 0; i < 3; ++i) CHECK_THROWS_AS(c.mint(), s3repl::GenerationExhausted);
    CHECK(c.minted() == 5); // 1, 2, 2^63 + 101, 2^63 + 102, 2^64-1
    CHECK(c.last_issued() == max_u64);
    CHECK(c.snapshot_value(0) == max_u64);
}

TEST_CASE("raising to 2^64-1 at once exhausts the counter", "[generation]") {
    GenerationCounter c;
    c.raise_to(7);
    c.raise_to(max_u64);
    CHECK(c.exhausted());
    CHECK(c.minted() == 0);
    CHECK_THROWS_AS(c.mint(), s3repl::GenerationExhausted);
}

TEST_CASE("mints racing a jump past 2^63 are distinct, and those after it above the floor",
          "[concurrent][generation]") {
    GenerationCounter c;
    constexpr int threads = 4;
    constexpr std::size_t per_thread = 20000;
    const std::uint64_t floor = half + 1000;
    std::vector<std::vector<std::uint64_t>> minted(threads);
    std::atomic<int> started{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            ++started;
            while (started.load() != threads + 1) std::this_thread::yield();
            for (std::size_t i = 0; i < per_thread; ++i) minted[static_cast<std::size_t>(t)].push_back(c.mint());
        });
    ++started;
    while (started.load() != threads + 1) std::this_thread::yield();
    std::this_thread::yield();
    c.raise_to(floor);
    const std::uint64_t after_raise = c.mint();
    for (std::thread& w : workers) w.join();

    std::vector<std::uint64_t> all{after_raise};
    for (const auto& mine : minted) {
        // Each thread's own mints increase.
        CHECK(std::is_sorted(mine.begin(), mine.end()));
        all.insert(all.end(), mine.begin(), mine.end());
    }
    CHECK(after_raise > floor);
    std::sort(all.begin(), all.end());
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
    // Below the floor: the first mints, 1 up to some count; above it: a run from floor + 1.
    const auto low_end = std::lower_bound(all.begin(), all.end(), half);
    const auto low = static_cast<std::uint64_t>(low_end - all.begin());
    if (low != 0) CHECK(all[static_cast<std::size_t>(low - 1)] == low);
    CHECK(all.back() == floor + (all.size() - low));
    CHECK(c.minted() == all.size());
    CHECK(c.last_issued() == all.back());
}
