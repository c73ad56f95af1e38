// s3repl's side of the Rust-reader check (run.sh): writes snapshots for the
// Rust reader to read, and prints what s3repl holds in the same canonical
// text form (the fixtures' README), so the two can be compared line by line.
//
//   canonical write-rich OUT.json  builds a manager holding every edge case
//                                  of the format, saves it to OUT.json and
//                                  prints the canonical form of what it held
//   canonical write-random SEED OUT.json
//                                  the same with random content drawn from SEED
//   canonical write-destinations OUT.json
//                                  a manager whose objects replicate to two and
//                                  three destinations in mixed states, beside
//                                  single-destination entries; prints the
//                                  entries this file expects it to hold (each
//                                  aggregate worked out here, not read back)
//   canonical write-versions OUT.json
//                                  the same for versions and delete markers
//                                  beside unversioned entries of the same keys:
//                                  prints the unversioned entries only (the
//                                  Rust server's reader skips "versions"), and
//                                  checks each version by its ObjectId in the
//                                  manager and in a reload of OUT.json
//   canonical canonical IN.json    load_snapshot, then the canonical form
//   canonical resave IN.json OUT   load_snapshot, save_snapshot; prints the
//                                  load clock in ns (the recorded_at legacy
//                                  entries get)
//
// A rejected snapshot prints "ERR <message>" and exits with 1.
//
// The JSON in the output is nlohmann's, not s3repl's writer: an escaping bug
// in the writer must show up as a difference, not be repeated on both sides.

#include <s3repl/s3repl.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace {

using Manager = s3repl::BasicReplicationManager<s3repl::ManualClock>;
using u64 = std::uint64_t;
using i64 = std::int64_t;

// Where the manual clock stands for loads: legacy entries without
// recorded_at get this time, so run.sh can expect it exactly.
constexpr i64 load_clock_ns = 1'717'245'296'789'012'345; // 2024-06-01T12:34:56.789012345Z

s3repl::Timestamp at(i64 ns) { return s3repl::Timestamp{std::chrono::nanoseconds{ns}}; }

std::string json_string(const std::string& text) { return nlohmann::json(text).dump(); }

nlohmann::ordered_json optional_json(const std::optional<std::string>& text) {
    return text ? nlohmann::ordered_json(*text) : nlohmann::ordered_json(nullptr);
}

// The config in serde's field order, compact, as serde_json::to_string writes it.
std::string config_json(const s3repl::ReplicationConfig& config) {
    nlohmann::ordered_json rules = nlohmann::ordered_json::array();
    for (const s3repl::ReplicationRule& rule : config.rules) {
        nlohmann::ordered_json tags = nlohmann::ordered_json::array();
        for (const auto& [key, value] : rule.filter.tags) tags.push_back({key, value});
        nlohmann::ordered_json filter;
        // What the Rust server matches on: a V1 rule's prefix is its rule-level one.
        filter["prefix"] = optional_json(rule.has_filter ? rule.filter.prefix : rule.prefix);
        filter["tags"] = tags;
        nlohmann::ordered_json r;
        r["id"] = rule.id;
        r["priority"] = rule.priority;
        r["status_enabled"] = rule.status_enabled;
        r["filter"] = filter;
        r["destination_bucket"] = rule.destination_bucket;
        r["destination_storage_class"] = optional_json(rule.destination_storage_class);
        rules.push_back(r);
    }
    nlohmann::ordered_json c;
    c["role"] = config.role;
    c["rules"] = rules;
    return c.dump();
}

struct Entry {
    std::string bucket, key;
    s3repl::ReplicationStatusEntry entry;
};

// next_generation is the counter as s3repl writes it (to_json), which may be
// above the file's: s3repl raises it past every stored generation. The
// bucket names come from to_json too, as the manager has no way to list its
// configurations; their contents come from get_config. Then `entries`.
void print_canonical(const Manager& manager, std::vector<Entry> entries) {
    const nlohmann::json written = nlohmann::json::parse(manager.to_json());
    std::cout << "next_generation " << written.at("next_generation").get<u64>() << '\n';
    std::vector<std::string> buckets;
    for (const auto& item : written.at("by_bucket").items()) buckets.push_back(item.key());
    std::sort(buckets.begin(), buckets.end());
    for (const std::string& bucket : buckets) {
        const std::optional<s3repl::ReplicationConfig> config = manager.get_config(bucket);
        if (!config) throw std::logic_error("to_json lists bucket " + json_string(bucket) + " but get_config has none");
        std::cout << "config " << bucket << ' ' << config_json(*config) << '\n';
    }
    // std::string compares as unsigned bytes, as Rust's String does.
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return std::tie(a.bucket, a.key) < std::tie(b.bucket, b.key); });
    for (const auto& [bucket, key, e] : entries)
        std::cout << "status " << json_string(bucket) << ' ' << json_string(key) << ' '
                  << s3repl::to_aws_string(e.status) << ' ' << e.generation << ' '
                  << e.recorded_at.time_since_epoch().count() << '\n';
}

// What the manager holds.
void print_canonical(const Manager& manager) {
    std::vector<Entry> entries;
    manager.for_each_entry([&](std::string_view bucket, std::string_view key, const s3repl::ReplicationStatusEntry& e) {
        entries.push_back({std::string(bucket), std::string(key), e});
    });
    print_canonical(manager, std::move(entries));
}

s3repl::ReplicationRule rule(std::string id, std::uint32_t priority, bool enabled, std::optional<std::string> prefix,
                             s3repl::TagSet tags, std::string destination, std::optional<std::string> storage_class) {
    return s3repl::ReplicationRule{std::move(id),
                                   priority,
                                   enabled,
                                   s3repl::ReplicationFilter{std::move(prefix), std::move(tags)},
                                   std::move(destination),
                                   std::move(storage_class)};
}

// A V1 rule (no Filter): its prefix moves to the rule level, where the
// snapshot writes it into "filter" for the Rust server.
s3repl::ReplicationRule as_v1(s3repl::ReplicationRule r) {
    r.has_filter = false;
    r.has_priority = false;
    r.priority = 0;
    r.prefix = std::move(r.filter.prefix);
    r.filter.prefix.reset();
    return r;
}

// Every member of AWS's rule the Rust format lacks, set: they travel in the
// rule's extra "aws" member, which the Rust reader must ignore.
s3repl::ReplicationRule with_aws_members(s3repl::ReplicationRule r, const std::string& text) {
    r.filter.and_operator = r.filter.tags.size() + (r.filter.prefix ? 1 : 0) <= 1;
    r.delete_marker_replication = false;
    r.existing_object_replication = true;
    r.source_selection_criteria = s3repl::SourceSelectionCriteria{true, false};
    r.destination_account = text;
    r.access_control_owner = "Destination";
    r.replica_kms_key_id = "arn:aws:kms:us-east-1:111122223333:key/" + text;
    r.replication_time = s3repl::ReplicationTime{true, 15};
    r.metrics = s3repl::ReplicationMetrics{false, 4294967295u};
    return r;
}

// Every control character, NUL included, then DEL.
std::string all_controls() {
    std::string text;
    for (int c = 0; c < 0x20; ++c) text += static_cast<char>(c);
    return text + '\x7f';
}

std::string repeat(const std::string& piece, std::size_t times) {
    std::string text;
    for (std::size_t i = 0; i < times; ++i) text += piece;
    return text;
}

void put_rich_configs(Manager& manager) {
    using namespace std::string_literals;
    manager.put_config(
        "src", {"arn:aws:iam::123456789012:role/replicator",
                {rule("all", 0, true, std::nullopt, {}, "dst", std::nullopt),
                 rule("max-priority", std::numeric_limits<std::uint32_t>::max(), true, "logs/",
                      {{"team", "ops"}, {"ключ", "значение 😀"}}, "dst-logs", "GLACIER"),
                 rule("disabled", 2, false, "", {{"", ""}}, "", ""),
                 rule("odd \"id\" \\ /\n\t\b\f\r"s + '\0' + "\x01\x1f\x7f", 1, true, "\"quoted\\prefix/\u2028\u2029",
                      {{"\"k\"\\", all_controls()}}, "dst-🦀", "STANDARD_IA")}});
    manager.put_config("", {"", {}});
    manager.put_config("cfg \"q\" \\ /\t\x01\x7f 😀 \u00e9",
                       {"role\x00with NUL"s, {rule("r", 7, true, "日本/", {}, "d", std::nullopt)}});
    manager.put_config("bucket-日本語",
                       {all_controls(), {rule("", 4294967294u, false, std::nullopt, {}, "x", "DEEP_ARCHIVE")}});
    manager.put_config(
        "aws-members",
        {"role",
         {as_v1(rule("v1", 0, true, "v1/\"q\"\t", {}, "dst", "STANDARD")),
          as_v1(rule("v1-no-prefix", 0, false, std::nullopt, {}, "dst", std::nullopt)),
          with_aws_members(rule("every-member", 9, true, "docs/", {{"k", "v"}}, "dst", "GLACIER_IR"),
                           "odd \"text\" \\ "s + all_controls() + " 😀"),
          with_aws_members(rule("one-tag-in-and", 3, true, std::nullopt, {{"k", "v"}}, "dst2", std::nullopt),
                           "111122223333")}});
}

// Stamps every key with a status, a generation and a time, cycling through
// the lists so each value appears at least once; returns the entries made.
std::size_t put_rich_statuses(Manager& manager) {
    using namespace std::string_literals;
    const std::vector<std::pair<std::string, std::string>> keys = {
        {"src", ""},
        {"", "key-in-empty-bucket"},
        {"", ""},
        {"src", all_controls()},
        {"src", "\0"s},
        {"src", "nul\0inside"s},
        {"src", "\x7f"},
        {"src", "\"quoted\""},
        {"src", "back\\slash\\"},
        {"src", "a/b/c/"},
        {"src", "/"},
        {"src", "\\u0000 written out"},
        {"src", "</script>"},
        {"src", "emoji 😀🦀👩‍👩‍👧"},
        {"src", "日本語/ключ/é/e\u0301"},
        {"src", "\u2028\u2029\ufeff\uffff\U0010ffff"},
        {"src", " spaced  key "},
        {"src", repeat("k", 1024)},
        {"src", repeat("é", 512)},
        {"src", repeat("\"\\\n\x01", 256)},
        {"dst", "a.txt"},
        {"dst", "emoji 😀🦀👩‍👩‍👧"},
        {"bucket-日本語", "キー"},
        {"cfg \"q\" \\ /\t\x01\x7f 😀 \u00e9", "k"},
        {"src-unconfigured", "orphan"},
        {"\x01\"\\", "k"},
    };
    constexpr s3repl::ReplicationStatus kinds[] = {
        s3repl::ReplicationStatus::Pending, s3repl::ReplicationStatus::Completed, s3repl::ReplicationStatus::Failed,
        s3repl::ReplicationStatus::Replica};
    constexpr u64 max = std::numeric_limits<u64>::max();
    const std::vector<u64> generations = {0, 1, 2, (u64{1} << 53) + 1, u64{1} << 63, max - 1, max};
    const std::vector<i64> times = {
        std::numeric_limits<i64>::min(), // 1677-09-21T00:12:43.145224192Z
        std::numeric_limits<i64>::max(), // 2262-04-11T23:47:16.854775807Z
        -1,                              // 1969-12-31T23:59:59.999999999Z
        -2'208'988'800'000'000'000,      // 1900-01-01T00:00:00Z
        -86'400'000'000'000 + 123'000'000,
        -1'000'000'000 + 456'000,
        0,
        1'705'307'400'000'000'000, // whole seconds
        1'705'307'400'123'000'000, // 3 digits
        1'705'307'400'120'000'000, // 3 digits with a trailing zero
        1'705'307'400'123'456'000, // 6 digits
        1'705'307'400'000'001'000, // 6 digits, mostly zeros
        1'705'307'400'123'456'789, // 9 digits
        1'705'307'400'000'000'001, // 9 digits, mostly zeros
        951'782'400'000'000'000,   // 2000-02-29T00:00:00Z
    };
    static_assert(std::size(kinds) == 4);
    const s3repl::ManualClock& clock = manager.clock();
    for (std::size_t i = 0; i < keys.size(); ++i) {
        clock.set(at(times[i % times.size()]));
        if (!manager.record_status_if_newer(keys[i].first, keys[i].second, generations[i % generations.size()],
                                            kinds[i % 4]))
            throw std::logic_error("a first stamp was refused");
    }
    if (keys.size() < times.size() || keys.size() < generations.size())
        throw std::logic_error("too few keys to use every time and generation");
    return keys.size();
}

// Random content: strings of ASCII (controls included) and multi-byte
// characters, generations and times over their whole ranges with a bias
// towards the edges and towards 0/3/6-digit fractions.
class RandomContent {
  public:
    explicit RandomContent(u64 seed) : random_(seed) {}

    void fill(Manager& manager) {
        for (int b = 0, buckets = pick(6); b < buckets; ++b) {
            s3repl::ReplicationConfig config{text(), {}};
            for (int r = 0, rules = pick(4); r < rules; ++r) {
                s3repl::TagSet tags;
                for (int t = 0, count = pick(3); t < count; ++t) tags.emplace_back(text(), text());
                config.rules.push_back(rule(text(), static_cast<std::uint32_t>(number()), pick(2) == 0, maybe_text(),
                                            std::move(tags), text(), maybe_text()));
                if (pick(3) == 0) config.rules.back() = with_aws_members(std::move(config.rules.back()), text());
                if (pick(4) == 0) config.rules.back() = as_v1(std::move(config.rules.back()));
            }
            manager.put_config(text(), std::move(config));
        }
        constexpr s3repl::ReplicationStatus kinds[] = {
            s3repl::ReplicationStatus::Pending, s3repl::ReplicationStatus::Completed, s3repl::ReplicationStatus::Failed,
            s3repl::ReplicationStatus::Replica};
        for (int i = 0; i < 2000; ++i) {
            manager.clock().set(at(time()));
            // Few bucket names, so buckets hold many keys and keys repeat.
            manager.record_status_if_newer(pick(4) == 0 ? text() : "b" + std::to_string(pick(5)), text(), number(),
                                           kinds[pick(4)]);
            // Objects with several destinations: few keys and generations,
            // so stamps land on one entry's list as often as they replace it.
            if (pick(2) == 0)
                manager.record_destination_status_if_newer("b" + std::to_string(pick(5)),
                                                           "k" + std::to_string(pick(20)),
                                                           pick(4) == 0 ? text() + "d" : "d" + std::to_string(pick(3)),
                                                           static_cast<u64>(pick(3)), kinds[pick(3)]);
            // Versions and delete markers of the same few keys: the Rust
            // reader must skip every one, and see the unversioned entries.
            if (pick(3) == 0) {
                const std::string bucket = "b" + std::to_string(pick(5)), key = "k" + std::to_string(pick(20));
                const std::string version = "v" + text();
                manager.record_status_if_newer({bucket, key, version}, number(), kinds[pick(4)]);
                if (pick(2) == 0) manager.mark_delete_marker({bucket, key, version});
            }
        }
    }

  private:
    int pick(int below) { return std::uniform_int_distribution<int>(0, below - 1)(random_); }

    std::string text() {
        static const char* const wide[] = {"é", "日", "😀", "\u2028", "\ufeff", "\U0010ffff", "e\u0301"};
        std::string out;
        for (int i = 0, length = pick(4) == 0 ? 0 : pick(40); i < length; ++i) {
            if (pick(4) == 0) {
                out += wide[pick(static_cast<int>(std::size(wide)))];
            } else {
                out += static_cast<char>(pick(0x80));
            }
        }
        return out;
    }
    std::optional<std::string> maybe_text() { return pick(2) == 0 ? std::nullopt : std::optional<std::string>(text()); }

    u64 number() {
        constexpr u64 edges[] = {0,
                                 1,
                                 2,
                                 (u64{1} << 32) - 1,
                                 u64{1} << 53,
                                 (u64{1} << 63) - 1,
                                 u64{1} << 63,
                                 std::numeric_limits<u64>::max() - 1,
                                 std::numeric_limits<u64>::max()};
        if (pick(3) == 0) return edges[pick(static_cast<int>(std::size(edges)))];
        return random_() >> pick(64);
    }

    i64 time() {
        constexpr i64 edges[] = {std::numeric_limits<i64>::min(), std::numeric_limits<i64>::max(), -1, 0, 1};
        if (pick(4) == 0) return edges[pick(static_cast<int>(std::size(edges)))];
        const auto t = static_cast<i64>(random_());
        constexpr i64 units[] = {1, 1'000, 1'000'000, 1'000'000'000};
        const i64 unit = units[pick(4)];
        return t - t % unit; // towards zero: never leaves the range
    }

    std::mt19937_64 random_;
};

// ---- objects replicated to several destinations --------------------------

// A V2 rule (a Filter, so a Priority and DeleteMarkerReplication) to `destination`.
s3repl::ReplicationRule v2_rule(const std::string& destination, std::uint32_t priority) {
    s3repl::ReplicationRule r = rule("to-" + destination, priority, true, std::nullopt, {}, destination, std::nullopt);
    r.delete_marker_replication = false;
    return r;
}

// One stamp, made with the clock at `at_ns`: for `destination`, or for the
// object as a whole (record_status_if_newer) when that is empty.
struct Stamp {
    std::string destination;
    u64 generation;
    s3repl::ReplicationStatus status;
    i64 at_ns;
    bool accepted;
};

// An object's stamps and the entry the Rust server must see for it.
struct ObjectCase {
    std::string bucket, key;
    std::vector<Stamp> stamps;
    // Worked out by hand: the status is AWS's aggregate (FAILED if any
    // destination failed, else PENDING if any is, else COMPLETED) of the
    // destinations at the entry's generation, recorded when the newest of
    // them was; a single-destination entry is its one stamp.
    s3repl::ReplicationStatusEntry expected;
    // Non-empty for a version: the Rust server must not see it at all (its
    // entry goes to "versions"), so `expected` is checked in s3repl instead.
    std::string version_id = {};
    bool delete_marker = false; // marked after the stamps (mark_delete_marker)
};

// 2026-12-02T00:29:51Z and on, in steps with 9-digit fractions.
i64 step(i64 n) { return 1'796'171'391'000'000'000 + n * 250'000'007; }

s3repl::ReplicationStatusEntry entry(s3repl::ReplicationStatus status, u64 generation, i64 ns) {
    return s3repl::ReplicationStatusEntry{status, generation, at(ns)};
}

std::vector<ObjectCase> destination_cases() {
    using namespace std::string_literals;
    using S = s3repl::ReplicationStatus;
    constexpr i64 min_ns = std::numeric_limits<i64>::min(), max_ns = std::numeric_limits<i64>::max();
    constexpr u64 max = std::numeric_limits<u64>::max();
    const std::string odd_destination = "dst \"q\" \\ 😀\u2028"s + '\x01';
    return {
        // Two destinations, each aggregate.
        {"two",
         "pending",
         {{"dst-a", 5, S::Completed, step(1), true}, {"dst-b", 5, S::Pending, step(2), true}},
         entry(S::Pending, 5, step(2))},
        {"two",
         "completed",
         {{"dst-b", 6, S::Completed, step(3), true}, {"dst-a", 6, S::Completed, step(4), true}},
         entry(S::Completed, 6, step(4))},
        {"two",
         "failed",
         {{"dst-a", 7, S::Failed, step(5), true}, {"dst-b", 7, S::Completed, step(6), true}},
         entry(S::Failed, 7, step(6))},
        {"two",
         "failed-beats-pending",
         {{"dst-a", 7, S::Pending, step(7), true}, {"dst-b", 7, S::Failed, step(8), true}},
         entry(S::Failed, 7, step(8))},
        {"two",
         "completed-is-final",
         {{"dst-a", 8, S::Completed, step(9), true},
          {"dst-b", 8, S::Completed, step(10), true},
          {"dst-a", 8, S::Pending, step(11), false}},
         entry(S::Completed, 8, step(10))},
        {"two",
         "retried",
         {{"dst-a", 9, S::Failed, step(12), true},
          {"dst-b", 9, S::Completed, step(13), true},
          {"dst-a", 9, S::Completed, step(14), true}},
         entry(S::Completed, 9, step(14))},
        {"two",
         "newer-put",
         {{"dst-a", 10, S::Completed, step(15), true},
          {"dst-b", 10, S::Completed, step(16), true},
          {"dst-a", 11, S::Pending, step(17), true}, // the newer PUT's: dst-b is gone until stamped again
          {"dst-b", 11, S::Pending, step(18), true},
          {"dst-b", 10, S::Failed, step(19), false}},
         entry(S::Pending, 11, step(18))},
        // Three destinations, each aggregate.
        {"three",
         "pending",
         {{"dst-a", 12, S::Pending, step(20), true},
          {"dst-b", 12, S::Completed, step(21), true},
          {"dst-c", 12, S::Pending, step(22), true}},
         entry(S::Pending, 12, step(22))},
        {"three",
         "completed",
         {{"dst-c", 13, S::Completed, step(23), true},
          {"dst-a", 13, S::Completed, step(24), true},
          {"dst-b", 13, S::Completed, step(25), true}},
         entry(S::Completed, 13, step(25))},
        {"three",
         "failed",
         {{"dst-a", 14, S::Pending, step(26), true},
          {"dst-b", 14, S::Failed, step(27), true},
          {"dst-c", 14, S::Completed, step(28), true}},
         entry(S::Failed, 14, step(28))},
        {"three",
         "all-failed",
         {{"dst-a", 15, S::Failed, step(29), true},
          {"dst-b", 15, S::Failed, step(30), true},
          {"dst-c", 15, S::Failed, step(31), true}},
         entry(S::Failed, 15, step(31))},
        {"three",
         "two-stamped-so-far",
         {{"dst-c", 16, S::Completed, step(32), true}, {"dst-a", 16, S::Completed, step(33), true}},
         entry(S::Completed, 16, step(33))},
        {"three",
         "newest-stamped-first",
         {{"dst-a", 17, S::Completed, step(36), true},
          {"dst-b", 17, S::Pending, step(35), true},
          {"dst-c", 17, S::Completed, step(34), true}},
         entry(S::Pending, 17, step(36))},
        {"three",
         "edges",
         {{"dst-a", max - 1, S::Completed, min_ns, true},
          {"dst-b", max - 1, S::Completed, max_ns, true},
          {"dst-c", max - 1, S::Completed, 0, true}},
         entry(S::Completed, max - 1, max_ns)},
        {"three",
         "odd \"key\" \\ 😀\n\x7f"s + '\0',
         {{odd_destination, 18, S::Failed, step(37), true}, {"dst-b", 18, S::Pending, step(38), true}},
         entry(S::Failed, 18, step(38))},
        // Single-destination entries, beside and among them.
        {"one", "pending", {{"dst-a", 19, S::Pending, step(39), true}}, entry(S::Pending, 19, step(39))},
        {"one",
         "completed",
         {{"dst-a", 20, S::Completed, step(40), true}, {"dst-a", 20, S::Failed, step(41), false}},
         entry(S::Completed, 20, step(40))},
        {"one", "failed", {{"", 21, S::Failed, step(42), true}}, entry(S::Failed, 21, step(42))},
        {"one", "replica", {{"", 22, S::Replica, step(43), true}}, entry(S::Replica, 22, step(43))},
        {"two", "whole-object", {{"", 23, S::Pending, step(44), true}}, entry(S::Pending, 23, step(44))},
        {"unconfigured",
         "one-destination",
         {{"dst-a", 24, S::Completed, step(45), true}},
         entry(S::Completed, 24, step(45))},
    };
}

// Versions and delete markers, beside unversioned entries of the same keys
// (stamped before and after them) and keys that have versions only; a
// version and a marker with several destinations; version IDs at the edges.
// The unversioned entries are what the Rust server must see, unchanged.
std::vector<ObjectCase> version_cases() {
    using namespace std::string_literals;
    using S = s3repl::ReplicationStatus;
    const std::string odd_version = "v \"q\" \\ 😀\u2028/~"s + '\x01';
    return {
        {"ver", "k", {{"", 1, S::Completed, step(50), true}}, entry(S::Completed, 1, step(50))},
        {"ver", "k", {{"", 2, S::Completed, step(51), true}}, entry(S::Completed, 2, step(51)), "v1"},
        {"ver",
         "k",
         {{"dst", 3, S::Completed, step(52), true}, {"dst", 3, S::Pending, step(53), false}},
         entry(S::Completed, 3, step(52)),
         "v2"},
        {"ver", "k", {{"dst", 4, S::Pending, step(54), true}}, entry(S::Pending, 4, step(54)), "v3", true},
        // A version stamped with a higher generation first, its unversioned
        // object lower after it: each has its own CAS.
        {"ver", "late", {{"", 30, S::Failed, step(55), true}}, entry(S::Failed, 30, step(55)), "v1"},
        {"ver", "late", {{"", 5, S::Pending, step(56), true}}, entry(S::Pending, 5, step(56))},
        {"ver", "only-a-version", {{"", 6, S::Completed, step(57), true}}, entry(S::Completed, 6, step(57)), "v1"},
        {"ver", "only-versions", {{"", 7, S::Failed, step(58), true}}, entry(S::Failed, 7, step(58)), "v1"},
        {"ver", "only-versions", {{"", 8, S::Replica, step(59), true}}, entry(S::Replica, 8, step(59)), "v2"},
        {"ver", "gone", {{"dst", 9, S::Failed, step(60), true}}, entry(S::Failed, 9, step(60)), "m1", true},
        {"ver", "edges", {{"", 10, S::Pending, step(61), true}}, entry(S::Pending, 10, step(61)), odd_version},
        {"ver",
         "edges",
         {{"", 11, S::Completed, step(62), true}},
         entry(S::Completed, 11, step(62)),
         repeat("v", 1024)},
        {"ver", "edges", {{"", 12, S::Failed, step(63), true}}, entry(S::Failed, 12, step(63))},
        {"ver", odd_version, {{"", 13, S::Completed, step(64), true}}, entry(S::Completed, 13, step(64)), "null"},
        {"two",
         "versioned",
         {{"dst-a", 14, S::Completed, step(65), true}, {"dst-b", 14, S::Failed, step(66), true}},
         entry(S::Failed, 14, step(66)),
         "v1"},
        {"two",
         "versioned",
         {{"dst-b", 15, S::Pending, step(67), true}, {"dst-a", 15, S::Completed, step(68), true}},
         entry(S::Pending, 15, step(68)),
         "m2",
         true},
        {"two",
         "versioned",
         {{"dst-a", 16, S::Completed, step(69), true}, {"dst-b", 16, S::Completed, step(70), true}},
         entry(S::Completed, 16, step(70))},
    };
}

// Stamps each case into `manager`, saves it to `out` and prints the
// entries the Rust server must see: the unversioned cases'. Each version is
// checked here instead, by its ObjectId, in the manager and in a reload.
int write_cases(Manager& manager, const std::vector<ObjectCase>& cases, const std::string& out) {
    std::vector<Entry> expected;
    for (const ObjectCase& c : cases) {
        const s3repl::ObjectId object{c.bucket, c.key, c.version_id};
        for (const Stamp& stamp : c.stamps) {
            manager.clock().set(at(stamp.at_ns));
            const bool accepted = stamp.destination.empty()
                                      ? manager.record_status_if_newer(object, stamp.generation, stamp.status)
                                      : manager.record_destination_status_if_newer(object, stamp.destination,
                                                                                   stamp.generation, stamp.status);
            if (accepted != stamp.accepted)
                throw std::logic_error("a stamp of " + json_string(c.key) + (accepted ? " was taken" : " was refused"));
        }
        if (c.delete_marker) manager.mark_delete_marker(object);
        if (c.version_id.empty()) expected.push_back({c.bucket, c.key, c.expected});
    }
    if (manager.size() != cases.size()) throw std::logic_error("two cases share an object");
    manager.save_snapshot(out);
    const Manager reloaded = Manager::load_snapshot(out, s3repl::ManualClock{at(load_clock_ns)});
    for (const ObjectCase& c : cases)
        for (const Manager* m : {static_cast<const Manager*>(&manager), &reloaded})
            if (m->lookup_entry({c.bucket, c.key, c.version_id}) != c.expected)
                throw std::logic_error("the entry of " + json_string(c.key) + " version " + json_string(c.version_id) +
                                       (m == &manager ? " is not" : " read back is not") + " as worked out");
    print_canonical(manager, std::move(expected));
    return 0;
}

int write_destinations(const std::string& out) {
    Manager manager{s3repl::ManualClock{}};
    manager.put_config("two", {"role", {v2_rule("dst-a", 1), v2_rule("dst-b", 2)}});
    manager.put_config("three", {"role", {v2_rule("dst-a", 1), v2_rule("dst-b", 2), v2_rule("dst-c", 3)}});
    manager.put_config("one", {"role", {v2_rule("dst-a", 1)}});
    return write_cases(manager, destination_cases(), out);
}

int write_versions(const std::string& out) {
    Manager manager{s3repl::ManualClock{}};
    manager.put_config("ver", {"role", {v2_rule("dst", 1)}});
    manager.put_config("two", {"role", {v2_rule("dst-a", 1), v2_rule("dst-b", 2)}});
    return write_cases(manager, version_cases(), out);
}

// Saves the manager to `out` and prints the canonical form of what it held.
int save_and_print(const Manager& manager, const std::string& out) {
    manager.save_snapshot(out);
    print_canonical(manager);
    return 0;
}

int write_rich(const std::string& out) {
    Manager manager{s3repl::ManualClock{}};
    put_rich_configs(manager);
    const std::size_t stamped = put_rich_statuses(manager);
    if (manager.size() != stamped) throw std::logic_error("two rich keys collide");
    return save_and_print(manager, out);
}

int write_random(const std::string& seed, const std::string& out) {
    Manager manager{s3repl::ManualClock{}};
    RandomContent(std::stoull(seed)).fill(manager);
    return save_and_print(manager, out);
}

int canonical(const std::string& in) {
    print_canonical(Manager::load_snapshot(in, s3repl::ManualClock{at(load_clock_ns)}));
    return 0;
}

int resave(const std::string& in, const std::string& out) {
    Manager::load_snapshot(in, s3repl::ManualClock{at(load_clock_ns)}).save_snapshot(out);
    std::cout << load_clock_ns << '\n';
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.size() == 2 && args[0] == "write-rich") return write_rich(args[1]);
        if (args.size() == 3 && args[0] == "write-random") return write_random(args[1], args[2]);
        if (args.size() == 2 && args[0] == "write-destinations") return write_destinations(args[1]);
        if (args.size() == 2 && args[0] == "write-versions") return write_versions(args[1]);
        if (args.size() == 2 && args[0] == "canonical") return canonical(args[1]);
        if (args.size() == 3 && args[0] == "resave") return resave(args[1], args[2]);
    } catch (const s3repl::SnapshotError& e) {
        std::cout << "ERR " << e.what() << '\n';
        return 1;
    } catch (const std::exception& e) {
        std::cerr << argv[0] << ": " << e.what() << '\n';
        return 3;
    }
    std::cerr << "usage: " << argv[0]
              << " write-rich OUT.json | write-random SEED OUT.json | write-destinations OUT.json |"
                 " write-versions OUT.json | canonical IN.json | resave IN.json OUT.json\n";
    return 2;
}
