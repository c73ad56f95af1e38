// The manager on one thread: generations, the CAS, unconditional stamps,
// lookups, key handling, UTF-8 checks, the TTL sweep, re-drive queries and
// the exact stats. Real threads are in test_concurrency.cpp.

#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>
#include <date/date.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using s3repl::EntryRef;
using s3repl::ManualClock;
using s3repl::ReplicationStats;
using s3repl::ReplicationStatus;
using s3repl::ReplicationStatusEntry;
using s3repl::SweepPolicy;
using s3repl::Timestamp;
using namespace s3repl_test;

namespace {

Timestamp civil(int year) { return Timestamp{date::sys_days{date::year{year} / 1 / 1}}; }

struct Fixture {
    ManualClock clock{start};
    Manager m{clock};

    // Stamps b/k `stored` at `stored_generation`, then a second later checks
    // that `next` at `next_generation` is accepted and stored as stamped then.
    void check_restamp_accepted(ReplicationStatus stored, std::uint64_t stored_generation, ReplicationStatus next,
                                std::uint64_t next_generation) {
        REQUIRE(m.record_status_if_newer("b", "k", stored_generation, stored));
        clock.advance(1s);
        CHECK(m.record_status_if_newer("b", "k", next_generation, next));
        CHECK(m.lookup_entry("b", "k") == ReplicationStatusEntry{next, next_generation, clock.now()});
    }
};

} // namespace

namespace Catch {
template <>
struct StringMaker<ReplicationStatus> {
    static std::string convert(ReplicationStatus s) { return std::string(s3repl::to_aws_string(s)); }
};
template <>
struct StringMaker<ReplicationStatusEntry> {
    static std::string convert(const ReplicationStatusEntry& e) {
        return "{" + std::string(s3repl::to_aws_string(e.status)) + ", gen " + std::to_string(e.generation) + ", at " +
               std::to_string(e.recorded_at.time_since_epoch().count()) + "ns}";
    }
};
} // namespace Catch

// ---- generations ----------------------------------------------------------

TEST_CASE("the first generation is 1", "[generation]") {
    s3repl::ReplicationManager m;
    CHECK(m.stats().generations_minted == 0);
    CHECK(m.next_generation() == 1);
    CHECK(m.stats().generations_minted == 1);
}

TEST_CASE("each generation is greater than every one before", "[generation]") {
    s3repl::ReplicationManager m;
    std::uint64_t previous = m.next_generation();
    for (int i = 0; i < 10000; ++i) {
        const std::uint64_t next = m.next_generation();
        REQUIRE(next > previous);
        previous = next;
    }
    CHECK(m.stats().generations_minted == 10001);
}

TEST_CASE("once 2^64-1 is handed out, every next_generation throws GenerationExhausted", "[generation]") {
    // Minting 2^64 times is out of reach: start one token short.
    s3repl::ReplicationManager m;
    m.raise_generation_floor(max_u64 - 1);
    CHECK(m.next_generation() == max_u64);
    for (int i = 0; i < 3; ++i) CHECK_THROWS_AS(m.next_generation(), s3repl::GenerationExhausted);
    CHECK_THROWS_AS(m.next_generation(), s3repl::Error);
    CHECK(m.stats().generations_minted == 1); // refusals are not mints
    // Stamps with the last token still work.
    CHECK(m.record_status_if_newer("b", "k", max_u64, ReplicationStatus::Completed));
    CHECK_THROWS_AS(m.next_generation(), s3repl::GenerationExhausted);
}

// ---- the CAS --------------------------------------------------------------

TEST_CASE_METHOD(Fixture, "CAS: a stamp on an absent entry is accepted", "[cas]") {
    for (ReplicationStatus status : all_statuses) {
        const std::string key = "k-" + std::string(s3repl::to_aws_string(status));
        CHECK(m.record_status_if_newer("b", key, 7, status));
        CHECK(m.lookup_entry("b", key) == ReplicationStatusEntry{status, 7, start});
        CHECK(m.lookup_status("b", key) == status);
    }
    CHECK(m.size() == 4);
    CHECK(m.stats().stamps_accepted == 4);
    CHECK(m.stats().stamps_rejected == 0);
}

TEST_CASE_METHOD(Fixture, "CAS: a greater generation is accepted from any status to any status", "[cas]") {
    for (ReplicationStatus stored : all_statuses) {
        for (ReplicationStatus next : all_statuses) {
            INFO(s3repl::to_aws_string(stored) << " -> " << s3repl::to_aws_string(next));
            check_restamp_accepted(stored, 1, next, 2);
            m.record_status("b", "k", stored); // back to generation 0 for the next round
        }
    }
}

TEST_CASE("CAS: a smaller generation is rejected and changes nothing", "[cas]") {
    for (ReplicationStatus stored : all_statuses) {
        for (ReplicationStatus late : all_statuses) {
            INFO(s3repl::to_aws_string(stored) << " then stale " << s3repl::to_aws_string(late));
            Fixture f;
            REQUIRE(f.m.record_status_if_newer("b", "k", 10, stored));
            const ReplicationStatusEntry before = *f.m.lookup_entry("b", "k");
            const ReplicationStats stats_before = f.m.stats();
            f.clock.advance(1h);
            CHECK_FALSE(f.m.record_status_if_newer("b", "k", 9, late));
            CHECK_FALSE(f.m.record_status_if_newer("b", "k", 0, late));
            CHECK(f.m.lookup_entry("b", "k") == before); // recorded_at too
            CHECK(f.m.size() == 1);
            ReplicationStats expected = stats_before;
            expected.stamps_rejected += 2;
            check_stats(f.m.stats(), expected);
        }
    }
}

TEST_CASE_METHOD(Fixture, "CAS: an equal generation is accepted when the entry is not COMPLETED", "[cas]") {
    for (ReplicationStatus stored :
         {ReplicationStatus::Pending, ReplicationStatus::Failed, ReplicationStatus::Replica}) {
        for (ReplicationStatus next : all_statuses) {
            INFO(s3repl::to_aws_string(stored) << " -> " << s3repl::to_aws_string(next) << " at the same generation");
            m.record_status("b", "k", stored);
            check_restamp_accepted(stored, 3, next, 3);
        }
    }
}

TEST_CASE_METHOD(Fixture, "CAS: COMPLETED is final within its generation", "[cas]") {
    REQUIRE(m.record_status_if_newer("b", "k", 5, ReplicationStatus::Pending));
    REQUIRE(m.record_status_if_newer("b", "k", 5, ReplicationStatus::Completed));
    const ReplicationStatusEntry done = *m.lookup_entry("b", "k");
    const ReplicationStats stats_before = m.stats();
    clock.advance(1min);
    for (ReplicationStatus late : {ReplicationStatus::Failed, ReplicationStatus::Pending, ReplicationStatus::Replica}) {
        INFO("late " << s3repl::to_aws_string(late));
        CHECK_FALSE(m.record_status_if_newer("b", "k", 5, late));
        CHECK(m.lookup_entry("b", "k") == done);
    }
    ReplicationStats expected = stats_before;
    expected.stamps_rejected += 3;
    check_stats(m.stats(), expected);
}

TEST_CASE_METHOD(Fixture, "CAS: COMPLETED again at the same generation is accepted and refreshes recorded_at",
                 "[cas]") {
    REQUIRE(m.record_status_if_newer("b", "k", 5, ReplicationStatus::Completed));
    clock.advance(90s);
    CHECK(m.record_status_if_newer("b", "k", 5, ReplicationStatus::Completed));
    CHECK(m.lookup_entry("b", "k") == ReplicationStatusEntry{ReplicationStatus::Completed, 5, start + 90s});
    CHECK(m.stats().stamps_accepted == 2);
}

TEST_CASE_METHOD(Fixture, "CAS: a greater generation after COMPLETED is accepted", "[cas]") {
    for (ReplicationStatus next : {ReplicationStatus::Pending, ReplicationStatus::Failed, ReplicationStatus::Replica}) {
        m.record_status("b", "k", ReplicationStatus::Completed);
        check_restamp_accepted(ReplicationStatus::Completed, 5, next, 6);
    }
}

TEST_CASE_METHOD(Fixture, "CAS: generations 0 and 2^64-1 are ordinary values", "[cas]") {
    CHECK(m.record_status_if_newer("b", "zero", 0, ReplicationStatus::Pending));
    CHECK(m.record_status_if_newer("b", "zero", 0, ReplicationStatus::Failed));
    CHECK(m.record_status_if_newer("b", "top", max_u64, ReplicationStatus::Pending));
    CHECK_FALSE(m.record_status_if_newer("b", "top", max_u64 - 1, ReplicationStatus::Completed));
    CHECK(m.record_status_if_newer("b", "top", max_u64, ReplicationStatus::Completed));
    CHECK_FALSE(m.record_status_if_newer("b", "top", max_u64, ReplicationStatus::Failed));
    CHECK(m.lookup_entry("b", "top") == ReplicationStatusEntry{ReplicationStatus::Completed, max_u64, start});
}

// ---- record_status --------------------------------------------------------

TEST_CASE_METHOD(Fixture, "record_status stamps unconditionally at generation 0 and clock now", "[record_status]") {
    m.record_status("b", "new", ReplicationStatus::Replica);
    CHECK(m.lookup_entry("b", "new") == ReplicationStatusEntry{ReplicationStatus::Replica, 0, start});

    REQUIRE(m.record_status_if_newer("b", "k", 900, ReplicationStatus::Completed));
    clock.advance(5min);
    m.record_status("b", "k", ReplicationStatus::Failed); // over a newer generation and a COMPLETED entry
    CHECK(m.lookup_entry("b", "k") == ReplicationStatusEntry{ReplicationStatus::Failed, 0, start + 5min});
    CHECK(m.size() == 2);
}

TEST_CASE_METHOD(Fixture, "the next real PUT's CAS overrides a record_status stamp", "[record_status][cas]") {
    m.record_status("b", "k", ReplicationStatus::Completed);
    clock.advance(1s);
    const std::uint64_t generation = m.next_generation();
    CHECK(m.record_status_if_newer("b", "k", generation, ReplicationStatus::Pending));
    CHECK(m.lookup_entry("b", "k") == ReplicationStatusEntry{ReplicationStatus::Pending, generation, start + 1s});
}

TEST_CASE_METHOD(Fixture, "a record_status COMPLETED is final at generation 0 too", "[record_status][cas]") {
    m.record_status("b", "k", ReplicationStatus::Completed);
    CHECK_FALSE(m.record_status_if_newer("b", "k", 0, ReplicationStatus::Failed));
    CHECK(m.lookup_status("b", "k") == ReplicationStatus::Completed);
}

// ---- the clock ------------------------------------------------------------

TEST_CASE_METHOD(Fixture, "recorded_at is the manager's clock at the accepted stamp, to the nanosecond", "[clock]") {
    const Timestamp times[] = {start, start + 1ns, civil(1969) + 999999999ns, civil(1700) + 1ns, civil(2262)};
    std::uint64_t generation = 0;
    for (const Timestamp t : times) {
        INFO(t.time_since_epoch().count() << "ns");
        clock.set(t);
        REQUIRE(m.record_status_if_newer("b", "k", ++generation, ReplicationStatus::Pending));
        CHECK(m.lookup_entry("b", "k")->recorded_at == t);
        m.record_status("b", "u", ReplicationStatus::Failed);
        CHECK(m.lookup_entry("b", "u")->recorded_at == t);
    }
}

TEST_CASE_METHOD(Fixture, "clock() is the clock the manager stamps with", "[clock]") {
    CHECK(m.clock().now() == start);
    clock.advance(42ns); // copies of a ManualClock share one time
    CHECK(m.clock().now() == start + 42ns);
    m.record_status("b", "k", ReplicationStatus::Pending);
    CHECK(m.lookup_entry("b", "k")->recorded_at == m.clock().now());
}

TEST_CASE("the default manager stamps with the wall clock, to the second", "[clock]") {
    static_assert(std::is_same<s3repl::ReplicationManager::clock_type, s3repl::CoarseSystemClock>::value,
                  "the README documents CoarseSystemClock as the default");
    s3repl::ReplicationManager m;
    // `before` from std::time too: the kernel moves its seconds on a timer
    // tick, so just after a second begins they may lag system_clock's.
    const auto before = std::chrono::system_clock::from_time_t(std::time(nullptr));
    m.record_status("b", "k", ReplicationStatus::Pending);
    const auto after = std::chrono::system_clock::now();
    const Timestamp recorded = m.lookup_entry("b", "k")->recorded_at;
    CHECK(recorded.time_since_epoch() % 1s == 0ns);
    CHECK(recorded >= before);
    CHECK(recorded <= after);
}

TEST_CASE("a manager on SystemClock stamps to the nanosecond", "[clock]") {
    s3repl::BasicReplicationManager<s3repl::SystemClock> m;
    const auto before = std::chrono::system_clock::now();
    m.record_status("b", "k", ReplicationStatus::Pending);
    const auto after = std::chrono::system_clock::now();
    const Timestamp recorded = m.lookup_entry("b", "k")->recorded_at;
    CHECK(recorded >= before);
    CHECK(recorded <= after);
}

TEST_CASE("lookups stay exact through sweeps that leave the presence filter stale", "[lookup][sweep]") {
    // Each phase sweeps what was not re-stamped, then checks every key. The
    // first sweep (10%) leaves the index as it is: an erase that cleared a
    // filter bit another key shares would turn that key into a miss. The
    // second (70% of the rest) leaves more stale bits than live entries: a
    // rebuild at the same capacity. The third (95%) shrinks. Last, keys come
    // back after the rebuilds.
    ManualClock clock{Timestamp{} + std::chrono::hours(24 * 365 * 50)};
    s3repl::BasicReplicationManager<ManualClock> m{clock};
    const int n = 64000;
    const auto key = [](int i) { return "k/" + std::to_string(i); };
    std::vector<bool> live(n, true);
    for (int i = 0; i < n; ++i) m.record_status("b", key(i), ReplicationStatus::Completed);
    const auto mismatches = [&] {
        int wrong = 0;
        for (int i = 0; i < n; ++i)
            wrong += m.lookup_status("b", key(i)).has_value() != live[static_cast<std::size_t>(i)];
        return wrong;
    };
    const auto sweep_all_but = [&](auto keep) {
        clock.advance(10s);
        std::size_t dropped = 0;
        for (int i = 0; i < n; ++i) {
            if (!live[static_cast<std::size_t>(i)]) continue;
            if (keep(i)) {
                m.record_status("b", key(i), ReplicationStatus::Completed);
            } else {
                live[static_cast<std::size_t>(i)] = false;
                ++dropped;
            }
        }
        CHECK(m.sweep_stale(clock.now(), 5s) == dropped);
        CHECK(m.size() == static_cast<std::size_t>(std::count(live.begin(), live.end(), true)));
        CHECK(mismatches() == 0);
    };
    sweep_all_but([](int i) { return i % 10 != 0; });
    sweep_all_but([](int i) { return i % 10 >= 7; });
    sweep_all_but([](int i) { return i % 20 == 9; });
    for (int i = 0; i < n; i += 3) {
        m.record_status("b", key(i), ReplicationStatus::Pending);
        live[static_cast<std::size_t>(i)] = true;
    }
    CHECK(mismatches() == 0);
}

// ---- lookups and keys -----------------------------------------------------

TEST_CASE_METHOD(Fixture, "lookups miss on unknown buckets and keys, without bucket/key confusion", "[lookup]") {
    CHECK_FALSE(m.lookup_status("a", "bc").has_value()); // empty manager
    CHECK_FALSE(m.lookup_entry("a", "bc").has_value());
    m.record_status("a", "bc", ReplicationStatus::Completed);
    const std::pair<std::string_view, std::string_view> misses[] = {{"ab", "c"}, {"abc", ""},  {"", "abc"},
                                                                    {"a", "b"},  {"a", "bcd"}, {"a", "BC"},
                                                                    {"A", "bc"}, {"b", "bc"},  {"a", ""}};
    for (const auto& miss : misses) {
        INFO("(" << std::string(miss.first) << ", " << std::string(miss.second) << ")");
        CHECK_FALSE(m.lookup_status(miss.first, miss.second).has_value());
        CHECK_FALSE(m.lookup_entry(miss.first, miss.second).has_value());
    }
    CHECK(m.lookup_status("a", "bc") == ReplicationStatus::Completed);
}

TEST_CASE_METHOD(Fixture, "keys are byte strings: NUL, empty, 1 KiB and unicode keys are distinct entries",
                 "[lookup][keys]") {
    std::string long_key(1024, 'x');
    std::string long_key_2 = long_key;
    long_key_2.back() = 'y';
    std::string long_key_3 = long_key;
    long_key_3.front() = 'y';
    const std::vector<std::string> keys = {
        "",
        std::string(1, '\0'),
        std::string(2, '\0'),
        std::string(23, 'i'),
        std::string(24, 'i'),
        std::string(25, 'i'),
        std::string(24, 'i') + std::string(1, '\0'),
        std::string("a\0b", 3),
        std::string("a\0c", 3),
        "a",
        std::string("a\0", 2),
        long_key,
        long_key_2,
        long_key_3,
        long_key + std::string(1, '\0'),
        "\xE2\x82\xAC",     // U+20AC
        "\xF0\x9F\x98\x80", // U+1F600
        "\xF4\x8F\xBF\xBF", // U+10FFFF
        "\xC2\x80",
        "\xED\x9F\xBF",
        "\xEE\x80\x80", // U+0080, U+D7FF, U+E000
        "photos/\xE6\x97\xA5\xE6\x9C\xAC/\xC3\xA9t\xC3\xA9.jpg",
    };
    const std::vector<std::string> buckets = {"b", std::string("b\0", 2), "\xC3\xA9"};
    std::map<std::pair<std::string, std::string>, std::uint64_t> expected;
    std::uint64_t generation = 0;
    for (const std::string& bucket : buckets)
        for (const std::string& key : keys) {
            REQUIRE(m.record_status_if_newer(bucket, key, ++generation, ReplicationStatus::Completed));
            expected[{bucket, key}] = generation;
        }
    CHECK(m.size() == buckets.size() * keys.size());
    for (const auto& item : expected) {
        const auto entry = m.lookup_entry(item.first.first, item.first.second);
        REQUIRE(entry.has_value());
        CHECK(entry->generation == item.second);
    }
    std::map<std::pair<std::string, std::string>, std::uint64_t> visited;
    m.for_each_entry([&](std::string_view bucket, std::string_view key, const ReplicationStatusEntry& e) {
        visited[{std::string(bucket), std::string(key)}] = e.generation;
    });
    CHECK(visited == expected);
}

TEST_CASE_METHOD(Fixture, "size counts entries, not stamps", "[lookup]") {
    CHECK(m.size() == 0);
    m.record_status("b", "k", ReplicationStatus::Pending);
    m.record_status("b", "k", ReplicationStatus::Completed);
    REQUIRE(m.record_status_if_newer("b", "k", 1, ReplicationStatus::Failed));
    REQUIRE_FALSE(m.record_status_if_newer("b", "k", 0, ReplicationStatus::Failed));
    CHECK(m.size() == 1);
    m.record_status("c", "k", ReplicationStatus::Pending);
    m.record_status("b", "k2", ReplicationStatus::Pending);
    CHECK(m.size() == 3);
}

// ---- UTF-8 ----------------------------------------------------------------

TEST_CASE_METHOD(Fixture, "a bucket or key that is not valid UTF-8 is rejected and changes nothing", "[utf8]") {
    const std::pair<const char*, std::string> bad[] = {
        {"overlong 2-byte '/'", "\xC0\xAF"},
        {"overlong 2-byte U+007F", "\xC1\xBF"},
        {"overlong 3-byte", "\xE0\x80\xAF"},
        {"overlong 3-byte U+07FF", "\xE0\x9F\xBF"},
        {"overlong 4-byte", "\xF0\x80\x80\xAF"},
        {"overlong 4-byte U+FFFF", "\xF0\x8F\xBF\xBF"},
        {"high surrogate", "\xED\xA0\x80"},
        {"low surrogate", "\xED\xBF\xBF"},
        {"surrogate pair as CESU-8", "\xED\xA0\xBD\xED\xB8\x80"},
        {"truncated 2-byte", "\xC3"},
        {"truncated 3-byte", "\xE2\x82"},
        {"truncated 4-byte", "\xF0\x9F\x98"},
        {"truncated before ASCII", "\xE2\x82z"},
        {"above U+10FFFF (F4 90)", "\xF4\x90\x80\x80"},
        {"above U+10FFFF (F5)", "\xF5\x80\x80\x80"},
        {"FE", "\xFE"},
        {"FF", "\xFF"},
        {"lone continuation", "\x80"},
        {"lone continuation BF", "\xBF"},
        {"too many continuations", "\xC3\xA9\xA9"},
    };
    for (ReplicationStatus status : all_statuses)
        m.record_status("good", "seed-" + std::string(s3repl::to_aws_string(status)), status);
    (void)m.next_generation();
    m.note_dropped();
    const ReplicationStats stats_before = m.stats();
    for (const auto& item : bad) {
        // The bad bytes alone, after a run of ASCII (the 8-byte fast path) and in the middle.
        for (const std::string& text : {item.second, "0123456789abcdef" + item.second, "x/" + item.second + "/y"}) {
            INFO(item.first << " in \"" << text << "\"");
            CHECK_THROWS_AS(m.record_status(text, "k", ReplicationStatus::Pending), s3repl::InvalidArgument);
            CHECK_THROWS_AS(m.record_status("good", text, ReplicationStatus::Pending), s3repl::InvalidArgument);
            CHECK_THROWS_AS(m.record_status_if_newer(text, "k", 1, ReplicationStatus::Completed),
                            s3repl::InvalidArgument);
            CHECK_THROWS_AS(m.record_status_if_newer("good", text, 1, ReplicationStatus::Completed),
                            s3repl::InvalidArgument);
            CHECK_FALSE(m.lookup_entry(text, "k").has_value());
            CHECK_FALSE(m.lookup_entry("good", text).has_value());
        }
    }
    CHECK(m.size() == 4);
    check_stats(m.stats(), stats_before);
}

TEST_CASE_METHOD(Fixture, "valid UTF-8 at every encoding boundary is accepted", "[utf8]") {
    const std::string boundaries[] = {std::string(1, '\0'),
                                      "\x7F",
                                      "\xC2\x80",
                                      "\xDF\xBF",
                                      "\xE0\xA0\x80",
                                      "\xED\x9F\xBF",
                                      "\xEE\x80\x80",
                                      "\xEF\xBF\xBF",
                                      "\xF0\x90\x80\x80",
                                      "\xF4\x8F\xBF\xBF",
                                      "0123456789abcdef\xC3\xA9"};
    std::uint64_t generation = 0;
    for (const std::string& text : boundaries) {
        INFO('"' << text << '"');
        CHECK_NOTHROW(m.record_status(text, text, ReplicationStatus::Pending));
        CHECK(m.record_status_if_newer(text, "k" + text, ++generation, ReplicationStatus::Pending));
    }
    CHECK(m.size() == 2 * std::size(boundaries));
}

// ---- sweep ----------------------------------------------------------------

TEST_CASE_METHOD(Fixture, "sweep removes terminal entries recorded strictly before now - max_age", "[sweep]") {
    const Timestamp now = start + 10h;
    for (ReplicationStatus status : {ReplicationStatus::Completed, ReplicationStatus::Failed}) {
        const std::string s(s3repl::to_aws_string(status));
        clock.set(now - 1h);
        m.record_status("b", s + "-at-boundary", status);
        clock.set(now - 1h - 1ns);
        m.record_status("b", s + "-1ns-older", status);
        clock.set(now - 1h + 1ns);
        m.record_status("b", s + "-1ns-younger", status);
    }
    CHECK(m.sweep_stale(now, 1h) == 2);
    CHECK(m.lookup_status("b", "COMPLETED-at-boundary") == ReplicationStatus::Completed);
    CHECK(m.lookup_status("b", "FAILED-at-boundary") == ReplicationStatus::Failed);
    CHECK(m.lookup_status("b", "COMPLETED-1ns-younger") == ReplicationStatus::Completed);
    CHECK(m.lookup_status("b", "FAILED-1ns-younger") == ReplicationStatus::Failed);
    CHECK_FALSE(m.lookup_status("b", "COMPLETED-1ns-older").has_value());
    CHECK_FALSE(m.lookup_status("b", "FAILED-1ns-older").has_value());
    CHECK(m.size() == 4);
    CHECK(m.sweep_stale(now + 1ns, 1h) == 2); // the boundary entries are now 1 ns too old
    CHECK(m.size() == 2);
}

TEST_CASE_METHOD(Fixture, "sweep never removes PENDING or REPLICA entries", "[sweep]") {
    clock.set(civil(1700));
    for (ReplicationStatus status : all_statuses)
        m.record_status("b", std::string(s3repl::to_aws_string(status)), status);
    clock.set(start);
    CHECK(m.sweep_stale(civil(2200), 0ns) == 2);
    CHECK(m.sweep_stale(civil(2200), SweepPolicy{0ns, 0ns}) == 0);
    CHECK(m.lookup_status("b", "PENDING") == ReplicationStatus::Pending);
    CHECK(m.lookup_status("b", "REPLICA") == ReplicationStatus::Replica);
    CHECK(m.size() == 2);
}

TEST_CASE_METHOD(Fixture, "sweep returns how many it removed and stats().entries_swept adds them up",
                 "[sweep][stats]") {
    for (int i = 0; i < 10; ++i) {
        clock.set(start - std::chrono::hours(i));
        m.record_status("b", "c" + std::to_string(i), ReplicationStatus::Completed);
        m.record_status("b", "f" + std::to_string(i), ReplicationStatus::Failed);
        m.record_status("b", "p" + std::to_string(i), ReplicationStatus::Pending);
    }
    // Recorded at start - 0h .. start - 9h; a max_age of 5h30 removes the 4 oldest of each.
    CHECK(m.sweep_stale(start, 5h + 30min) == 8);
    CHECK(m.stats().entries_swept == 8);
    CHECK(m.sweep_stale(start, 5h + 30min) == 0);
    CHECK(m.sweep_stale(start, 30min) == 10);
    CHECK(m.stats().entries_swept == 18);
    CHECK(m.size() == 12);
    const ReplicationStats s = m.stats();
    CHECK(s.entries_completed == 1);
    CHECK(s.entries_failed == 1);
    CHECK(s.entries_pending == 10);
}

TEST_CASE("SweepPolicy's defaults keep COMPLETED for 24 hours and FAILED for 7 days", "[sweep][policy]") {
    const SweepPolicy policy;
    CHECK(policy.completed_ttl == 24h);
    CHECK(policy.failed_ttl == std::chrono::hours(24 * 7));
    CHECK(SweepPolicy::never == std::chrono::nanoseconds::max());
}

TEST_CASE_METHOD(Fixture, "SweepPolicy sweeps COMPLETED and FAILED with separate TTLs", "[sweep][policy]") {
    const Timestamp now = start + std::chrono::hours(24 * 30);
    const std::pair<const char*, Timestamp> ages[] = {{"at-24h", now - 24h},
                                                      {"past-24h", now - 24h - 1ns},
                                                      {"at-7d", now - std::chrono::hours(24 * 7)},
                                                      {"past-7d", now - std::chrono::hours(24 * 7) - 1ns}};
    for (const auto& age : ages) {
        clock.set(age.second);
        m.record_status("completed", age.first, ReplicationStatus::Completed);
        m.record_status("failed", age.first, ReplicationStatus::Failed);
    }
    CHECK(m.sweep_stale(now, SweepPolicy{}) == 4);
    CHECK(m.lookup_status("completed", "at-24h").has_value());
    CHECK_FALSE(m.lookup_status("completed", "past-24h").has_value());
    CHECK_FALSE(m.lookup_status("completed", "at-7d").has_value());
    CHECK_FALSE(m.lookup_status("completed", "past-7d").has_value());
    CHECK(m.lookup_status("failed", "at-24h").has_value());
    CHECK(m.lookup_status("failed", "past-24h").has_value());
    CHECK(m.lookup_status("failed", "at-7d").has_value());
    CHECK_FALSE(m.lookup_status("failed", "past-7d").has_value());

    // And the other way round: FAILED may also be kept shorter.
    CHECK(m.sweep_stale(now, SweepPolicy{std::chrono::hours(24 * 365), 1h}) == 3);
    CHECK(m.lookup_status("completed", "at-24h").has_value());
    CHECK(m.size() == 1);
}

TEST_CASE_METHOD(Fixture, "SweepPolicy::never keeps entries forever, even ones recorded in 1700", "[sweep][policy]") {
    for (const Timestamp t : {civil(1700), civil(1970) - 1ns, start}) {
        clock.set(t);
        const std::string name = std::to_string(t.time_since_epoch().count());
        m.record_status("b", "failed-" + name, ReplicationStatus::Failed);
        m.record_status("b", "completed-" + name, ReplicationStatus::Completed);
    }
    const Timestamp latest = Timestamp::max();
    CHECK(m.sweep_stale(latest, SweepPolicy{SweepPolicy::never, SweepPolicy::never}) == 0);
    CHECK(m.sweep_stale(latest, SweepPolicy::never) == 0);
    CHECK(m.size() == 6);
    CHECK(m.sweep_stale(latest, SweepPolicy{0ns, SweepPolicy::never}) == 3);
    CHECK(m.failed_entries().size() == 3);
    CHECK(m.sweep_stale(latest, SweepPolicy{SweepPolicy::never, 0ns}) == 3);
    CHECK(m.size() == 0);
}

TEST_CASE_METHOD(Fixture, "huge TTLs and extreme times neither overflow nor sweep wrongly", "[sweep][policy]") {
    clock.set(civil(1680));
    m.record_status("b", "1680", ReplicationStatus::Completed);
    m.record_status("b", "pending-1680", ReplicationStatus::Pending);
    clock.set(civil(1690) - 30min);
    m.record_status("b", "1690-half-hour-before", ReplicationStatus::Failed);
    clock.set(start);
    m.record_status("b", "now", ReplicationStatus::Completed);
    const auto huge = std::chrono::system_clock::duration::max();
    const auto almost_never = SweepPolicy::never - 1ns;

    CHECK(m.sweep_stale(Timestamp::max(), huge) == 0);
    // now - TTL below the earliest Timestamp: clamped, so nothing is older.
    CHECK(m.sweep_stale(civil(1690), SweepPolicy{almost_never, almost_never}) == 0);
    CHECK(m.sweep_stale(Timestamp::min(), 0ns) == 0);
    CHECK(m.sweep_stale(Timestamp::min() + 1h, 2h) == 0);
    CHECK(m.stuck_pending(civil(1690), huge).empty());
    CHECK(m.stuck_pending(Timestamp::min(), 0ns).empty());
    CHECK(m.size() == 4);

    // A negative now (before 1970) with a finite TTL still sweeps the right ones.
    CHECK(m.sweep_stale(civil(1690), 1h) == 1);
    CHECK_FALSE(m.lookup_status("b", "1680").has_value());
    CHECK(m.lookup_status("b", "1690-half-hour-before").has_value());
    CHECK(m.sweep_stale(civil(1690), 20min) == 1);
    CHECK(m.stuck_pending(civil(1690), 1h).size() == 1);

    // The latest now minus the largest finite TTL is 1970 + 1 ns: no wrap.
    CHECK(m.sweep_stale(Timestamp::max(), almost_never) == 0);
    CHECK(m.lookup_status("b", "now").has_value());
    CHECK(m.sweep_stale(Timestamp::max(), 0ns) == 1);
    CHECK(m.size() == 1);
}

TEST_CASE_METHOD(Fixture, "a TTL of hours::max() keeps everything", "[sweep][policy]") {
    m.record_status("b", "completed", ReplicationStatus::Completed);
    m.record_status("b", "pending", ReplicationStatus::Pending);
    CHECK(m.sweep_stale(start + 1h, std::chrono::hours::max()) == 0);
    CHECK(m.size() == 2);
    CHECK(m.stuck_pending(start + 1h, std::chrono::hours::max()).empty());
}

// ---- re-drive support -----------------------------------------------------

TEST_CASE_METHOD(Fixture, "stuck_pending lists PENDING entries recorded strictly before now - older_than",
                 "[redrive]") {
    const Timestamp now = start + 1h;
    clock.set(now - 10min);
    m.record_status("b", "at-boundary", ReplicationStatus::Pending);
    m.record_status("b", "failed", ReplicationStatus::Failed);
    m.record_status("b", "replica", ReplicationStatus::Replica);
    clock.set(now - 10min - 1ns);
    REQUIRE(m.record_status_if_newer("b", "stuck", 4, ReplicationStatus::Pending));
    REQUIRE(m.record_status_if_newer("c", "stuck", 5, ReplicationStatus::Pending));
    m.record_status("b", "old-completed", ReplicationStatus::Completed);
    const std::vector<EntryRef> expected = {
        {"b", "stuck", {ReplicationStatus::Pending, 4, now - 10min - 1ns}},
        {"c", "stuck", {ReplicationStatus::Pending, 5, now - 10min - 1ns}},
    };
    CHECK(sorted(m.stuck_pending(now, 10min)) == expected);
    CHECK(m.stuck_pending(now, 11min).empty());
    CHECK(m.stuck_pending(now + 1ns, 10min).size() == 3);
}

TEST_CASE_METHOD(Fixture, "failed_entries lists every FAILED entry with its bucket, key and entry", "[redrive]") {
    CHECK(m.failed_entries().empty());
    REQUIRE(m.record_status_if_newer("src", "a", 3, ReplicationStatus::Failed));
    clock.advance(1s);
    m.record_status("other", std::string("b\0", 2), ReplicationStatus::Failed);
    m.record_status("src", "c", ReplicationStatus::Completed);
    m.record_status("src", "p", ReplicationStatus::Pending);
    REQUIRE(m.record_status_if_newer("src", "redriven", 1, ReplicationStatus::Failed));
    REQUIRE(m.record_status_if_newer("src", "redriven", 2, ReplicationStatus::Completed));
    const std::vector<EntryRef> expected = {
        {"other", std::string("b\0", 2), {ReplicationStatus::Failed, 0, start + 1s}},
        {"src", "a", {ReplicationStatus::Failed, 3, start}},
    };
    CHECK(sorted(m.failed_entries()) == expected);
}

TEST_CASE_METHOD(Fixture, "for_each_entry visits every entry once with its bucket, key and entry", "[redrive]") {
    std::map<std::pair<std::string, std::string>, ReplicationStatusEntry> expected;
    for (int i = 0; i < 500; ++i) {
        clock.advance(1ms);
        const std::string bucket = "bucket-" + std::to_string(i % 7);
        const std::string key = "key-" + std::to_string(i);
        const ReplicationStatus status = all_statuses[i % 4];
        REQUIRE(m.record_status_if_newer(bucket, key, static_cast<std::uint64_t>(i), status));
        expected[{bucket, key}] = {status, static_cast<std::uint64_t>(i), clock.now()};
    }
    std::map<std::pair<std::string, std::string>, ReplicationStatusEntry> visited;
    std::size_t visits = 0;
    m.for_each_entry([&](std::string_view bucket, std::string_view key, const ReplicationStatusEntry& e) {
        ++visits;
        visited[{std::string(bucket), std::string(key)}] = e;
    });
    CHECK(visits == 500);
    CHECK(visited == expected);
}

// ---- stats ----------------------------------------------------------------

TEST_CASE_METHOD(Fixture, "note_dropped counts into dropped_total and nothing else", "[stats]") {
    const ReplicationStats before = m.stats();
    for (int i = 0; i < 3; ++i) m.note_dropped();
    ReplicationStats expected = before;
    expected.dropped_total = 3;
    check_stats(m.stats(), expected);
}

TEST_CASE_METHOD(Fixture, "stats stay exact after a long mixed sequence of operations", "[stats]") {
    // A reference model of the CAS and counter rules, driven by one seeded
    // random sequence; the counters are tallied from return values.
    std::map<std::pair<std::string, std::string>, ReplicationStatusEntry> model;
    ReplicationStats tally;
    std::mt19937_64 rng(0x5eed);
    auto pick = [&](std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng); };
    std::uint64_t last_generation = 0;
    std::size_t completed_final_rejections = 0;

    auto check_everything = [&] {
        ReplicationStats expected = recount(m);
        expected.generations_minted = tally.generations_minted;
        expected.stamps_accepted = tally.stamps_accepted;
        expected.stamps_rejected = tally.stamps_rejected;
        expected.entries_swept = tally.entries_swept;
        expected.dropped_total = tally.dropped_total;
        check_stats(m.stats(), expected);
        REQUIRE(m.size() == model.size());
        std::size_t model_counts[4] = {};
        for (const auto& item : model) {
            ++model_counts[static_cast<std::size_t>(item.second.status)];
            REQUIRE(m.lookup_entry(item.first.first, item.first.second) == item.second);
        }
        CHECK(expected.entries_pending == model_counts[0]);
        CHECK(expected.entries_completed == model_counts[1]);
        CHECK(expected.entries_failed == model_counts[2]);
        CHECK(expected.entries_replica == model_counts[3]);
    };

    for (int step = 1; step <= 30000; ++step) {
        const std::string bucket = "bucket-" + std::to_string(pick(2));
        const std::string key = "key-" + std::to_string(pick(12));
        const ReplicationStatus status = all_statuses[pick(4)];
        switch (pick(12)) {
        case 0:
            last_generation = m.next_generation();
            ++tally.generations_minted;
            break;
        case 1:
        case 2:
        case 3:
        case 4:
        case 5:
        case 6: { // a recent or a stale generation, so equal ones are common
            const std::uint64_t generation = last_generation - std::min<std::uint64_t>(pick(8), last_generation);
            const auto found = model.find({bucket, key});
            const bool wins =
                found == model.end() || generation > found->second.generation ||
                (generation == found->second.generation &&
                 (found->second.status != ReplicationStatus::Completed || status == ReplicationStatus::Completed));
            const bool accepted = m.record_status_if_newer(bucket, key, generation, status);
            REQUIRE(accepted == wins);
            if (accepted) {
                model[{bucket, key}] = {status, generation, clock.now()};
                ++tally.stamps_accepted;
            } else {
                ++tally.stamps_rejected;
                completed_final_rejections += found->second.generation == generation;
            }
            break;
        }
        case 7:
            m.record_status(bucket, key, status);
            model[{bucket, key}] = {status, 0, clock.now()};
            ++tally.stamps_accepted;
            break;
        case 8: clock.advance(std::chrono::minutes(pick(10))); break;
        case 9: { // a sweep with one TTL, or a policy with two (sometimes never)
            const bool one_ttl = pick(4) == 0;
            const std::chrono::nanoseconds completed_ttl = std::chrono::minutes(pick(120));
            const SweepPolicy policy{completed_ttl, one_ttl        ? completed_ttl
                                                    : pick(3) == 0 ? SweepPolicy::never
                                                                   : std::chrono::minutes(pick(240))};
            const Timestamp now = clock.now() + std::chrono::minutes(pick(30));
            auto expired = [&](std::chrono::nanoseconds ttl, Timestamp recorded_at) {
                return ttl != SweepPolicy::never && recorded_at < now - ttl;
            };
            std::size_t expected_removed = 0;
            for (auto it = model.begin(); it != model.end();) {
                const ReplicationStatusEntry& e = it->second;
                const bool stale =
                    (e.status == ReplicationStatus::Completed && expired(policy.completed_ttl, e.recorded_at)) ||
                    (e.status == ReplicationStatus::Failed && expired(policy.failed_ttl, e.recorded_at));
                it = stale ? model.erase(it) : std::next(it);
                expected_removed += stale;
            }
            const std::size_t removed = one_ttl ? m.sweep_stale(now, completed_ttl) : m.sweep_stale(now, policy);
            REQUIRE(removed == expected_removed);
            tally.entries_swept += removed;
            break;
        }
        default:
            m.note_dropped();
            ++tally.dropped_total;
            break;
        }
        if (step % 2500 == 0) check_everything();
    }
    CHECK(tally.stamps_rejected > 1000); // the sequence did exercise every path
    CHECK(completed_final_rejections > 100);
    CHECK(tally.entries_swept > 1000);
    CHECK(model.size() > 10);
    check_everything();
}

// ---- scale ----------------------------------------------------------------

TEST_CASE_METHOD(Fixture, "100k entries over 300 buckets survive growth, a half sweep and bucket-name reuse",
                 "[scale]") {
    constexpr int buckets = 300;
    constexpr int entries = buckets * 334; // 100,200
    auto bucket_of = [](int i) { return "bucket-" + std::to_string(i % buckets); };
    // Every fifth key is too long to be stored inside the entry.
    auto key_of = [](int i) { return (i % 5 ? "dir/key-" : "a/longer/directory/path/key-") + std::to_string(i); };
    // The first half of the buckets hold only old terminal entries, the rest
    // fresh entries of every status.
    auto is_old = [](int i) { return i % buckets < buckets / 2; };
    const Timestamp old_time = start - 48h;
    auto expected_entry = [&](int i) {
        const auto generation = static_cast<std::uint64_t>(i) + 1;
        const int row = i / buckets;
        return is_old(i) ? ReplicationStatusEntry{row % 2 ? ReplicationStatus::Failed : ReplicationStatus::Completed,
                                                  generation, old_time}
                         : ReplicationStatusEntry{all_statuses[row % 4], generation, start};
    };

    std::size_t old_count = 0, fresh_terminal = 0;
    for (int i = 0; i < entries; ++i) {
        const ReplicationStatusEntry e = expected_entry(i);
        clock.set(e.recorded_at);
        REQUIRE(m.record_status_if_newer(bucket_of(i), key_of(i), e.generation, e.status));
        old_count += is_old(i);
        fresh_terminal += !is_old(i) && s3repl::is_terminal(e.status);
    }
    REQUIRE(m.size() == entries);
    REQUIRE(old_count == entries / 2);
    for (int i = 0; i < entries; ++i) REQUIRE(m.lookup_entry(bucket_of(i), key_of(i)) == expected_entry(i));

    // Half the buckets lose every entry: their names are released.
    REQUIRE(m.sweep_stale(start, 24h) == old_count);
    REQUIRE(m.size() == entries - old_count);
    for (int i = 0; i < entries; ++i) {
        if (is_old(i))
            REQUIRE_FALSE(m.lookup_entry(bucket_of(i), key_of(i)).has_value());
        else
            REQUIRE(m.lookup_entry(bucket_of(i), key_of(i)) == expected_entry(i));
    }

    // New bucket names take the released slots; the old names come back too,
    // and neither may alias the other.
    clock.set(start + 1s);
    std::map<std::string, std::size_t> expected_per_bucket;
    for (int i = 0; i < entries; ++i) {
        if (!is_old(i)) ++expected_per_bucket[bucket_of(i)];
        if (is_old(i) && i % 7 == 0) {
            m.record_status("reborn-" + bucket_of(i), key_of(i), ReplicationStatus::Pending);
            ++expected_per_bucket["reborn-" + bucket_of(i)];
        }
    }
    for (int b = 0; b < buckets; ++b) {
        m.record_status("bucket-" + std::to_string(b), "again", ReplicationStatus::Replica);
        ++expected_per_bucket["bucket-" + std::to_string(b)];
    }
    std::map<std::string, std::size_t> per_bucket;
    m.for_each_entry([&](std::string_view bucket, std::string_view, const ReplicationStatusEntry&) {
        ++per_bucket[std::string(bucket)];
    });
    CHECK(per_bucket == expected_per_bucket);
    for (int i = 0; i < entries; ++i) {
        if (is_old(i)) {
            REQUIRE_FALSE(m.lookup_entry(bucket_of(i), key_of(i)).has_value());
            const auto reborn = m.lookup_entry("reborn-" + bucket_of(i), key_of(i));
            REQUIRE(reborn.has_value() == (i % 7 == 0));
            if (reborn) REQUIRE(*reborn == ReplicationStatusEntry{ReplicationStatus::Pending, 0, start + 1s});
        } else {
            REQUIRE(m.lookup_entry(bucket_of(i), key_of(i)) == expected_entry(i));
        }
    }

    // Sweeping every terminal entry shrinks the tables; what is left is intact.
    CHECK(m.stats().entries_completed + m.stats().entries_failed == fresh_terminal);
    CHECK(m.sweep_stale(Timestamp::max(), 0ns) == fresh_terminal);
    for (int i = 0; i < entries; ++i) {
        const ReplicationStatusEntry e = expected_entry(i);
        const bool kept = !is_old(i) && !s3repl::is_terminal(e.status);
        REQUIRE(m.lookup_entry(bucket_of(i), key_of(i)) ==
                (kept ? std::optional<ReplicationStatusEntry>(e) : std::nullopt));
    }
    for (int b = 0; b < buckets; ++b)
        REQUIRE(m.lookup_status("bucket-" + std::to_string(b), "again") == ReplicationStatus::Replica);
    const ReplicationStats expected = recount(m);
    const ReplicationStats actual = m.stats();
    CHECK(actual.entries_pending == expected.entries_pending);
    CHECK(actual.entries_replica == expected.entries_replica);
    CHECK(actual.entries_completed == 0);
    CHECK(actual.entries_failed == 0);
    CHECK(actual.entries_swept == old_count + fresh_terminal);
    CHECK(m.size() == expected.entries_pending + expected.entries_replica);
}

// ---- template parameters --------------------------------------------------

TEST_CASE("BasicReplicationManager<ManualClock, std::mutex> works", "[mutex]") {
    ManualClock clock(start);
    s3repl::BasicReplicationManager<ManualClock, std::mutex> m(clock);
    const std::uint64_t generation = m.next_generation();
    CHECK(generation == 1);
    CHECK(m.record_status_if_newer("b", "k", generation, ReplicationStatus::Pending));
    CHECK_FALSE(m.record_status_if_newer("b", "k", 0, ReplicationStatus::Failed));
    m.record_status("b", "old", ReplicationStatus::Completed);
    CHECK(m.lookup_entry("b", "k") == ReplicationStatusEntry{ReplicationStatus::Pending, 1, start});
    CHECK(m.lookup_status("b", "old") == ReplicationStatus::Completed);
    CHECK(m.size() == 2);
    std::size_t visited = 0;
    m.for_each_entry([&](std::string_view, std::string_view, const ReplicationStatusEntry&) { ++visited; });
    CHECK(visited == 2);
    CHECK(m.stuck_pending(start + 1h, 1min).size() == 1);
    CHECK(m.failed_entries().empty());
    CHECK(m.sweep_stale(start + 1h, 1min) == 1);
    m.put_config("b", {"role", {}});
    CHECK(m.get_config("b").has_value());
    CHECK_FALSE(m.match_rule("b", "k", {}).has_value());
    const ReplicationStats s = m.stats();
    CHECK(s.entries_pending == 1);
    CHECK(s.stamps_accepted == 2);
    CHECK(s.stamps_rejected == 1);
    CHECK(s.entries_swept == 1);
    CHECK(s.generations_minted == 1);
}
