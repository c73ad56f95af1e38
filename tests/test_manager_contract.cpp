// One contract, two managers: every test here runs against the in-memory
// BasicReplicationManager and the Redis one (on its own redis-server, and on
// a three-master Redis Cluster, a fresh key prefix per test), so the Redis manager is held to the same rules:
// the CAS, COMPLETED final within a generation, never-wrap generations,
// per-destination and per-version state, the sweep, stats, the re-drive
// listings, and the dispatcher and the sweeper running on it unchanged.
#include "redis_cluster.hpp"
#include "redis_server.hpp"
#include "support.hpp"

#include <s3repl/redis.hpp>
#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using s3repl::ObjectId;
using s3repl::ReplicationStatus;
using s3repl_test::max_u64;
using s3repl_test::rule_to;

namespace {

constexpr ReplicationStatus P = ReplicationStatus::Pending;
constexpr ReplicationStatus C = ReplicationStatus::Completed;
constexpr ReplicationStatus F = ReplicationStatus::Failed;
constexpr ReplicationStatus R = ReplicationStatus::Replica;

// The in-memory manager, on a clock the test moves.
struct InMemory {
    s3repl::ManualClock clock{s3repl_test::start};
    s3repl::BasicReplicationManager<s3repl::ManualClock> manager{clock};
};

// The Redis manager on the program's redis-server, under a prefix of its own.
struct OnRedis {
    s3repl::ManualClock clock{s3repl_test::start};
    s3repl::BasicRedisReplicationManager<s3repl::ManualClock> manager{s3repl_test::shared_redis_server().options(),
                                                                      s3repl_test::fresh_prefix(), clock};
};

// "src" replicating every key to each of `destinations` (priorities descending).
template <class M>
void replicate_to(M& m, const std::vector<std::string>& destinations) {
    std::vector<s3repl::ReplicationRule> rules;
    auto priority = static_cast<std::uint32_t>(destinations.size());
    for (const auto& destination : destinations) rules.push_back(rule_to(destination, priority--));
    m.put_config("src", s3repl::ReplicationConfig{"role", std::move(rules)});
}

std::vector<s3repl::DestinationStatus> by_bucket(std::vector<s3repl::DestinationStatus> list) {
    std::sort(list.begin(), list.end(),
              [](const auto& a, const auto& b) { return a.destination_bucket < b.destination_bucket; });
    return list;
}

template <class Ref>
std::vector<Ref> by_name(std::vector<Ref> refs) {
    std::sort(refs.begin(), refs.end(), [](const Ref& a, const Ref& b) {
        return std::tie(a.bucket, a.key, a.version_id) < std::tie(b.bucket, b.key, b.version_id);
    });
    return refs;
}

std::vector<std::string> destination_names(const std::vector<s3repl::DestinationRef>& refs) {
    std::vector<std::string> names;
    for (const auto& ref : refs) names.push_back(ref.key + "@" + ref.destination.destination_bucket);
    std::sort(names.begin(), names.end());
    return names;
}

} // namespace

// The Redis manager on the program's three-master Redis Cluster.
struct OnCluster {
    static s3repl_test::RedisCluster& cluster() {
        static s3repl_test::RedisCluster c;
        return c;
    }
    s3repl::ManualClock clock{s3repl_test::start};
    s3repl::BasicRedisReplicationManager<s3repl::ManualClock> manager{cluster().options(), s3repl_test::fresh_prefix(),
                                                                      clock};
};

#define S3REPL_CONTRACT_TEST(name, tags) TEMPLATE_TEST_CASE(name, "[contract]" tags, InMemory, OnRedis, OnCluster)

// ==== the CAS =================================================================

S3REPL_CONTRACT_TEST("the CAS: an older generation is refused, an equal one updates, COMPLETED is final", "") {
    TestType f;
    auto& m = f.manager;
    CHECK_FALSE(m.lookup_entry(ObjectId{"src", "k"}));
    CHECK(m.record_status_if_newer("src", "k", 5, P));
    CHECK(m.lookup_entry("src", "k") == s3repl::ReplicationStatusEntry{P, 5, f.clock.now()});
    CHECK_FALSE(m.record_status_if_newer("src", "k", 4, C)); // older
    CHECK(m.lookup_status("src", "k") == P);
    f.clock.advance(1s);
    CHECK(m.record_status_if_newer("src", "k", 5, F)); // equal: updates
    CHECK(m.lookup_entry("src", "k") == s3repl::ReplicationStatusEntry{F, 5, f.clock.now()});
    CHECK(m.record_status_if_newer("src", "k", 5, C));
    CHECK_FALSE(m.record_status_if_newer("src", "k", 5, F)); // COMPLETED is final within a generation
    CHECK_FALSE(m.record_status_if_newer("src", "k", 5, P));
    CHECK(m.record_status_if_newer("src", "k", 5, C)); // a duplicate COMPLETED is accepted
    CHECK(m.record_status_if_newer("src", "k", 6, P)); // a newer PUT replaces it
    CHECK(m.lookup_status("src", "k") == P);

    m.record_status("src", "u", R); // unconditional, generation 0
    CHECK(m.lookup_entry("src", "u") == s3repl::ReplicationStatusEntry{R, 0, f.clock.now()});
    CHECK(m.record_status_if_newer("src", "u", 1, P));

    const s3repl::ReplicationStats s = m.stats();
    CHECK(s.stamps_accepted == 7);
    CHECK(s.stamps_rejected == 3);
    CHECK(s.entries_pending == 2);
    CHECK(m.size() == 2);
    s3repl_test::check_entry_counts(s, s3repl_test::recount(m));
}

S3REPL_CONTRACT_TEST("stamps refuse bad input and change nothing", "") {
    TestType f;
    auto& m = f.manager;
    CHECK_THROWS_AS(m.record_status_if_newer("src", "\xff", 1, P), s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.record_status_if_newer("src", "k", 1, static_cast<ReplicationStatus>(9)),
                    s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.record_destination_status_if_newer(ObjectId{"src", "k"}, "dst", 1, R), s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.record_destination_status_if_newer(ObjectId{"src", "k"}, "", 1, P), s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.record_status_if_newer(ObjectId{"src", "k", std::string(1025, 'v')}, 1, P),
                    s3repl::InvalidArgument);
    CHECK(m.size() == 0);
    CHECK_FALSE(m.lookup_status("src", "\xff")); // a lookup just misses
}

// ==== generations ===============================================================

S3REPL_CONTRACT_TEST("generations: 1 first, increasing, above every stamp, and never past 2^64-1", "") {
    TestType f;
    auto& m = f.manager;
    CHECK(m.next_generation() == 1);
    CHECK(m.next_generation() == 2);
    CHECK(m.record_status_if_newer("src", "k", 1000, P)); // a stamp above the counter raises it
    CHECK(m.next_generation() == 1001);
    m.raise_generation_floor(5); // never back
    CHECK(m.next_generation() == 1002);
    CHECK(m.stats().generations_minted == 4); // 1, 2, 1001, 1002: the raises mint nothing

    m.raise_generation_floor(max_u64 - 1);
    CHECK(m.next_generation() == max_u64);
    CHECK_THROWS_AS(m.next_generation(), s3repl::GenerationExhausted);
    CHECK_THROWS_AS(m.next_generation(), s3repl::GenerationExhausted); // and stays so
    CHECK(m.record_status_if_newer("src", "k", max_u64, C));
    CHECK(m.lookup_entry("src", "k")->generation == max_u64);
}

S3REPL_CONTRACT_TEST("a stamp at 2^64-1 exhausts the counter at once", "") {
    TestType f;
    auto& m = f.manager;
    CHECK(m.record_status_if_newer("src", "k", max_u64, P));
    CHECK_THROWS_AS(m.next_generation(), s3repl::GenerationExhausted);
    CHECK_FALSE(m.record_status_if_newer("src", "k", max_u64 - 1, C));
}

S3REPL_CONTRACT_TEST("generations carried across the 10-digit boundary stay exact", "") {
    TestType f;
    auto& m = f.manager;
    m.raise_generation_floor(9999999998);
    CHECK(m.next_generation() == 9999999999);
    CHECK(m.next_generation() == 10000000000);
    m.raise_generation_floor(18446744069999999999ull);
    CHECK(m.next_generation() == 18446744070000000000ull);
    CHECK(m.record_status_if_newer("src", "k", 18446744070000000001ull, P));
    CHECK_FALSE(m.record_status_if_newer("src", "k", 18446744070000000000ull, P)); // older by one
    CHECK(m.record_status_if_newer("src", "k", 18446744070000000010ull, P));
}

// ==== configurations ============================================================

S3REPL_CONTRACT_TEST("configurations: put, get, delete, match_rules", "") {
    TestType f;
    auto& m = f.manager;
    CHECK_FALSE(m.get_config("src"));
    CHECK(m.match_rules("src", "k", {}).empty());
    replicate_to(m, {"dst-a", "dst-b"});
    const auto stored = m.get_config("src");
    REQUIRE(stored);
    CHECK(stored->role == "role");
    REQUIRE(stored->rules.size() == 2);
    CHECK(stored->rules[0] == rule_to("dst-a", 2));
    const auto rules = m.match_rules("src", "k", {});
    REQUIRE(rules.size() == 2);
    CHECK(rules[0].destination_bucket == "dst-a");
    CHECK(rules[1].destination_bucket == "dst-b");
    CHECK(m.match_rule("src", "k", {})->destination_bucket == "dst-a");
    CHECK_THROWS_AS(m.put_config("\xff", s3repl::ReplicationConfig{"role", {}}), s3repl::InvalidArgument);
    m.delete_config("src");
    m.delete_config("src"); // idempotent
    CHECK_FALSE(m.get_config("src"));
}

// ==== several destinations =======================================================

S3REPL_CONTRACT_TEST("per destination: each its own CAS, the entry their aggregate, a newer PUT replaces the set", "") {
    TestType f;
    auto& m = f.manager;
    replicate_to(m, {"dst-a", "dst-b"});
    const ObjectId k{"src", "k"};
    CHECK(m.record_destination_status_if_newer(k, "dst-a", 7, P));
    CHECK(m.record_destination_status_if_newer(k, "dst-b", 7, P));
    CHECK(m.lookup_status(k) == P);
    f.clock.advance(1s);
    CHECK(m.record_destination_status_if_newer(k, "dst-a", 7, C));
    CHECK(m.lookup_status(k) == P);                                      // dst-b still copies
    CHECK_FALSE(m.record_destination_status_if_newer(k, "dst-a", 7, F)); // COMPLETED final
    CHECK_FALSE(m.record_destination_status_if_newer(k, "dst-b", 6, C)); // older
    CHECK(m.record_destination_status_if_newer(k, "dst-b", 7, F));
    CHECK(m.lookup_entry(k) == s3repl::ReplicationStatusEntry{F, 7, f.clock.now()});
    const auto now = f.clock.now();
    CHECK(by_bucket(m.lookup_destinations(k)) ==
          std::vector<s3repl::DestinationStatus>{{"dst-a", C, 7, now}, {"dst-b", F, 7, now}});
    CHECK(m.record_destination_status_if_newer(k, "dst-b", 7, C));
    CHECK(m.lookup_status(k) == C);

    CHECK(m.record_destination_status_if_newer(k, "dst-b", 8, P)); // a newer PUT: only dst-b so far
    CHECK(m.lookup_destinations(k) == std::vector<s3repl::DestinationStatus>{{"dst-b", P, 8, now}});
    CHECK(m.record_status_if_newer(k, 8, F)); // the object as a whole: every destination
    CHECK(m.lookup_destinations(k) == std::vector<s3repl::DestinationStatus>{{"dst-b", F, 8, now}});
    CHECK(m.stats().entries_failed == 1);
}

S3REPL_CONTRACT_TEST("the sole destination keeps the single-status form, named after the rules", "") {
    TestType f;
    auto& m = f.manager;
    replicate_to(m, {"dst"});
    const ObjectId k{"src", "k"};
    CHECK(m.record_destination_status_if_newer(k, "dst", 3, P));
    CHECK(m.record_status_if_newer(k, 3, C)); // the same entry
    CHECK(m.lookup_destinations(k) == std::vector<s3repl::DestinationStatus>{{"dst", C, 3, f.clock.now()}});
    m.delete_config("src"); // several or none: unnamed
    CHECK(m.lookup_destinations(k) == std::vector<s3repl::DestinationStatus>{{"", C, 3, f.clock.now()}});
    CHECK(m.lookup_destinations(ObjectId{"src", "missing"}).empty());
}

S3REPL_CONTRACT_TEST("destination_stats: exact counts per destination bucket, and metrics from them", "") {
    TestType f;
    auto& m = f.manager;
    replicate_to(m, {"dst-a", "dst-b"});
    CHECK(m.record_destination_status_if_newer(ObjectId{"src", "k"}, "dst-a", 1, C));
    CHECK(m.record_destination_status_if_newer(ObjectId{"src", "k"}, "dst-b", 1, F));
    CHECK(m.record_destination_status_if_newer(ObjectId{"src", "j"}, "dst-b", 2, P));
    CHECK(m.record_status_if_newer("src", "single", 3, P)); // several destinations: unnamed
    replicate_to(m, {"dst-a"});                             // now one: named after it
    m.record_status("src", "replica", R);
    CHECK(m.record_status_if_newer("other", "x", 4, C)); // no configuration: unnamed
    CHECK(m.destination_stats() ==
          std::vector<s3repl::DestinationCounts>{{"", 0, 1, 0}, {"dst-a", 1, 1, 0}, {"dst-b", 1, 0, 1}});
    const std::string text = s3repl::to_prometheus(m);
    CHECK(text.find("dst-b") != std::string::npos);
}

// ==== versions =====================================================================

S3REPL_CONTRACT_TEST("versions: each its own entry and CAS; delete markers; forget", "") {
    TestType f;
    auto& m = f.manager;
    const ObjectId v1{"src", "k", "v1"}, v2{"src", "k", "v2"}, plain{"src", "k"};
    CHECK(m.record_status_if_newer(v1, 1, C));
    CHECK(m.record_status_if_newer(v2, 2, P));
    CHECK_FALSE(m.lookup_status(plain));
    CHECK(m.lookup_status(v1) == C);
    CHECK(m.lookup_status(v2) == P);
    CHECK(m.record_status_if_newer(v1, 1, C));
    CHECK_FALSE(m.record_status_if_newer(v1, 1, F));

    m.mark_delete_marker(v2);
    m.mark_delete_marker(ObjectId{"src", "k", "untracked"}); // no effect
    CHECK_THROWS_AS(m.mark_delete_marker(plain), s3repl::InvalidArgument);
    CHECK(m.record_status_if_newer(v2, 2, F));
    const auto failed = m.failed_entries();
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].version_id == "v2");
    CHECK(failed[0].delete_marker);
    CHECK(failed[0].entry.generation == 2);

    CHECK(m.forget(v1));
    CHECK_FALSE(m.forget(v1));
    CHECK_FALSE(m.lookup_status(v1));
    CHECK(m.size() == 1);
    CHECK(m.stats().entries_completed == 0);
}

S3REPL_CONTRACT_TEST("for_each_entry visits every entry once, versions to a visitor that takes them", "") {
    TestType f;
    auto& m = f.manager;
    CHECK(m.record_status_if_newer("src", "a", 1, P));
    CHECK(m.record_status_if_newer(ObjectId{"src", "a", "v1"}, 2, C));
    CHECK(m.record_status_if_newer("other", "b", 3, F));
    std::vector<std::string> plain, all;
    m.for_each_entry([&](std::string_view bucket, std::string_view key, const s3repl::ReplicationStatusEntry& e) {
        plain.push_back(std::string(bucket) + "/" + std::string(key) + "@" + std::to_string(e.generation));
    });
    m.for_each_entry([&](std::string_view bucket, std::string_view key, std::string_view version,
                         const s3repl::ReplicationStatusEntry& e) {
        all.push_back(std::string(bucket) + "/" + std::string(key) + "?" + std::string(version) + "@" +
                      std::to_string(e.generation));
    });
    std::sort(plain.begin(), plain.end());
    std::sort(all.begin(), all.end());
    CHECK(plain == std::vector<std::string>{"other/b@3", "src/a@1"});
    CHECK(all == std::vector<std::string>{"other/b?@3", "src/a?@1", "src/a?v1@2"});
}

S3REPL_CONTRACT_TEST("batch lookups answer as the single ones", "") {
    TestType f;
    auto& m = f.manager;
    CHECK(m.record_status_if_newer("src", "a", 1, P));
    CHECK(m.record_status_if_newer(ObjectId{"src", "b", "v"}, 2, C));
    const std::vector<ObjectId> objects = {{"src", "a"}, {"src", "b"}, {"src", "b", "v"}, {"other", "a"}};
    std::vector<std::optional<ReplicationStatus>> statuses(objects.size());
    std::vector<std::optional<s3repl::ReplicationStatusEntry>> entries(objects.size());
    m.lookup_statuses(objects.data(), objects.size(), statuses.data());
    m.lookup_entries(objects.data(), objects.size(), entries.data());
    for (std::size_t i = 0; i < objects.size(); ++i) {
        CHECK(statuses[i] == m.lookup_status(objects[i]));
        CHECK(entries[i] == m.lookup_entry(objects[i]));
    }
    CHECK(statuses[0] == P);
    CHECK_FALSE(statuses[1]);
}

// ==== the sweep ====================================================================

S3REPL_CONTRACT_TEST("the sweep: terminal entries past their TTL go; PENDING, REPLICA and copying FAILED stay", "") {
    TestType f;
    auto& m = f.manager;
    replicate_to(m, {"dst-a", "dst-b"});
    CHECK(m.record_status_if_newer("src", "done", 1, C));
    CHECK(m.record_status_if_newer("src", "failed", 2, F));
    CHECK(m.record_status_if_newer("src", "pending", 3, P));
    m.record_status("src", "replica", R);
    CHECK(m.record_destination_status_if_newer(ObjectId{"src", "copying"}, "dst-a", 4, F));
    CHECK(m.record_destination_status_if_newer(ObjectId{"src", "copying"}, "dst-b", 4, P));
    const s3repl::SweepPolicy policy{1h, 2h};

    f.clock.advance(1h); // exactly the TTL: not strictly before the cutoff
    CHECK(m.sweep_stale(f.clock.now(), policy) == 0);
    f.clock.advance(1ns);
    CHECK(m.sweep_stale(f.clock.now(), policy) == 1);
    CHECK_FALSE(m.lookup_status("src", "done"));
    f.clock.advance(1h);
    CHECK(m.sweep_stale(f.clock.now(), policy) == 1);
    CHECK_FALSE(m.lookup_status("src", "failed"));
    f.clock.advance(100h);
    CHECK(m.sweep_stale(f.clock.now(), policy) == 0);
    CHECK(m.lookup_status("src", "pending") == P);
    CHECK(m.lookup_status("src", "replica") == R);
    CHECK(m.lookup_status("src", "copying") == F); // dst-b still copies
    CHECK(m.record_destination_status_if_newer(ObjectId{"src", "copying"}, "dst-b", 4, C));
    f.clock.advance(3h);
    CHECK(m.sweep_stale(f.clock.now(), policy) == 1);
    CHECK(m.sweep_stale(f.clock.now(), s3repl::SweepPolicy{s3repl::SweepPolicy::never, s3repl::SweepPolicy::never}) ==
          0);
    CHECK_THROWS_AS(m.sweep_stale(f.clock.now(), -1s), s3repl::InvalidArgument);
    const auto s = m.stats();
    CHECK(s.entries_swept == 3);
    CHECK(s.entries_pending == 1);
    CHECK(s.entries_replica == 1);
    CHECK(m.size() == 2);
    s3repl_test::check_entry_counts(s, s3repl_test::recount(m));
}

S3REPL_CONTRACT_TEST("the sweep keeps the latest versions' terminal statuses, whatever their age", "") {
    TestType f;
    auto& m = f.manager;
    for (std::uint64_t g = 1; g <= 4; ++g)
        CHECK(m.record_status_if_newer(ObjectId{"src", "k", "v" + std::to_string(g)}, g, g == 2 ? P : C));
    CHECK(m.record_status_if_newer("src", "k", 9, C)); // unversioned: not a version
    s3repl::SweepPolicy policy{s3repl::SweepPolicy::never, s3repl::SweepPolicy::never};
    policy.latest_versions = 2;
    CHECK(m.sweep_stale(f.clock.now(), policy) == 1); // v1; v2 is PENDING
    CHECK_FALSE(m.lookup_status(ObjectId{"src", "k", "v1"}));
    CHECK(m.lookup_status(ObjectId{"src", "k", "v2"}) == P);
    policy.latest_versions = 0;
    CHECK(m.sweep_stale(f.clock.now(), policy) == 2);
    CHECK(m.size() == 2);
    CHECK(m.lookup_status("src", "k") == C);
}

S3REPL_CONTRACT_TEST("the sweep goes through more entries than one batch holds, re-checking each", "") {
    TestType f;
    auto& m = f.manager;
    // Versions of one key share a shard: several batches in one sorted set.
    // The second half is 1 ns younger (the same millisecond, so the same
    // score): at the cutoff, it must be kept and stepped over.
    constexpr int half = 350;
    std::vector<std::string> ids;
    for (int i = 0; i < 2 * half; ++i) ids.push_back("v" + std::to_string(i));
    const auto version = [&](int i) { return ObjectId{"src", "k", ids[static_cast<std::size_t>(i)]}; };
    for (int i = 0; i < 2 * half; ++i) {
        if (i == half) f.clock.advance(1ns);
        CHECK(m.record_status_if_newer(version(i), static_cast<std::uint64_t>(i + 1), C));
    }
    s3repl::SweepPolicy policy{1h, 1h};
    policy.latest_versions = 2 * half; // the TTL alone decides
    f.clock.advance(1h);
    CHECK(m.sweep_stale(f.clock.now(), policy) == static_cast<std::size_t>(half));
    CHECK(m.size() == static_cast<std::size_t>(half));
    CHECK_FALSE(m.lookup_status(version(0)));
    CHECK(m.lookup_status(version(half)) == C);
    f.clock.advance(1ns);
    CHECK(m.sweep_stale(f.clock.now(), policy) == static_cast<std::size_t>(half));
    CHECK(m.size() == 0);
}

// ==== re-drive ======================================================================

S3REPL_CONTRACT_TEST("the re-drive listings: FAILED destinations, PENDING ones stuck, queued keys", "") {
    TestType f;
    auto& m = f.manager;
    replicate_to(m, {"dst-a", "dst-b"});
    CHECK(m.record_destination_status_if_newer(ObjectId{"src", "k"}, "dst-a", 1, F));
    CHECK(m.record_destination_status_if_newer(ObjectId{"src", "k"}, "dst-b", 1, P));
    f.clock.advance(10min);
    CHECK(m.record_destination_status_if_newer(ObjectId{"src", "fresh"}, "dst-a", 2, P));
    CHECK(m.record_status_if_newer(ObjectId{"src", "old", "v"}, 3, P));
    m.mark_delete_marker(ObjectId{"src", "old", "v"});

    CHECK(destination_names(m.failed_destinations()) == std::vector<std::string>{"k@dst-a"});
    const auto stuck = m.stuck_pending_destinations(f.clock.now(), 5min);
    CHECK(destination_names(stuck) == std::vector<std::string>{"k@dst-b"});
    CHECK(destination_names(m.stuck_pending_destinations(f.clock.now(), 0s)) ==
          std::vector<std::string>{"k@dst-b"}); // "strictly before now": the fresh ones are not
    f.clock.advance(1ns);
    CHECK(destination_names(m.stuck_pending_destinations(f.clock.now(), 0s)) ==
          std::vector<std::string>{"fresh@dst-a", "k@dst-b", "old@"});
    const auto pending = by_name(m.stuck_pending(f.clock.now(), 0s));
    REQUIRE(pending.size() == 2);
    CHECK(pending[0].key == "fresh");
    CHECK(pending[1].key == "old");
    CHECK(pending[1].version_id == "v");
    CHECK(pending[1].delete_marker);
    CHECK(m.failed_entries().size() == 1);

    m.request_redrive("src", "k");
    m.request_redrive("src", "k");
    m.request_redrive("src", "gone");
    const auto candidates = m.take_redrive_candidates();
    REQUIRE(candidates.size() == 1);
    CHECK(candidates[0].key == "k");
    CHECK(candidates[0].entry.status == F);
    CHECK(m.take_redrive_candidates().empty());
}

// ==== the dispatcher and the sweeper, unchanged ======================================

S3REPL_CONTRACT_TEST("begin_replication and replicate_object end to end", "[dispatch]") {
    TestType f;
    auto& m = f.manager;
    replicate_to(m, {"dst-a", "dst-b"});
    s3repl_test::Source source;
    s3repl_test::Destination store;
    const auto jobs =
        s3repl::begin_replication(m, "src", "k", {}, [&](std::uint64_t g) { source.commit("k", "v1", g); });
    REQUIRE(jobs.size() == 2);
    CHECK(m.lookup_status("src", "k") == P);
    for (const auto& job : jobs)
        CHECK(s3repl::replicate_object(m, job, std::string("v1"), s3repl_test::Metadata{}, store).result ==
              s3repl::ReplicationResult::Completed);
    CHECK(m.lookup_status("src", "k") == C);
    CHECK(store.get("k", "dst-a")->body == "v1");
    CHECK(store.get("k", "dst-b")->body == "v1");

    // An older job after a newer PUT ends Superseded without writing.
    const auto newer =
        s3repl::begin_replication(m, "src", "k", {}, [&](std::uint64_t g) { source.commit("k", "v2", g); });
    CHECK(s3repl::replicate_object(m, jobs[0], std::string("v1"), s3repl_test::Metadata{}, store).result ==
          s3repl::ReplicationResult::Superseded);
    for (const auto& job : newer) s3repl::replicate_object(m, job, std::string("v2"), s3repl_test::Metadata{}, store);
    CHECK(store.get("k", "dst-b")->body == "v2");
    CHECK(m.lookup_entry("src", "k")->generation == newer[0].generation);

    // A version deleted at the source is forgotten.
    CHECK(m.record_status_if_newer(ObjectId{"src", "k", "v9"}, m.next_generation(), C));
    s3repl::commit_version_delete(m, ObjectId{"src", "k", "v9"}, [](std::uint64_t) {});
    CHECK_FALSE(m.lookup_status(ObjectId{"src", "k", "v9"}));
}

S3REPL_CONTRACT_TEST("StaleSweeper sweeps the manager on its own thread", "[concurrent]") {
    TestType f;
    auto& m = f.manager;
    CHECK(m.record_status_if_newer("src", "done", 1, C));
    CHECK(m.record_status_if_newer("src", "pending", 2, P));
    f.clock.advance(2h);
    std::atomic<std::size_t> swept{0};
    {
        s3repl::StaleSweeper<decltype(f.manager)> sweeper(m, s3repl::SweepPolicy{1h, 1h}, 1ms,
                                                          [&](std::size_t n, std::chrono::nanoseconds) { swept += n; });
        CHECK(s3repl_test::eventually([&] { return swept.load() == 1; }));
    }
    CHECK_FALSE(m.lookup_status("src", "done"));
    CHECK(m.lookup_status("src", "pending") == P);
}

// ==== concurrency ====================================================================

S3REPL_CONTRACT_TEST("stamps racing on one key from several threads: the newest generation wins", "[concurrent]") {
    TestType f;
    auto& m = f.manager;
    constexpr int threads = 4, per_thread = 50;
    std::vector<std::thread> workers;
    std::atomic<int> accepted{0};
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                const auto g = static_cast<std::uint64_t>(i * threads + t + 1);
                if (m.record_status_if_newer("src", "k", g, i % 2 == 0 ? P : C)) ++accepted;
                if (m.record_status_if_newer("src", "other", m.next_generation(), P)) ++accepted;
            }
        });
    for (auto& w : workers) w.join();
    const auto entry = m.lookup_entry("src", "k");
    REQUIRE(entry);
    CHECK(entry->generation == static_cast<std::uint64_t>(threads * per_thread));
    CHECK(entry->status == ((per_thread - 1) % 2 == 0 ? P : C));
    const auto s = m.stats();
    CHECK(s.stamps_accepted + s.stamps_rejected == static_cast<std::uint64_t>(2 * threads * per_thread));
    CHECK(s.stamps_accepted == static_cast<std::uint64_t>(accepted.load()));
    CHECK(s.generations_minted == static_cast<std::uint64_t>(threads * per_thread));
    CHECK(m.lookup_entry("src", "other")->generation >= static_cast<std::uint64_t>(threads * per_thread));
    s3repl_test::check_entry_counts(s, s3repl_test::recount(m));
}

S3REPL_CONTRACT_TEST("a stamp landing during a sweep is never lost", "[concurrent]") {
    TestType f;
    auto& m = f.manager;
    constexpr int n = 300;
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i) keys.push_back("k" + std::to_string(i));
    for (int i = 0; i < n; ++i) CHECK(m.record_status_if_newer("src", keys[static_cast<std::size_t>(i)], 1, C));
    f.clock.advance(2h); // every COMPLETED is past its TTL now
    std::atomic<bool> writing{true};
    std::thread sweeper([&] {
        while (writing.load()) m.sweep_stale(f.clock.now(), 1h);
    });
    // Each key stamped again, PENDING at a newer generation (recorded now,
    // so within the TTL): the sweep may take the COMPLETED before, never the PENDING after.
    for (const auto& key : keys) CHECK(m.record_status_if_newer("src", key, 2, P));
    writing.store(false);
    sweeper.join();
    for (const auto& key : keys)
        CHECK(m.lookup_entry("src", key) == s3repl::ReplicationStatusEntry{P, 2, f.clock.now()});
    CHECK(m.stats().entries_pending == static_cast<std::size_t>(n));
    s3repl_test::check_entry_counts(m.stats(), s3repl_test::recount(m));
}

// ==== snapshots ========================================================================

S3REPL_CONTRACT_TEST("to_json writes the snapshot format: the in-memory manager reads back the same state",
                     "[snapshot]") {
    TestType f;
    auto& m = f.manager;
    replicate_to(m, {"dst-a", "dst-b"});
    const ObjectId k{"src", "k"}, marker{"src", "k", "v1"}, replica{"src", "replica"};
    CHECK(m.record_destination_status_if_newer(k, "dst-a", 3, C));
    f.clock.advance(1s);
    CHECK(m.record_destination_status_if_newer(k, "dst-b", 3, F));
    CHECK(m.record_status_if_newer(marker, 4, P));
    m.mark_delete_marker(marker);
    m.record_status(replica, R);
    CHECK(m.next_generation() == 5);

    const auto copy = s3repl_test::Manager::from_json(m.to_json(), f.clock);
    CHECK(copy.get_config("src") == m.get_config("src"));
    for (const ObjectId& id : {k, marker, replica, ObjectId{"src", "missing"}})
        CHECK(copy.lookup_entry(id) == m.lookup_entry(id));
    CHECK(by_bucket(copy.lookup_destinations(k)) == by_bucket(m.lookup_destinations(k)));
    CHECK(copy.size() == 3);
    const auto pending = copy.stuck_pending(f.clock.now() + 1ns, 0s);
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].delete_marker);
    CHECK(nlohmann::json::parse(m.to_json())["next_generation"] == 6);
}

S3REPL_CONTRACT_TEST("to_json of an exhausted counter restores exhausted", "[snapshot]") {
    TestType f;
    auto& m = f.manager;
    m.raise_generation_floor(max_u64);
    const auto json = nlohmann::json::parse(m.to_json());
    CHECK(json["next_generation"] == max_u64);
    CHECK(json["generations_exhausted"] == true);
    auto copy = s3repl_test::Manager::from_json(m.to_json(), f.clock);
    CHECK_THROWS_AS(copy.next_generation(), s3repl::GenerationExhausted);
}

// The four entry counts of stats(), and the entries for_each_entry walks (versions too).
template <class M>
void check_entry_counts(const M& m, std::size_t pending, std::size_t completed, std::size_t failed,
                        std::size_t replica) {
    s3repl::ReplicationStats expected;
    expected.entries_pending = pending;
    expected.entries_completed = completed;
    expected.entries_failed = failed;
    expected.entries_replica = replica;
    s3repl::ReplicationStats walked;
    m.for_each_entry([&](std::string_view, std::string_view, std::string_view,
                         const s3repl::ReplicationStatusEntry& e) { s3repl_test::count_entry(walked, e.status); });
    s3repl_test::check_entry_counts(m.stats(), expected);
    s3repl_test::check_entry_counts(walked, expected);
}

// Builds a state to snapshot: a configuration, an entry with two
// destinations, a delete marker's version, a replica; generation 4 issued.
template <class Fixture>
void snapshot_state(Fixture& f) {
    auto& m = f.manager;
    replicate_to(m, {"dst-a", "dst-b"});
    const ObjectId k{"src", "k"}, marker{"src", "k", "v1"};
    CHECK(m.record_destination_status_if_newer(k, "dst-a", 3, C));
    f.clock.advance(1s);
    CHECK(m.record_destination_status_if_newer(k, "dst-b", 3, F));
    CHECK(m.record_status_if_newer(marker, 4, P));
    m.mark_delete_marker(marker);
    m.record_status(ObjectId{"src", "replica"}, R);
}

S3REPL_CONTRACT_TEST("restore_json replaces the whole state with a to_json document", "[snapshot]") {
    TestType f;
    auto& m = f.manager;
    snapshot_state(f);
    const ObjectId k{"src", "k"}, marker{"src", "k", "v1"}, replica{"src", "replica"}, extra{"src", "extra"};
    const auto entries = [&] {
        std::vector<std::optional<s3repl::ReplicationStatusEntry>> all;
        for (const ObjectId& id : {k, marker, replica, extra}) all.push_back(m.lookup_entry(id));
        return all;
    };
    const auto before = entries();
    const auto destinations = by_bucket(m.lookup_destinations(k));
    const auto config = m.get_config("src");
    const std::string json = m.to_json();

    // Everything changes after the snapshot...
    f.clock.advance(1s);
    CHECK(m.record_status_if_newer(extra, 100, P));
    CHECK(m.forget(k));
    m.delete_config("src");
    m.put_config("other", s3repl::ReplicationConfig{"role", {rule_to("dst-o", 1)}});

    // ...and the restore brings back the snapshot's state, but not its counter.
    m.restore_json(json);
    CHECK(entries() == before);
    CHECK(by_bucket(m.lookup_destinations(k)) == destinations);
    CHECK(m.get_config("src") == config);
    CHECK_FALSE(m.get_config("other"));
    CHECK(m.size() == 3);
    check_entry_counts(m, 1, 0, 1, 1);
    CHECK(m.next_generation() == 101); // never back: 100 was stored before the restore
    const auto pending = m.stuck_pending(f.clock.now() + 1ns, 0s);
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].delete_marker);

    // The restored state takes stamps as any other, and restores again.
    CHECK(m.record_status_if_newer(k, 102, C));
    CHECK(m.lookup_entry(k) == s3repl::ReplicationStatusEntry{C, 102, f.clock.now()});
    m.restore_json(json);
    CHECK(entries() == before);
    CHECK(m.sweep_stale(f.clock.now() + 1h, 1s) == 1); // the replica and the PENDING version stay
    CHECK(m.size() == 2);
}

S3REPL_CONTRACT_TEST("the stamp and sweep counters count on across a restore_json", "[snapshot][stats]") {
    TestType f;
    auto& m = f.manager;
    const ObjectId a{"src", "a"}, b{"src", "b"};
    CHECK(m.record_status_if_newer(a, 5, P));
    CHECK(m.record_status_if_newer(b, 6, C));
    CHECK_FALSE(m.record_status_if_newer(a, 4, P)); // stale
    f.clock.advance(2h);
    CHECK(m.sweep_stale(f.clock.now(), 1h) == 1); // b
    const std::string json = m.to_json();
    const s3repl::ReplicationStats before = m.stats();
    CHECK(before.stamps_accepted == 2);
    CHECK(before.stamps_rejected == 1);
    CHECK(before.entries_swept == 1);

    m.restore_json(json);
    CHECK(m.record_status_if_newer(b, 7, P));
    const s3repl::ReplicationStats after = m.stats();
    CHECK(after.stamps_accepted == 3);
    CHECK(after.stamps_rejected == 1);
    CHECK(after.entries_swept == 1);
    CHECK(after.entries_pending == 2); // the entries and their counts are the snapshot's, and b's new stamp
}

S3REPL_CONTRACT_TEST("a bad snapshot document leaves the state as it was", "[snapshot]") {
    TestType f;
    auto& m = f.manager;
    snapshot_state(f);
    const std::string json = m.to_json();
    const ObjectId extra{"src", "extra"};
    CHECK(m.record_status_if_newer(extra, 7, P));
    const std::string state = m.to_json();
    for (const std::string& bad : {std::string("{"), json.substr(0, json.size() - 1),
                                   std::string(R"({"statuses":[[["src","k"],{"status":"Lost","generation":1}]]})")})
        CHECK_THROWS_AS(m.restore_json(bad), s3repl::SnapshotError);
    CHECK(m.to_json() == state);
    CHECK(m.lookup_entry(extra) == s3repl::ReplicationStatusEntry{P, 7, f.clock.now()});
    check_entry_counts(m, 2, 0, 1, 1);
}
