// The snapshot's "versions" member: each version of a key (an ObjectId with
// a version ID) and each delete marker is an entry of "versions", keyed
// [bucket, key, version]; unversioned entries stay in "statuses", written
// byte for byte as before. The reader is strict on the new member (each bad
// shape is a SnapshotError naming the JSON pointer, with nothing restored),
// and what s3repl writes reads back to the same state and the same bytes.

#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

using s3repl::DestinationStatus;
using s3repl::EntryRef;
using s3repl::ManualClock;
using s3repl::ObjectId;
using s3repl::ReplicationConfig;
using s3repl::ReplicationRule;
using s3repl::ReplicationStatus;
using s3repl::ReplicationStatusEntry;
using s3repl::SnapshotError;
using s3repl::Timestamp;
using s3repl_test::Manager;

namespace {

Timestamp at_seconds(std::int64_t s) { return Timestamp{std::chrono::seconds{s}}; }

// 2026-12-02T01:13:20Z and on: the times the stamps below are made at.
constexpr std::int64_t t0 = 1'796'174'000;

// A V2 rule to `destination` that replicates delete markers.
ReplicationRule rule_to(std::string destination, std::uint32_t priority) {
    ReplicationRule rule = s3repl_test::rule_to(destination, priority);
    rule.id = "to-" + destination;
    rule.delete_marker_replication = true;
    return rule;
}

void ignore_generation(std::uint64_t) {}

// A manager holding unversioned entries, versions of the same key and of a
// key with no unversioned entry, delete markers (one made by the
// dispatcher, one marked by hand) and a version replicated to two
// destinations:
//   ("src","k")                    Completed 1  t0
//   ("src","k","v1")               Completed 2  t0
//   ("src","k","v2")               Pending   3  t0+1  (begin_replication)
//   ("src","k","v3")   marker      Pending   4  t0+2  (begin_delete_marker_replication)
//   ("src","gone","m1") marker     Failed    5  t0+3
//   ("src","only-versions","v1")   Failed    6  t0+4
//   ("multi","k","v1")             Failed    7  t0+6  (dst-a Completed t0+5, dst-b Failed t0+6)
//   ("multi","plain")              Pending   8  t0+7
Manager versioned_manager() {
    Manager m{ManualClock{at_seconds(t0)}};
    m.put_config("src", {"role", {rule_to("dst", 1)}});
    m.put_config("multi", {"role", {rule_to("dst-a", 1), rule_to("dst-b", 2)}});
    REQUIRE(m.record_status_if_newer(ObjectId{"src", "k"}, 1, ReplicationStatus::Completed));
    REQUIRE(m.record_status_if_newer(ObjectId{"src", "k", "v1"}, 2, ReplicationStatus::Completed));
    m.clock().set(at_seconds(t0 + 1));
    const std::vector<s3repl::ReplicationJob> put =
        s3repl::begin_replication(m, ObjectId{"src", "k", "v2"}, {}, ignore_generation);
    REQUIRE(put.size() == 1);
    REQUIRE(put[0].generation == 3);
    m.clock().set(at_seconds(t0 + 2));
    const std::vector<s3repl::ReplicationJob> marker =
        s3repl::begin_delete_marker_replication(m, ObjectId{"src", "k", "v3"}, ignore_generation);
    REQUIRE(marker.size() == 1);
    REQUIRE(marker[0].generation == 4);
    REQUIRE(marker[0].delete_marker);
    m.clock().set(at_seconds(t0 + 3));
    REQUIRE(m.record_status_if_newer(ObjectId{"src", "gone", "m1"}, 5, ReplicationStatus::Failed));
    m.mark_delete_marker(ObjectId{"src", "gone", "m1"});
    m.clock().set(at_seconds(t0 + 4));
    REQUIRE(m.record_status_if_newer(ObjectId{"src", "only-versions", "v1"}, 6, ReplicationStatus::Failed));
    m.clock().set(at_seconds(t0 + 5));
    REQUIRE(
        m.record_destination_status_if_newer(ObjectId{"multi", "k", "v1"}, "dst-a", 7, ReplicationStatus::Completed));
    m.clock().set(at_seconds(t0 + 6));
    REQUIRE(m.record_destination_status_if_newer(ObjectId{"multi", "k", "v1"}, "dst-b", 7, ReplicationStatus::Failed));
    m.clock().set(at_seconds(t0 + 7));
    REQUIRE(m.record_status_if_newer(ObjectId{"multi", "plain"}, 8, ReplicationStatus::Pending));
    REQUIRE(m.size() == 8);
    return m;
}

ReplicationStatusEntry entry(ReplicationStatus status, std::uint64_t generation, std::int64_t seconds) {
    return ReplicationStatusEntry{status, generation, at_seconds(t0 + seconds)};
}

// The entries of one top-level array ("statuses" or "versions") of a
// to_json text, each as written, sorted: their order depends on each
// manager's hash seed, their bytes must not. For keys without "}],[[" or
// "}]],\"" in them, which the tests' keys are.
std::vector<std::string> entry_texts(const std::string& json, const std::string& member) {
    const std::string open = "\"" + member + "\":[";
    const std::size_t found = json.find(open);
    if (found == std::string::npos) return {};
    const std::size_t begin = found + open.size();
    if (json.compare(begin, 1, "]") == 0) return {};
    const std::string all = json.substr(begin, json.find("}]],\"", begin) + 2 - begin);
    std::vector<std::string> entries;
    const std::string separator = "}],[[";
    std::size_t from = 0;
    for (std::size_t at = all.find(separator); at != std::string::npos; at = all.find(separator, from)) {
        entries.push_back(all.substr(from, at + 2 - from));
        from = at + 3;
    }
    entries.push_back(all.substr(from));
    std::sort(entries.begin(), entries.end());
    return entries;
}

// `y` holds what `x` holds, entry by entry, with the same configurations,
// counter and size.
void check_same_document(const std::string& x, const std::string& y) {
    CHECK(y.substr(0, y.find("\"statuses\":[")) == x.substr(0, x.find("\"statuses\":[")));
    CHECK(entry_texts(y, "statuses") == entry_texts(x, "statuses"));
    CHECK(entry_texts(y, "versions") == entry_texts(x, "versions"));
    CHECK(y.substr(y.rfind("],\"next_generation\":")) == x.substr(x.rfind("],\"next_generation\":")));
    CHECK(y.size() == x.size());
}

// The EntryRefs sorted, as their order depends on the hash seed.
std::vector<EntryRef> sorted(std::vector<EntryRef> refs) {
    std::sort(refs.begin(), refs.end(), [](const EntryRef& a, const EntryRef& b) {
        return std::tie(a.bucket, a.key, a.version_id) < std::tie(b.bucket, b.key, b.version_id);
    });
    return refs;
}

// Every PENDING entry (stuck_pending with no age).
std::vector<EntryRef> pending_entries(const Manager& m) {
    return sorted(m.stuck_pending(Timestamp::max(), std::chrono::nanoseconds{0}));
}

const std::string an_entry = R"({"status":"Completed","generation":1,"recorded_at":"2026-12-02T01:13:20Z"})";

std::string snapshot_with(const std::string& statuses, const std::string& versions) {
    return R"({"by_bucket":{},"statuses":[)" + statuses + R"(],"versions":[)" + versions + R"(],"next_generation":9})";
}

// A snapshot whose "versions" holds a valid version, then `pair` (at
// /versions/1), where the bad shapes go; an unversioned entry comes first.
std::string with_second_version(const std::string& pair) {
    return snapshot_with(R"([["src","plain"],)" + an_entry + "]", R"([["src","plain","v1"],)" + an_entry + "]," + pair);
}

// Restores `json` over a manager holding versions, expects a SnapshotError
// whose message starts with `pointer` and holds `what`, and the manager
// exactly as before (nothing of what the input held before the fault).
void check_refused(const std::string& json, const std::string& pointer, const std::string& what) {
    INFO(json);
    Manager m = versioned_manager();
    const std::string before = m.to_json();
    const s3repl::ReplicationStats stats_before = m.stats();
    CHECK_THROWS_AS(m.restore_json(json), SnapshotError);
    CHECK_THROWS_WITH(m.restore_json(json),
                      Catch::StartsWith("[s3repl.snapshot] " + pointer + ": ") && Catch::Contains(what));
    CHECK(m.to_json() == before);
    CHECK(m.stats() == stats_before);
    CHECK(m.lookup_entry(ObjectId{"src", "k", "v1"}) == entry(ReplicationStatus::Completed, 2, 0));
    CHECK_FALSE(m.lookup_entry(ObjectId{"src", "plain"}));
    CHECK_FALSE(m.lookup_entry(ObjectId{"src", "plain", "v1"}));
}

} // namespace

TEST_CASE("the shapes used below are accepted when well formed", "[snapshot][versions]") {
    // Without this, a refusal below could come from a typo in the frame.
    Manager m{ManualClock{}};
    m.restore_json(with_second_version(R"([["src","k","v2"],{"status":"Failed","generation":2,)"
                                       R"("recorded_at":"2026-12-02T01:13:21Z","delete_marker":true}])"));
    CHECK(m.lookup_entry(ObjectId{"src", "plain"}) == entry(ReplicationStatus::Completed, 1, 0));
    CHECK(m.lookup_entry(ObjectId{"src", "plain", "v1"}) == entry(ReplicationStatus::Completed, 1, 0));
    CHECK(m.lookup_entry(ObjectId{"src", "k", "v2"}) == entry(ReplicationStatus::Failed, 2, 1));
    CHECK_FALSE(m.lookup_entry(ObjectId{"src", "k"}));
    const std::vector<EntryRef> failed = m.failed_entries();
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].version_id == "v2");
    CHECK(failed[0].delete_marker);
    CHECK(m.size() == 3);
}

TEST_CASE("a version key that is not an array of exactly 3 strings is refused", "[snapshot][versions]") {
    const std::string rest = "," + an_entry + "]";
    check_refused(with_second_version(R"([["src","k"])" + rest), "/versions/1/0",
                  "expected an array of exactly 3 elements");
    check_refused(with_second_version(R"([["src"])" + rest), "/versions/1/0",
                  "expected an array of exactly 3 elements");
    check_refused(with_second_version(R"([["src","k","v","x"])" + rest), "/versions/1/0/3",
                  "expected nothing (the array has 3 elements), found a string");
    check_refused(with_second_version(R"([["src","k",7])" + rest), "/versions/1/0/2",
                  "expected a string, found a number");
    check_refused(with_second_version(R"([["src","k",null])" + rest), "/versions/1/0/2",
                  "expected a string, found null");
    check_refused(with_second_version(R"([["src",["k"],"v"])" + rest), "/versions/1/0/1",
                  "expected a string, found an array");
    check_refused(with_second_version(R"([{"bucket":"src"})" + rest), "/versions/1/0",
                  "expected a [bucket, key, version] array, found an object");
    check_refused(with_second_version(R"(["src/k/v")" + rest), "/versions/1/0",
                  "expected a [bucket, key, version] array, found a string");
}

TEST_CASE("\"versions\" and its elements of the wrong shape are refused", "[snapshot][versions]") {
    check_refused(R"({"by_bucket":{},"statuses":[],"versions":{}})", "/versions",
                  "expected an array of versions, found an object");
    check_refused(R"({"by_bucket":{},"statuses":[],"versions":null})", "/versions",
                  "expected an array of versions, found null");
    check_refused(with_second_version(R"("src/k/v")"), "/versions/1",
                  "expected a [[bucket, key, version], entry] array, found a string");
    check_refused(with_second_version(R"([["src","k","v2"],)" + an_entry + ",1]"), "/versions/1/2",
                  "expected nothing (the array has 2 elements)");
    check_refused(with_second_version(R"([["src","k","v2"]])"), "/versions/1",
                  "expected an array of exactly 2 elements");
    check_refused(with_second_version(R"([["src","k","v2"],7])"), "/versions/1/1",
                  "expected an entry object or a status string, found a number");
}

TEST_CASE("an empty version ID in \"versions\" is refused", "[snapshot][versions]") {
    check_refused(with_second_version(R"([["src","k",""],)" + an_entry + "]"), "/versions/1",
                  "a version ID in \"versions\" is empty");
}

TEST_CASE("a version ID over 1024 bytes is refused, one of 1024 bytes is kept", "[snapshot][versions]") {
    const std::string longest(s3repl::max_version_id_bytes, 'v');
    check_refused(with_second_version(R"([["src","k",")" + longest + R"(v"],)" + an_entry + "]"), "/versions/1",
                  "a version ID is longer than 1024 bytes");
    // In bytes, not characters: 512 two-byte characters are 1024 bytes, one more is over.
    std::string wide;
    for (int i = 0; i < 512; ++i) wide += "\u00e9";
    check_refused(with_second_version(R"([["src","k",")" + wide + R"(v"],)" + an_entry + "]"), "/versions/1",
                  "a version ID is longer than 1024 bytes");

    for (const std::string& version : {longest, wide}) {
        const Manager m = Manager::from_json(
            with_second_version(R"([["src","k",")" + version + R"("],)" + an_entry + "]"), ManualClock{});
        CHECK(m.lookup_entry(ObjectId{"src", "k", version}) == entry(ReplicationStatus::Completed, 1, 0));
        const std::string x = m.to_json();
        CHECK(entry_texts(Manager::from_json(x, ManualClock{}).to_json(), "versions") == entry_texts(x, "versions"));
    }
}

TEST_CASE("a delete_marker that is not a boolean is refused", "[snapshot][versions]") {
    const auto with_marker = [](const std::string& value) {
        return with_second_version(R"([["src","k","v2"],{"status":"Pending","generation":2,"delete_marker":)" + value +
                                   "}]");
    };
    check_refused(with_marker(R"("true")"), "/versions/1/1/delete_marker", "expected true or false, found a string");
    check_refused(with_marker("1"), "/versions/1/1/delete_marker", "expected true or false, found a number");
    check_refused(with_marker("null"), "/versions/1/1/delete_marker", "expected true or false, found null");
    check_refused(with_marker("{}"), "/versions/1/1/delete_marker", "expected true or false, found an object");
    check_refused(with_marker("[true]"), "/versions/1/1/delete_marker", "expected true or false, found an array");
}

TEST_CASE("a delete marker in \"statuses\" (an unversioned entry) is refused", "[snapshot][versions]") {
    // S3 makes delete markers only in versioned buckets: each has a version ID.
    check_refused(snapshot_with(R"([["src","plain"],)" + an_entry +
                                    R"(],[["src","k"],{"status":"Pending",)"
                                    R"("generation":2,"delete_marker":true}])",
                                R"([["src","plain","v1"],)" + an_entry + "]"),
                  "/statuses/1", "an unversioned entry cannot be a delete marker");
}

TEST_CASE("a field given twice in a version entry, or \"versions\" given twice, is refused", "[snapshot][versions]") {
    check_refused(with_second_version(R"([["src","k","v2"],{"status":"Pending","generation":2,)"
                                      R"("delete_marker":true,"delete_marker":false}])"),
                  "/versions/1/1/delete_marker", "the field is given twice");
    check_refused(with_second_version(R"([["src","k","v2"],{"status":"Pending","generation":2,"status":"Failed"}])"),
                  "/versions/1/1/status", "the field is given twice");
    check_refused(with_second_version(R"([["src","k","v2"],{"status":"Pending","generation":2,)"
                                      R"("recorded_at":"2026-12-02T01:13:20Z","recorded_at":"2026-12-02T01:13:20Z"}])"),
                  "/versions/1/1/recorded_at", "the field is given twice");
    check_refused(R"({"by_bucket":{},"statuses":[],"versions":[[["src","plain","v1"],)" + an_entry +
                      R"(]],"versions":[]})",
                  "/versions", "the field is given twice");
}

TEST_CASE("a version entry missing a required field or with a bad status is refused", "[snapshot][versions]") {
    check_refused(with_second_version(R"([["src","k","v2"],{"generation":2,"delete_marker":true}])"), "/versions/1/1",
                  "missing required field \"status\"");
    check_refused(with_second_version(R"([["src","k","v2"],{"status":"Pending","delete_marker":true}])"),
                  "/versions/1/1", "missing required field \"generation\"");
    check_refused(with_second_version(R"([["src","k","v2"],{"status":"PENDING","generation":2}])"),
                  "/versions/1/1/status", "found \"PENDING\"");
}

TEST_CASE("a snapshot with versions and delete markers round-trips", "[snapshot][versions]") {
    SECTION("one entry: the whole document") {
        Manager m{ManualClock{at_seconds(t0)}};
        REQUIRE(m.record_status_if_newer(ObjectId{"src", "k", "v3"}, 1, ReplicationStatus::Pending));
        m.mark_delete_marker(ObjectId{"src", "k", "v3"});
        const std::string x = m.to_json();
        REQUIRE(x == R"({"by_bucket":{},"statuses":[],"versions":[[["src","k","v3"],{"status":"Pending",)"
                     R"("generation":1,"recorded_at":"2026-12-02T01:13:20Z","delete_marker":true}]],)"
                     R"("next_generation":2})");
        CHECK(Manager::from_json(x, ManualClock{}).to_json() == x);
    }
    SECTION("many entries: the same entries, each byte for byte") {
        const std::string x = versioned_manager().to_json();
        const std::vector<std::string> statuses = entry_texts(x, "statuses"), versions = entry_texts(x, "versions");
        REQUIRE(statuses.size() == 2);
        REQUIRE(versions.size() == 6);
        const std::string y = Manager::from_json(x, ManualClock{}).to_json();
        check_same_document(x, y);
        // The unversioned entries are written as before; the versions in their own member.
        CHECK(statuses[1] ==
              R"([["src","k"],{"status":"Completed","generation":1,"recorded_at":"2026-12-02T01:13:20Z"}])");
        CHECK(x.find("\"statuses\":[") < x.find("],\"versions\":[[["));
        CHECK(std::count(versions.begin(), versions.end(),
                         R"([["src","k","v3"],{"status":"Pending","generation":4,)"
                         R"("recorded_at":"2026-12-02T01:13:22Z","delete_marker":true}])") == 1);
        CHECK(std::count(versions.begin(), versions.end(),
                         R"([["src","gone","m1"],{"status":"Failed","generation":5,)"
                         R"("recorded_at":"2026-12-02T01:13:23Z","delete_marker":true}])") == 1);
        CHECK(std::count(versions.begin(), versions.end(),
                         R"([["src","k","v2"],{"status":"Pending","generation":3,)"
                         R"("recorded_at":"2026-12-02T01:13:21Z"}])") == 1);
    }
}

TEST_CASE("a state without versions writes no \"versions\" member", "[snapshot][versions]") {
    SECTION("unversioned entries, by ObjectId and by (bucket, key)") {
        Manager m{ManualClock{at_seconds(t0)}};
        m.put_config("multi", {"role", {rule_to("dst-a", 1), rule_to("dst-b", 2)}});
        REQUIRE(m.record_status_if_newer(ObjectId{"src", "k"}, 1, ReplicationStatus::Completed));
        REQUIRE(m.record_status_if_newer("src", "k2", 2, ReplicationStatus::Failed));
        REQUIRE(m.record_destination_status_if_newer(ObjectId{"multi", "k"}, "dst-a", 3, ReplicationStatus::Pending));
        REQUIRE(s3repl::begin_replication(m, ObjectId{"multi", "k2"}, {}, ignore_generation).size() == 2);
        const std::string x = m.to_json();
        CHECK(x.find("versions") == std::string::npos);
        CHECK(x.find("delete_marker\":t") == std::string::npos);
        CHECK(entry_texts(x, "statuses").size() == 4);
    }
    SECTION("one unversioned entry: the document as before versions") {
        Manager m{ManualClock{at_seconds(t0)}};
        REQUIRE(m.record_status_if_newer(ObjectId{"src", "k"}, 1, ReplicationStatus::Completed));
        CHECK(m.to_json() == R"({"by_bucket":{},"statuses":[[["src","k"],{"status":"Completed","generation":1,)"
                             R"("recorded_at":"2026-12-02T01:13:20Z"}]],"next_generation":2})");
    }
    SECTION("once the last version is forgotten") {
        Manager m = versioned_manager();
        for (const ObjectId& version :
             {ObjectId{"src", "k", "v1"}, ObjectId{"src", "k", "v2"}, ObjectId{"src", "k", "v3"},
              ObjectId{"src", "gone", "m1"}, ObjectId{"src", "only-versions", "v1"}, ObjectId{"multi", "k", "v1"}})
            REQUIRE(m.forget(version));
        CHECK(m.to_json().find("\"versions\"") == std::string::npos);
        CHECK(m.size() == 2);
    }
    SECTION("an empty \"versions\" read back") {
        const Manager m = Manager::from_json(snapshot_with(R"([["src","k"],)" + an_entry + "]", ""), ManualClock{});
        CHECK(m.to_json() == R"({"by_bucket":{},"statuses":[[["src","k"],)" + an_entry + R"(]],"next_generation":9})");
    }
    SECTION("a delete marker needs a version ID: nothing is written") {
        Manager m{ManualClock{at_seconds(t0)}};
        REQUIRE(m.record_status_if_newer(ObjectId{"src", "k"}, 1, ReplicationStatus::Pending));
        const std::string before = m.to_json();
        CHECK_THROWS_AS(m.mark_delete_marker(ObjectId{"src", "k"}), s3repl::InvalidArgument);
        CHECK_THROWS_AS(s3repl::begin_delete_marker_replication(m, ObjectId{"src", "k"}, ignore_generation),
                        s3repl::InvalidArgument);
        CHECK(m.to_json() == before);
    }
}

TEST_CASE("after a restore each version is found by its ObjectId", "[snapshot][versions]") {
    const Manager m = Manager::from_json(versioned_manager().to_json(), ManualClock{});
    using S = ReplicationStatus;
    CHECK(m.lookup_entry(ObjectId{"src", "k"}) == entry(S::Completed, 1, 0));
    CHECK(m.lookup_entry("src", "k") == entry(S::Completed, 1, 0));
    CHECK(m.lookup_entry(ObjectId{"src", "k", "v1"}) == entry(S::Completed, 2, 0));
    CHECK(m.lookup_entry(ObjectId{"src", "k", "v2"}) == entry(S::Pending, 3, 1));
    CHECK(m.lookup_entry(ObjectId{"src", "k", "v3"}) == entry(S::Pending, 4, 2));
    CHECK(m.lookup_entry(ObjectId{"src", "gone", "m1"}) == entry(S::Failed, 5, 3));
    CHECK(m.lookup_entry(ObjectId{"src", "only-versions", "v1"}) == entry(S::Failed, 6, 4));
    CHECK(m.lookup_entry(ObjectId{"multi", "k", "v1"}) == entry(S::Failed, 7, 6));
    CHECK(m.lookup_entry(ObjectId{"multi", "plain"}) == entry(S::Pending, 8, 7));
    // Neither another version nor the unversioned object of a versions-only key.
    CHECK_FALSE(m.lookup_entry(ObjectId{"src", "k", "v4"}));
    CHECK_FALSE(m.lookup_entry(ObjectId{"src", "only-versions"}));
    CHECK_FALSE(m.lookup_entry(ObjectId{"src", "gone"}));
    CHECK_FALSE(m.lookup_entry(ObjectId{"multi", "k"}));
    CHECK(m.lookup_destinations(ObjectId{"multi", "k", "v1"}) ==
          std::vector<DestinationStatus>{{"dst-a", S::Completed, 7, at_seconds(t0 + 5)},
                                         {"dst-b", S::Failed, 7, at_seconds(t0 + 6)}});
    CHECK(m.lookup_destinations(ObjectId{"src", "k", "v2"}) ==
          std::vector<DestinationStatus>{{"dst", S::Pending, 3, at_seconds(t0 + 1)}});
    // The re-drive lists carry each entry's version ID and delete-marker flag.
    CHECK(sorted(m.failed_entries()) ==
          std::vector<EntryRef>{{"multi", "k", entry(S::Failed, 7, 6), "v1", false},
                                {"src", "gone", entry(S::Failed, 5, 3), "m1", true},
                                {"src", "only-versions", entry(S::Failed, 6, 4), "v1", false}});
    CHECK(pending_entries(m) == std::vector<EntryRef>{{"multi", "plain", entry(S::Pending, 8, 7), "", false},
                                                      {"src", "k", entry(S::Pending, 3, 1), "v2", false},
                                                      {"src", "k", entry(S::Pending, 4, 2), "v3", true}});
    // Versions are entries of their own: counted, and above the restored counter.
    CHECK(m.size() == 8);
    s3repl::ReplicationStats expected;
    expected.entries_pending = 3;
    expected.entries_completed = 2;
    expected.entries_failed = 3;
    s3repl_test::check_entry_counts(m.stats(), expected);
    Manager copy = Manager::from_json(m.to_json(), ManualClock{});
    CHECK(copy.next_generation() == 9);
}

TEST_CASE("a version listed twice: the later replaces the first, its delete_marker too", "[snapshot][versions]") {
    const auto twice = [](const std::string& first, const std::string& later) {
        return snapshot_with("", R"([["src","k","v1"],)" + first + R"(],[["src","k","v1"],)" + later + "]");
    };
    using S = ReplicationStatus;
    SECTION("a marker replaced by a version that is none") {
        const Manager m = Manager::from_json(
            twice(R"({"status":"Pending","generation":4,"recorded_at":"2026-12-02T01:13:20Z","delete_marker":true})",
                  R"({"status":"Failed","generation":3,"recorded_at":"2026-12-02T01:13:21Z"})"),
            ManualClock{});
        // The later wins even with a lower generation, as a (bucket, key) listed twice does.
        CHECK(m.lookup_entry(ObjectId{"src", "k", "v1"}) == entry(S::Failed, 3, 1));
        CHECK(m.failed_entries() == std::vector<EntryRef>{{"src", "k", entry(S::Failed, 3, 1), "v1", false}});
        CHECK(pending_entries(m).empty());
        CHECK(m.to_json().find("delete_marker") == std::string::npos);
        CHECK(m.size() == 1);
    }
    SECTION("a version replaced by a marker") {
        const Manager m = Manager::from_json(
            twice(R"({"status":"Failed","generation":3,"recorded_at":"2026-12-02T01:13:20Z","delete_marker":false})",
                  R"({"status":"Pending","generation":4,"recorded_at":"2026-12-02T01:13:21Z","delete_marker":true})"),
            ManualClock{});
        CHECK(pending_entries(m) == std::vector<EntryRef>{{"src", "k", entry(S::Pending, 4, 1), "v1", true}});
        CHECK(m.failed_entries().empty());
        CHECK(m.to_json().find("\"delete_marker\":true") != std::string::npos);
        CHECK(m.size() == 1);
    }
    SECTION("the same key unversioned and as two versions: three entries") {
        const Manager m = Manager::from_json(
            snapshot_with(R"([["src","k"],)" + an_entry + "]",
                          R"([["src","k","v1"],{"status":"Failed","generation":2}],)"
                          R"([["src","k","v2"],{"status":"Pending","generation":3,"delete_marker":true}])"),
            ManualClock{at_seconds(t0)});
        CHECK(m.size() == 3);
        CHECK(m.lookup_entry(ObjectId{"src", "k"}) == entry(S::Completed, 1, 0));
        CHECK(m.lookup_entry(ObjectId{"src", "k", "v1"}) == entry(S::Failed, 2, 0));
        CHECK(m.lookup_entry(ObjectId{"src", "k", "v2"}) == entry(S::Pending, 3, 0));
    }
}

TEST_CASE("version entries with \"destinations\"", "[snapshot][versions]") {
    using S = ReplicationStatus;
    const std::string dest_a = R"({"bucket":"dst-a","status":"Completed","recorded_at":"2026-12-02T01:13:20Z"})";
    const std::string dest_b = R"({"bucket":"dst-b","status":"Pending","recorded_at":"2026-12-02T01:13:21Z"})";
    SECTION("a delete marker copied to two destinations: written, then read back") {
        Manager m{ManualClock{at_seconds(t0)}};
        m.put_config("multi", {"role", {rule_to("dst-a", 1), rule_to("dst-b", 2)}});
        const std::vector<s3repl::ReplicationJob> jobs =
            s3repl::begin_delete_marker_replication(m, ObjectId{"multi", "k", "m1"}, ignore_generation);
        // In match_rules' order, the higher priority first: each list keeps the order of first stamps.
        REQUIRE(jobs.size() == 2);
        REQUIRE(jobs[0].rule.destination_bucket == "dst-b");
        REQUIRE(m.record_destination_status_if_newer(ObjectId{"multi", "k", "m1"}, "dst-a", jobs[0].generation,
                                                     S::Completed));
        m.clock().set(at_seconds(t0 + 1));
        REQUIRE(m.record_destination_status_if_newer(ObjectId{"multi", "k", "m1"}, "dst-b", jobs[0].generation,
                                                     S::Pending));
        const std::string x = m.to_json();
        CHECK(x.substr(x.find("\"versions\":")) ==
              R"("versions":[[["multi","k","m1"],{"status":"Pending","generation":1,)"
              R"("recorded_at":"2026-12-02T01:13:21Z","delete_marker":true,"destinations":[)" +
                  dest_b + "," + dest_a + R"(]}]],"next_generation":2})");
        const Manager restored = Manager::from_json(x, ManualClock{});
        CHECK(restored.to_json() == x);
        CHECK(restored.lookup_destinations(ObjectId{"multi", "k", "m1"}) ==
              std::vector<DestinationStatus>{{"dst-b", S::Pending, 1, at_seconds(t0 + 1)},
                                             {"dst-a", S::Completed, 1, at_seconds(t0)}});
        const std::vector<s3repl::DestinationRef> pending =
            restored.stuck_pending_destinations(Timestamp::max(), std::chrono::nanoseconds{0});
        REQUIRE(pending.size() == 1);
        CHECK(pending[0].destination.destination_bucket == "dst-b");
        CHECK(pending[0].version_id == "m1");
        CHECK(pending[0].delete_marker);
    }
    SECTION("members in another order, without an entry recorded_at") {
        const Manager m =
            Manager::from_json(snapshot_with("", R"([["multi","k","v1"],{"destinations":[)" + dest_a + "," + dest_b +
                                                     R"(],"delete_marker":true,"generation":5,"status":"Pending"}])"),
                               ManualClock{});
        CHECK(m.lookup_entry(ObjectId{"multi", "k", "v1"}) == entry(S::Pending, 5, 1));
        CHECK(pending_entries(m) == std::vector<EntryRef>{{"multi", "k", entry(S::Pending, 5, 1), "v1", true}});
        CHECK(m.lookup_destinations(ObjectId{"multi", "k", "v1"}).size() == 2);
    }
    SECTION("an aggregate that disagrees with the destinations is refused at the version entry") {
        check_refused(with_second_version(R"([["multi","k","v1"],{"status":"Completed","generation":5,)"
                                          R"("destinations":[)" +
                                          dest_a + "," + dest_b + "]}]"),
                      "/versions/1/1", "the status is \"Completed\" but its destinations aggregate to \"Pending\"");
    }
    SECTION("a destination listed twice in a version entry is refused") {
        check_refused(with_second_version(R"([["multi","k","v1"],{"status":"Completed","generation":5,)"
                                          R"("destinations":[)" +
                                          dest_a + "," + dest_a + "]}]"),
                      "/versions/1/1/destinations/1", "the destination \"dst-a\" is listed twice");
    }
}
