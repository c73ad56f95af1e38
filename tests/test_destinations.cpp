// Several destinations per object, as AWS S3 applies V2 rules: one winning
// rule per destination bucket, a status per destination, and the aggregate
// that x-amz-replication-status reports.
#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using s3repl::ReplicationResult;
using s3repl::ReplicationStatus;
using s3repl_test::Destination;
using s3repl_test::Metadata;
using s3repl_test::Source;

namespace {

constexpr ReplicationStatus P = ReplicationStatus::Pending;
constexpr ReplicationStatus C = ReplicationStatus::Completed;
constexpr ReplicationStatus F = ReplicationStatus::Failed;

s3repl::ReplicationRule rule_to(std::string destination, std::uint32_t priority, std::string prefix = {}) {
    s3repl::ReplicationRule rule = s3repl_test::rule_to(std::move(destination), priority);
    if (!prefix.empty()) rule.filter.prefix = std::move(prefix);
    return rule;
}

s3repl::ReplicationConfig config_of(std::vector<s3repl::ReplicationRule> rules) {
    return s3repl::ReplicationConfig{"arn:aws:iam::1:role/r", std::move(rules)};
}

std::vector<std::string> destinations_of(const std::vector<s3repl::ReplicationRule>& rules) {
    std::vector<std::string> names;
    for (const auto& rule : rules) names.push_back(rule.destination_bucket);
    return names;
}

// A manager whose "src" bucket replicates everything to each of `destinations`.
s3repl_test::Manager fanout_manager(const std::vector<std::string>& destinations) {
    s3repl_test::Manager manager;
    std::vector<s3repl::ReplicationRule> rules;
    std::uint32_t priority = static_cast<std::uint32_t>(destinations.size());
    for (const auto& destination : destinations) rules.push_back(rule_to(destination, priority--));
    manager.put_config("src", config_of(std::move(rules)));
    return manager;
}

// AWS's rule for x-amz-replication-status, written out independently of the library's.
ReplicationStatus expected_aggregate(const std::vector<ReplicationStatus>& statuses) {
    for (const auto s : statuses)
        if (s == F) return F;
    for (const auto s : statuses)
        if (s == P) return P;
    return C;
}

std::set<std::string> names(const std::vector<s3repl::DestinationStatus>& statuses) {
    std::set<std::string> out;
    for (const auto& d : statuses) out.insert(d.destination_bucket);
    return out;
}

std::optional<s3repl::DestinationStatus> destination(const s3repl_test::Manager& m, const std::string& name) {
    for (auto& d : m.lookup_destinations("src", "k"))
        if (d.destination_bucket == name) return d;
    return std::nullopt;
}

} // namespace

// ==== selection =============================================================

TEST_CASE("match_rules: one rule per destination, every destination the object's rules select", "[destinations]") {
    s3repl::ReplicationManager m;
    m.put_config("src", config_of({rule_to("dst-a", 1, "docs/"), rule_to("dst-b", 2), rule_to("dst-c", 3, "logs/")}));
    CHECK(destinations_of(m.match_rules("src", "docs/x", {})) == std::vector<std::string>{"dst-b", "dst-a"});
    CHECK(destinations_of(m.match_rules("src", "logs/x", {})) == std::vector<std::string>{"dst-c", "dst-b"});
    CHECK(destinations_of(m.match_rules("src", "other", {})) == std::vector<std::string>{"dst-b"});
    CHECK(m.match_rules("nobody", "docs/x", {}).empty());
    // match_rule is the first of them.
    CHECK(m.match_rule("src", "docs/x", {})->destination_bucket == "dst-b");
}

TEST_CASE("match_rules: the highest priority wins per destination, the first declared on a tie", "[destinations]") {
    auto low = rule_to("dst-a", 1);
    auto high = rule_to("dst-a", 5, "docs/");
    auto tie_first = rule_to("dst-b", 3);
    tie_first.id = "first";
    auto tie_second = rule_to("dst-b", 3);
    tie_second.id = "second";
    s3repl::ReplicationManager m;
    m.put_config("src", config_of({low, high, tie_first, tie_second}));

    const auto docs = m.match_rules("src", "docs/x", {});
    REQUIRE(docs.size() == 2);
    CHECK(docs[0].id == high.id); // priority 5 for dst-a beats priority 1 for it
    CHECK(docs[1].id == "first");
    const auto other = m.match_rules("src", "other", {}); // the priority-5 rule does not select it
    REQUIRE(other.size() == 2);
    CHECK(other[0].id == "first"); // descending priority: 3 before 1
    CHECK(other[1].id == low.id);
}

TEST_CASE("match_rules: equal priorities keep declaration order; disabled rules never select", "[destinations]") {
    auto disabled = rule_to("dst-z", 9);
    disabled.status_enabled = false;
    auto tagged = rule_to("dst-t", 4);
    tagged.filter.tags = {{"team", "red"}};
    s3repl::ReplicationManager m;
    m.put_config("src", config_of({rule_to("dst-b", 2), disabled, rule_to("dst-a", 2), tagged}));
    CHECK(destinations_of(m.match_rules("src", "k", {})) == std::vector<std::string>{"dst-b", "dst-a"});
    CHECK(destinations_of(m.match_rules("src", "k", {{"team", "red"}})) ==
          std::vector<std::string>{"dst-t", "dst-b", "dst-a"});
}

TEST_CASE("sole_destination: one destination only when every enabled rule names it", "[destinations]") {
    auto disabled = rule_to("dst-b", 1);
    disabled.status_enabled = false;
    CHECK(s3repl::sole_destination(config_of({rule_to("dst-a", 1), rule_to("dst-a", 2, "x/")})) == "dst-a");
    CHECK(s3repl::sole_destination(config_of({rule_to("dst-a", 1), disabled})) == "dst-a");
    CHECK_FALSE(s3repl::sole_destination(config_of({rule_to("dst-a", 1), rule_to("dst-b", 2)})));
    CHECK_FALSE(s3repl::sole_destination(config_of({disabled})));
}

// ==== the aggregate =========================================================

TEST_CASE("the aggregate over every combination of two and three destination states", "[destinations]") {
    const std::array<ReplicationStatus, 3> states{P, C, F};
    for (std::size_t count : {2u, 3u}) {
        std::vector<std::string> dsts;
        for (std::size_t i = 0; i < count; ++i) dsts.push_back("dst-" + std::to_string(i));
        std::size_t combinations = 1;
        for (std::size_t i = 0; i < count; ++i) combinations *= states.size();
        for (std::size_t n = 0; n < combinations; ++n) {
            auto m = fanout_manager(dsts);
            std::vector<ReplicationStatus> chosen;
            for (std::size_t i = 0, rest = n; i < count; ++i, rest /= states.size()) {
                chosen.push_back(states[rest % states.size()]);
                REQUIRE(m.record_destination_status_if_newer("src", "k", dsts[i], 7, P));
            }
            for (std::size_t i = 0; i < count; ++i)
                REQUIRE(m.record_destination_status_if_newer("src", "k", dsts[i], 7, chosen[i]));
            INFO("destinations " << count << ", combination " << n);
            const auto entry = m.lookup_entry("src", "k");
            REQUIRE(entry);
            CHECK(entry->status == expected_aggregate(chosen));
            CHECK(entry->generation == 7);
            const auto each = m.lookup_destinations("src", "k");
            REQUIRE(each.size() == count);
            for (std::size_t i = 0; i < count; ++i) {
                CHECK(each[i].destination_bucket == dsts[i]);
                CHECK(each[i].status == chosen[i]);
                CHECK(each[i].generation == 7);
            }
            s3repl::ReplicationStats expected;
            s3repl_test::count_entry(expected, expected_aggregate(chosen));
            s3repl_test::check_entry_counts(m.stats(), expected);
        }
    }
}

TEST_CASE("a PUT's PENDING stamps make the aggregate PENDING at once", "[destinations]") {
    auto m = fanout_manager({"dst-a", "dst-b"});
    const auto jobs = s3repl::begin_replication(m, "src", "k", {}, [](std::uint64_t) {});
    REQUIRE(jobs.size() == 2);
    CHECK(jobs[0].rule.destination_bucket == "dst-a");
    CHECK(jobs[1].rule.destination_bucket == "dst-b");
    CHECK(jobs[0].generation == jobs[1].generation);
    CHECK(m.lookup_status("src", "k") == P);
    CHECK(names(m.lookup_destinations("src", "k")) == std::set<std::string>{"dst-a", "dst-b"});
}

// ==== the CAS per destination ===============================================

TEST_CASE("per-destination CAS: stale generations refused, COMPLETED final within a generation", "[destinations]") {
    auto m = fanout_manager({"dst-a", "dst-b"});
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-a", 5, P));
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-b", 5, P));
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-a", 5, C));

    CHECK_FALSE(m.record_destination_status_if_newer("src", "k", "dst-a", 5, F)); // COMPLETED is final
    CHECK_FALSE(m.record_destination_status_if_newer("src", "k", "dst-a", 5, P));
    CHECK(m.record_destination_status_if_newer("src", "k", "dst-a", 5, C));       // a duplicate success
    CHECK_FALSE(m.record_destination_status_if_newer("src", "k", "dst-b", 4, C)); // stale
    CHECK(destination(m, "dst-b")->status == P);

    // FAILED is not final: a re-drive that succeeds completes it.
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-b", 5, F));
    CHECK(m.lookup_status("src", "k") == F);
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-b", 5, C));
    CHECK(m.lookup_status("src", "k") == C);

    const auto stats = m.stats();
    CHECK(stats.stamps_accepted == 6);
    CHECK(stats.stamps_rejected == 3);
}

TEST_CASE("a newer generation replaces the destinations; a stale job cannot bring an old one back", "[destinations]") {
    auto m = fanout_manager({"dst-a", "dst-b"});
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-a", 5, C));
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-b", 5, P));
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-a", 6, P)); // the next PUT
    CHECK(names(m.lookup_destinations("src", "k")) == std::set<std::string>{"dst-a"});
    CHECK(m.lookup_entry("src", "k")->generation == 6);
    CHECK_FALSE(m.record_destination_status_if_newer("src", "k", "dst-b", 5, C)); // generation 5's copy
    CHECK(names(m.lookup_destinations("src", "k")) == std::set<std::string>{"dst-a"});
    CHECK(m.record_destination_status_if_newer("src", "k", "dst-b", 6, P)); // generation 6 adds it
    CHECK(names(m.lookup_destinations("src", "k")) == std::set<std::string>{"dst-a", "dst-b"});
}

TEST_CASE("record_status_if_newer on an object with destinations stamps each through its CAS", "[destinations]") {
    auto m = fanout_manager({"dst-a", "dst-b"});
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-a", 5, C));
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-b", 5, P));
    CHECK(m.record_status_if_newer("src", "k", 5, F)); // dst-b fails; dst-a stays COMPLETED
    CHECK(destination(m, "dst-a")->status == C);
    CHECK(destination(m, "dst-b")->status == F);
    CHECK(m.lookup_status("src", "k") == F);
    CHECK(m.record_status_if_newer("src", "k", 5, C));
    CHECK_FALSE(m.record_status_if_newer("src", "k", 5, F)); // every destination is COMPLETED now
    CHECK(m.record_status_if_newer("src", "k", 6, P));       // a newer generation: one status again
    const auto each = m.lookup_destinations("src", "k");
    REQUIRE(each.size() == 1);
    CHECK(each[0].destination_bucket.empty()); // whichever destinations the rules select
    CHECK(each[0].status == P);
}

TEST_CASE("a bucket whose rules name one destination keeps the single-status form", "[destinations]") {
    auto m = fanout_manager({"dst"});
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst", 3, P));
    const auto each = m.lookup_destinations("src", "k");
    REQUIRE(each.size() == 1);
    CHECK(each[0] == s3repl::DestinationStatus{"dst", P, 3, each[0].recorded_at});
    // Its stamps are record_status_if_newer's: the same entry either way.
    CHECK(m.record_status_if_newer("src", "k", 3, C));
    CHECK(m.lookup_destinations("src", "k")[0].status == C);
    CHECK_FALSE(m.record_destination_status_if_newer("src", "k", "dst", 3, F));
}

TEST_CASE("single-destination state snapshots byte for byte as through record_status_if_newer", "[destinations]") {
    s3repl_test::Manager by_destination, by_entry;
    for (auto* m : {&by_destination, &by_entry}) m->put_config("src", config_of({rule_to("dst", 1)}));
    for (std::uint64_t g = 1; g <= 50; ++g) {
        const std::string key = "key-" + std::to_string(g % 20);
        const ReplicationStatus status = g % 3 == 0 ? C : g % 3 == 1 ? P : F;
        CHECK(by_destination.record_destination_status_if_newer("src", key, "dst", g, status) ==
              by_entry.record_status_if_newer("src", key, g, status));
    }
    // Entries come out in each manager's own hash order: compare the text around them, then each entry's.
    const std::string a = by_destination.to_json(), b = by_entry.to_json();
    const auto around = [](const std::string& json) {
        return json.substr(0, json.find("\"statuses\":[")) + json.substr(json.rfind("],\"next_generation\""));
    };
    CHECK(around(a) == around(b));
    CHECK(a.size() == b.size());
    for (int k = 0; k < 20; ++k) {
        const std::string open = "[[\"src\",\"key-" + std::to_string(k) + "\"],";
        const auto entry = [&](const std::string& json) {
            const std::size_t at = json.find(open);
            return at == std::string::npos ? std::string() : json.substr(at, json.find("}]", at) + 2 - at);
        };
        CHECK(!entry(a).empty());
        CHECK(entry(a) == entry(b));
    }
    CHECK(a.find("destinations") == std::string::npos);
    CHECK(by_destination.stats() == by_entry.stats());
}

TEST_CASE("an entry in the single-status form hands its status to the first destination stamped", "[destinations]") {
    s3repl_test::Manager m;
    m.put_config("src", config_of({rule_to("dst-a", 1)}));
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-a", 4, C));
    m.put_config("src", config_of({rule_to("dst-a", 1), rule_to("dst-b", 2)})); // a second destination
    CHECK(m.lookup_destinations("src", "k")[0].destination_bucket.empty());
    CHECK_FALSE(m.record_destination_status_if_newer("src", "k", "dst-b", 4, F)); // its COMPLETED stays final
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-b", 4, C));
    CHECK(names(m.lookup_destinations("src", "k")) == std::set<std::string>{"dst-b"});
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-a", 4, C));
    CHECK(names(m.lookup_destinations("src", "k")) == std::set<std::string>{"dst-a", "dst-b"});
    // Back to one destination: the next PUT's stamp returns the entry to the single form.
    m.put_config("src", config_of({rule_to("dst-a", 1)}));
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-a", 5, P));
    CHECK(m.lookup_destinations("src", "k") ==
          std::vector<s3repl::DestinationStatus>{{"dst-a", P, 5, m.lookup_entry("src", "k")->recorded_at}});
}

TEST_CASE("destination stamps refuse bad input and change nothing", "[destinations]") {
    auto m = fanout_manager({"dst-a", "dst-b"});
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-a", 5, P));
    const std::string before = m.to_json();
    CHECK_THROWS_AS(m.record_destination_status_if_newer("src", "k", "", 5, C), s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.record_destination_status_if_newer("src", "k", "dst\xff", 5, C), s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.record_destination_status_if_newer("src", "k", "dst-a", 5, ReplicationStatus::Replica),
                    s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.record_destination_status_if_newer("src", "k", "dst-a", 5, static_cast<ReplicationStatus>(9)),
                    s3repl::InvalidArgument);
    CHECK_THROWS_AS(m.record_destination_status_if_newer("src", "bad\xc0", "dst-a", 5, C), s3repl::InvalidArgument);
    CHECK(m.to_json() == before);
}

// ==== sweep, re-drive, counts ===============================================

TEST_CASE("sweep: never while a destination is PENDING; FAILED keeps its longer TTL", "[destinations]") {
    auto m = fanout_manager({"dst-a", "dst-b"});
    const auto stamp = [&](const std::string& key, ReplicationStatus a, ReplicationStatus b) {
        REQUIRE(m.record_destination_status_if_newer("src", key, "dst-a", 1, a));
        REQUIRE(m.record_destination_status_if_newer("src", key, "dst-b", 1, b));
    };
    stamp("done", C, C);
    stamp("failed-one", F, C);
    stamp("failed-copying", F, P);
    stamp("copying", C, P);
    m.clock().advance(2h);
    const s3repl::SweepPolicy policy{1h, 3h};
    CHECK(m.sweep_stale(m.clock().now(), policy) == 1); // "done"
    m.clock().advance(2h);
    CHECK(m.sweep_stale(m.clock().now(), policy) == 1); // "failed-one"; "failed-copying" still copies
    CHECK(m.lookup_status("src", "failed-copying") == F);
    CHECK(m.lookup_status("src", "copying") == P);
    REQUIRE(m.record_destination_status_if_newer("src", "failed-copying", "dst-b", 1, C));
    m.clock().advance(4h);
    CHECK(m.sweep_stale(m.clock().now(), policy) == 1);
    CHECK(m.size() == 1);
    CHECK(m.destination_stats() == std::vector<s3repl::DestinationCounts>{{"dst-a", 0, 1, 0}, {"dst-b", 1, 0, 0}});
}

TEST_CASE("re-drive lists name the destinations to copy again, never one that completed", "[destinations]") {
    auto m = fanout_manager({"dst-a", "dst-b", "dst-c"});
    for (const auto& d : {"dst-a", "dst-b", "dst-c"})
        REQUIRE(m.record_destination_status_if_newer("src", "k", d, 3, P));
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-a", 3, C));
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-b", 3, F));
    m.clock().advance(10min);

    const auto failed = m.failed_destinations();
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].bucket == "src");
    CHECK(failed[0].key == "k");
    CHECK(failed[0].destination.destination_bucket == "dst-b");
    CHECK(failed[0].destination.generation == 3);
    const auto stuck = m.stuck_pending_destinations(m.clock().now(), 5min);
    REQUIRE(stuck.size() == 1);
    CHECK(stuck[0].destination.destination_bucket == "dst-c");
    CHECK(m.stuck_pending_destinations(m.clock().now(), 15min).empty());

    const auto jobs = s3repl::redrive_jobs(m, failed[0], {});
    REQUIRE(jobs.size() == 1);
    CHECK(jobs[0].rule.destination_bucket == "dst-b");
    CHECK(jobs[0].generation == 3);
}

TEST_CASE("a single-status entry's re-drive names its sole destination, or every selected one", "[destinations]") {
    s3repl_test::Manager m;
    m.put_config("src", config_of({rule_to("dst-a", 1)}));
    REQUIRE(m.record_status_if_newer("src", "k", 2, F));
    CHECK(m.failed_destinations()[0].destination.destination_bucket == "dst-a");
    m.put_config("src", config_of({rule_to("dst-a", 1), rule_to("dst-b", 2)}));
    const auto failed = m.failed_destinations();
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].destination.destination_bucket.empty());
    std::vector<std::string> redriven;
    for (const auto& job : s3repl::redrive_jobs(m, failed[0], {})) redriven.push_back(job.rule.destination_bucket);
    CHECK(redriven == std::vector<std::string>{"dst-b", "dst-a"});
}

TEST_CASE("destination_stats counts each destination exactly, and follows every change", "[destinations]") {
    auto manager = fanout_manager({"dst-a", "dst-b"});
    manager.put_config("solo", config_of({rule_to("dst-s", 1)}));
    REQUIRE(manager.record_destination_status_if_newer("src", "1", "dst-a", 1, C));
    REQUIRE(manager.record_destination_status_if_newer("src", "1", "dst-b", 1, F));
    REQUIRE(manager.record_destination_status_if_newer("src", "2", "dst-a", 2, P));
    REQUIRE(manager.record_destination_status_if_newer("solo", "3", "dst-s", 3, P));
    REQUIRE(manager.record_status_if_newer("solo", "4", 4, C));
    REQUIRE(manager.record_status_if_newer("nowhere", "5", 5, F));   // no configuration
    manager.record_status("dst-a", "1", ReplicationStatus::Replica); // a replica is no destination's
    CHECK(manager.destination_stats() ==
          std::vector<s3repl::DestinationCounts>{
              {"", 0, 0, 1}, {"dst-a", 1, 1, 0}, {"dst-b", 0, 0, 1}, {"dst-s", 1, 1, 0}});
    REQUIRE(manager.record_destination_status_if_newer("src", "1", "dst-a", 9, P)); // replaces both
    manager.clock().advance(1h);
    CHECK(manager.sweep_stale(manager.clock().now(), 1min) == 2); // "4" and "5"
    CHECK(manager.destination_stats() ==
          std::vector<s3repl::DestinationCounts>{{"dst-a", 2, 0, 0}, {"dst-s", 1, 0, 0}});
}

// ==== snapshot ==============================================================

TEST_CASE("several destinations survive a snapshot round trip, byte for byte", "[destinations][snapshot]") {
    auto m = fanout_manager({"dst-a", "dst-b", "dst-c"});
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-a", 3, C));
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-b", 3, F));
    REQUIRE(m.record_destination_status_if_newer("src", "k", "dst-c", 3, P));
    const std::string json = m.to_json(); // one entry: two managers' hash orders cannot differ
    CHECK(json.find(R"({"status":"Failed","generation":3,)") != std::string::npos);
    CHECK(json.find(R"("destinations":[{"bucket":"dst-a","status":"Completed","recorded_at":")") != std::string::npos);
    const auto restored = s3repl_test::Manager::from_json(json);
    CHECK(restored.to_json() == json);
    CHECK(restored.lookup_destinations("src", "k") == m.lookup_destinations("src", "k"));
    CHECK(restored.destination_stats() == m.destination_stats());
}

// ==== the dispatcher ========================================================

TEST_CASE("replicate_object writes each job's destination and stamps only it", "[destinations][dispatch]") {
    auto m = fanout_manager({"dst-a", "dst-b"});
    Destination store;
    Source source;
    const auto jobs =
        s3repl::begin_replication(m, "src", "k", {}, [&](std::uint64_t g) { source.commit("k", "v1", g); });
    REQUIRE(jobs.size() == 2);
    s3repl::ReplicationOptions fail_fast;
    fail_fast.retry.attempts = 1;

    CHECK(s3repl::replicate_object(m, jobs[0], std::string("v1"), Metadata{}, store).result ==
          ReplicationResult::Completed);
    CHECK(store.get("k", "dst-a")->body == "v1");
    CHECK_FALSE(store.get("k", "dst-b"));
    CHECK(m.lookup_status("src", "k") == P); // dst-b still copies

    store.before_put = []() -> std::optional<s3repl::WriteResult> { return s3repl::WriteResult::Failed; };
    CHECK(s3repl::replicate_object(m, jobs[1], std::string("v1"), Metadata{}, store, fail_fast).result ==
          ReplicationResult::Failed);
    CHECK(m.lookup_status("src", "k") == F);
    CHECK(destination(m, "dst-a")->status == C);

    store.before_put = nullptr; // the destination is back: re-drive only what failed
    const auto failed = m.failed_destinations();
    REQUIRE(failed.size() == 1);
    const int puts_before = store.puts;
    for (const auto& job : s3repl::redrive_jobs(m, failed[0], {}))
        CHECK(s3repl::replicate_object(m, job, std::string("v1"), Metadata{}, store).result ==
              ReplicationResult::Completed);
    CHECK(store.puts == puts_before + 1);
    CHECK(store.get("k", "dst-b")->body == "v1");
    CHECK(m.lookup_status("src", "k") == C);
}

TEST_CASE("stress: overwrites of shared keys, copies to three destinations, no destination rolls back",
          "[destinations][concurrent]") {
    const std::vector<std::string> dsts{"dst-a", "dst-b", "dst-c"};
    auto m = fanout_manager(dsts);
    Source source;
    Destination store;
    std::atomic<int> flaky{0};
    store.before_put = [&]() -> std::optional<s3repl::WriteResult> {
        if (flaky.fetch_add(1) % 7 == 0) return s3repl::WriteResult::Failed; // now and then a failed write
        return std::nullopt;
    };
    s3repl::ReplicationOptions options;
    options.sleeper = [](std::chrono::nanoseconds) {};
    options.retry.attempts = 20;

    constexpr int threads = 4, puts_per_thread = 150, keys = 6;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            std::mt19937 random(static_cast<unsigned>(t));
            for (int i = 0; i < puts_per_thread; ++i) {
                const std::string key = "k" + std::to_string(random() % keys);
                const std::string body = "t" + std::to_string(t) + "-" + std::to_string(i);
                auto jobs =
                    s3repl::begin_replication(m, "src", key, {}, [&](std::uint64_t g) { source.commit(key, body, g); });
                // Copy in a random order, each with the bytes of its own generation.
                std::shuffle(jobs.begin(), jobs.end(), random);
                for (const auto& job : jobs) s3repl::replicate_object(m, job, body, Metadata{}, store, options);
            }
        });
    }
    for (auto& w : workers) w.join();

    CHECK(store.rollbacks == 0);
    for (const std::string& key : source.keys()) {
        const Source::Version latest = source.latest(key);
        INFO(key);
        const auto entry = m.lookup_entry("src", key);
        REQUIRE(entry);
        CHECK(entry->generation == latest.generation);
        CHECK(entry->status == C); // 20 attempts: every destination of the last PUT completed
        for (const auto& d : dsts) {
            const auto replica = store.get(key, d);
            REQUIRE(replica);
            CHECK(replica->body == latest.body);
            CHECK(s3repl::replica_generation_of(replica->metadata) == latest.generation);
        }
        CHECK(names(m.lookup_destinations("src", key)) == std::set<std::string>(dsts.begin(), dsts.end()));
    }
}
