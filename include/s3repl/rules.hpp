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
struct ReplicationFilter {
    std::optional<std::string> prefix;
    TagSet tags;

    friend bool operator==(const ReplicationFilter& a, const ReplicationFilter& b) {
        return a.prefix == b.prefix && a.tags == b.tags;
    }
    friend bool operator!=(const ReplicationFilter& a, const ReplicationFilter& b) { return !(a == b); }
};

/// One replication rule of a bucket. Higher priority wins; a tie goes to the
/// rule declared first; a disabled rule never matches.
struct ReplicationRule {
    std::string id;
    std::uint32_t priority = 0;
    bool status_enabled = true;
    ReplicationFilter filter;
    std::string destination_bucket;
    std::optional<std::string> destination_storage_class;

    friend bool operator==(const ReplicationRule& a, const ReplicationRule& b) {
        return a.id == b.id && a.priority == b.priority && a.status_enabled == b.status_enabled &&
               a.filter == b.filter && a.destination_bucket == b.destination_bucket &&
               a.destination_storage_class == b.destination_storage_class;
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

namespace detail {
inline bool has_tag(const TagSet& tags, const std::pair<std::string, std::string>& wanted) {
    return std::find(tags.begin(), tags.end(), wanted) != tags.end();
}
} // namespace detail

/// True when `filter` selects the object: the key starts with the prefix and
/// every filter tag is among the object's tags (extra object tags are fine).
inline bool filter_matches(const ReplicationFilter& filter, std::string_view key, const TagSet& object_tags) {
    if (filter.prefix && key.substr(0, filter.prefix->size()) != *filter.prefix) return false;
    return std::all_of(filter.tags.begin(), filter.tags.end(),
                       [&](const auto& tag) { return detail::has_tag(object_tags, tag); });
}

/// The rule that decides where the object replicates, or nullptr: the
/// highest-priority enabled matching rule, the first declared on a tie.
inline const ReplicationRule* select_rule(const ReplicationConfig& config, std::string_view key,
                                          const TagSet& object_tags) {
    const ReplicationRule* best = nullptr;
    for (const ReplicationRule& rule : config.rules) {
        if (!rule.status_enabled || (best && rule.priority <= best->priority)) continue;
        if (filter_matches(rule.filter, key, object_tags)) best = &rule;
    }
    return best;
}

namespace detail {
// Two filters can select one key when neither prefix excludes the other and
// no tag key is required with two different values.
inline bool filters_overlap(const ReplicationFilter& a, const ReplicationFilter& b) {
    const std::string_view pa = a.prefix ? std::string_view(*a.prefix) : std::string_view();
    const std::string_view pb = b.prefix ? std::string_view(*b.prefix) : std::string_view();
    const std::string_view shorter = pa.size() < pb.size() ? pa : pb;
    const std::string_view longer = pa.size() < pb.size() ? pb : pa;
    if (longer.substr(0, shorter.size()) != shorter) return false;
    for (const auto& ta : a.tags)
        for (const auto& tb : b.tags)
            if (ta.first == tb.first && ta.second != tb.second) return false;
    return true;
}
} // namespace detail

/// Longest rule id S3 accepts.
inline constexpr std::size_t max_rule_id_length = 255;

/// The problems that make `config` unfit to store, one sentence each; empty
/// when it is valid. put_config does not call this: a server validates the
/// request first and answers with an S3 error, as S3 itself does.
inline std::vector<std::string> validate(const ReplicationConfig& config) {
    std::vector<std::string> problems;
    const auto& rules = config.rules;
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const ReplicationRule& rule = rules[i];
        const std::string where = "rule " + std::to_string(i) + " ('" + rule.id + "')";
        if (rule.id.empty()) problems.push_back(where + ": the id is empty");
        if (rule.id.size() > max_rule_id_length) problems.push_back(where + ": the id is longer than 255 characters");
        if (rule.destination_bucket.empty()) problems.push_back(where + ": the destination bucket is empty");
        for (std::size_t j = 0; j < i; ++j) {
            const ReplicationRule& other = rules[j];
            if (!rule.id.empty() && rule.id == other.id)
                problems.push_back(where + ": the id is also used by rule " + std::to_string(j));
            if (rule.status_enabled && other.status_enabled && rule.priority == other.priority &&
                rule.destination_bucket == other.destination_bucket &&
                detail::filters_overlap(rule.filter, other.filter))
                problems.push_back(where + ": ambiguous with rule " + std::to_string(j) +
                                   " (same priority and destination, filters that can match one key)");
        }
    }
    return problems;
}

} // namespace v0
} // namespace s3repl
