#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

// Optional: nlohmann/json conversions, so a server can put s3repl's values
// into its own JSON (an admin endpoint, a metrics document) with
// `nlohmann::json j = manager.stats();`. The shapes and field names are the
// snapshot format's. Only to_json: reading s3repl state back goes through
// restore_json, whose strict checks and error messages these would bypass.

#include "s3repl/manager.hpp"
#include "s3repl/rules.hpp"
#include "s3repl/status.hpp"
#include "s3repl/timestamp.hpp"

#include <nlohmann/json.hpp>

namespace s3repl {
inline namespace v0 {

/// The snapshot's word: "Pending", "Completed", "Failed" or "Replica".
inline void to_json(nlohmann::json& j, ReplicationStatus status) {
    j = std::string(detail::snapshot_status_words[static_cast<std::size_t>(status)]);
}

inline void to_json(nlohmann::json& j, const ReplicationStatusEntry& entry) {
    j = nlohmann::json{
        {"status", entry.status}, {"generation", entry.generation}, {"recorded_at", format_rfc3339(entry.recorded_at)}};
}

inline void to_json(nlohmann::json& j, const ReplicationFilter& filter) {
    j = nlohmann::json{{"prefix", filter.prefix ? nlohmann::json(*filter.prefix) : nlohmann::json()},
                       {"tags", filter.tags}};
}

inline void to_json(nlohmann::json& j, const ReplicationRule& rule) {
    j = nlohmann::json{{"id", rule.id},
                       {"priority", rule.priority},
                       {"status_enabled", rule.status_enabled},
                       {"filter", rule.filter},
                       {"destination_bucket", rule.destination_bucket},
                       {"destination_storage_class", rule.destination_storage_class
                                                         ? nlohmann::json(*rule.destination_storage_class)
                                                         : nlohmann::json()}};
}

inline void to_json(nlohmann::json& j, const ReplicationConfig& config) {
    j = nlohmann::json{{"role", config.role}, {"rules", config.rules}};
}

inline void to_json(nlohmann::json& j, const ReplicationStats& stats) {
    j = nlohmann::json{{"entries_pending", stats.entries_pending},
                       {"entries_completed", stats.entries_completed},
                       {"entries_failed", stats.entries_failed},
                       {"entries_replica", stats.entries_replica},
                       {"generations_minted", stats.generations_minted},
                       {"stamps_accepted", stats.stamps_accepted},
                       {"stamps_rejected", stats.stamps_rejected},
                       {"entries_swept", stats.entries_swept},
                       {"dropped_total", stats.dropped_total}};
}

} // namespace v0
} // namespace s3repl
