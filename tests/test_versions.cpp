// Versioned buckets: each version of a key is tracked apart, delete markers
// replicate only where a rule says so, a version delete never replicates,
// and the sweep can keep terminal statuses for the latest versions only.
#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using s3repl::ObjectId;
using s3repl::ReplicationResult;
using s3repl::ReplicationStatus;
using s3repl::WriteResult;
using s3repl_test::Metadata;
using s3repl_test::rule_to;

namespace {

constexpr ReplicationStatus P = ReplicationStatus::Pending;
constexpr ReplicationStatus C = ReplicationStatus::Completed;
constexpr ReplicationStatus F = ReplicationStatus::Failed;

s3repl_test::Manager manager_with(std::vector<s3repl::ReplicationRule> rules) {
    s3repl_test::Manager m;
    m.put_config("src", s3repl::ReplicationConfig{"role", std::move(rules)});
    return m;
}

// A destination bucket with versions: each version ID is a replica of its
// own, or a delete marker; thread-safe.
class VersionedDestination {
  public:
    struct Version {
        std::string body;
        Metadata metadata;
        bool delete_marker = false;
    };

    std::optional<s3repl::ReplicaState> head(const std::string& bucket, const std::string& key,
                                             const std::string& version_id) {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = versions_.find(bucket + "/" + key + "?" + version_id);
        if (found == versions_.end()) return std::nullopt;
        return s3repl::ReplicaState{s3repl::replica_generation_of(found->second.metadata), "\"" + version_id + "\""};
    }
    WriteResult put(const std::string& bucket, const std::string& key, const std::string& version_id,
                    const std::string& body, const Metadata& metadata, const s3repl::WriteCondition& condition) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto& slot = versions_[bucket + "/" + key + "?" + version_id];
        if (condition.if_none_match && !slot.metadata.empty()) return WriteResult::PreconditionFailed;
        slot = Version{body, metadata, false};
        ++puts;
        return WriteResult::Written;
    }
    WriteResult put_delete_marker(const std::string& bucket, const std::string& key, const std::string& version_id,
                                  const Metadata& metadata) {
        std::lock_guard<std::mutex> lock(mutex_);
        versions_[bucket + "/" + key + "?" + version_id] = Version{{}, metadata, true};
        ++markers;
        return WriteResult::Written;
    }
    std::optional<Version> get(const std::string& key, const std::string& version_id,
                               const std::string& bucket = "dst") const {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = versions_.find(bucket + "/" + key + "?" + version_id);
        if (found == versions_.end()) return std::nullopt;
        return found->second;
    }

    std::atomic<int> puts{0}, markers{0};

  private:
    mutable std::mutex mutex_;
    std::map<std::string, Version> versions_; // guarded by mutex_
};

std::vector<s3repl::ReplicationJob> put_version(s3repl_test::Manager& m, const std::string& version) {
    return s3repl::begin_replication(m, ObjectId{"src", "k", version}, {}, [](std::uint64_t) {});
}

std::vector<s3repl::ReplicationJob> marker(s3repl_test::Manager& m, const std::string& version) {
    return s3repl::begin_delete_marker_replication(m, ObjectId{"src", "k", version}, [](std::uint64_t) {});
}

} // namespace

// ==== one entry per version ===================================================

TEST_CASE("each version has its own entry and CAS, apart from the unversioned object", "[versions]") {
    s3repl_test::Manager m;
    REQUIRE(m.record_status_if_newer(ObjectId{"src", "k", "v1"}, 5, C));
    REQUIRE(m.record_status_if_newer(ObjectId{"src", "k", "v2"}, 3, P)); // lower, and still accepted: its own CAS
    REQUIRE(m.record_status_if_newer("src", "k", 1, F));
    CHECK(m.lookup_status({"src", "k", "v1"}) == C);
    CHECK(m.lookup_status({"src", "k", "v2"}) == P);
    CHECK(m.lookup_status("src", "k") == F);
    CHECK_FALSE(m.lookup_status({"src", "k", "v3"}));
    CHECK_FALSE(m.lookup_status({"src", "k2", "v1"}));

    CHECK_FALSE(m.record_status_if_newer(ObjectId{"src", "k", "v1"}, 4, C)); // stale for v1
    CHECK_FALSE(m.record_status_if_newer(ObjectId{"src", "k", "v1"}, 5, F)); // COMPLETED final for v1
    CHECK(m.record_status_if_newer(ObjectId{"src", "k", "v2"}, 3, F));
    CHECK(m.size() == 3);

    const auto stats = m.stats();
    CHECK(stats.entries_completed == 1);
    CHECK(stats.entries_failed == 2);
    CHECK(stats.entries_pending == 0);
    CHECK(stats.stamps_accepted == 4);
    CHECK(stats.stamps_rejected == 2);
}

TEST_CASE("a version's bytes never collide with a key's: the version is not part of the key", "[versions]") {
    s3repl_test::Manager m;
    // The stored form of ("k", "v1") is the bytes "kv1" plus a length: none of these may find it.
    REQUIRE(m.record_status_if_newer(ObjectId{"src", "k", "v1"}, 1, C));
    CHECK_FALSE(m.lookup_entry("src", "kv1"));
    CHECK_FALSE(m.lookup_entry({"src", "kv", "1"}));
    CHECK_FALSE(m.lookup_entry({"src", "", "kv1"}));
    REQUIRE(m.record_status_if_newer("src", std::string("kv1\x02\x00", 5), 2, P));
    CHECK(m.lookup_status({"src", "k", "v1"}) == C);
    CHECK(m.size() == 2);
}

TEST_CASE("bad version IDs are refused and change nothing", "[versions]") {
    s3repl_test::Manager m;
    REQUIRE(m.record_status_if_newer(ObjectId{"src", "k", "v1"}, 1, P));
    const std::string before = m.to_json();
    const std::string too_long(s3repl::max_version_id_bytes + 1, 'v');
    CHECK_THROWS_AS(m.record_status_if_newer(ObjectId{"src", "k", too_long}, 2, P), s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.record_status(ObjectId{"src", "k", "v\xff"}, P), s3repl::InvalidArgument);
    CHECK_THROWS_AS(s3repl::begin_replication(m, ObjectId{"src", "k", too_long}, {}, [](std::uint64_t) {}),
                    s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.mark_delete_marker(ObjectId{"src", "k"}), s3repl::InvalidArgument);
    CHECK(m.to_json() == before);
    CHECK(m.stats().generations_minted == 0);
    CHECK(s3repl::is_valid_version_id(std::string(s3repl::max_version_id_bytes, 'v')));
    CHECK_FALSE(s3repl::is_valid_version_id(too_long));
}

TEST_CASE("the generations of a key's versions follow the order they were committed in", "[versions]") {
    auto m = manager_with({rule_to("dst", 1)});
    const auto v1 = put_version(m, "v1");
    const auto v2 = put_version(m, "v2");
    const auto m3 = marker(m, "v3"); // no rule replicates markers: no job, but a generation all the same
    const auto v4 = put_version(m, "v4");
    REQUIRE(v1.size() == 1);
    REQUIRE(v2.size() == 1);
    CHECK(m3.empty());
    REQUIRE(v4.size() == 1);
    CHECK(v1[0].generation < v2[0].generation);
    CHECK(v4[0].generation == v2[0].generation + 2);
    CHECK(v2[0].version_id == "v2");
    CHECK(m.lookup_status({"src", "k", "v1"}) == P);
    CHECK_FALSE(m.lookup_entry({"src", "k", "v3"}));
}

TEST_CASE("versions of one key committed from several threads: generation order is commit order",
          "[versions][concurrent]") {
    auto m = manager_with({rule_to("dst", 1)});
    std::mutex log_mutex;
    std::vector<std::uint64_t> log; // generations in the order the commits ran
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                const std::string version = std::to_string(t) + "-" + std::to_string(i);
                s3repl::begin_replication(m, ObjectId{"src", "k", version}, {}, [&](std::uint64_t g) {
                    std::lock_guard<std::mutex> lock(log_mutex);
                    log.push_back(g);
                });
            }
        });
    for (auto& t : threads) t.join();
    REQUIRE(log.size() == 800);
    CHECK(std::is_sorted(log.begin(), log.end()));
    CHECK(m.size() == 800);
}

// ==== delete markers ==========================================================

TEST_CASE("delete markers replicate only by rules that replicate them", "[versions][markers]") {
    auto v1 = rule_to("dst-v1", 0);
    v1.has_filter = false; // a V1 rule: always replicates markers
    v1.has_priority = false;
    auto enabled = rule_to("dst-enabled", 3);
    enabled.delete_marker_replication = true;
    auto disabled = rule_to("dst-disabled", 2);
    auto tagged = rule_to("dst-tagged", 1);
    tagged.delete_marker_replication = true;
    tagged.filter.tags = {{"team", "red"}}; // a marker has no tags
    CHECK(s3repl::replicates_delete_markers(v1));
    CHECK(s3repl::replicates_delete_markers(enabled));
    CHECK_FALSE(s3repl::replicates_delete_markers(disabled));
    CHECK_FALSE(s3repl::replicates_delete_markers(tagged));

    for (const auto& [rule, replicated] : std::vector<std::pair<s3repl::ReplicationRule, bool>>{
             {v1, true}, {enabled, true}, {disabled, false}, {tagged, false}}) {
        INFO(rule.id);
        auto m = manager_with({rule});
        const auto jobs = marker(m, "m1");
        CHECK(jobs.size() == (replicated ? 1u : 0u));
        CHECK(m.lookup_entry({"src", "k", "m1"}).has_value() == replicated);
        if (!replicated) continue;
        CHECK(jobs[0].delete_marker);
        CHECK(jobs[0].version_id == "m1");
        CHECK(jobs[0].rule.destination_bucket == rule.destination_bucket);
        const auto pending = m.stuck_pending(m.clock().now() + 1s, 0s);
        REQUIRE(pending.size() == 1);
        CHECK(pending[0].delete_marker);
        CHECK(pending[0].version_id == "m1");
    }

    // Several rules: one job per destination that replicates markers, none for the others.
    auto m = manager_with({enabled, disabled, tagged});
    const auto jobs = marker(m, "m2");
    REQUIRE(jobs.size() == 1);
    CHECK(jobs[0].rule.destination_bucket == "dst-enabled");
    CHECK(m.lookup_destinations({"src", "k", "m2"}).size() == 1);
}

TEST_CASE("a delete marker needs a version ID", "[versions][markers]") {
    auto m = manager_with({rule_to("dst", 1)});
    CHECK_THROWS_AS(s3repl::begin_delete_marker_replication(m, ObjectId{"src", "k"}, [](std::uint64_t) {}),
                    s3repl::InvalidArgument);
    CHECK(m.stats().generations_minted == 0);
}

TEST_CASE("a version delete never produces a job and ends a running copy of that version", "[versions]") {
    auto rule = rule_to("dst", 1);
    rule.delete_marker_replication = true; // even where markers replicate
    auto m = manager_with({rule});
    const auto v1 = put_version(m, "v1");
    const auto v2 = put_version(m, "v2");
    REQUIRE(v1.size() == 1);
    bool committed = false;
    s3repl::commit_version_delete(m, ObjectId{"src", "k", "v1"}, [&] { committed = true; });
    CHECK(committed);
    CHECK_FALSE(m.lookup_entry({"src", "k", "v1"}));
    CHECK(m.lookup_status({"src", "k", "v2"}) == P); // the other versions are untouched
    CHECK(m.size() == 1);
    CHECK(m.stuck_pending(m.clock().now() + 1s, 0s).size() == 1);

    VersionedDestination destination;
    CHECK(s3repl::replicate_object(m, v1[0], std::string("bytes"), Metadata{}, destination).result ==
          ReplicationResult::Superseded);
    CHECK(destination.puts == 0);
    CHECK_FALSE(m.forget(ObjectId{"src", "k", "v1"})); // already gone
}

// ==== the dispatcher with versions =============================================

TEST_CASE("replicate_object gives a versioned destination the source's version ID", "[versions][dispatch]") {
    auto rule = rule_to("dst", 1);
    rule.delete_marker_replication = true;
    auto m = manager_with({rule});
    VersionedDestination destination;
    const auto v1 = put_version(m, "v1");
    const auto v2 = put_version(m, "v2");
    const auto m3 = marker(m, "v3");
    REQUIRE(m3.size() == 1);
    // Out of order: each version is its own replica, so no copy supersedes another.
    CHECK(s3repl::replicate_object(m, v2[0], std::string("two"), Metadata{}, destination).result ==
          ReplicationResult::Completed);
    CHECK(s3repl::replicate_object(m, m3[0], std::string("unused"), Metadata{}, destination).result ==
          ReplicationResult::Completed);
    CHECK(s3repl::replicate_object(m, v1[0], std::string("one"), Metadata{}, destination).result ==
          ReplicationResult::Completed);
    CHECK(destination.get("k", "v1")->body == "one");
    CHECK(destination.get("k", "v2")->body == "two");
    CHECK(destination.get("k", "v3")->delete_marker);
    CHECK(destination.get("k", "v2")->metadata.at("x-amz-replication-status") == "REPLICA");
    CHECK(s3repl::replica_generation_of(destination.get("k", "v3")->metadata) == m3[0].generation);
    CHECK(destination.markers == 1);
    for (const char* version : {"v1", "v2", "v3"}) CHECK(m.lookup_status({"src", "k", version}) == C);
    // A duplicate of a finished copy heads the replica and writes nothing.
    CHECK(s3repl::replicate_object(m, v1[0], std::string("one"), Metadata{}, destination).result ==
          ReplicationResult::Completed);
    CHECK(destination.puts == 2);
}

TEST_CASE("destinations without versions refuse a version's job before any call", "[versions][dispatch]") {
    auto m = manager_with({rule_to("dst", 1)});
    const auto v1 = put_version(m, "v1");
    s3repl_test::Destination unversioned;
    CHECK_THROWS_AS(s3repl::replicate_object(m, v1[0], std::string("b"), Metadata{}, unversioned),
                    s3repl::InvalidArgument);
    CHECK_THROWS_AS(s3repl::replicate_object(m, v1[0], std::string("b"), Metadata{},
                                             [](const std::string&, const std::string&, const std::string&,
                                                const Metadata&) { return true; }),
                    s3repl::InvalidArgument);
    CHECK(unversioned.heads == 0);
    CHECK(m.lookup_status({"src", "k", "v1"}) == P);
}

TEST_CASE("re-drive of a version keeps its version ID and marker flag", "[versions][dispatch]") {
    auto rule = rule_to("dst", 1);
    rule.delete_marker_replication = true;
    auto m = manager_with({rule, rule_to("dst-b", 2)});
    const auto jobs = marker(m, "m1"); // dst only: dst-b's rule does not replicate markers
    REQUIRE(jobs.size() == 1);
    REQUIRE(m.record_destination_status_if_newer(ObjectId{"src", "k", "m1"}, "dst", jobs[0].generation, F));
    const auto failed = m.failed_destinations();
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].version_id == "m1");
    CHECK(failed[0].delete_marker);
    const auto again = s3repl::redrive_jobs(m, failed[0], {});
    REQUIRE(again.size() == 1);
    CHECK(again[0].delete_marker);
    CHECK(again[0].version_id == "m1");
    CHECK(again[0].rule.destination_bucket == "dst");
}

// ==== the sweep's latest versions ==============================================

TEST_CASE("the sweep keeps terminal statuses for the latest versions of a key only", "[versions][sweep]") {
    s3repl_test::Manager m;
    for (std::uint64_t g = 1; g <= 4; ++g)
        REQUIRE(m.record_status_if_newer(ObjectId{"src", "k", "v" + std::to_string(g)}, g, g == 2 ? P : C));
    REQUIRE(m.record_status_if_newer(ObjectId{"src", "other", "v1"}, 1, C)); // another key's only version
    REQUIRE(m.record_status_if_newer("src", "k", 1, C));                     // the unversioned object
    const s3repl::Timestamp now = m.clock().now();                           // nothing is past a TTL

    SECTION("the default keeps one: the newest") {
        CHECK(s3repl::SweepPolicy{}.latest_versions == 1);
        CHECK(m.sweep_stale(now, s3repl::SweepPolicy{}) == 2); // v1 and v3; v2 is PENDING
        CHECK(m.lookup_status({"src", "k", "v4"}) == C);
        CHECK(m.lookup_status({"src", "k", "v2"}) == P);
        CHECK_FALSE(m.lookup_entry({"src", "k", "v3"}));
        CHECK_FALSE(m.lookup_entry({"src", "k", "v1"}));
        CHECK(m.lookup_status({"src", "other", "v1"}) == C);
        CHECK(m.lookup_status("src", "k") == C);
    }
    SECTION("two") {
        s3repl::SweepPolicy policy;
        policy.latest_versions = 2;
        CHECK(m.sweep_stale(now, policy) == 1); // v1: v4 and v3 are the latest two, and v2 is PENDING
        CHECK(m.lookup_status({"src", "k", "v3"}) == C);
    }
    SECTION("none: every terminal version goes") {
        s3repl::SweepPolicy policy;
        policy.latest_versions = 0;
        CHECK(m.sweep_stale(now, policy) == 4);
        CHECK(m.size() == 2); // v2 (PENDING) and the unversioned object
    }
    SECTION("as many as there are: only the TTLs apply") {
        s3repl::SweepPolicy policy;
        policy.latest_versions = 4;
        CHECK(m.sweep_stale(now, policy) == 0);
        m.clock().advance(25h);
        CHECK(m.sweep_stale(m.clock().now(), policy) == 5);
    }
}

TEST_CASE("versions survive a snapshot, beside byte-identical unversioned entries", "[versions][snapshot]") {
    s3repl_test::Manager unversioned;
    REQUIRE(unversioned.record_status_if_newer("src", "k", 1, C));
    CHECK(unversioned.to_json().find("versions") == std::string::npos);

    s3repl_test::Manager m;
    REQUIRE(m.record_status_if_newer(ObjectId{"src", "k", "v1"}, 1, C));
    REQUIRE(m.record_status_if_newer(ObjectId{"src", "k", "m2"}, 2, P));
    m.mark_delete_marker(ObjectId{"src", "k", "m2"});
    const auto restored = s3repl_test::Manager::from_json(m.to_json());
    CHECK(restored.lookup_entry({"src", "k", "v1"}) == m.lookup_entry({"src", "k", "v1"}));
    const auto pending = restored.stuck_pending(restored.clock().now() + 1s, 0s);
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].version_id == "m2");
    CHECK(pending[0].delete_marker);
    CHECK_FALSE(restored.lookup_entry("src", "k"));
    // for_each_entry: a three-argument visitor sees unversioned entries only, a four-argument one every entry.
    std::size_t three = 0, four = 0;
    restored.for_each_entry(
        [&](std::string_view, std::string_view, const s3repl::ReplicationStatusEntry&) { ++three; });
    restored.for_each_entry(
        [&](std::string_view, std::string_view, std::string_view version, const s3repl::ReplicationStatusEntry&) {
            CHECK(!version.empty());
            ++four;
        });
    CHECK(three == 0);
    CHECK(four == 2);
}
