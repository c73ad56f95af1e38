// Snapshot and restore: round trips of random contents, every accepted and
// every rejected form of the format (the Rust server's), restore_json's
// all-or-nothing promise, the generation counter rules, snapshots taken
// while other threads stamp, and save_snapshot's durability. The fixtures the
// Rust server wrote are checked in test_snapshot_fixtures.cpp.

#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace std::chrono_literals;
using namespace std::string_literals;
using s3repl::EntryRef;
using s3repl::ManualClock;
using s3repl::ReplicationConfig;
using s3repl::ReplicationFilter;
using s3repl::ReplicationRule;
using s3repl::ReplicationStats;
using s3repl::ReplicationStatus;
using s3repl::ReplicationStatusEntry;
using s3repl::SnapshotError;
using s3repl::Timestamp;
using namespace s3repl_test;
namespace fs = std::filesystem;

namespace {

using Rng = std::mt19937_64;

constexpr std::int64_t min_ns = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t max_ns = std::numeric_limits<std::int64_t>::max();

Timestamp at_ns(std::int64_t ns) { return Timestamp{std::chrono::nanoseconds{ns}}; }

// The clock at restores: a time no test input holds, so "stamped now" shows.
const Timestamp restore_time = at_ns(1'936'062'489'987'654'321); // 2031-05-09

// ---- what a manager holds, compared as values ------------------------------

struct Contents {
    std::map<std::string, ReplicationConfig> configs;
    std::vector<EntryRef> entries; // sorted by (bucket, key) bytes

    friend bool operator==(const Contents& a, const Contents& b) {
        return a.configs == b.configs && a.entries == b.entries;
    }
    void add(std::string bucket, std::string key, ReplicationStatusEntry e) {
        entries.push_back(EntryRef{std::move(bucket), std::move(key), e});
    }
    void sort() { entries = sorted(std::move(entries)); }
};

std::ostream& operator<<(std::ostream& out, const Contents& c) {
    for (const auto& [bucket, config] : c.configs)
        out << "config " << nlohmann::json(bucket).dump() << " role " << nlohmann::json(config.role).dump() << ", "
            << config.rules.size() << " rules\n";
    for (const EntryRef& e : c.entries)
        out << "status " << nlohmann::json(e.bucket).dump() << " " << nlohmann::json(e.key).dump() << " "
            << s3repl::to_aws_string(e.entry.status) << " " << e.entry.generation << " "
            << e.entry.recorded_at.time_since_epoch().count() << "\n";
    return out;
}

// Configurations are listed only by to_json; their content comes from get_config.
template <class M>
Contents contents(const M& m) {
    Contents c;
    const nlohmann::json doc = nlohmann::json::parse(m.to_json());
    for (const auto& item : doc.at("by_bucket").items()) {
        const std::optional<ReplicationConfig> config = m.get_config(item.key());
        REQUIRE(config);
        c.configs.emplace(item.key(), *config);
    }
    m.for_each_entry([&](std::string_view bucket, std::string_view key, const ReplicationStatusEntry& e) {
        c.add(std::string(bucket), std::string(key), e);
    });
    c.sort();
    return c;
}

ReplicationStats entry_counts(const Contents& c) {
    ReplicationStats s;
    for (const EntryRef& e : c.entries) count_entry(s, e.entry.status);
    return s;
}

// The counter a restore of `c` with `next_generation` must give:
// max(next_generation, highest + 1, 1); nullopt when that is past 2^64-1.
std::optional<std::uint64_t> counter_rule(const Contents& c, std::uint64_t next_generation) {
    std::uint64_t next = std::max<std::uint64_t>(next_generation, 1);
    for (const EntryRef& e : c.entries) {
        if (e.entry.generation == max_u64) return std::nullopt;
        next = std::max(next, e.entry.generation + 1);
    }
    return next;
}

// Mints one generation: the counter's value (nullopt when exhausted).
template <class M>
std::optional<std::uint64_t> mint(M& m) {
    try {
        return m.next_generation();
    } catch (const s3repl::GenerationExhausted&) {
        return std::nullopt;
    }
}

// Everything observable about a manager without changing it: to_json holds
// the configurations, the entries, their order and the counter.
struct Observed {
    std::string json;
    ReplicationStats stats;
};
Observed observe(const Manager& m) { return {m.to_json(), m.stats()}; }
void check_unchanged(const Manager& m, const Observed& before) {
    const Observed after = observe(m);
    CHECK(after.json == before.json);
    CHECK(after.stats == before.stats);
}

// A manager with configurations, entries of each status, minted
// generations and non-zero op counters: the state rejected inputs must keep.
Manager prepared_manager() {
    Manager m{ManualClock{restore_time}};
    m.restore_json(R"({"by_bucket":{"old":{"role":"old-role","rules":[{"id":"r","priority":3,"status_enabled":true,)"
                   R"("filter":{"prefix":"o/","tags":[["a","b"]]},"destination_bucket":"old-dst",)"
                   R"("destination_storage_class":null}]}},"statuses":[)"
                   R"([["old","p"],{"status":"Pending","generation":7,"recorded_at":"2024-01-01T00:00:00Z"}],)"
                   R"([["old","c"],{"status":"Completed","generation":8,"recorded_at":"1960-01-01T00:00:00.5Z"}],)"
                   R"([["old","f"],"Failed"],[["old-dst","p"],{"status":"Replica","generation":7}]],)"
                   R"("next_generation":40})");
    m.next_generation();
    m.record_status_if_newer("old", "p", 41, ReplicationStatus::Completed);
    m.record_status_if_newer("old", "c", 1, ReplicationStatus::Failed); // rejected: stale
    m.note_dropped();
    return m;
}

// Restores `json` into a prepared_manager(): the manager if it was accepted,
// nullopt if it was refused, and then the manager must be unchanged.
std::optional<Manager> restored_or_refused(const std::string& json) {
    Manager m = prepared_manager();
    const Observed before = observe(m);
    try {
        m.restore_json(json);
    } catch (const SnapshotError&) {
        check_unchanged(m, before);
        return std::nullopt;
    }
    return m;
}

// ---- JSON text builders ------------------------------------------------------

const std::string a_rule =
    R"({"id":"r1","priority":1,"status_enabled":true,"filter":{"prefix":"p/","tags":[["t","v"]]},)"
    R"("destination_bucket":"dst","destination_storage_class":"GLACIER"})";
const std::string an_entry = R"({"status":"Completed","generation":3,"recorded_at":"2024-01-15T08:30:00Z"})";

std::string snapshot_text(const std::string& by_bucket, const std::string& statuses,
                          const std::string& rest = R"(,"next_generation":5)") {
    return R"({"by_bucket":)" + by_bucket + R"(,"statuses":)" + statuses + rest + "}";
}
std::string bucket_with_rule(const std::string& rule) { return R"({"src":{"role":"arn","rules":[)" + rule + "]}}"; }
std::string one_status(const std::string& entry, const std::string& key = R"(["src","k"])") {
    return "[[" + key + "," + entry + "]]";
}
std::string with_rule(const std::string& rule) { return snapshot_text(bucket_with_rule(rule), "[]"); }
std::string with_entry(const std::string& entry) { return snapshot_text("{}", one_status(entry)); }
std::string with_key(const std::string& key) { return snapshot_text("{}", one_status(an_entry, key)); }
std::string entry_with_generation(const std::string& generation) {
    return R"({"status":"Completed","generation":)" + generation + "}";
}
std::string entry_recorded_at(const std::string& recorded_at) {
    return R"({"status":"Completed","generation":3,"recorded_at":)" + recorded_at + "}";
}
std::string rule_with_priority(const std::string& priority) {
    return R"({"id":"r1","priority":)" + priority +
           R"(,"status_enabled":true,"filter":{"prefix":null,"tags":[]},"destination_bucket":"d"})";
}

// ---- random contents -----------------------------------------------------------

void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

// Any Unicode scalar value, weighted towards what escaping and UTF-8 get
// wrong: control characters (NUL included), DEL, quotes, backslashes, slashes
// and each encoding length.
char32_t random_char(Rng& rng) {
    auto in = [&](char32_t lo, char32_t hi) { return std::uniform_int_distribution<char32_t>(lo, hi)(rng); };
    switch (rng() % 8) {
    case 0: return in(0x00, 0x1F);
    case 1: {
        static constexpr char32_t special[] = {U'"', U'\\', U'/', 0x7F, 0x00, U'~', U' ', 0x2028, 0x2029, 0xFEFF};
        return special[rng() % std::size(special)];
    }
    case 2: return in(0x80, 0x7FF);
    case 3: {
        const char32_t c = in(0x800, 0xFFFF);
        return c >= 0xD800 && c <= 0xDFFF ? c - 0x1000 : c; // no surrogates
    }
    case 4: return in(0x10000, 0x10FFFF);
    default: return in(0x20, 0x7E);
    }
}

std::string random_text(Rng& rng, std::size_t max_chars) {
    std::string text;
    const std::size_t length = rng() % (max_chars + 1);
    for (std::size_t i = 0; i < length; ++i) append_utf8(text, random_char(rng));
    return text;
}

std::optional<std::string> random_optional_text(Rng& rng) {
    if (rng() % 3 == 0) return std::nullopt;
    return random_text(rng, 12);
}

std::uint64_t random_generation(Rng& rng) {
    switch (rng() % 5) {
    case 0: return rng() % 100;
    case 1: return max_u64 - 1 - rng() % 100; // near 2^64 (2^64-1 itself only where a test wants it)
    case 2: return rng() % (max_u64 - 1);
    case 3: return (std::uint64_t{1} << 53) + rng() % 3 - 1; // where doubles stop being exact
    default: return rng() % 100000;
    }
}

Timestamp random_timestamp(Rng& rng) {
    std::int64_t ns = std::uniform_int_distribution<std::int64_t>(min_ns, max_ns)(rng);
    switch (rng() % 6) {
    case 0: return at_ns(ns - ns % 1'000'000'000);                                   // whole seconds
    case 1: return at_ns(ns - ns % 1'000'000);                                       // milliseconds
    case 2: return at_ns(ns - ns % 1'000);                                           // microseconds
    case 3: return at_ns(-1 - static_cast<std::int64_t>(rng() % 1'000'000'000'000)); // just before 1970
    case 4: return at_ns(rng() % 2 ? min_ns : max_ns);
    default: return at_ns(ns);
    }
}

ReplicationConfig random_config(Rng& rng) {
    ReplicationConfig config;
    config.role = random_text(rng, 20);
    const std::size_t rules = rng() % 5;
    for (std::size_t i = 0; i < rules; ++i) {
        ReplicationRule rule;
        rule.id = random_text(rng, 10);
        rule.priority = rng() % 4 == 0 ? std::numeric_limits<std::uint32_t>::max() : static_cast<std::uint32_t>(rng());
        rule.status_enabled = rng() % 2 == 0;
        rule.filter.prefix = random_optional_text(rng);
        const std::size_t tags = rng() % 4;
        for (std::size_t t = 0; t < tags; ++t) rule.filter.tags.emplace_back(random_text(rng, 8), random_text(rng, 8));
        rule.destination_bucket = random_text(rng, 10);
        rule.destination_storage_class = random_optional_text(rng);
        config.rules.push_back(std::move(rule));
    }
    return config;
}

// Fills `m` (and returns what it must hold) with random configurations and
// entries: each entry stamped once, at a random clock time.
Contents fill_randomly(Manager& m, Rng& rng, std::size_t buckets, std::size_t entries) {
    Contents expected;
    std::vector<std::string> names;
    for (std::size_t b = 0; b < buckets; ++b) {
        names.push_back(b == 0 ? std::string() : random_text(rng, 16)); // the empty bucket name too
        if (rng() % 3 != 0) {
            ReplicationConfig config = random_config(rng);
            m.put_config(names.back(), config);
            expected.configs.insert_or_assign(names.back(), std::move(config));
        }
    }
    std::map<std::pair<std::string, std::string>, ReplicationStatusEntry> stamped;
    for (std::size_t i = 0; i < entries; ++i) {
        const std::string& bucket = names[rng() % names.size()];
        std::string key = random_text(rng, 24);
        if (i % 50 == 7) { // 1 KiB keys, non-ASCII included
            key.resize(1024 - 4, 'k');
            key += "\xF0\x9F\x98\x80"; // U+1F600
        }
        if (stamped.count({bucket, key}) != 0) continue;
        const Timestamp when = random_timestamp(rng);
        m.clock().set(when);
        const ReplicationStatus status = all_statuses[rng() % 4];
        if (rng() % 10 == 0) {
            m.record_status(bucket, key, status);
            stamped[{bucket, key}] = {status, 0, when};
        } else {
            const std::uint64_t generation = random_generation(rng);
            REQUIRE(m.record_status_if_newer(bucket, key, generation, status));
            stamped[{bucket, key}] = {status, generation, when};
        }
    }
    for (const auto& [name, entry] : stamped) expected.add(name.first, name.second, entry);
    expected.sort();
    return expected;
}

std::uint64_t written_next_generation(const std::string& json) {
    return nlohmann::json::parse(json).at("next_generation").get<std::uint64_t>();
}

// The counter rule for a to_json text: its next_generation, unless it says
// the counter is exhausted (s3repl's own member).
std::optional<std::uint64_t> counter_rule(const Contents& c, const std::string& json) {
    if (nlohmann::json::parse(json).value("generations_exhausted", false)) return std::nullopt;
    return counter_rule(c, written_next_generation(json));
}

// The checks for one restore of a to_json text: same contents, exact entry
// counts, the counter rule.
void check_round_trip(const std::string& json, const Contents& expected) {
    Manager restored = Manager::from_json(json, ManualClock{restore_time});
    const Contents got = contents(restored);
    CHECK(got == expected);
    check_entry_counts(restored.stats(), entry_counts(expected));
    CHECK(restored.to_json().size() == json.size());
    CHECK(mint(restored) == counter_rule(expected, json));
}

// ---- files ---------------------------------------------------------------------

// The checks for an input that must be refused: SnapshotError (from every
// entry point), naming `pointer` when given, and a manager left as it was.
void check_rejected(Manager& m, const Observed& before, const std::string& json, const std::string& pointer) {
    INFO("input: " << json.substr(0, 300));
    try {
        m.restore_json(json);
        FAIL_CHECK("restore_json accepted it");
    } catch (const SnapshotError& error) {
        const std::string message = error.what();
        INFO("message: " << message);
        CHECK(message.rfind("[s3repl.snapshot] ", 0) == 0);
        if (!pointer.empty()) CHECK(message.find(pointer + ": ") != std::string::npos);
    }
    check_unchanged(m, before);
    CHECK_THROWS_AS(Manager::from_json(json, ManualClock{restore_time}), SnapshotError);
}

struct RejectedCase {
    std::string json;
    std::string pointer; // empty: the message need not name one (e.g. a syntax error)
};

void check_all_rejected(const std::vector<RejectedCase>& cases) {
    Manager m = prepared_manager();
    const Observed before = observe(m);
    TempDir dir;
    for (const RejectedCase& c : cases) {
        check_rejected(m, before, c.json, c.pointer);
        // The same bytes from a file: SnapshotError naming the path.
        const fs::path file = dir.path() / "rejected.json";
        write_raw(file, c.json);
        CHECK_THROWS_WITH(Manager::load_snapshot(file, ManualClock{restore_time}), Catch::Contains(file.string()));
        CHECK_THROWS_AS(Manager::load_snapshot(file, ManualClock{restore_time}), SnapshotError);
    }
}

Contents restore(const std::string& json) { return contents(Manager::from_json(json, ManualClock{restore_time})); }

ReplicationStatusEntry only_entry(const std::string& json) {
    const Contents c = restore(json);
    REQUIRE(c.entries.size() == 1);
    return c.entries[0].entry;
}

// A value nested `depth` levels, arrays and objects alternating.
std::string nested_value(std::size_t depth) {
    std::string open, close;
    for (std::size_t i = 0; i < depth; ++i) {
        open += i % 2 ? R"({"x":)" : "[";
        close += i % 2 ? "}" : "]";
    }
    std::reverse(close.begin(), close.end());
    return open + "1" + close;
}

} // namespace

// ==== round trips =================================================================

TEST_CASE("random contents round-trip through to_json and from_json", "[snapshot][roundtrip]") {
    for (std::uint64_t seed = 1; seed <= 12; ++seed) {
        INFO("seed " << seed);
        Rng rng(seed);
        Manager m{ManualClock{}};
        const Contents expected = fill_randomly(m, rng, 1 + seed % 5, 150);
        REQUIRE(contents(m) == expected);
        // Some minted generations (the random stamps may have exhausted the counter): it must survive too.
        for (std::uint64_t i = 0; i < seed; ++i) mint(m);

        const std::string json = m.to_json();
        check_round_trip(json, expected);
        // The live manager and the one restored from its snapshot agree about the counter.
        Manager restored = Manager::from_json(json, ManualClock{restore_time});
        CHECK(mint(restored) == mint(m));
        // A second generation of the text reads the same.
        const std::string again = Manager::from_json(json, ManualClock{restore_time}).to_json();
        check_round_trip(again, expected);
    }
}

TEST_CASE("control characters, quotes, backslashes, DEL and unicode survive in every string", "[snapshot][roundtrip]") {
    const std::string nasty = "\0\x01\x1f\x7f\"\\/\b\f\n\r\t\u00e9\u4e2d\U0001F600~ end"s;
    Manager m{ManualClock{at_ns(-1)}};
    ReplicationRule rule{nasty, std::numeric_limits<std::uint32_t>::max(),
                         false, ReplicationFilter{nasty, {{nasty, nasty}, {"", ""}}},
                         nasty, nasty};
    m.put_config(nasty, ReplicationConfig{nasty, {rule}});
    m.put_config("", ReplicationConfig{"", {}});
    m.record_status_if_newer(nasty, nasty, max_u64 - 1, ReplicationStatus::Replica);
    m.record_status_if_newer("", "", 0, ReplicationStatus::Pending);
    m.record_status_if_newer(nasty, "", 1, ReplicationStatus::Failed);
    m.record_status_if_newer("", nasty, 2, ReplicationStatus::Completed);
    const Contents expected = contents(m);
    REQUIRE(expected.entries.size() == 4);
    REQUIRE(expected.configs.size() == 2);

    const std::string json = m.to_json();
    // serde_json's escaping: named escapes, \u00xx in lower case for the rest, DEL and non-ASCII raw.
    CHECK(json.find(R"(\u0000\u0001\u001f)"
                    "\x7f"
                    R"(\"\\/\b\f\n\r\t)"
                    "\u00e9\u4e2d\U0001F600~ end") != std::string::npos);
    check_round_trip(json, expected);
}

TEST_CASE("pre-1970, sub-second and range-end timestamps round-trip to the nanosecond", "[snapshot][roundtrip]") {
    Manager m{ManualClock{}};
    const std::int64_t times[] = {min_ns, min_ns + 1,  -2'208'988'800'000'000'001, -1'000'000'000, -1,    0,
                                  1,      999'999'999, 1'705'307'400'123'456'789,  max_ns - 1,     max_ns};
    std::uint64_t generation = 0;
    for (const std::int64_t ns : times) {
        m.clock().set(at_ns(ns));
        m.record_status_if_newer("b", std::to_string(ns), generation++, ReplicationStatus::Completed);
    }
    const Contents expected = contents(m);
    for (const EntryRef& e : expected.entries) CHECK(e.entry.recorded_at == at_ns(std::stoll(e.key)));
    const std::string json = m.to_json();
    CHECK(json.find(R"("recorded_at":"1677-09-21T00:12:43.145224192Z")") != std::string::npos);
    CHECK(json.find(R"("recorded_at":"2262-04-11T23:47:16.854775807Z")") != std::string::npos);
    CHECK(json.find(R"("recorded_at":"1969-12-31T23:59:59.999999999Z")") != std::string::npos);
    check_round_trip(json, expected);
}

TEST_CASE("an empty manager round-trips to an empty manager", "[snapshot][roundtrip]") {
    const Manager m{ManualClock{}};
    const std::string json = m.to_json();
    CHECK(json == R"({"by_bucket":{},"statuses":[],"next_generation":1})");
    check_round_trip(json, Contents{});
}

// ==== accepted forms ================================================================

TEST_CASE("the oldest format: a bare status word is generation 0 stamped now", "[snapshot][legacy]") {
    const Contents c = restore(snapshot_text(
        "{}", R"([[["b","p"],"Pending"],[["b","c"],"Completed"],[["b","f"],"Failed"],[["b","r"],"Replica"]])", ""));
    Contents expected;
    expected.add("b", "c", {ReplicationStatus::Completed, 0, restore_time});
    expected.add("b", "f", {ReplicationStatus::Failed, 0, restore_time});
    expected.add("b", "p", {ReplicationStatus::Pending, 0, restore_time});
    expected.add("b", "r", {ReplicationStatus::Replica, 0, restore_time});
    CHECK(c == expected);
}

TEST_CASE("an entry without recorded_at is stamped now and keeps its generation", "[snapshot][legacy]") {
    CHECK(only_entry(with_entry(R"({"status":"Failed","generation":12})")) ==
          ReplicationStatusEntry{ReplicationStatus::Failed, 12, restore_time});
    CHECK(only_entry(with_entry(R"({"generation":12,"status":"Replica"})")) ==
          ReplicationStatusEntry{ReplicationStatus::Replica, 12, restore_time});
}

TEST_CASE("no next_generation reads as 1 and next_generation 0 as 1", "[snapshot][legacy][counter]") {
    for (const char* rest : {"", R"(,"next_generation":0)", R"(,"next_generation":1)"}) {
        INFO(rest);
        Manager m = Manager::from_json(snapshot_text("{}", "[]", rest), ManualClock{});
        CHECK(m.next_generation() == 1);
        CHECK(m.next_generation() == 2);
    }
}

TEST_CASE("prefix and destination_storage_class may be absent or null; empty strings stay empty",
          "[snapshot][config]") {
    const Contents c = restore(snapshot_text(
        R"({"b":{"role":"r","rules":[)"
        R"({"id":"absent","priority":1,"status_enabled":true,"filter":{"tags":[]},"destination_bucket":"d"},)"
        R"({"id":"null","priority":2,"status_enabled":false,"filter":{"prefix":null,"tags":[]},"destination_bucket":"d","destination_storage_class":null},)"
        R"({"id":"empty","priority":3,"status_enabled":true,"filter":{"prefix":"","tags":[["",""]]},"destination_bucket":"","destination_storage_class":""}]}})",
        "[]"));
    REQUIRE(c.configs.count("b") == 1);
    const std::vector<ReplicationRule>& rules = c.configs.at("b").rules;
    REQUIRE(rules.size() == 3);
    CHECK(rules[0] == ReplicationRule{"absent", 1, true, ReplicationFilter{std::nullopt, {}}, "d", std::nullopt});
    CHECK(rules[1] == ReplicationRule{"null", 2, false, ReplicationFilter{std::nullopt, {}}, "d", std::nullopt});
    CHECK(rules[2] == ReplicationRule{"empty", 3, true, ReplicationFilter{"", {{"", ""}}}, "", ""});
}

TEST_CASE("every field of a configuration is read, in any field order", "[snapshot][config]") {
    const Contents c = restore(snapshot_text(
        R"({"b":{"rules":[{"destination_storage_class":"STANDARD_IA","filter":{"tags":[["k1","v1"],["k2","v2"]],"prefix":"logs/"},)"
        R"("destination_bucket":"dst","status_enabled":false,"priority":4294967295,"id":"rule"}],"role":"arn:role"}})",
        "[]"));
    const ReplicationConfig expected{
        "arn:role",
        {ReplicationRule{"rule", 4294967295u, false, ReplicationFilter{"logs/", {{"k1", "v1"}, {"k2", "v2"}}}, "dst",
                         "STANDARD_IA"}}};
    REQUIRE(c.configs.size() == 1);
    CHECK(c.configs.at("b") == expected);
}

TEST_CASE("unknown fields are ignored at every level, also twice and nested 128+ levels deep", "[snapshot][compat]") {
    const std::string plain = snapshot_text(bucket_with_rule(a_rule), one_status(an_entry));
    const Contents expected = restore(plain);
    REQUIRE(expected.entries.size() == 1);
    REQUIRE(expected.configs.size() == 1);

    for (const std::size_t depth : {std::size_t{1}, std::size_t{128}, std::size_t{129}, std::size_t{1000}}) {
        INFO("depth " << depth);
        const std::string deep = nested_value(depth);
        // Every kind of value, and names close to known ones.
        const std::string unknowns = R"("unknown":)" + deep +
                                     R"(,"unknown":[null,true,-1,-0,1.5e300,18446744073709551616,)"
                                     R"("\ud83d\ude00\u0000",{"generation":-1}],"Status":"Nope","generation ":-1,)";
        auto add_unknowns = [&](std::string text, const std::string& after) {
            std::size_t at = 0;
            while ((at = text.find(after, at)) != std::string::npos) {
                text.insert(at + 1, unknowns);
                at += 1 + unknowns.size();
            }
            return text;
        };
        std::string text = R"({)" + unknowns + plain.substr(1);     // root
        text = add_unknowns(text, R"({"role")");                    // configuration
        text = add_unknowns(text, R"({"id")");                      // rule
        text = add_unknowns(text, R"({"prefix")");                  // filter
        text = add_unknowns(text, R"({"status")");                  // entry
        REQUIRE(text.size() == plain.size() + 5 * unknowns.size()); // one set per object
        CHECK(restore(text) == expected);
        // Unknown fields last, after every known one.
        CHECK(restore(plain.substr(0, plain.size() - 1) + "," + unknowns.substr(0, unknowns.size() - 1) + "}") ==
              expected);
    }
}

TEST_CASE("a (bucket, key) listed twice: the later one wins, also with a lower generation", "[snapshot][compat]") {
    Manager m = Manager::from_json(
        snapshot_text("{}",
                      R"([[["b","k"],{"status":"Completed","generation":9,"recorded_at":"2024-01-01T00:00:00Z"}],)"
                      R"([["b","other"],"Pending"],)"
                      R"([["b","k"],{"status":"Pending","generation":4,"recorded_at":"2023-01-01T00:00:00Z"}],)"
                      R"([["b","j"],{"status":"Failed","generation":5}],[["b","j"],"Replica"]])",
                      ""),
        ManualClock{restore_time});
    CHECK(m.size() == 3);
    CHECK(m.lookup_entry("b", "k") ==
          ReplicationStatusEntry{ReplicationStatus::Pending, 4, at_ns(1'672'531'200'000'000'000)});
    CHECK(m.lookup_entry("b", "j") == ReplicationStatusEntry{ReplicationStatus::Replica, 0, restore_time});
    const ReplicationStats stats = m.stats();
    CHECK(stats.entries_pending == 2);
    CHECK(stats.entries_completed == 0);
    CHECK(stats.entries_failed == 0);
    CHECK(stats.entries_replica == 1);
    // The counter can only be conservative here: never at or below a generation still stored.
    CHECK(m.next_generation() >= 5);
}

TEST_CASE("a superseded duplicate's generation does not count: max(next, highest stored + 1, 1)",
          "[snapshot][counter]") {
    Manager m = Manager::from_json(
        snapshot_text(
            "{}",
            R"([[["b","k"],{"status":"Completed","generation":9}],[["b","k"],{"status":"Pending","generation":4}]])",
            ""),
        ManualClock{});
    CHECK(m.next_generation() == 5);
}

TEST_CASE("a bucket listed twice in by_bucket: the later configuration wins", "[snapshot][compat]") {
    const Contents c = restore(snapshot_text(R"({"b":{"role":"first","rules":[)" + a_rule +
                                                 R"(]},"c":{"role":"c","rules":[]},"b":{"role":"second","rules":[]}})",
                                             "[]"));
    REQUIRE(c.configs.size() == 2);
    CHECK(c.configs.at("b") == ReplicationConfig{"second", {}});
    CHECK(c.configs.at("c") == ReplicationConfig{"c", {}});
}

TEST_CASE("recorded_at takes every RFC 3339 spelling, normalised to UTC", "[snapshot][time]") {
    const Timestamp at_0830 = at_ns(1'705'307'400'000'000'000); // 2024-01-15T08:30:00Z
    const std::pair<const char*, Timestamp> cases[] = {
        {"2024-01-15T08:30:00Z", at_0830},
        {"2024-01-15t08:30:00z", at_0830},
        {"2024-01-15 08:30:00Z", at_0830},
        {"2024-01-15T10:30:00+02:00", at_0830},
        {"2024-01-15T03:00:00-05:30", at_0830},
        {"2024-01-15T08:30:00-00:00", at_0830},
        {"2024-01-15T08:30:00.5Z", at_0830 + 500ms},
        {"2024-01-15T08:30:00.123456789123Z", at_0830 + 123456789ns},
        {"2024-01-15T08:29:60Z", at_0830},
        {"2016-12-31T23:59:60Z", at_ns(1'483'228'800'000'000'000)},
        {"1969-12-31T23:59:59.999999999Z", at_ns(-1)},
        {"1677-09-21T00:12:43.145224192Z", at_ns(min_ns)},
        {"2262-04-11T23:47:16.854775807Z", at_ns(max_ns)},
    };
    for (const auto& [text, expected] : cases) {
        INFO(text);
        CHECK(only_entry(with_entry(entry_recorded_at("\""s + text + "\""))).recorded_at == expected);
    }
}

TEST_CASE("spellings the Rust reader may take are either refused or read right", "[snapshot][time][compat]") {
    const Timestamp at_0830 = at_ns(1'705'307'400'000'000'000);
    Manager m = prepared_manager();
    const Observed before = observe(m);
    for (const char* text : {"2024-01-15T10:30:00+0200", "2024-01-15T08:30:00 UTC", "2024-01-15T08:30:00Z "}) {
        INFO(text);
        const std::string json = with_entry(entry_recorded_at("\""s + text + "\""));
        std::optional<Manager> accepted;
        try {
            accepted = Manager::from_json(json, ManualClock{});
        } catch (const SnapshotError&) {
            CHECK_THROWS_AS(m.restore_json(json), SnapshotError);
            check_unchanged(m, before);
        }
        if (accepted) CHECK(accepted->lookup_entry("src", "k")->recorded_at == at_0830);
    }
}

TEST_CASE("forms only a generic deserialiser takes are either refused or read right", "[snapshot][compat]") {
    const std::pair<std::string, Contents> cases[] = {
        {with_entry(R"({"Completed":null})"),
         [] {
             Contents c;
             c.add("src", "k", {ReplicationStatus::Completed, 0, restore_time});
             return c;
         }()},
        {snapshot_text(R"({"b":["r",[]]})", "[]"),
         [] {
             Contents c;
             c.configs.emplace("b", ReplicationConfig{"r", {}});
             return c;
         }()},
        {with_entry(R"(["Failed",6,"2024-01-15T08:30:00Z"])"),
         [] {
             Contents c;
             c.add("src", "k", {ReplicationStatus::Failed, 6, at_ns(1'705'307'400'000'000'000)});
             return c;
         }()},
    };
    for (const auto& [json, expected] : cases) {
        INFO(json);
        const std::optional<Manager> accepted = restored_or_refused(json);
        if (accepted) CHECK(contents(*accepted) == expected);
    }
}

TEST_CASE("whitespace between tokens and escapes in strings are plain JSON", "[snapshot][compat]") {
    const Contents c = restore(" \n\t{ \"by_bucket\" : { } ,\r\n \"statuses\" : [ [ [ \"b\\/\\u00e9\" , "
                               "\"\\ud83d\\ude00\\u0000\" ] , \"Replica\" ] ] , \"next_generation\" : 2 }\n\n ");
    Contents expected;
    expected.add("b/\u00e9", "\U0001F600\0"s, {ReplicationStatus::Replica, 0, restore_time});
    CHECK(c == expected);
}

// ==== rejected forms ==============================================================

TEST_CASE("invalid JSON, trailing content, a byte-order mark, empty input and a non-object root are refused",
          "[snapshot][rejected]") {
    const std::string valid = snapshot_text("{}", "[]");
    check_all_rejected({
        {R"({"by_bucket":{},"statuses":[})", ""},
        {R"({"by_bucket":{},"statuses":[],})", ""},
        {R"({"by_bucket":{},"statuses":[])", ""},
        {R"({"by_bucket":{},"statuses":[],"next_generation":5)", ""},
        {R"({'by_bucket':{},'statuses':[]})", ""},
        {R"({by_bucket:{},statuses:[]})", ""},
        {R"({"by_bucket":{},"statuses":[],"next_generation":05})", ""},
        {R"({"by_bucket":{},"statuses":[],"next_generation":NaN})", ""},
        {R"({"by_bucket":{},"statuses":[],"x":tru})", ""},
        {R"({"by_bucket":{},"statuses":[],"x":"\q"})", ""},
        {"{\"by_bucket\":{},\"statuses\":[],\"x\":\"a\x01b\"}", ""},       // a raw control character in a string
        {"{\"by_bucket\":{},\"statuses\":[],\"x\":\"\xff\"}", ""},         // not UTF-8
        {"{\"by_bucket\":{},\"statuses\":[],\"x\":\"\xc0\xaf\"}", ""},     // overlong UTF-8
        {"{\"by_bucket\":{},\"statuses\":[],\"x\":\"\xed\xa0\x80\"}", ""}, // an encoded surrogate
        {"/* comment */" + valid, ""},
        {valid + "x", ""},
        {valid + "{}", ""},
        {valid + valid, ""},
        {valid + " ,", ""},
        {valid + "\0"s, ""}, // a parser reading C strings would stop at the NUL: the document must not
        {valid + "\0x"s, ""},
        {valid + " \0{\"by_bucket\":null}"s, ""},
        {"\xEF\xBB\xBF" + valid, ""},
        {"", ""},
        {" \n\t", ""},
        {"[]", "(root)"},
        {"[{}]", "(root)"},
        {R"("snapshot")", "(root)"},
        {"5", "(root)"},
        {"null", "(root)"},
        {"true", "(root)"},
    });
}

TEST_CASE("a lone UTF-16 surrogate escape is refused anywhere", "[snapshot][rejected]") {
    check_all_rejected({
        {with_key(R"(["src","\ud800"])"), ""},
        {with_key(R"(["\udc00","k"])"), ""},
        {with_key(R"(["src","a\ud800b"])"), ""},
        {with_key(R"(["src","\ud800\u0041"])"), ""},
        {with_key(R"(["src","\udfff\ud800"])"), ""},
        {snapshot_text(R"({"b":{"role":"\ud800","rules":[]}})", "[]"), ""},
        {snapshot_text("{}", "[]", R"(,"unknown":"\udbff")"), ""},
    });
}

TEST_CASE("unknown status words are refused, the AWS upper-case words included", "[snapshot][rejected]") {
    std::vector<RejectedCase> cases;
    for (const char* word : {"Done", "COMPLETED", "PENDING", "FAILED", "REPLICA", "COMPLETE", "completed", "pending",
                             "", "Completed ", " Pending", "Complete", "Replicated"}) {
        cases.push_back({with_entry(R"({"status":")"s + word + R"(","generation":1})"), "/statuses/0/1/status"});
        cases.push_back({with_entry("\""s + word + "\""), "/statuses/0/1"});
    }
    cases.push_back({with_entry(R"({"status":null,"generation":1})"), "/statuses/0/1/status"});
    cases.push_back({with_entry(R"({"status":1,"generation":1})"), "/statuses/0/1/status"});
    cases.push_back({with_entry("null"), "/statuses/0/1"});
    cases.push_back({with_entry("3"), "/statuses/0/1"});
    check_all_rejected(cases);
}

TEST_CASE("generation and next_generation must be unsigned 64-bit integers", "[snapshot][rejected]") {
    std::vector<RejectedCase> cases;
    for (const char* bad : {"-1", "-0", "-18446744073709551615", "-18446744073709551616", "1.5", "1.0", "0.0", "1e3",
                            "1E3", "1e-3", "0e0", "\"5\"", "null", "true", "[]", "{}", "18446744073709551616",
                            "99999999999999999999999", "1.8446744073709552e19"}) {
        cases.push_back({with_entry(entry_with_generation(bad)), "/statuses/0/1/generation"});
        cases.push_back({snapshot_text("{}", "[]", R"(,"next_generation":)"s + bad), "/next_generation"});
    }
    check_all_rejected(cases);
    // The largest value is fine in both places.
    CHECK(only_entry(with_entry(entry_with_generation("18446744073709551615"))).generation == max_u64);
    CHECK_NOTHROW(Manager::from_json(snapshot_text("{}", "[]", R"(,"next_generation":18446744073709551615)")));
}

TEST_CASE("priority must be an unsigned 32-bit integer", "[snapshot][rejected]") {
    std::vector<RejectedCase> cases;
    for (const char* bad : {"4294967296", "18446744073709551615", "18446744073709551616", "-1", "-0", "1.5", "1e2",
                            "\"1\"", "null", "true"})
        cases.push_back({with_rule(rule_with_priority(bad)), "/by_bucket/src/rules/0/priority"});
    check_all_rejected(cases);
    CHECK(restore(with_rule(rule_with_priority("4294967295"))).configs.at("src").rules.at(0).priority == 4294967295u);
}

TEST_CASE("recorded_at must be an RFC 3339 date-time with an offset, inside the Timestamp range",
          "[snapshot][rejected]") {
    std::vector<RejectedCase> cases;
    for (const char* bad :
         {"null", "5", "1705307400", "true", "[]", "{}", R"("")", R"("yesterday")", R"("2024-01-15T08:30:00")",
          R"("2024-01-15")", R"("2024-02-30T00:00:00Z")", R"("2023-02-29T00:00:00Z")", R"("2024-13-01T00:00:00Z")",
          R"("2024-01-15T24:00:00Z")", R"("2024-01-15T08:60:00Z")", R"("1677-09-21T00:12:43.145224191Z")",
          R"("2262-04-11T23:47:16.854775808Z")", R"("0001-01-01T00:00:00Z")", R"("9999-12-31T23:59:59Z")"})
        cases.push_back({with_entry(entry_recorded_at(bad)), "/statuses/0/1/recorded_at"});
    check_all_rejected(cases);
}

TEST_CASE("a key must be an array of exactly two strings", "[snapshot][rejected]") {
    check_all_rejected({
        {with_key(R"(["src"])"), "/statuses/0/0"},
        {with_key(R"([])"), "/statuses/0/0"},
        {with_key(R"(["src","k","x"])"), "/statuses/0/0/2"},
        {with_key(R"([1,2])"), "/statuses/0/0/0"},
        {with_key(R"(["src",2])"), "/statuses/0/0/1"},
        {with_key(R"([null,"k"])"), "/statuses/0/0/0"},
        {with_key(R"(["src",["k"]])"), "/statuses/0/0/1"},
        {with_key(R"("src/k")"), "/statuses/0/0"},
        {with_key(R"({"bucket":"src","key":"k"})"), "/statuses/0/0"},
        {with_key("null"), "/statuses/0/0"},
    });
}

TEST_CASE("a status element must be a [key, entry] pair", "[snapshot][rejected]") {
    check_all_rejected({
        {snapshot_text("{}", R"([[["src","k"]]])"), "/statuses/0"},
        {snapshot_text("{}", R"([[]])"), "/statuses/0"},
        {snapshot_text("{}", R"([[["src","k"],"Pending","extra"]])"), "/statuses/0/2"},
        {snapshot_text("{}", R"([{"key":["src","k"],"entry":"Pending"}])"), "/statuses/0"},
        {snapshot_text("{}", R"(["Pending"])"), "/statuses/0"},
    });
}

TEST_CASE("required fields: status, generation, by_bucket, statuses, filter, tags and the rest",
          "[snapshot][rejected]") {
    const std::string rule_without =
        R"("priority":1,"status_enabled":true,"filter":{"prefix":null,"tags":[]},"destination_bucket":"d")";
    check_all_rejected({
        {with_entry(R"({"generation":3,"recorded_at":"2024-01-15T08:30:00Z"})"), "/statuses/0/1"},
        {with_entry(R"({"status":"Completed","recorded_at":"2024-01-15T08:30:00Z"})"), "/statuses/0/1"},
        {with_entry(R"({})"), "/statuses/0/1"},
        {R"({"statuses":[]})", "(root)"},
        {R"({"by_bucket":{}})", "(root)"},
        {R"({})", "(root)"},
        {R"({"by_bucket":null,"statuses":[]})", "/by_bucket"},
        {R"({"by_bucket":{},"statuses":null})", "/statuses"},
        {R"({"by_bucket":[],"statuses":[]})", "/by_bucket"},
        {R"({"by_bucket":{},"statuses":{}})", "/statuses"},
        {with_rule(R"({"id":"r","priority":1,"status_enabled":true,"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0"},
        {with_rule(R"({"id":"r","priority":1,"status_enabled":true,"filter":null,"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/filter"},
        {with_rule(R"({"id":"r","priority":1,"status_enabled":true,"filter":{"prefix":"p"},"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/filter"},
        {with_rule(R"({"id":"r","priority":1,"status_enabled":true,"filter":{},"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/filter"},
        {with_rule(
             R"({"id":"r","priority":1,"status_enabled":true,"filter":{"prefix":"p","tags":null},"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/filter/tags"},
        {with_rule("{" + rule_without + "}"), "/by_bucket/src/rules/0"},
        {with_rule(R"({"id":"r","status_enabled":true,"filter":{"prefix":null,"tags":[]},"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0"},
        {with_rule(R"({"id":"r","priority":1,"filter":{"prefix":null,"tags":[]},"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0"},
        {with_rule(R"({"id":"r","priority":1,"status_enabled":true,"filter":{"prefix":null,"tags":[]}})"),
         "/by_bucket/src/rules/0"},
        {snapshot_text(R"({"b":{"rules":[]}})", "[]"), "/by_bucket/b"},
        {snapshot_text(R"({"b":{"role":"r"}})", "[]"), "/by_bucket/b"},
        {snapshot_text(R"({"b":null})", "[]"), "/by_bucket/b"},
        {snapshot_text(R"({"b":{"role":null,"rules":[]}})", "[]"), "/by_bucket/b/role"},
        {snapshot_text(R"({"b":{"role":"r","rules":{}}})", "[]"), "/by_bucket/b/rules"},
        {with_rule(
             R"({"id":"r","priority":1,"status_enabled":"true","filter":{"prefix":null,"tags":[]},"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/status_enabled"},
        {with_rule(R"({"id":null,)" + rule_without + "}"), "/by_bucket/src/rules/0/id"},
        {with_rule(
             R"({"id":"r","priority":1,"status_enabled":true,"filter":{"prefix":null,"tags":[]},"destination_bucket":null})"),
         "/by_bucket/src/rules/0/destination_bucket"},
        {with_rule(
             R"({"id":"r","priority":1,"status_enabled":true,"filter":{"prefix":null,"tags":[["a"]]},"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/filter/tags/0"},
        {with_rule(
             R"({"id":"r","priority":1,"status_enabled":true,"filter":{"prefix":null,"tags":[["a","b","c"]]},"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/filter/tags/0/2"},
        {with_rule(
             R"({"id":"r","priority":1,"status_enabled":true,"filter":{"prefix":null,"tags":[[1,2]]},"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/filter/tags/0/0"},
        {with_rule(
             R"({"id":"r","priority":1,"status_enabled":true,"filter":{"prefix":5,"tags":[]},"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/filter/prefix"},
    });
}

TEST_CASE("a known field given twice in one object is refused", "[snapshot][rejected]") {
    const std::string filter = R"("filter":{"prefix":null,"tags":[]})";
    check_all_rejected({
        {R"({"by_bucket":{},"statuses":[],"by_bucket":{}})", "/by_bucket"},
        {R"({"by_bucket":{},"statuses":[],"statuses":[]})", "/statuses"},
        {R"({"by_bucket":{},"statuses":[],"next_generation":1,"next_generation":1})", "/next_generation"},
        {snapshot_text(R"({"b":{"role":"r","role":"r","rules":[]}})", "[]"), "/by_bucket/b/role"},
        {snapshot_text(R"({"b":{"role":"r","rules":[],"rules":[]}})", "[]"), "/by_bucket/b/rules"},
        {with_rule(R"({"id":"r","id":"r","priority":1,"status_enabled":true,)" + filter +
                   R"(,"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/id"},
        {with_rule(R"({"id":"r","priority":1,"priority":1,"status_enabled":true,)" + filter +
                   R"(,"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/priority"},
        {with_rule(R"({"id":"r","priority":1,"status_enabled":true,)" + filter + "," + filter +
                   R"(,"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/filter"},
        {with_rule(R"({"id":"r","priority":1,"status_enabled":true,)" + filter +
                   R"(,"destination_bucket":"d","destination_storage_class":null,"destination_storage_class":null})"),
         "/by_bucket/src/rules/0/destination_storage_class"},
        {with_rule(
             R"({"id":"r","priority":1,"status_enabled":true,"filter":{"prefix":null,"prefix":null,"tags":[]},"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/filter/prefix"},
        {with_rule(
             R"({"id":"r","priority":1,"status_enabled":true,"filter":{"prefix":null,"tags":[],"tags":[]},"destination_bucket":"d"})"),
         "/by_bucket/src/rules/0/filter/tags"},
        {with_entry(R"({"status":"Completed","status":"Completed","generation":1})"), "/statuses/0/1/status"},
        {with_entry(R"({"status":"Completed","generation":1,"generation":1})"), "/statuses/0/1/generation"},
        {with_entry(
             R"({"status":"Completed","generation":1,"recorded_at":"2024-01-15T08:30:00Z","recorded_at":"2024-01-15T08:30:00Z"})"),
         "/statuses/0/1/recorded_at"},
    });
}

TEST_CASE("an error names the JSON pointer of the offending value deep in the document", "[snapshot][rejected]") {
    std::string statuses = "[";
    for (int i = 0; i < 17; ++i) statuses += R"([["b","k)" + std::to_string(i) + R"("],"Pending"],)";
    statuses += R"([["b","k17"],{"status":"Pending","generation":1.5}]])";
    check_all_rejected({
        {snapshot_text("{}", statuses), "/statuses/17/1/generation"},
        // RFC 6901 escapes '~' and '/' in a bucket name.
        {snapshot_text(R"({"a/b~c":{"role":"r","rules":[)" + rule_with_priority("-1") + "]}}", "[]"),
         "/by_bucket/a~1b~0c/rules/0/priority"},
    });
}

TEST_CASE("deep nesting is refused or skipped, never a crash", "[snapshot][rejected][compat]") {
    const std::size_t depth = 100000;
    const std::string arrays = std::string(depth, '[') + std::string(depth, ']');
    std::string objects;
    for (std::size_t i = 0; i < depth; ++i) objects += R"({"a":)";
    objects += "1" + std::string(depth, '}');
    const std::string inputs[] = {
        snapshot_text("{}", "[]", R"(,"unknown":)" + arrays),
        snapshot_text("{}", "[]", R"(,"unknown":)" + objects),
        snapshot_text("{}", one_status(R"({"status":"Pending","generation":1,"x":)" + arrays + "}")),
        snapshot_text("{}", "[]", R"(,"unknown":)" + std::string(depth, '[')), // never closed
        snapshot_text("{}", arrays),                                           // nesting where entries go
        std::string(depth, '['),
        std::string(depth, '{'),
    };
    for (const std::string& json : inputs) {
        INFO(json.substr(0, 80));
        restored_or_refused(json);
    }
    // Unknown fields this deep are forward-compatible data: if accepted, the known ones are read.
    try {
        const Contents c = restore(snapshot_text("{}", one_status(an_entry), R"(,"unknown":)" + arrays));
        CHECK(c.entries.size() == 1);
    } catch (const SnapshotError&) {
    }
}

// ==== all-or-nothing =================================================================

TEST_CASE("an error late in the input leaves everything read before it unapplied", "[snapshot][rejected]") {
    Manager m = prepared_manager();
    const Observed before = observe(m);
    // Valid configurations and entries first, the fault at the very end.
    Rng rng(99);
    Manager source{ManualClock{}};
    fill_randomly(source, rng, 3, 200);
    std::string json = source.to_json();
    json.insert(json.size() - 1, R"(,"next_generation":1)"); // the counter given twice
    check_rejected(m, before, json, "/next_generation");
    json = source.to_json();
    json.replace(json.size() - 1, 1, "}x"); // trailing content
    check_rejected(m, before, json, "");
}

// ==== the counter ================================================================

TEST_CASE("after a restore the counter is max(next_generation, highest stored + 1, 1)", "[snapshot][counter]") {
    struct Case {
        std::string statuses, rest;
        std::uint64_t expected;
    };
    const auto entry = [](std::uint64_t generation) {
        return R"([["b","k)" + std::to_string(generation) + R"("],{"status":"Pending","generation":)" +
               std::to_string(generation) + "}]";
    };
    const Case cases[] = {
        {"[]", "", 1},
        {"[]", R"(,"next_generation":0)", 1},
        {"[" + entry(0) + "]", R"(,"next_generation":0)", 1},
        {"[" + entry(3) + "]", R"(,"next_generation":10)", 10},
        {"[" + entry(9) + "," + entry(2) + "]", R"(,"next_generation":5)", 10},
        {"[" + entry(41) + "]", "", 42},
        {"[" + entry(max_u64 - 1) + "]", R"(,"next_generation":3)", max_u64},
        {"[" + entry(5) + "]", R"(,"next_generation":18446744073709551615)", max_u64},
    };
    for (const Case& c : cases) {
        INFO(c.statuses << c.rest);
        Manager m = Manager::from_json(snapshot_text("{}", c.statuses, c.rest), ManualClock{});
        CHECK(m.stats().generations_minted == 0);
        CHECK(m.next_generation() == c.expected);
        CHECK(m.stats().generations_minted == 1);
        if (c.expected == max_u64) CHECK_THROWS_AS(m.next_generation(), s3repl::GenerationExhausted);
    }
}

TEST_CASE("a stored generation of 2^64-1 restores with the counter exhausted, never wrapped", "[snapshot][counter]") {
    const std::string json = with_entry(entry_with_generation("18446744073709551615"));
    Manager m = Manager::from_json(json, ManualClock{});
    CHECK(m.size() == 1);
    CHECK_THROWS_AS(m.next_generation(), s3repl::GenerationExhausted);
    CHECK_THROWS_AS(m.next_generation(), s3repl::GenerationExhausted);
    CHECK(m.stats().generations_minted == 0);
    // Written back with the largest counter the format holds, and still exhausted once read again.
    const std::string written = m.to_json();
    CHECK(written_next_generation(written) == max_u64);
    Manager again = Manager::from_json(written, ManualClock{});
    CHECK_THROWS_AS(again.next_generation(), s3repl::GenerationExhausted);
    // Stamps still work: the CAS does not need fresh generations.
    CHECK(m.record_status_if_newer("src", "k", max_u64, ReplicationStatus::Completed));
}

TEST_CASE("operation counters continue across restore_json and entry counts are exact right after it",
          "[snapshot][counter][stats]") {
    ManualClock clock{at_ns(1'000'000'000'000'000'000)};
    Manager m{clock};
    for (int i = 0; i < 3; ++i) m.next_generation();
    m.record_status_if_newer("x", "a", 2, ReplicationStatus::Completed);
    m.record_status_if_newer("x", "a", 1, ReplicationStatus::Pending); // rejected
    m.record_status_if_newer("x", "b", 3, ReplicationStatus::Failed);
    clock.advance(std::chrono::hours(24 * 365));
    REQUIRE(m.sweep_stale(clock.now(), 1h) == 2);
    m.note_dropped();
    m.note_dropped();
    const ReplicationStats before = m.stats();
    REQUIRE(before.generations_minted == 3);
    REQUIRE(before.stamps_accepted == 2);

    m.restore_json(snapshot_text(
        "{}",
        R"([[["b","p1"],"Pending"],[["b","p2"],{"status":"Pending","generation":60}],[["b","c"],"Completed"],)"
        R"([["b","f"],"Failed"],[["b","f2"],"Failed"],[["b","f3"],"Failed"],[["b","r"],"Replica"],[["b","p1"],"Replica"]])",
        R"(,"next_generation":100)"));
    const ReplicationStats after = m.stats();
    CHECK(after.entries_pending == 1);
    CHECK(after.entries_completed == 1);
    CHECK(after.entries_failed == 3);
    CHECK(after.entries_replica == 2);
    CHECK(after.generations_minted == before.generations_minted);
    CHECK(after.stamps_accepted == before.stamps_accepted);
    CHECK(after.stamps_rejected == before.stamps_rejected);
    CHECK(after.entries_swept == before.entries_swept);
    CHECK(after.dropped_total == before.dropped_total);

    CHECK(m.next_generation() == 100);
    CHECK(m.stats().generations_minted == 4);
    // The restored entries behave as stamped ones: the CAS and the counts move together.
    CHECK(m.record_status_if_newer("b", "p2", 100, ReplicationStatus::Completed));
    CHECK_FALSE(m.record_status_if_newer("b", "p2", 60, ReplicationStatus::Failed));
    const ReplicationStats later = m.stats();
    CHECK(later.entries_pending == 0);
    CHECK(later.entries_completed == 2);
    CHECK(later.stamps_accepted == before.stamps_accepted + 1);
    CHECK(later.stamps_rejected == before.stamps_rejected + 1);
    // Restore a smaller snapshot: the counts drop to it, the op counters stay, and the
    // counter does not move back (100 was handed out: reissuing it would let a stale job win).
    m.restore_json(snapshot_text("{}", "[]", ""));
    check_entry_counts(m.stats(), ReplicationStats{});
    CHECK(m.stats().generations_minted == 4);
    CHECK(m.next_generation() == 101);
}

// ==== snapshots taken while other threads stamp =============================

namespace {
// A shared_mutex that counts, per thread, how many of its kind are held:
// proves which locks an operation holds together.
class CountingMutex {
  public:
    void lock() {
        mutex_.lock();
        note_acquired();
    }
    void unlock() {
        --held;
        mutex_.unlock();
    }
    void lock_shared() {
        mutex_.lock_shared();
        note_acquired();
    }
    void unlock_shared() {
        --held;
        mutex_.unlock_shared();
    }
    static inline thread_local int held = 0;
    static inline thread_local int most_held = 0;

  private:
    static void note_acquired() { most_held = std::max(most_held, ++held); }
    std::shared_mutex mutex_;
};
} // namespace

TEST_CASE("to_json and save_snapshot hold one shard lock at a time (beside the snapshot lock), so stamps elsewhere "
          "go on",
          "[snapshot][locking]") {
    s3repl::BasicReplicationManager<ManualClock, CountingMutex> m{ManualClock{}};
    m.put_config("b", ReplicationConfig{"r", {}});
    for (int i = 0; i < 2000; ++i) m.record_status_if_newer("b", std::to_string(i), i, ReplicationStatus::Pending);
    CountingMutex::most_held = 0;
    const std::string json = m.to_json();
    CHECK(CountingMutex::held == 0);
    CHECK(CountingMutex::most_held == 2);
    TempDir dir;
    CountingMutex::most_held = 0;
    m.save_snapshot(dir.path() / "s.json");
    CHECK(CountingMutex::most_held == 2);
    CHECK(read_raw(dir.path() / "s.json") == json);
    // The whole-state operations take every lock; the count proves the probe works.
    CountingMutex::most_held = 0;
    m.restore_json(json);
    CHECK(CountingMutex::most_held > 1);
}

TEST_CASE("a snapshot taken while threads stamp holds whole accepted stamps under its counter",
          "[snapshot][concurrent]") {
    Manager m{ManualClock{}};
    m.put_config("b", ReplicationConfig{"r", {}});
    constexpr int stampers = 3;
    constexpr int stamps_each = 4000;
    constexpr int keys = 64; // shared by all threads, so stamps race on the same entries

    struct Stamp {
        std::string key;
        ReplicationStatus status;
    };
    std::vector<std::unordered_map<std::uint64_t, Stamp>> accepted(stampers); // generation -> stamp, per thread
    std::atomic<int> running{stampers};
    std::vector<std::string> snapshots;

    std::vector<std::thread> threads;
    for (int t = 0; t < stampers; ++t) {
        threads.emplace_back([&, t] {
            Rng rng(static_cast<std::uint64_t>(t) + 1);
            for (int i = 0; i < stamps_each; ++i) {
                const std::uint64_t generation = m.next_generation();
                const std::string key = "k" + std::to_string(rng() % keys);
                const ReplicationStatus status = all_statuses[rng() % 4];
                if (m.record_status_if_newer("b", key, generation, status))
                    accepted[static_cast<std::size_t>(t)].emplace(generation, Stamp{key, status});
            }
            running.fetch_sub(1);
        });
    }
    threads.emplace_back([&] {
        // At least a few snapshots even if the stampers finish first; then as many as their run allows.
        while ((running.load() > 0 && snapshots.size() < 2000) || snapshots.size() < 3)
            snapshots.push_back(m.to_json());
    });
    for (std::thread& thread : threads) thread.join();

    std::unordered_map<std::uint64_t, Stamp> all_accepted;
    for (const auto& mine : accepted) all_accepted.insert(mine.begin(), mine.end());
    REQUIRE(snapshots.size() >= 3);
    for (const std::string& json : snapshots) {
        // Every snapshot parses.
        Manager restored = Manager::from_json(json, ManualClock{});
        std::size_t entries = 0;
        restored.for_each_entry([&](std::string_view bucket, std::string_view key, const ReplicationStatusEntry& e) {
            ++entries;
            CHECK(bucket == "b");
            // Each entry is one stamp some thread had accepted: key, status and generation together.
            const auto found = all_accepted.find(e.generation);
            REQUIRE(found != all_accepted.end());
            CHECK(found->second.key == key);
            CHECK(found->second.status == e.status);
        });
        CHECK(entries <= keys);
        // Its counter is above every generation in it (on the text: the restore's rule would hide a fault).
        const nlohmann::json doc = nlohmann::json::parse(json);
        CHECK(doc.at("statuses").size() == entries);
        const std::uint64_t next = doc.at("next_generation").get<std::uint64_t>();
        for (const auto& status : doc.at("statuses")) CHECK(status.at(1).at("generation").get<std::uint64_t>() < next);
        CHECK(next <= stampers * stamps_each + 1);
    }
    // Once the stampers are done, a snapshot holds exactly the final state.
    const nlohmann::json last = nlohmann::json::parse(m.to_json());
    CHECK(last.at("statuses").size() == m.size());
    for (const auto& status : last.at("statuses")) {
        const auto key = status.at(0).at(1).get<std::string>();
        const std::optional<ReplicationStatusEntry> stored = m.lookup_entry("b", key);
        REQUIRE(stored);
        CHECK(status.at(1).at("generation").get<std::uint64_t>() == stored->generation);
        CHECK(status.at(1).at("status").get<std::string>() ==
              s3repl::detail::snapshot_status_words[static_cast<std::size_t>(stored->status)]);
    }
}

// ==== files ========================================================================

TEST_CASE("save_snapshot then load_snapshot round-trips, replacing any older file", "[snapshot][file]") {
    TempDir dir;
    const fs::path path = dir.path() / "state.json";
    Rng rng(5);
    for (int round = 0; round < 3; ++round) {
        Manager m{ManualClock{}};
        const Contents expected = fill_randomly(m, rng, 3, 300);
        m.save_snapshot(path);
        CHECK(read_raw(path) == m.to_json());
        Manager loaded = Manager::load_snapshot(path, ManualClock{restore_time});
        CHECK(contents(loaded) == expected);
        check_entry_counts(loaded.stats(), entry_counts(expected));
        CHECK(mint(loaded) == counter_rule(expected, 1));
        CHECK(dir.names() == std::vector<std::string>{"state.json"}); // no temporary file left
    }
    // A snapshot lists every object key: readable by its owner only.
    struct ::stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
}

TEST_CASE("load_snapshot reads files of several MiB", "[snapshot][file]") {
    // Over 2 MiB of JSON: many read chunks, with tokens split across chunk ends.
    Manager m{ManualClock{at_ns(-123'456'789)}};
    const std::string long_key(1000, 'x');
    for (int i = 0; i < 3000; ++i)
        m.record_status_if_newer("bucket", long_key + std::to_string(i), static_cast<std::uint64_t>(i) * 7919,
                                 all_statuses[i % 4]);
    TempDir dir;
    const fs::path path = dir.path() / "big.json";
    m.save_snapshot(path);
    REQUIRE(fs::file_size(path) > (std::size_t{2} << 20));
    const Manager loaded = Manager::load_snapshot(path, ManualClock{});
    CHECK(contents(loaded) == contents(m));
    // A fault near the end of a large file is still found and reported with the path.
    std::string text = read_raw(path);
    text.insert(text.size() - 2, "0.5");
    write_raw(path, text);
    CHECK_THROWS_WITH(Manager::load_snapshot(path, ManualClock{}),
                      Catch::Contains(path.string()) && Catch::Contains("/next_generation"));
}

TEST_CASE("load_snapshot of a missing file or a directory names the path and the reason", "[snapshot][file]") {
    TempDir dir;
    const fs::path missing = dir.path() / "missing.json";
    CHECK_THROWS_AS(Manager::load_snapshot(missing, ManualClock{}), SnapshotError);
    CHECK_THROWS_WITH(Manager::load_snapshot(missing, ManualClock{}),
                      Catch::Contains(missing.string()) && Catch::Contains(std::strerror(ENOENT)));
    CHECK_THROWS_AS(Manager::load_snapshot(dir.path(), ManualClock{}), SnapshotError);
    CHECK_THROWS_WITH(Manager::load_snapshot(dir.path(), ManualClock{}), Catch::Contains(dir.path().string()));
    const fs::path empty = dir.path() / "empty.json";
    write_raw(empty, "");
    CHECK_THROWS_WITH(Manager::load_snapshot(empty, ManualClock{}), Catch::Contains(empty.string()));
}

namespace {
struct InjectedFault {
    s3repl::detail::DurableWriteStep step;
};
constexpr s3repl::detail::DurableWriteStep all_steps[] = {
    s3repl::detail::DurableWriteStep::CreateTemporary, s3repl::detail::DurableWriteStep::Write,
    s3repl::detail::DurableWriteStep::SyncFile, s3repl::detail::DurableWriteStep::Rename,
    s3repl::detail::DurableWriteStep::SyncDirectory};
} // namespace

TEST_CASE("a fault before any step of a durable write leaves the old file or the new one", "[snapshot][file]") {
    using s3repl::detail::DurableWriteStep;
    Rng rng(11);
    Manager old_manager{ManualClock{}}, new_manager{ManualClock{}};
    const Contents old_contents = fill_randomly(old_manager, rng, 2, 100);
    const Contents new_contents = fill_randomly(new_manager, rng, 2, 120);
    REQUIRE_FALSE(old_contents == new_contents);
    const std::string new_json = new_manager.to_json();

    for (const DurableWriteStep fault : all_steps) {
        INFO("fault before step " << static_cast<int>(fault));
        TempDir dir;
        const fs::path path = dir.path() / "state.json";
        old_manager.save_snapshot(path);
        CHECK_THROWS_AS(s3repl::detail::write_file_durably(
                            path, [&] { return new_json; },
                            [fault](DurableWriteStep step) {
                                if (step == fault) throw InjectedFault{step};
                            }),
                        InjectedFault);
        const bool renamed = fault == DurableWriteStep::SyncDirectory;
        CHECK(contents(Manager::load_snapshot(path, ManualClock{})) == (renamed ? new_contents : old_contents));
        // The temporary file is gone (before the rename it is removed; after it, it is the target).
        CHECK(dir.names() == std::vector<std::string>{"state.json"});
    }
}

TEST_CASE("at every step of a durable write the target holds the whole old or the whole new file", "[snapshot][file]") {
    using s3repl::detail::DurableWriteStep;
    TempDir dir;
    const fs::path path = dir.path() / "state.json";
    Rng rng(12);
    Manager old_manager{ManualClock{}}, new_manager{ManualClock{}};
    const Contents old_contents = fill_randomly(old_manager, rng, 2, 100);
    const Contents new_contents = fill_randomly(new_manager, rng, 2, 100);
    old_manager.save_snapshot(path);

    // What a crash at each step would leave: the target as it is then.
    std::vector<DurableWriteStep> seen;
    s3repl::detail::write_file_durably(
        path, [&] { return new_manager.to_json(); },
        [&](DurableWriteStep step) {
            seen.push_back(step);
            const Contents now = contents(Manager::load_snapshot(path, ManualClock{}));
            CHECK(now == (step == DurableWriteStep::SyncDirectory ? new_contents : old_contents));
        });
    CHECK(seen == std::vector<DurableWriteStep>(std::begin(all_steps), std::end(all_steps)));
    CHECK(contents(Manager::load_snapshot(path, ManualClock{})) == new_contents);
    CHECK(dir.names() == std::vector<std::string>{"state.json"});
}

TEST_CASE("save_snapshot into a directory it cannot write names the path and the OS reason", "[snapshot][file]") {
    const Manager m = prepared_manager();
    TempDir dir;

    SECTION("the parent is a regular file") {
        const fs::path parent = dir.path() / "not-a-directory";
        write_raw(parent, "x");
        const fs::path path = parent / "state.json";
        CHECK_THROWS_AS(m.save_snapshot(path), SnapshotError);
        CHECK_THROWS_WITH(m.save_snapshot(path),
                          Catch::Contains(path.string()) && Catch::Contains(std::strerror(ENOTDIR)));
        CHECK(read_raw(parent) == "x");
    }
    SECTION("a read-only directory holding an old snapshot") {
        if (::geteuid() == 0) {
            WARN("running as root: permissions do not stop root; see the /sys case");
            return;
        }
        const fs::path path = dir.path() / "state.json";
        write_raw(path, "old");
        fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec);
        CHECK_THROWS_AS(m.save_snapshot(path), SnapshotError);
        CHECK_THROWS_WITH(m.save_snapshot(path),
                          Catch::Contains(path.string()) && Catch::Contains(std::strerror(EACCES)));
        CHECK(read_raw(path) == "old");
    }
    SECTION("a directory no one may create files in, root included (sysfs)") {
        const fs::path path = "/sys/s3repl-test-snapshot.json";
        // The reason the OS gives here (EACCES or EROFS, depending on the mount), found independently.
        const int probe = ::open("/sys/s3repl-test-probe", O_CREAT | O_EXCL | O_WRONLY, 0600);
        const int reason = errno;
        if (probe >= 0) {
            ::close(probe);
            ::unlink("/sys/s3repl-test-probe");
            WARN("this system lets files be created in /sys; case skipped");
            return;
        }
        CHECK_THROWS_AS(m.save_snapshot(path), SnapshotError);
        CHECK_THROWS_WITH(m.save_snapshot(path),
                          Catch::Contains(path.string()) && Catch::Contains(std::strerror(reason)));
    }
}

// ==== inputs the fuzzer found (tests/fuzz/regressions) ========================

TEST_CASE("every saved fuzzer input is refused cleanly or round-trips", "[snapshot][fuzz]") {
    const fs::path regressions = fs::path(__FILE__).parent_path() / "fuzz" / "regressions";
    REQUIRE(fs::is_directory(regressions));
    std::size_t replayed = 0;
    for (const auto& item : fs::directory_iterator(regressions)) {
        if (!item.is_regular_file() || item.path().extension() == ".md") continue;
        INFO(item.path().string());
        const std::optional<Manager> accepted = restored_or_refused(read_raw(item.path()));
        if (accepted) CHECK(contents(Manager::from_json(accepted->to_json(), ManualClock{})) == contents(*accepted));
        ++replayed;
    }
    CHECK(replayed > 0);
}
