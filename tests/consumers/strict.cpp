// Compiled by scripts/test.sh (leg headers) with a consumer's strict warnings
// and a plain -I, beside one TU per public header. Including a header compiles
// no template body: this TU instantiates the class templates and calls the
// function templates, so warnings inside them show up too.
#include <s3repl/json.hpp>
#include <s3repl/s3repl.hpp>

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

void use_function_templates(s3repl::ReplicationManager& manager) {
    auto put = [](const std::string&, const std::string&, const std::string&, const Metadata&) { return true; };
    Destination destination;
    if (auto job = s3repl::begin_replication(manager, "bucket", "key", {}, [](std::uint64_t) {})) {
        s3repl::replicate_object(manager, *job, std::string("body"), Metadata{}, destination);
        s3repl::replicate_object(manager, *job, std::string("body"), Metadata{}, put);
    }
    static_cast<void>(s3repl::begin_replication(manager, "bucket", "key", {},
                                                [](std::uint64_t, bool replicated) { static_cast<void>(replicated); }));
    manager.sweep_stale(std::chrono::system_clock::now(), std::chrono::hours(1));
    manager.sweep_stale(std::chrono::system_clock::now(),
                        s3repl::SweepPolicy{std::chrono::hours(1), std::chrono::hours::max()}, [] { return true; });
    static_cast<void>(manager.stuck_pending(std::chrono::system_clock::now(), std::chrono::minutes(5)));
    static_cast<void>(manager.take_redrive_candidates());
    manager.for_each_entry([](std::string_view, std::string_view, const s3repl::ReplicationStatusEntry&) {});
    const nlohmann::json stats = manager.stats();
    static_cast<void>(stats);
}
