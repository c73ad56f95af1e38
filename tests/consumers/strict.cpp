// Compiled by scripts/test.sh (leg headers) with a consumer's strict warnings
// and a plain -I, beside one TU per public header. Including a header compiles
// no template body: this TU instantiates the class templates and calls the
// function templates, so warnings inside them show up too.
#include <s3repl/json.hpp>
#include <s3repl/s3repl.hpp>
#if __has_include(<hiredis/hiredis.h>)
#include <s3repl/redis.hpp> // optional (hiredis)
#endif

#include <map>
#include <optional>
#include <shared_mutex>
#include <string>

template class s3repl::BasicReplicationManager<>;
template class s3repl::BasicReplicationManager<s3repl::ManualClock, std::shared_mutex>;
template class s3repl::StaleSweeper<s3repl::ReplicationManager>;

using Metadata = std::map<std::string, std::string>;

// The destination contract, as a server's adapter would meet it.
struct Destination {
    std::optional<s3repl::ReplicaState> head(const std::string&, const std::string&) { return std::nullopt; }
    s3repl::WriteResult put(const std::string&, const std::string&, const std::string&, const Metadata& metadata,
                            const s3repl::WriteCondition&) {
        return s3repl::replica_generation_of(metadata) > 0 ? s3repl::WriteResult::Written : s3repl::WriteResult::Failed;
    }
};

// The same with versions.
struct VersionedDestination {
    std::optional<s3repl::ReplicaState> head(const std::string&, const std::string&, const std::string&) {
        return std::nullopt;
    }
    s3repl::WriteResult put(const std::string&, const std::string&, const std::string&, const std::string&,
                            const Metadata&, const s3repl::WriteCondition&) {
        return s3repl::WriteResult::Written;
    }
    s3repl::WriteResult put_delete_marker(const std::string&, const std::string&, const std::string&, const Metadata&) {
        return s3repl::WriteResult::Written;
    }
};

void use_function_templates(s3repl::ReplicationManager& manager) {
    auto put = [](const std::string&, const std::string&, const std::string&, const Metadata&) { return true; };
    Destination destination;
    VersionedDestination versioned;
    s3repl::OutcomeMetrics metrics;
    s3repl::ReplicationOptions options;
    options.on_outcome = metrics.recorder(manager.clock());
    for (const auto& job : s3repl::begin_replication(manager, "bucket", "key", {}, [](std::uint64_t) {})) {
        s3repl::replicate_object(manager, job, std::string("body"), Metadata{}, destination, options);
        s3repl::replicate_object(manager, job, std::string("body"), Metadata{}, put);
    }
    for (const auto& job :
         s3repl::begin_replication(manager, s3repl::ObjectId{"bucket", "key", "v1"}, {}, [](std::uint64_t) {}))
        s3repl::replicate_object(manager, job, std::string("body"), Metadata{}, versioned);
    static_cast<void>(s3repl::begin_delete_marker_replication(manager, s3repl::ObjectId{"bucket", "key", "v2"},
                                                              [](std::uint64_t) {}));
    s3repl::commit_version_delete(manager, s3repl::ObjectId{"bucket", "key", "v1"}, [] {});
    static_cast<void>(s3repl::begin_replication(manager, "bucket", "key", {},
                                                [](std::uint64_t, bool replicated) { static_cast<void>(replicated); }));
    manager.sweep_stale(std::chrono::system_clock::now(), std::chrono::hours(1));
    manager.sweep_stale(std::chrono::system_clock::now(),
                        s3repl::SweepPolicy{std::chrono::hours(1), std::chrono::hours::max()}, [] { return true; });
    static_cast<void>(manager.stuck_pending(std::chrono::system_clock::now(), std::chrono::minutes(5)));
    for (const auto& ref :
         manager.stuck_pending_destinations(std::chrono::system_clock::now(), std::chrono::minutes(5)))
        static_cast<void>(s3repl::redrive_jobs(manager, ref, {}));
    static_cast<void>(manager.take_redrive_candidates());
    manager.for_each_entry([](std::string_view, std::string_view, const s3repl::ReplicationStatusEntry&) {});
    manager.for_each_entry(
        [](std::string_view, std::string_view, std::string_view, const s3repl::ReplicationStatusEntry&) {});
    const s3repl::ObjectId objects[] = {{"bucket", "key"}, {"bucket", "key", "v2"}};
    std::optional<s3repl::ReplicationStatus> statuses[2];
    manager.lookup_statuses(objects, 2, statuses);
    static_cast<void>(s3repl::to_prometheus(manager, &metrics));
    const nlohmann::json stats = manager.stats();
    static_cast<void>(stats);
}

#if __has_include(<hiredis/hiredis.h>)
template class s3repl::BasicRedisReplicationManager<>;
template class s3repl::BasicRedisReplicationManager<s3repl::ManualClock>;
template class s3repl::StaleSweeper<s3repl::RedisReplicationManager>;

// The dispatcher, the sweeper and the re-drive recipe on the Redis manager.
void use_redis_templates(s3repl::RedisReplicationManager& manager) {
    Destination destination;
    for (const auto& job : s3repl::begin_replication(manager, "bucket", "key", {}, [](std::uint64_t) {}))
        s3repl::replicate_object(manager, job, std::string("body"), Metadata{}, destination);
    s3repl::commit_version_delete(manager, s3repl::ObjectId{"bucket", "key", "v1"}, [] {});
    manager.sweep_stale(std::chrono::system_clock::now(), std::chrono::hours(1));
    manager.sweep_stale(std::chrono::system_clock::now(), s3repl::SweepPolicy{}, [] { return true; });
    static_cast<void>(manager.stuck_pending(std::chrono::system_clock::now(), std::chrono::minutes(5)));
    for (const auto& ref :
         manager.stuck_pending_destinations(std::chrono::system_clock::now(), std::chrono::minutes(5)))
        static_cast<void>(s3repl::redrive_jobs(manager, ref, {}));
    manager.for_each_entry([](std::string_view, std::string_view, const s3repl::ReplicationStatusEntry&) {});
    manager.for_each_entry(
        [](std::string_view, std::string_view, std::string_view, const s3repl::ReplicationStatusEntry&) {});
    static_cast<void>(manager.commit_in_order("bucket", "key", [](std::uint64_t) {}));
}
#endif
