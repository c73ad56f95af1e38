// Compiled by scripts/test.sh (leg headers) with a consumer's strict warnings
// and a plain -I, beside one TU per public header. Including a header compiles
// no template body: this TU instantiates the class templates and calls the
// function templates, so warnings inside them show up too.
#include <s3repl/json.hpp>
#include <s3repl/s3repl.hpp>

#include <map>
#include <shared_mutex>
#include <string>

template class s3repl::BasicReplicationManager<>;
template class s3repl::BasicReplicationManager<s3repl::ManualClock, std::shared_mutex>;
template class s3repl::StaleSweeper<s3repl::ReplicationManager>;

using Metadata = std::map<std::string, std::string>;

void use_function_templates(s3repl::ReplicationManager& manager) {
    auto put = [](const std::string&, const std::string&, const std::string&, const Metadata&) { return true; };
    if (auto job = s3repl::begin_replication(manager, "bucket", "key"))
        s3repl::replicate_object(manager, *job, std::string("body"), Metadata{}, put);
    manager.sweep_stale(std::chrono::system_clock::now(), std::chrono::hours(1));
    static_cast<void>(manager.stuck_pending(std::chrono::system_clock::now(), std::chrono::minutes(5)));
    manager.for_each_entry([](std::string_view, std::string_view, const s3repl::ReplicationStatusEntry&) {});
    const nlohmann::json stats = manager.stats();
    static_cast<void>(stats);
}
