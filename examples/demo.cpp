// The quick start's demo: what an S3 server embedding s3repl sees, step by
// step, on a clock the demo moves by hand. Every claim it prints is checked;
// it exits non-zero if the library ever behaves otherwise.
#include <s3repl/s3repl.hpp>
#include <s3repl/timestamp.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

namespace {

using Manager = s3repl::BasicReplicationManager<s3repl::ManualClock>;

int failures = 0;

void expect(bool holds, const std::string& claim) {
    std::cout << (holds ? "   ok: " : "   UNEXPECTED: ") << claim << '\n';
    if (!holds) ++failures;
}

std::string describe(const Manager& manager, const char* bucket, const char* key) {
    const auto entry = manager.lookup_entry(bucket, key);
    if (!entry) return std::string(bucket) + '/' + key + ": no status";
    return std::string(bucket) + '/' + key + ": " + std::string(s3repl::to_aws_string(entry->status)) +
           " at generation " + std::to_string(entry->generation) + ", recorded " +
           s3repl::format_rfc3339(entry->recorded_at);
}

void step(const std::string& what) { std::cout << '\n' << what << '\n'; }

} // namespace

int main() {
    const s3repl::ManualClock clock(*s3repl::parse_rfc3339("2026-01-01T09:00:00Z"));
    Manager manager(clock);

    step("1. Bucket 'photos' replicates keys under 'cats/' to bucket 'photos-backup'.");
    s3repl::ReplicationRule rule;
    rule.id = "cats-to-backup";
    rule.filter.prefix = "cats/";
    rule.destination_bucket = "photos-backup";
    manager.put_config("photos", s3repl::ReplicationConfig{"", {rule}});
    expect(manager.match_rule("photos", "cats/tom.jpg", {}).has_value(), "cats/tom.jpg matches the rule");
    expect(!manager.match_rule("photos", "dogs/rex.jpg", {}).has_value(), "dogs/rex.jpg matches no rule");

    step("2. A client PUTs photos/cats/tom.jpg: the server mints a generation for this write and stamps PENDING.");
    const std::uint64_t first_put = manager.next_generation();
    expect(manager.record_status_if_newer("photos", "cats/tom.jpg", first_put, s3repl::ReplicationStatus::Pending),
           "PENDING accepted");
    std::cout << "   " << describe(manager, "photos", "cats/tom.jpg") << '\n';

    step("3. One second later the client overwrites it: a newer generation, PENDING again.");
    clock.advance(std::chrono::seconds(1));
    const std::uint64_t second_put = manager.next_generation();
    expect(second_put > first_put,
           "generation " + std::to_string(second_put) + " is newer than " + std::to_string(first_put));
    expect(manager.record_status_if_newer("photos", "cats/tom.jpg", second_put, s3repl::ReplicationStatus::Pending),
           "PENDING accepted");

    step("4. The copy of the second write reaches photos-backup first: COMPLETED.");
    clock.advance(std::chrono::seconds(2));
    expect(manager.record_status_if_newer("photos", "cats/tom.jpg", second_put, s3repl::ReplicationStatus::Completed),
           "COMPLETED accepted");
    std::cout << "   " << describe(manager, "photos", "cats/tom.jpg") << '\n';

    step("5. A stale retry of the first write finishes late and tries to stamp FAILED.");
    clock.advance(std::chrono::seconds(5));
    expect(!manager.record_status_if_newer("photos", "cats/tom.jpg", first_put, s3repl::ReplicationStatus::Failed),
           "rejected by the generation CAS: generation " + std::to_string(first_put) + " is older than the stored " +
               std::to_string(second_put));
    expect(!manager.record_status_if_newer("photos", "cats/tom.jpg", second_put, s3repl::ReplicationStatus::Failed),
           "a duplicate task of the second write cannot undo its COMPLETED either");
    std::cout << "   " << describe(manager, "photos", "cats/tom.jpg") << " (unchanged)\n";

    step("6. Two more objects: cats/felix.jpg fails to replicate, cats/garfield.jpg is still in flight.");
    expect(manager.record_status_if_newer("photos", "cats/felix.jpg", manager.next_generation(),
                                          s3repl::ReplicationStatus::Failed),
           "FAILED accepted");
    expect(manager.record_status_if_newer("photos", "cats/garfield.jpg", manager.next_generation(),
                                          s3repl::ReplicationStatus::Pending),
           "PENDING accepted");

    step("7. Two days pass; the sweep removes terminal entries older than their TTL "
         "(COMPLETED: 1 day, FAILED: 7 days, PENDING: never).");
    clock.advance(std::chrono::hours(48));
    const std::size_t swept = manager.sweep_stale(clock.now(), s3repl::SweepPolicy{});
    expect(swept == 1, "swept " + std::to_string(swept) + " entry: the old COMPLETED of cats/tom.jpg");
    expect(!manager.lookup_status("photos", "cats/tom.jpg"), "gone: " + describe(manager, "photos", "cats/tom.jpg"));
    expect(manager.lookup_status("photos", "cats/felix.jpg") == s3repl::ReplicationStatus::Failed,
           "FAILED kept: a server re-drives from it");
    expect(manager.lookup_status("photos", "cats/garfield.jpg") == s3repl::ReplicationStatus::Pending,
           "PENDING kept: its replication is still running");
    const auto stuck = manager.stuck_pending(clock.now(), std::chrono::hours(1));
    expect(stuck.size() == 1 && stuck.front().key == "cats/garfield.jpg",
           "cats/garfield.jpg is reported as stuck PENDING (older than an hour), for the server to re-drive");

    const s3repl::ReplicationStats stats = manager.stats();
    std::cout << "\nStats: " << stats.generations_minted << " generations minted, " << stats.stamps_accepted
              << " stamps accepted, " << stats.stamps_rejected << " rejected, " << stats.entries_swept << " swept; now "
              << manager.size() << " entries.\n";
    expect(stats.stamps_rejected == 2, "both stale stamps were counted as rejected");

    step("8. The server restarts: it snapshots the manager to JSON and the new process restores it.");
    const std::string snapshot = manager.to_json();
    std::cout << "   " << snapshot << '\n';
    Manager restored = Manager::from_json(snapshot, clock);
    bool same_entries = restored.size() == manager.size();
    manager.for_each_entry([&](std::string_view bucket, std::string_view key, const s3repl::ReplicationStatusEntry& e) {
        same_entries = same_entries && restored.lookup_entry(bucket, key) == e;
    });
    expect(same_entries, "the restored manager holds the same " + std::to_string(restored.size()) +
                             " entries: statuses, generations and times");
    expect(restored.get_config("photos") == manager.get_config("photos"), "and the same replication rule");
    const std::uint64_t after_restart = restored.next_generation();
    expect(after_restart > stats.generations_minted, "generations go on from the snapshot: the next PUT gets " +
                                                         std::to_string(after_restart) +
                                                         ", so no stale task from before the restart can win the CAS");

    if (failures != 0) {
        std::cout << "\nDemo FAILED: " << failures << " claim(s) did not hold.\n";
        return EXIT_FAILURE;
    }
    std::cout << "\nDemo finished: every claim held.\n";
    return EXIT_SUCCESS;
}
