// The restore's fast paths against its general reader: the layout fast path
// (RestoreOptions::layout_fast_path) and the parallel read of "statuses"
// (RestoreOptions::threads) must give the same state, and for a bad
// snapshot the same error, as one thread through the general reader. Many
// snapshots in the writer's layout with the forms it does not write mixed
// in, and single-byte corruptions of them.

#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

using s3repl::RestoreOptions;
using s3repl::SnapshotError;
using namespace s3repl_test;

namespace {

using Rng = std::mt19937_64;

std::size_t below(Rng& rng, std::size_t n) { return static_cast<std::size_t>(rng() % n); }

// A time in one of the writer's forms, or (rarely) another form RFC 3339 allows.
std::string time_text(Rng& rng, bool writer_form) {
    static const char* const days[] = {"2026-12-02", "2026-12-03", "1969-12-31", "2000-02-29", "2261-12-31"};
    std::string t = std::string(days[below(rng, 5)]) + "T" + std::to_string(10 + below(rng, 14)) + ":" +
                    std::to_string(10 + below(rng, 50)) + ":" + std::to_string(10 + below(rng, 50));
    if (writer_form) {
        static const char* const fractions[] = {"", "", "", ".125", ".000001", ".123456789"};
        return t + fractions[below(rng, 6)] + "Z";
    }
    static const char* const others[] = {".5Z", "+01:00", "z", ".1234567891Z", "-00:30"};
    if (below(rng, 4) == 0) t[10] = 't';
    if (below(rng, 4) == 0) t.replace(17, 2, "60"); // a leap second: the next second
    return t + others[below(rng, 5)];
}

// One element of "statuses": the writer's layout, or now and then a form
// only the general reader reads.
std::string entry_text(Rng& rng, std::size_t i) {
    static const char* const words[] = {"Pending", "Completed", "Failed", "Replica"};
    const std::string bucket = "bucket-" + std::to_string(below(rng, 5));
    // Now and then a key listed twice (the later wins).
    std::string key = "data/" + std::to_string(below(rng, 50) == 0 ? below(rng, 64) : i) + "/object.bin";
    const std::string generation = std::to_string(below(rng, 3) == 0 ? 0 : rng() >> below(rng, 64));
    switch (below(rng, 40)) {
    case 0: key += "\\u00e9\\n"; break; // escapes
    case 1: key += "\xc3\xa9"; break;   // non-ASCII
    case 2:
        return "[[\"" + bucket + "\",\"" + key + "\"], {\"status\":\"Failed\",\"generation\":" + generation +
               ",\"recorded_at\":\"" + time_text(rng, true) + "\"}]";
    case 3:
        return "[[\"" + bucket + "\",\"" + key + "\"],{\"generation\":" + generation +
               ",\"status\":\"Pending\",\"recorded_at\":\"" + time_text(rng, true) + "\"}]";
    case 4: return "[[\"" + bucket + "\",\"" + key + "\"],\"Completed\"]"; // the oldest form
    case 5: {
        const std::string t = time_text(rng, true); // the entry's time is its newest destination's
        return "[[\"" + bucket + "\",\"" + key + "\"],{\"status\":\"Completed\",\"generation\":" + generation +
               ",\"recorded_at\":\"" + t +
               "\",\"destinations\":[{\"bucket\":\"d1\",\"status\":\"Completed\",\"recorded_at\":\"" + t + "\"}]}]";
    }
    case 6:
        return "[[\"" + bucket + "\",\"" + key + "\"],{\"status\":\"Pending\",\"generation\":18446744073709551615}]";
    default: break;
    }
    const bool writer_time = below(rng, 30) != 0;
    return "[[\"" + bucket + "\",\"" + key + "\"],{\"status\":\"" + words[below(rng, 4)] +
           "\",\"generation\":" + generation + ",\"recorded_at\":\"" + time_text(rng, writer_time) + "\"}]";
}

// A snapshot of `count` statuses (and sometimes versions, before or after them).
std::string snapshot_text(Rng& rng, std::size_t count) {
    std::string statuses;
    for (std::size_t i = 0; i < count; ++i) {
        if (i != 0) statuses += ',';
        statuses += entry_text(rng, i);
    }
    std::string versions;
    if (below(rng, 3) == 0) {
        versions = ",\"versions\":[";
        for (std::size_t i = 0; i < count / 2; ++i) {
            if (i != 0) versions += ',';
            versions +=
                "[[\"bucket-1\",\"v/" + std::to_string(i) +
                "\",\"v1\"],{\"status\":\"Completed\",\"generation\":7,\"recorded_at\":\"2026-12-02T10:00:00Z\"}]";
        }
        versions += ']';
    }
    const std::string head = R"({"by_bucket":{"bucket-0":{"role":"r","rules":[]}})";
    const std::string statuses_member = ",\"statuses\":[" + statuses + "]";
    return below(rng, 2) == 0 ? head + versions + statuses_member + ",\"next_generation\":5}"
                              : head + statuses_member + versions + ",\"next_generation\":5}";
}

// The restored state, entry order aside, or the error.
std::string outcome(const std::string& text, const RestoreOptions& options) {
    try {
        nlohmann::json state =
            nlohmann::json::parse(Manager::from_json(text, options, s3repl::ManualClock{}).to_json());
        for (const char* member : {"statuses", "versions"})
            if (state.contains(member)) std::sort(state[member].begin(), state[member].end());
        return state.dump();
    } catch (const SnapshotError& error) {
        return std::string("error: ") + error.what();
    }
}

RestoreOptions general() {
    RestoreOptions options;
    options.layout_fast_path = false;
    return options;
}

// A copy of `text` with one byte changed: near the middle half the time,
// where the threads cut the array.
std::string corrupted(Rng& rng, std::string text) {
    static const char replacements[] = "0912\"\\[],{}:.ZT -e\x01\x80";
    const std::size_t at = below(rng, 2) == 0 ? text.size() / 2 - 64 + below(rng, 128) : below(rng, text.size());
    text[at] = replacements[below(rng, sizeof replacements - 1)];
    return text;
}

} // namespace

TEST_CASE("the layout fast path reads every snapshot as the general reader does", "[snapshot][restore]") {
    Rng rng(20261202);
    for (int round = 0; round < 150; ++round) {
        const std::string text = snapshot_text(rng, 1 + below(rng, 40));
        const std::string expected = outcome(text, general());
        CHECK(outcome(text, RestoreOptions{}) == expected);
        for (int bad = 0; bad < 10; ++bad) {
            const std::string broken = corrupted(rng, text);
            CHECK(outcome(broken, RestoreOptions{}) == outcome(broken, general()));
        }
    }
}

TEST_CASE("a restore on several threads gives what one thread gives, state or error", "[concurrent][restore]") {
    Rng rng(4242);
    // Above the size where threads are used: about 1.5 MB of statuses.
    constexpr std::size_t entries = 14000;
    for (int round = 0; round < 2; ++round) {
        const std::string text = snapshot_text(rng, entries);
        REQUIRE(text.size() > (std::size_t{1} << 20));
        const std::string expected = outcome(text, general());
        INFO(expected.substr(0, 300));
        REQUIRE(expected.rfind("error", 0) != 0);
        for (std::size_t threads : {2, 3, 7}) CHECK(outcome(text, RestoreOptions{threads}) == expected);
        for (int bad = 0; bad < 5; ++bad) {
            const std::string broken = corrupted(rng, text);
            const std::string one = outcome(broken, RestoreOptions{});
            CHECK(outcome(broken, RestoreOptions{2}) == one);
            CHECK(outcome(broken, RestoreOptions{3}) == one);
        }
    }
}

TEST_CASE("a restore on several threads of s3repl's own snapshot", "[concurrent][restore]") {
    Manager m{s3repl::ManualClock{}};
    for (std::uint64_t i = 0; i < 20000; ++i)
        m.record_status_if_newer("bucket-" + std::to_string(i % 7), "key/" + std::to_string(i), i + 1,
                                 i % 3 == 0 ? s3repl::ReplicationStatus::Pending
                                            : s3repl::ReplicationStatus::Completed);
    const std::string text = m.to_json();
    REQUIRE(text.size() > (std::size_t{1} << 20));
    const std::string expected = outcome(text, general());
    CHECK(outcome(text, RestoreOptions{}) == expected);
    CHECK(outcome(text, RestoreOptions{2}) == expected);
    CHECK(outcome(text, RestoreOptions{4}) == expected);

    // The parts really are read in parallel: every element, up to the array's end.
    const std::size_t first = text.find("\"statuses\":[") + 12;
    std::array<s3repl::detail::EntryTable, s3repl::detail::shard_count> tables;
    const auto read =
        s3repl::detail::ParallelStatuses(tables, 1).read(text.data() + first, text.data() + text.size(), 3);
    CHECK(read.ok);
    CHECK(read.count == 20000);
    CHECK(*read.next == ']');
    // A cut past the array (here: in a text of one element and a tail) fails the read, for one thread to redo.
    const std::string one_and_tail = text.substr(first, text.find("}]", first) + 2 - first) + "]," +
                                     std::string(1 << 20, ' ') + "[[\"b\",\"k\"],{}],[[\"b\",\"k\"]]";
    std::array<s3repl::detail::EntryTable, s3repl::detail::shard_count> more;
    CHECK_FALSE(s3repl::detail::ParallelStatuses(more, 1)
                    .read(one_and_tail.data(), one_and_tail.data() + one_and_tail.size(), 2)
                    .ok);
}
