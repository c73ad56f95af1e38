#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3repl {
inline namespace v0 {

/// Object tags as S3 carries them: (key, value) pairs.
using TagSet = std::vector<std::pair<std::string, std::string>>;

/// Which objects a rule applies to: a key prefix and tags that must all be
/// present with equal values. An absent or empty prefix matches every key.
///
/// In AWS's document a filter is `<Prefix>`, one `<Tag>`, or `<And>` around
/// both; `and_operator` records that the document used `And` although it
/// held one condition or none (with two or more, `And` is the only form).
struct ReplicationFilter {
    std::optional<std::string> prefix;
    TagSet tags;
    bool and_operator = false;

    friend bool operator==(const ReplicationFilter& a, const ReplicationFilter& b) {
        return a.prefix == b.prefix && a.tags == b.tags && a.and_operator == b.and_operator;
    }
    friend bool operator!=(const ReplicationFilter& a, const ReplicationFilter& b) { return !(a == b); }
};

/// `SourceSelectionCriteria`: each member is that child's `Status`
/// (true = Enabled), unset when the document leaves the child out.
struct SourceSelectionCriteria {
    std::optional<bool> sse_kms_encrypted_objects{};
    std::optional<bool> replica_modifications{};

    friend bool operator==(const SourceSelectionCriteria& a, const SourceSelectionCriteria& b) {
        return a.sse_kms_encrypted_objects == b.sse_kms_encrypted_objects &&
               a.replica_modifications == b.replica_modifications;
    }
    friend bool operator!=(const SourceSelectionCriteria& a, const SourceSelectionCriteria& b) { return !(a == b); }
};

/// `Destination/ReplicationTime` (S3 Replication Time Control): its `Status`
/// and `Time/Minutes`, which S3 accepts only as 15.
struct ReplicationTime {
    bool enabled = true;
    std::uint32_t minutes = 15;

    friend bool operator==(const ReplicationTime& a, const ReplicationTime& b) {
        return a.enabled == b.enabled && a.minutes == b.minutes;
    }
    friend bool operator!=(const ReplicationTime& a, const ReplicationTime& b) { return !(a == b); }
};

/// `Destination/Metrics`: its `Status` and `EventThreshold/Minutes` (unset
/// when the document has no EventThreshold; S3 accepts only 15).
struct ReplicationMetrics {
    bool enabled = true;
    std::optional<std::uint32_t> event_threshold_minutes{};

    friend bool operator==(const ReplicationMetrics& a, const ReplicationMetrics& b) {
        return a.enabled == b.enabled && a.event_threshold_minutes == b.event_threshold_minutes;
    }
    friend bool operator!=(const ReplicationMetrics& a, const ReplicationMetrics& b) { return !(a == b); }
};

/// One replication rule of a bucket, AWS's `Rule` whole. Among the rules to
/// one destination bucket, the higher priority wins, a tie going to the rule
/// declared first (see select_rules); a disabled rule never matches.
///
/// The first six members are what selection and the copy use. The others
/// hold the rest of the document, each unset (or at its default) unless the
/// document has it, so that a document reads back exactly as it was written:
/// - `has_filter`: the rule has a `Filter` element, the V2 schema. A V1 rule
///   (false) has no Filter; its optional rule-level `Prefix` is `prefix`,
///   kept apart from `filter`, which stays empty.
/// - `has_priority`: the rule has a `Priority` element; `priority` is 0 otherwise.
/// - `destination_bucket` is the bucket's name; the document's
///   `Destination/Bucket` is its ARN (see bucket_arn, bucket_from_arn).
/// The defaults are a V2 rule with a Filter and a Priority, as a rule built
/// in code before these members existed meant.
struct ReplicationRule {
    std::string id; // empty: the document has no ID
    std::uint32_t priority = 0;
    bool status_enabled = true;
    ReplicationFilter filter;
    std::string destination_bucket;
    std::optional<std::string> destination_storage_class{};

    bool has_filter = true;
    bool has_priority = true;
    std::optional<std::string> prefix{};               // V1 rule-level Prefix
    std::optional<bool> delete_marker_replication{};   // DeleteMarkerReplication/Status
    std::optional<bool> existing_object_replication{}; // ExistingObjectReplication/Status
    std::optional<SourceSelectionCriteria> source_selection_criteria{};
    std::optional<std::string> destination_account{};  // Destination/Account
    std::optional<std::string> access_control_owner{}; // Destination/AccessControlTranslation/Owner
    std::optional<std::string> replica_kms_key_id{};   // Destination/EncryptionConfiguration/ReplicaKmsKeyID
    std::optional<ReplicationTime> replication_time{}; // Destination/ReplicationTime
    std::optional<ReplicationMetrics> metrics{};       // Destination/Metrics

    friend bool operator==(const ReplicationRule& a, const ReplicationRule& b) {
        return a.id == b.id && a.priority == b.priority && a.status_enabled == b.status_enabled &&
               a.filter == b.filter && a.destination_bucket == b.destination_bucket &&
               a.destination_storage_class == b.destination_storage_class && a.has_filter == b.has_filter &&
               a.has_priority == b.has_priority && a.prefix == b.prefix &&
               a.delete_marker_replication == b.delete_marker_replication &&
               a.existing_object_replication == b.existing_object_replication &&
               a.source_selection_criteria == b.source_selection_criteria &&
               a.destination_account == b.destination_account && a.access_control_owner == b.access_control_owner &&
               a.replica_kms_key_id == b.replica_kms_key_id && a.replication_time == b.replication_time &&
               a.metrics == b.metrics;
    }
    friend bool operator!=(const ReplicationRule& a, const ReplicationRule& b) { return !(a == b); }
};

/// A bucket's replication configuration (the body of PutBucketReplication).
struct ReplicationConfig {
    std::string role;
    std::vector<ReplicationRule> rules;

    friend bool operator==(const ReplicationConfig& a, const ReplicationConfig& b) {
        return a.role == b.role && a.rules == b.rules;
    }
    friend bool operator!=(const ReplicationConfig& a, const ReplicationConfig& b) { return !(a == b); }
};

/// Calls `visit(std::string_view text, const char* field)` for every string
/// of `config`, set optional ones included, with a name for messages ("rule
/// id", "filter tag key", ...). For checks that apply to every string, such
/// as the manager's UTF-8 check.
template <class Visit>
void for_each_string(const ReplicationConfig& config, Visit&& visit) {
    visit(std::string_view(config.role), "role");
    const auto optional = [&](const std::optional<std::string>& text, const char* field) {
        if (text) visit(std::string_view(*text), field);
    };
    for (const ReplicationRule& rule : config.rules) {
        visit(std::string_view(rule.id), "rule id");
        optional(rule.prefix, "rule prefix");
        optional(rule.filter.prefix, "filter prefix");
        for (const auto& tag : rule.filter.tags) {
            visit(std::string_view(tag.first), "filter tag key");
            visit(std::string_view(tag.second), "filter tag value");
        }
        visit(std::string_view(rule.destination_bucket), "destination bucket");
        optional(rule.destination_storage_class, "storage class");
        optional(rule.destination_account, "destination account");
        optional(rule.access_control_owner, "access control owner");
        optional(rule.replica_kms_key_id, "replica KMS key id");
    }
}

// ---- bucket ARNs ---------------------------------------------------------

/// What every S3 bucket ARN starts with (AWS partition; the model stores names).
inline constexpr std::string_view bucket_arn_prefix = "arn:aws:s3:::";

/// "arn:aws:s3:::<bucket>", the form of `Destination/Bucket`.
inline std::string bucket_arn(std::string_view bucket) {
    std::string arn(bucket_arn_prefix);
    arn += bucket;
    return arn;
}

/// The bucket name of "arn:aws:s3:::<bucket>", or nullopt when `arn` is not a
/// bucket ARN (another prefix, no name, or a name holding '/' or ':', which
/// would make it an object or access point ARN).
inline std::optional<std::string> bucket_from_arn(std::string_view arn) {
    if (arn.substr(0, bucket_arn_prefix.size()) != bucket_arn_prefix) return std::nullopt;
    const std::string_view name = arn.substr(bucket_arn_prefix.size());
    if (name.empty() || name.find_first_of("/:") != std::string_view::npos) return std::nullopt;
    return std::string(name);
}

// ---- selection -----------------------------------------------------------

namespace detail {
inline bool has_tag(const TagSet& tags, const std::pair<std::string, std::string>& wanted) {
    return std::find(tags.begin(), tags.end(), wanted) != tags.end();
}
inline bool starts_with(std::string_view text, const std::optional<std::string>& prefix) {
    return !prefix || text.substr(0, prefix->size()) == *prefix;
}
} // namespace detail

/// True when `filter` selects the object: the key starts with the prefix and
/// every filter tag is among the object's tags (extra object tags are fine).
inline bool filter_matches(const ReplicationFilter& filter, std::string_view key, const TagSet& object_tags) {
    if (!detail::starts_with(key, filter.prefix)) return false;
    return std::all_of(filter.tags.begin(), filter.tags.end(),
                       [&](const auto& tag) { return detail::has_tag(object_tags, tag); });
}

/// True when `rule` selects the object, enabled or not: its filter matches
/// and the key starts with its V1 rule-level prefix, if any.
inline bool rule_matches(const ReplicationRule& rule, std::string_view key, const TagSet& object_tags) {
    return detail::starts_with(key, rule.prefix) && filter_matches(rule.filter, key, object_tags);
}

/// The rules the object replicates by, as AWS S3 applies a V2
/// configuration: among the enabled rules that select it, one per distinct
/// destination bucket, the highest priority for that destination (a tie
/// goes to the rule declared first). Ordered by descending priority, then
/// declaration order. Empty when no enabled rule selects the object.
/// Cost: one pass over the rules plus, per match, one look among the
/// winners so far (configurations hold a handful of destinations).
inline std::vector<const ReplicationRule*> select_rules(const ReplicationConfig& config, std::string_view key,
                                                        const TagSet& object_tags) {
    std::vector<const ReplicationRule*> winners;
    for (const ReplicationRule& rule : config.rules) {
        if (!rule.status_enabled || !rule_matches(rule, key, object_tags)) continue;
        const auto same_destination = std::find_if(winners.begin(), winners.end(), [&](const ReplicationRule* w) {
            return w->destination_bucket == rule.destination_bucket;
        });
        if (same_destination == winners.end())
            winners.push_back(&rule);
        else if (rule.priority > (*same_destination)->priority)
            *same_destination = &rule;
    }
    // Stable: equal priorities keep declaration order.
    std::stable_sort(winners.begin(), winners.end(),
                     [](const ReplicationRule* a, const ReplicationRule* b) { return a->priority > b->priority; });
    return winners;
}

/// The first of select_rules, or nullptr: the highest-priority enabled
/// matching rule, the first declared on a tie.
inline const ReplicationRule* select_rule(const ReplicationConfig& config, std::string_view key,
                                          const TagSet& object_tags) {
    const ReplicationRule* best = nullptr;
    for (const ReplicationRule& rule : config.rules) {
        if (!rule.status_enabled || (best && rule.priority <= best->priority)) continue;
        if (rule_matches(rule, key, object_tags)) best = &rule;
    }
    return best;
}

/// Whether `rule` replicates delete markers, as AWS documents: a V1 rule
/// (no Filter) always does; a V2 rule when DeleteMarkerReplication is
/// Enabled and its filter has no tag (a delete marker has no tags).
inline bool replicates_delete_markers(const ReplicationRule& rule) {
    if (!rule.has_filter) return true;
    return rule.delete_marker_replication.value_or(false) && rule.filter.tags.empty();
}

/// The one destination bucket every enabled rule of `config` names, or
/// nullopt when they name several (or there is no enabled rule). The
/// manager keeps an object of such a bucket in today's single-status form.
inline std::optional<std::string_view> sole_destination(const ReplicationConfig& config) {
    std::optional<std::string_view> sole;
    for (const ReplicationRule& rule : config.rules) {
        if (!rule.status_enabled) continue;
        if (sole && *sole != rule.destination_bucket) return std::nullopt;
        sole = rule.destination_bucket;
    }
    return sole;
}

} // namespace v0
} // namespace s3repl

#include "s3repl/validate.hpp" // validate() was declared here before it had a header of its own
