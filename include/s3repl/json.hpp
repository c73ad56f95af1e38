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

/// The snapshot's "filter"; `and_operator` is in the rule's "aws" member.
inline void to_json(nlohmann::json& j, const ReplicationFilter& filter) {
    j = nlohmann::json{{"prefix", filter.prefix ? nlohmann::json(*filter.prefix) : nlohmann::json()},
                       {"tags", filter.tags}};
}

inline void to_json(nlohmann::json& j, const SourceSelectionCriteria& criteria) {
    j = nlohmann::json::object();
    if (criteria.sse_kms_encrypted_objects) j["sse_kms_encrypted_objects"] = *criteria.sse_kms_encrypted_objects;
    if (criteria.replica_modifications) j["replica_modifications"] = *criteria.replica_modifications;
}

inline void to_json(nlohmann::json& j, const ReplicationTime& time) {
    j = nlohmann::json{{"enabled", time.enabled}, {"minutes", time.minutes}};
}

inline void to_json(nlohmann::json& j, const ReplicationMetrics& metrics) {
    j = nlohmann::json{{"enabled", metrics.enabled}};
    if (metrics.event_threshold_minutes) j["event_threshold_minutes"] = *metrics.event_threshold_minutes;
}

/// As the snapshot holds a rule: a V1 rule's prefix in "filter", and the
/// members the Rust format lacks in "aws", only those not at their default.
inline void to_json(nlohmann::json& j, const ReplicationRule& rule) {
    const auto optional = [](const std::optional<std::string>& text) {
        return text ? nlohmann::json(*text) : nlohmann::json();
    };
    nlohmann::json filter = rule.filter;
    if (!rule.has_filter) filter["prefix"] = optional(rule.prefix);
    j = nlohmann::json{{"id", rule.id},
                       {"priority", rule.priority},
                       {"status_enabled", rule.status_enabled},
                       {"filter", filter},
                       {"destination_bucket", rule.destination_bucket},
                       {"destination_storage_class", optional(rule.destination_storage_class)}};
    nlohmann::json aws = nlohmann::json::object();
    if (!rule.has_filter) aws["has_filter"] = false;
    if (!rule.has_priority) aws["has_priority"] = false;
    if (rule.has_filter && rule.prefix) aws["prefix"] = *rule.prefix;
    if (rule.filter.and_operator) aws["and_operator"] = true;
    if (rule.delete_marker_replication) aws["delete_marker_replication"] = *rule.delete_marker_replication;
    if (rule.existing_object_replication) aws["existing_object_replication"] = *rule.existing_object_replication;
    if (rule.source_selection_criteria) aws["source_selection_criteria"] = *rule.source_selection_criteria;
    if (rule.destination_account) aws["destination_account"] = *rule.destination_account;
    if (rule.access_control_owner) aws["access_control_owner"] = *rule.access_control_owner;
    if (rule.replica_kms_key_id) aws["replica_kms_key_id"] = *rule.replica_kms_key_id;
    if (rule.replication_time) aws["replication_time"] = *rule.replication_time;
    if (rule.metrics) aws["metrics"] = *rule.metrics;
    if (!aws.empty()) j["aws"] = std::move(aws);
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
