// libFuzzer target for snapshot restore (build and run: README.md here).
//
// Each input is given to restore_json on a manager holding some state. The
// only exception allowed out is s3repl::SnapshotError, after which the state
// must be exactly as before; any other exception escapes and is reported as
// a crash. An accepted input must round-trip: to_json of the restored
// manager, restored again, holds the same content and the same counter.

#include <s3repl/s3repl.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
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

// The manager every input is restored over: configurations, entries of
// each status, minted generations and non-zero op counters.
Manager prepared_manager() {
    Manager m{clock_at_restore};
    m.restore_json(R"({"by_bucket":{"old":{"role":"r","rules":[{"id":"a","priority":4294967295,"status_enabled":true,)"
                   R"("filter":{"prefix":null,"tags":[["k","v"]]},"destination_bucket":"d",)"
                   R"("destination_storage_class":"GLACIER"}]}},"statuses":[)"
                   R"([["old","p"],{"status":"Pending","generation":7,"recorded_at":"1969-12-31T23:59:59.5Z"}],)"
                   R"([["old","c"],"Completed"],[["old","f"],{"status":"Failed","generation":9}]],)"
                   R"("next_generation":40})");
    m.next_generation();
    m.record_status_if_newer("old", "r", 41, s3repl::ReplicationStatus::Replica);
    m.record_status_if_newer("old", "p", 1, s3repl::ReplicationStatus::Completed); // rejected: stale
    m.note_dropped();
    return m;
}

struct Entry {
    std::string bucket, key;
    s3repl::ReplicationStatusEntry entry;
    bool operator<(const Entry& other) const { return std::tie(bucket, key) < std::tie(other.bucket, other.key); }
    bool operator==(const Entry& other) const {
        return bucket == other.bucket && key == other.key && entry == other.entry;
    }
};

// The entries sorted: their order in to_json depends on each manager's hash seed.
std::vector<Entry> sorted_entries(const Manager& m) {
    std::vector<Entry> entries;
    m.for_each_entry([&](std::string_view bucket, std::string_view key, const s3repl::ReplicationStatusEntry& e) {
        entries.push_back({std::string(bucket), std::string(key), e});
    });
    std::sort(entries.begin(), entries.end());
    return entries;
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
    try {
        m.restore_json(input);
    } catch (const s3repl::SnapshotError&) {
        if (m.to_json() != before) fail("a rejected input changed the manager's content");
        if (m.stats() != stats_before) fail("a rejected input changed the manager's stats");
        return 0;
    }
    if (m.stats().generations_minted != stats_before.generations_minted) fail("restore reset generations_minted");

    // Accepted: what s3repl writes must read back to the same state.
    const std::string written = m.to_json();
    const std::vector<Entry> entries = sorted_entries(m);
    check_counts_exact(m, entries);
    Manager again = Manager::from_json(written, clock_at_restore); // any exception here is a finding
    const std::string rewritten = again.to_json();
    if (sorted_entries(again) != entries) fail("to_json -> from_json changed the entries");
    if (configs_part(rewritten) != configs_part(written)) fail("to_json -> from_json changed the configurations");
    if (counter_part(rewritten) != counter_part(written)) fail("to_json -> from_json changed the written counter");
    if (rewritten.size() != written.size()) fail("to_json -> from_json changed the document's size");
    check_counts_exact(again, entries);
    if (mint(again) != mint(m)) fail("to_json -> from_json changed the generation counter");
    return 0;
}
