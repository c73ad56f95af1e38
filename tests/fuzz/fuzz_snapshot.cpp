// libFuzzer target for snapshot restore (build and run: README.md here).
//
// Each input is given to restore_json on a manager holding some state. The
// only exception allowed out is s3repl::SnapshotError, after which the state
// must be exactly as before; any other exception escapes and is reported as
// a crash. An accepted input must round-trip: to_json of the restored
// manager, restored again, holds the same content (each destination's
// status, each version and each delete-marker flag included) and the same
// counter. Each entry's status is its destinations' aggregate, and the
// per-destination counts are exact. Every entry, versions included, is
// found by its ObjectId, and the re-drive lists carry the delete-marker
// flags the document holds.

#include <s3repl/s3repl.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace {

using Manager = s3repl::BasicReplicationManager<s3repl::ManualClock>;

// One fixed clock: entries a restore stamps "now" then compare equal across managers.
const s3repl::ManualClock clock_at_restore{s3repl::Timestamp{std::chrono::seconds{1936062489}}};

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_snapshot: %s\n", what);
    std::abort();
}

s3repl::ReplicationRule rule_to(std::string destination, std::uint32_t priority) {
    s3repl::ReplicationRule rule;
    rule.id = "to-" + destination;
    rule.priority = priority;
    rule.destination_bucket = std::move(destination);
    rule.delete_marker_replication = false;
    return rule;
}

// The manager every input is restored over: configurations, entries of
// each status, entries with several destinations, versions and delete
// markers, minted generations and non-zero op counters.
Manager prepared_manager() {
    Manager m{clock_at_restore};
    m.restore_json(R"({"by_bucket":{"old":{"role":"r","rules":[{"id":"a","priority":4294967295,"status_enabled":true,)"
                   R"("filter":{"prefix":null,"tags":[["k","v"]]},"destination_bucket":"d",)"
                   R"("destination_storage_class":"GLACIER"}]}},"statuses":[)"
                   R"([["old","p"],{"status":"Pending","generation":7,"recorded_at":"1969-12-31T23:59:59.5Z"}],)"
                   R"([["old","c"],"Completed"],[["old","f"],{"status":"Failed","generation":9}],)"
                   R"([["old","m"],{"status":"Failed","generation":8,"recorded_at":"2026-12-02T00:29:51Z",)"
                   R"("destinations":[{"bucket":"d","status":"Completed","recorded_at":"2026-12-02T00:29:51Z"},)"
                   R"({"bucket":"e","status":"Failed","recorded_at":"2026-12-02T00:29:50Z"}]}]],)"
                   R"("versions":[[["old","p","v1"],{"status":"Completed","generation":10,)"
                   R"("recorded_at":"2026-12-02T01:13:20Z"}],[["old","p","v2"],{"status":"Failed","generation":11,)"
                   R"("recorded_at":"2026-12-02T01:13:21Z","delete_marker":true}]],"next_generation":40})");
    m.next_generation();
    m.record_status_if_newer("old", "r", 41, s3repl::ReplicationStatus::Replica);
    m.record_status_if_newer("old", "p", 1, s3repl::ReplicationStatus::Completed); // rejected: stale
    m.put_config("multi", {"r", {rule_to("d1", 1), rule_to("d2", 2), rule_to("d3", 3)}});
    m.record_destination_status_if_newer("multi", "k", "d1", 42, s3repl::ReplicationStatus::Completed);
    m.record_destination_status_if_newer("multi", "k", "d2", 42, s3repl::ReplicationStatus::Pending);
    m.record_destination_status_if_newer(s3repl::ObjectId{"multi", "k", "m1"}, "d3", 43,
                                         s3repl::ReplicationStatus::Pending);
    m.mark_delete_marker(s3repl::ObjectId{"multi", "k", "m1"});
    m.note_dropped();
    return m;
}

struct Entry {
    std::string bucket, key, version_id; // version_id empty: the unversioned object
    s3repl::ReplicationStatusEntry entry;
    std::vector<s3repl::DestinationStatus> destinations; // lookup_destinations, in its order
    s3repl::ObjectId id() const { return {bucket, key, version_id}; }
    bool operator<(const Entry& other) const {
        return std::tie(bucket, key, version_id) < std::tie(other.bucket, other.key, other.version_id);
    }
    bool operator==(const Entry& other) const {
        return bucket == other.bucket && key == other.key && version_id == other.version_id && entry == other.entry &&
               destinations == other.destinations;
    }
};

// Every entry, versions included, sorted: their order in to_json depends on
// each manager's hash seed. Each must be found by its ObjectId.
std::vector<Entry> sorted_entries(const Manager& m) {
    std::vector<Entry> entries;
    m.for_each_entry([&](std::string_view bucket, std::string_view key, std::string_view version_id,
                         const s3repl::ReplicationStatusEntry& e) {
        entries.push_back({std::string(bucket), std::string(key), std::string(version_id), e, {}});
    });
    // After the walk: for_each_entry's visitor must not call back into the manager.
    for (Entry& e : entries) {
        if (m.lookup_entry(e.id()) != e.entry) fail("lookup_entry(ObjectId) differs from for_each_entry");
        e.destinations = m.lookup_destinations(e.id());
    }
    std::sort(entries.begin(), entries.end());
    if (m.size() != entries.size()) fail("size() differs from the entries for_each_entry visits");
    return entries;
}

// The document with its entry arrays sorted (their order depends on the
// hash seed); nlohmann's reading, not s3repl's.
nlohmann::json sorted_document(const std::string& json) {
    nlohmann::json doc = nlohmann::json::parse(json);
    for (const char* member : {"statuses", "versions"})
        if (doc.contains(member)) std::sort(doc[member].begin(), doc[member].end());
    return doc;
}

using Name = std::tuple<std::string, std::string, std::string>; // bucket, key, version ID

// The document holds "versions" exactly when a version is tracked, each
// key there of 3 strings with a version ID; the delete markers it lists
// are the re-drive lists' (failed_entries and stuck_pending carry the flag).
void check_versions_and_markers(const Manager& m, const nlohmann::json& doc, const std::vector<Entry>& entries) {
    const bool any_version =
        std::any_of(entries.begin(), entries.end(), [](const Entry& e) { return !e.version_id.empty(); });
    if (doc.contains("versions") != any_version) fail("\"versions\" is written without a version, or not with one");
    std::set<Name> markers;
    if (any_version) {
        for (const nlohmann::json& pair : doc.at("versions")) {
            const nlohmann::json& key = pair.at(0);
            if (key.size() != 3 || key.at(2).get<std::string>().empty()) fail("a \"versions\" key is not a version's");
            if (pair.at(1).value("delete_marker", false))
                markers.insert(
                    {key.at(0).get<std::string>(), key.at(1).get<std::string>(), key.at(2).get<std::string>()});
        }
    }
    for (const nlohmann::json& pair : doc.at("statuses"))
        if (pair.at(1).is_object() && pair.at(1).contains("delete_marker")) fail("an unversioned entry is a marker");
    std::vector<s3repl::EntryRef> refs = m.failed_entries();
    const std::vector<s3repl::EntryRef> pending =
        m.stuck_pending(s3repl::Timestamp::max(), std::chrono::nanoseconds{0});
    refs.insert(refs.end(), pending.begin(), pending.end());
    for (const s3repl::EntryRef& ref : refs) {
        if (ref.delete_marker != (markers.count({ref.bucket, ref.key, ref.version_id}) == 1))
            fail("an EntryRef's delete_marker differs from the document's");
        if (m.lookup_entry({ref.bucket, ref.key, ref.version_id}) != ref.entry) fail("an EntryRef is not its entry");
    }
}

// AWS's rule, written out here rather than taken from s3repl::AggregateStatus,
// so a fault there shows: FAILED if any failed, else PENDING if any is, else
// COMPLETED. An entry in the single-status form reports its own status.
void check_aggregates(const std::vector<Entry>& entries) {
    for (const Entry& e : entries) {
        if (e.destinations.empty()) fail("lookup_destinations found nothing for a tracked entry");
        bool failed = false, pending = false;
        for (const s3repl::DestinationStatus& d : e.destinations) {
            if (d.generation != e.entry.generation) fail("a destination is not at its entry's generation");
            failed = failed || d.status == s3repl::ReplicationStatus::Failed;
            pending = pending || d.status == s3repl::ReplicationStatus::Pending;
        }
        const s3repl::ReplicationStatus aggregate = e.destinations.size() == 1 ? e.destinations[0].status
                                                    : failed                   ? s3repl::ReplicationStatus::Failed
                                                    : pending                  ? s3repl::ReplicationStatus::Pending
                                                                               : s3repl::ReplicationStatus::Completed;
        if (aggregate != e.entry.status) fail("an entry's status is not its destinations' aggregate");
    }
}

// destination_stats() against a count of every destination the entries
// report (REPLICA is no destination's).
void check_destination_counts_exact(const Manager& m, const std::vector<Entry>& entries) {
    std::map<std::string, s3repl::DestinationCounts> counted;
    for (const Entry& e : entries) {
        for (const s3repl::DestinationStatus& d : e.destinations) {
            s3repl::DestinationCounts& c = counted[d.destination_bucket];
            c.destination_bucket = d.destination_bucket;
            switch (d.status) {
            case s3repl::ReplicationStatus::Pending: ++c.pending; break;
            case s3repl::ReplicationStatus::Completed: ++c.completed; break;
            case s3repl::ReplicationStatus::Failed: ++c.failed; break;
            case s3repl::ReplicationStatus::Replica: break;
            }
        }
    }
    std::vector<s3repl::DestinationCounts> expected;
    for (const auto& item : counted)
        if (item.second.pending + item.second.completed + item.second.failed != 0) expected.push_back(item.second);
    if (m.destination_stats() != expected) fail("destination_stats() differs from the entries' destinations");
}

// to_json's configurations (written in bucket order, so comparable as text)
// and its counter. Strings escape '"', so these markers cannot occur inside one.
std::string configs_part(const std::string& json) { return json.substr(0, json.find(",\"statuses\":[")); }
std::string counter_part(const std::string& json) { return json.substr(json.rfind("],\"next_generation\":")); }

void check_counts_exact(const Manager& m, const std::vector<Entry>& entries) {
    std::size_t by_status[s3repl::replication_status_count] = {};
    for (const Entry& e : entries) ++by_status[static_cast<std::size_t>(e.entry.status)];
    const s3repl::ReplicationStats stats = m.stats();
    if (stats.entries_pending != by_status[0] || stats.entries_completed != by_status[1] ||
        stats.entries_failed != by_status[2] || stats.entries_replica != by_status[3])
        fail("stats() entry counts differ from the entries after a restore");
}

std::optional<std::uint64_t> mint(Manager& m) {
    try {
        return m.next_generation();
    } catch (const s3repl::GenerationExhausted&) {
        return std::nullopt;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    Manager m = prepared_manager();
    const std::string before = m.to_json();
    const s3repl::ReplicationStats stats_before = m.stats();
    const std::vector<s3repl::DestinationCounts> destinations_before = m.destination_stats();
    try {
        m.restore_json(input);
    } catch (const s3repl::SnapshotError&) {
        if (m.to_json() != before) fail("a rejected input changed the manager's content");
        if (m.stats() != stats_before) fail("a rejected input changed the manager's stats");
        if (m.destination_stats() != destinations_before) fail("a rejected input changed destination_stats()");
        return 0;
    }
    if (m.stats().generations_minted != stats_before.generations_minted) fail("restore reset generations_minted");

    // Accepted: what s3repl writes must read back to the same state.
    const std::string written = m.to_json();
    const std::vector<Entry> entries = sorted_entries(m);
    const nlohmann::json document = sorted_document(written);
    check_versions_and_markers(m, document, entries);
    check_counts_exact(m, entries);
    check_aggregates(entries);
    check_destination_counts_exact(m, entries);
    Manager again = Manager::from_json(written, clock_at_restore); // any exception here is a finding
    const std::string rewritten = again.to_json();
    if (sorted_entries(again) != entries) fail("to_json -> from_json changed the entries");
    if (configs_part(rewritten) != configs_part(written)) fail("to_json -> from_json changed the configurations");
    if (counter_part(rewritten) != counter_part(written)) fail("to_json -> from_json changed the written counter");
    if (rewritten.size() != written.size()) fail("to_json -> from_json changed the document's size");
    if (sorted_document(rewritten) != document) fail("to_json -> from_json changed an entry (or a delete marker)");
    check_versions_and_markers(again, document, entries);
    check_counts_exact(again, entries);
    check_destination_counts_exact(again, entries);
    if (mint(again) != mint(m)) fail("to_json -> from_json changed the generation counter");
    return 0;
}
