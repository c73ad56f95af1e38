// The snapshot's per-destination member: an entry whose object replicates to
// several destination buckets carries "destinations" beside its aggregate
// status. The reader is strict on it (each bad shape is a SnapshotError
// naming the JSON pointer, with nothing restored), and what s3repl writes
// reads back to the same state and the same bytes.

#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using s3repl::DestinationCounts;
using s3repl::DestinationStatus;
using s3repl::ManualClock;
using s3repl::ReplicationConfig;
using s3repl::ReplicationRule;
using s3repl::ReplicationStatus;
using s3repl::SnapshotError;
using s3repl::Timestamp;
using s3repl_test::Manager;

namespace {

Timestamp at_seconds(std::int64_t s) { return Timestamp{std::chrono::seconds{s}}; }

// 2026-12-02T00:29:51Z and on: the times the stamps below are made at.
constexpr std::int64_t t0 = 1'796'171'391;

// A V2 rule to `destination` (a Filter, so a Priority and DeleteMarkerReplication).
ReplicationRule v2_rule(std::string id, std::uint32_t priority, std::string destination) {
    ReplicationRule rule = s3repl_test::rule_to(std::move(destination), priority);
    rule.id = std::move(id);
    return rule;
}

ReplicationConfig config_to(const std::vector<std::string>& destinations) {
    ReplicationConfig config{"arn:aws:iam::123456789012:role/replicator", {}};
    std::uint32_t priority = 1;
    for (const std::string& d : destinations) config.rules.push_back(v2_rule("to-" + d, priority++, d));
    return config;
}

// A manager holding entries with two and three destinations in each
// aggregate, and single-destination entries beside them.
Manager multi_destination_manager() {
    Manager m{ManualClock{at_seconds(t0)}};
    m.put_config("two", config_to({"dst-a", "dst-b"}));
    m.put_config("three", config_to({"dst-a", "dst-b", "dst-c"}));
    m.put_config("one", config_to({"dst-a"}));
    const auto stamp = [&](std::string_view bucket, std::string_view key, std::string_view destination,
                           std::uint64_t generation, ReplicationStatus status, std::int64_t seconds) {
        m.clock().set(at_seconds(t0 + seconds));
        REQUIRE(m.record_destination_status_if_newer(bucket, key, destination, generation, status));
    };
    stamp("two", "pending", "dst-a", 5, ReplicationStatus::Completed, 1);
    stamp("two", "pending", "dst-b", 5, ReplicationStatus::Pending, 2);
    stamp("two", "completed", "dst-b", 6, ReplicationStatus::Completed, 4);
    stamp("two", "completed", "dst-a", 6, ReplicationStatus::Completed, 3);
    stamp("three", "failed", "dst-a", 7, ReplicationStatus::Pending, 5);
    stamp("three", "failed", "dst-b", 7, ReplicationStatus::Failed, 6);
    stamp("three", "failed", "dst-c", 7, ReplicationStatus::Completed, 7);
    stamp("one", "single", "dst-a", 8, ReplicationStatus::Failed, 8);
    return m;
}

// The entries of a to_json text, each as written, sorted: their order
// depends on each manager's hash seed, their bytes must not. For keys
// without "}],[[" in them, which the tests' keys are.
std::vector<std::string> entry_texts(const std::string& json) {
    const std::string open = "\"statuses\":[", close = "],\"next_generation\":";
    const std::size_t begin = json.find(open) + open.size();
    const std::string all = json.substr(begin, json.rfind(close) - begin);
    std::vector<std::string> entries;
    const std::string separator = "}],[[";
    std::size_t from = 0;
    for (std::size_t at = all.find(separator); at != std::string::npos; at = all.find(separator, from)) {
        entries.push_back(all.substr(from, at + 2 - from));
        from = at + 3;
    }
    if (!all.empty()) entries.push_back(all.substr(from));
    std::sort(entries.begin(), entries.end());
    return entries;
}

DestinationStatus destination(std::string bucket, ReplicationStatus status, std::uint64_t generation,
                              std::int64_t seconds) {
    return DestinationStatus{std::move(bucket), status, generation, at_seconds(t0 + seconds)};
}

// A snapshot of two entries, the second of which has `destinations` and
// the aggregate `status`: the bad shapes go there, at /statuses/1/1.
std::string with_destinations(const std::string& status, const std::string& destinations) {
    return R"({"by_bucket":{},"statuses":[[["two","plain"],{"status":"Completed","generation":1,)"
           R"("recorded_at":"2026-12-02T00:00:00Z"}],[["two","k"],{"status":")" +
           status + R"(","generation":5,"recorded_at":"2026-12-02T00:29:51Z","destinations":)" + destinations +
           R"(}]],"next_generation":6})";
}

std::string dest(const std::string& bucket, const std::string& status) {
    return R"({"bucket":")" + bucket + R"(","status":")" + status + R"(","recorded_at":"2026-12-02T00:29:51Z"})";
}

// Restores `json` over a manager holding multi-destination state, expects
// a SnapshotError whose message starts with `pointer` and holds `what`,
// and the manager exactly as before.
void check_refused(const std::string& json, const std::string& pointer, const std::string& what) {
    INFO(json);
    Manager m = multi_destination_manager();
    const std::string before = m.to_json();
    const s3repl::ReplicationStats stats_before = m.stats();
    const std::vector<DestinationCounts> counts_before = m.destination_stats();
    const std::vector<DestinationStatus> three_before = m.lookup_destinations("three", "failed");
    CHECK_THROWS_AS(m.restore_json(json), SnapshotError);
    CHECK_THROWS_WITH(m.restore_json(json),
                      Catch::StartsWith("[s3repl.snapshot] " + pointer + ": ") && Catch::Contains(what));
    CHECK(m.to_json() == before);
    CHECK(m.stats() == stats_before);
    CHECK(m.destination_stats() == counts_before);
    CHECK(m.lookup_destinations("three", "failed") == three_before);
    CHECK_FALSE(m.lookup_entry("two", "plain"));
}

} // namespace

TEST_CASE("the shapes used below are accepted when well formed", "[snapshot][destinations]") {
    // Without this, a refusal below could come from a typo in the frame.
    Manager m{ManualClock{}};
    m.restore_json(
        with_destinations("Pending", "[" + dest("dst-a", "Completed") + "," + dest("dst-b", "Pending") + "]"));
    CHECK(m.lookup_destinations("two", "k") ==
          std::vector<DestinationStatus>{destination("dst-a", ReplicationStatus::Completed, 5, 0),
                                         destination("dst-b", ReplicationStatus::Pending, 5, 0)});
    CHECK(m.lookup_status("two", "plain") == ReplicationStatus::Completed);
}

TEST_CASE("a destination listed twice is refused, naming it and its pointer", "[snapshot][destinations]") {
    check_refused(with_destinations("Pending", "[" + dest("dst-a", "Completed") + "," + dest("dst-b", "Pending") + "," +
                                                   dest("dst-a", "Pending") + "]"),
                  "/statuses/1/1/destinations/2", "the destination \"dst-a\" is listed twice");
}

TEST_CASE("an unknown field inside a destination is refused", "[snapshot][destinations]") {
    // Unlike the entry itself: the destination object is s3repl's own, so no
    // other writer adds members to it.
    check_refused(with_destinations("Pending", "[" + dest("dst-a", "Completed") +
                                                   R"(,{"bucket":"dst-b","status":"Pending","generation":5,)"
                                                   R"("recorded_at":"2026-12-02T00:29:51Z"}])"),
                  "/statuses/1/1/destinations/1/generation", "unknown field \"generation\"");
}

TEST_CASE("a REPLICA destination is refused", "[snapshot][destinations]") {
    check_refused(
        with_destinations("Completed", "[" + dest("dst-a", "Completed") + "," + dest("dst-b", "Replica") + "]"),
        "/statuses/1/1/destinations/1/status", "found \"Replica\"");
}

TEST_CASE("a destination missing a required field is refused", "[snapshot][destinations]") {
    const std::string time = R"("recorded_at":"2026-12-02T00:29:51Z")";
    SECTION("bucket") {
        check_refused(with_destinations("Completed", R"([{"status":"Completed",)" + time + "}]"),
                      "/statuses/1/1/destinations/0", "missing required field \"bucket\"");
    }
    SECTION("status") {
        check_refused(with_destinations("Completed", R"([{"bucket":"dst-a",)" + time + "}]"),
                      "/statuses/1/1/destinations/0", "missing required field \"status\"");
    }
    SECTION("recorded_at") {
        check_refused(with_destinations("Completed", "[" + dest("dst-a", "Completed") +
                                                         R"(,{"bucket":"dst-b","status":"Completed"}])"),
                      "/statuses/1/1/destinations/1", "missing required field \"recorded_at\"");
    }
}

TEST_CASE("an empty destinations array is refused", "[snapshot][destinations]") {
    check_refused(with_destinations("Completed", "[]"), "/statuses/1/1/destinations",
                  "expected at least one destination");
}

TEST_CASE("destinations that are not an array of objects are refused", "[snapshot][destinations]") {
    check_refused(with_destinations("Completed", "null"), "/statuses/1/1/destinations",
                  "expected an array of destination statuses");
    check_refused(with_destinations("Completed", R"(["dst-a"])"), "/statuses/1/1/destinations/0",
                  "expected a destination status object");
}

TEST_CASE("an aggregate status that disagrees with the destinations is refused at the entry",
          "[snapshot][destinations]") {
    struct Case {
        const char* status;
        std::string destinations;
        const char* aggregate;
    };
    const Case cases[] = {
        {"Completed", "[" + dest("dst-a", "Completed") + "," + dest("dst-b", "Pending") + "]", "Pending"},
        {"Pending", "[" + dest("dst-a", "Pending") + "," + dest("dst-b", "Failed") + "]", "Failed"},
        {"Failed", "[" + dest("dst-a", "Completed") + "," + dest("dst-b", "Completed") + "]", "Completed"},
        {"Pending", "[" + dest("dst-a", "Completed") + "]", "Completed"},
        {"Replica", "[" + dest("dst-a", "Completed") + "," + dest("dst-b", "Completed") + "]", "Completed"},
    };
    for (const Case& c : cases) {
        // The entry's pointer, or its "status" member's: the fault is the
        // pair of them, and /statuses/1/2 (past the pair) names nothing.
        const std::string json = with_destinations(c.status, c.destinations);
        INFO(json);
        Manager m = multi_destination_manager();
        const std::string before = m.to_json();
        CHECK_THROWS_WITH(m.restore_json(json),
                          (Catch::StartsWith("[s3repl.snapshot] /statuses/1/1: ") ||
                           Catch::StartsWith("[s3repl.snapshot] /statuses/1/1/status: ")) &&
                              Catch::Contains(std::string("the status is \"") + c.status +
                                              "\" but its destinations aggregate to \"" + c.aggregate + "\""));
        CHECK(m.to_json() == before);
    }
}

TEST_CASE("a multi-destination snapshot round-trips byte for byte", "[snapshot][destinations]") {
    SECTION("one entry: the whole document") {
        Manager m{ManualClock{at_seconds(t0)}};
        m.put_config("two", config_to({"dst-a", "dst-b"}));
        REQUIRE(m.record_destination_status_if_newer("two", "k", "dst-a", 5, ReplicationStatus::Completed));
        m.clock().set(at_seconds(t0 + 1));
        REQUIRE(m.record_destination_status_if_newer("two", "k", "dst-b", 5, ReplicationStatus::Pending));
        const std::string x = m.to_json();
        REQUIRE(x == R"({"by_bucket":{"two":{"role":"arn:aws:iam::123456789012:role/replicator","rules":[)"
                     R"({"id":"to-dst-a","priority":1,"status_enabled":true,"filter":{"prefix":null,"tags":[]},)"
                     R"("destination_bucket":"dst-a","destination_storage_class":null,)"
                     R"("aws":{"delete_marker_replication":false}},)"
                     R"({"id":"to-dst-b","priority":2,"status_enabled":true,"filter":{"prefix":null,"tags":[]},)"
                     R"("destination_bucket":"dst-b","destination_storage_class":null,)"
                     R"("aws":{"delete_marker_replication":false}}]}},"statuses":[)"
                     R"([["two","k"],{"status":"Pending","generation":5,"recorded_at":"2026-12-02T00:29:52Z",)"
                     R"("destinations":[{"bucket":"dst-a","status":"Completed","recorded_at":"2026-12-02T00:29:51Z"},)"
                     R"({"bucket":"dst-b","status":"Pending","recorded_at":"2026-12-02T00:29:52Z"}]}]],)"
                     R"("next_generation":6})");
        CHECK(Manager::from_json(x, ManualClock{}).to_json() == x);
    }
    SECTION("many entries: the same entries, each byte for byte") {
        const std::string x = multi_destination_manager().to_json();
        const Manager restored = Manager::from_json(x, ManualClock{});
        const std::string y = restored.to_json();
        const std::vector<std::string> entries = entry_texts(x);
        CHECK(entry_texts(y) == entries);
        CHECK(entries.size() == 4);
        CHECK(y.substr(0, y.find("\"statuses\":[")) == x.substr(0, x.find("\"statuses\":[")));
        CHECK(y.substr(y.rfind("],\"next_generation\":")) == x.substr(x.rfind("],\"next_generation\":")));
        CHECK(y.size() == x.size());
        // A single-destination bucket's entries are written as before.
        CHECK(std::count(
                  entries.begin(), entries.end(),
                  R"([["one","single"],{"status":"Failed","generation":8,"recorded_at":"2026-12-02T00:29:59Z"}])") ==
              1);
    }
}

TEST_CASE("lookup_destinations after a restore returns each destination", "[snapshot][destinations]") {
    const Manager m = Manager::from_json(multi_destination_manager().to_json(), ManualClock{});
    using S = ReplicationStatus;
    CHECK(m.lookup_destinations("two", "pending") ==
          std::vector<DestinationStatus>{destination("dst-a", S::Completed, 5, 1),
                                         destination("dst-b", S::Pending, 5, 2)});
    CHECK(m.lookup_destinations("two", "completed") ==
          std::vector<DestinationStatus>{destination("dst-b", S::Completed, 6, 4),
                                         destination("dst-a", S::Completed, 6, 3)});
    CHECK(m.lookup_destinations("three", "failed") ==
          std::vector<DestinationStatus>{destination("dst-a", S::Pending, 7, 5), destination("dst-b", S::Failed, 7, 6),
                                         destination("dst-c", S::Completed, 7, 7)});
    // The single-status form names the one destination its bucket's rules name.
    CHECK(m.lookup_destinations("one", "single") ==
          std::vector<DestinationStatus>{destination("dst-a", S::Failed, 8, 8)});
    // The aggregate, recorded when the newest destination was.
    CHECK(m.lookup_entry("two", "pending") == s3repl::ReplicationStatusEntry{S::Pending, 5, at_seconds(t0 + 2)});
    CHECK(m.lookup_entry("two", "completed") == s3repl::ReplicationStatusEntry{S::Completed, 6, at_seconds(t0 + 4)});
    CHECK(m.lookup_entry("three", "failed") == s3repl::ReplicationStatusEntry{S::Failed, 7, at_seconds(t0 + 7)});
    CHECK(m.destination_stats() ==
          std::vector<DestinationCounts>{{"dst-a", 1, 2, 1}, {"dst-b", 1, 1, 1}, {"dst-c", 0, 1, 0}});
}

TEST_CASE("an entry listed twice: the later replaces the destinations of the first", "[snapshot][destinations]") {
    const std::string first = R"([["two","k"],{"status":"Failed","generation":5,"recorded_at":"2026-12-02T00:29:51Z",)"
                              R"("destinations":[)" +
                              dest("dst-a", "Failed") + "," + dest("dst-b", "Pending") + "]}]";
    const auto snapshot = [](const std::string& a, const std::string& b) {
        return R"({"by_bucket":{},"statuses":[)" + a + "," + b + "]}";
    };
    using S = ReplicationStatus;
    SECTION("by other destinations") {
        const std::string later = R"([["two","k"],{"status":"Completed","generation":4,)"
                                  R"("recorded_at":"2026-12-02T00:29:51Z","destinations":[)" +
                                  dest("dst-c", "Completed") + "]}]";
        const Manager m = Manager::from_json(snapshot(first, later), ManualClock{});
        CHECK(m.lookup_destinations("two", "k") ==
              std::vector<DestinationStatus>{destination("dst-c", S::Completed, 4, 0)});
        CHECK(m.lookup_entry("two", "k") == s3repl::ReplicationStatusEntry{S::Completed, 4, at_seconds(t0)});
        CHECK(m.destination_stats() == std::vector<DestinationCounts>{{"dst-c", 0, 1, 0}});
        CHECK(m.failed_destinations().empty());
    }
    SECTION("by a single status") {
        const std::string later =
            R"([["two","k"],{"status":"Pending","generation":9,"recorded_at":"2026-12-02T00:29:51Z"}])";
        const Manager m = Manager::from_json(snapshot(first, later), ManualClock{});
        // No configuration: the single status stands for whichever destinations the rules select.
        CHECK(m.lookup_destinations("two", "k") == std::vector<DestinationStatus>{destination("", S::Pending, 9, 0)});
        CHECK(m.destination_stats() == std::vector<DestinationCounts>{{"", 1, 0, 0}});
        CHECK(m.failed_destinations().empty());
        CHECK(m.to_json().find("destinations") == std::string::npos);
    }
    SECTION("a single status replaced by destinations") {
        const std::string earlier = R"([["two","k"],{"status":"Completed","generation":9}])";
        const Manager m = Manager::from_json(snapshot(earlier, first), ManualClock{});
        CHECK(m.lookup_destinations("two", "k") ==
              std::vector<DestinationStatus>{destination("dst-a", S::Failed, 5, 0),
                                             destination("dst-b", S::Pending, 5, 0)});
        CHECK(m.lookup_entry("two", "k") == s3repl::ReplicationStatusEntry{S::Failed, 5, at_seconds(t0)});
        CHECK(m.stats().entries_failed == 1);
        CHECK(m.stats().entries_completed == 0);
    }
}

TEST_CASE("an entry's recorded_at must be its newest destination's", "[snapshot][destinations]") {
    // dest() stamps 00:29:51; the entry says 00:30:00.
    std::string json = with_destinations("Completed", "[" + dest("dst-a", "Completed") + "]");
    const std::string entry_time = R"("recorded_at":"2026-12-02T00:29:51Z","destinations")";
    json.replace(json.find(entry_time), entry_time.size(), R"("recorded_at":"2026-12-02T00:30:00Z","destinations")");
    check_refused(json, "/statuses/1/1", "the recorded_at is not the newest of its destinations'");
}

TEST_CASE("an entry without recorded_at takes its newest destination's", "[snapshot][destinations]") {
    std::string json = with_destinations("Completed", "[" + dest("dst-a", "Completed") + "]");
    const std::string entry_time = R"("recorded_at":"2026-12-02T00:29:51Z","destinations")";
    json.replace(json.find(entry_time), entry_time.size(), R"("destinations")");
    Manager m;
    m.restore_json(json);
    CHECK(m.lookup_entry("two", "k")->recorded_at == m.lookup_destinations("two", "k").front().recorded_at);
}

TEST_CASE("a destination with an empty bucket name is refused", "[snapshot][destinations]") {
    check_refused(with_destinations("Completed", "[" + dest("", "Completed") + "]"), "/statuses/1/1/destinations/0",
                  "the destination bucket is empty");
}

TEST_CASE("an entry with more destinations than S3 has rules is refused", "[snapshot][destinations]") {
    std::string list = "[";
    for (std::size_t i = 0; i <= s3repl::max_rule_count; ++i)
        list += (i == 0 ? "" : ",") + dest("dst-" + std::to_string(i), "Completed");
    list += "]";
    check_refused(with_destinations("Completed", list), "/statuses/1/1/destinations/1000",
                  "more than 1000 destinations");
}
