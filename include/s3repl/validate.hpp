#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/error.hpp"
#include "s3repl/rules.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3repl {
inline namespace v0 {

/// The S3 error codes a server answers a refused replication configuration
/// with (HTTP 400 each).
enum class S3ErrorCode : std::uint8_t {
    MalformedXML,    ///< the body is not the schema: unknown elements, wrong types, missing required elements
    InvalidArgument, ///< a value S3 refuses
    InvalidRequest,  ///< values that S3 refuses together (a V2 rule without Priority, ...)
};

/// "MalformedXML", "InvalidArgument" or "InvalidRequest": the `<Code>` of S3's error body.
constexpr std::string_view to_string(S3ErrorCode code) noexcept {
    switch (code) {
    case S3ErrorCode::MalformedXML: return "MalformedXML";
    case S3ErrorCode::InvalidArgument: return "InvalidArgument";
    case S3ErrorCode::InvalidRequest: return "InvalidRequest";
    }
    return "InvalidRequest";
}

/// One reason a configuration cannot be stored: the S3 code to answer with,
/// the index of the rule at fault (unset for the configuration as a whole),
/// the field as the AWS document names it, relative to the rule ("ID",
/// "Destination/Bucket", "Filter/And/Tag/Key") or to the configuration
/// ("Role", "Rule"), and a sentence for people.
struct ConfigProblem {
    S3ErrorCode code = S3ErrorCode::InvalidArgument;
    std::optional<std::size_t> rule_index;
    std::string field;
    std::string message;
    std::string rule_id; // the rule's ID when there is one, for to_string

    friend bool operator==(const ConfigProblem& a, const ConfigProblem& b) {
        return a.code == b.code && a.rule_index == b.rule_index && a.field == b.field && a.message == b.message &&
               a.rule_id == b.rule_id;
    }
    friend bool operator!=(const ConfigProblem& a, const ConfigProblem& b) { return !(a == b); }
};

/// The problem as one sentence: "rule 2 ('logs'): the id is longer than 255
/// characters", or "the role is empty" for the configuration as a whole.
inline std::string to_string(const ConfigProblem& problem) {
    if (!problem.rule_index) return problem.message;
    return "rule " + std::to_string(*problem.rule_index) + " ('" + problem.rule_id + "'): " + problem.message;
}

/// A replication configuration document that cannot be read (parse_replication_xml,
/// parse_replication_json): problem() says which S3 error to answer with, the
/// rule and the field. Nothing is half-read: the parse returns no configuration.
class ConfigError : public Error {
  public:
    explicit ConfigError(ConfigProblem problem)
        : Error("config", where(problem) + problem.message), problem_(std::move(problem)) {}

    const ConfigProblem& problem() const noexcept { return problem_; }
    S3ErrorCode code() const noexcept { return problem_.code; }
    const std::optional<std::size_t>& rule_index() const noexcept { return problem_.rule_index; }
    const std::string& field() const noexcept { return problem_.field; }

  private:
    static std::string where(const ConfigProblem& problem) {
        std::string at = problem.rule_index ? "Rule/" + std::to_string(*problem.rule_index) : std::string();
        if (!problem.field.empty()) at += (at.empty() ? "" : "/") + problem.field;
        return (at.empty() ? std::string("(document)") : at) + ": ";
    }

    ConfigProblem problem_;
};

/// Longest rule id S3 accepts, in characters (code points, not bytes).
inline constexpr std::size_t max_rule_id_length = 255;
/// Most rules S3 accepts in one configuration.
inline constexpr std::size_t max_rule_count = 1000;
/// The only Time/Minutes and EventThreshold/Minutes S3 accepts.
inline constexpr std::uint32_t replication_time_minutes = 15;
/// The storage classes S3 accepts for `Destination/StorageClass`.
inline constexpr std::array<std::string_view, 9> replication_storage_classes = {
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
    "GLACIER",  "DEEP_ARCHIVE",       "OUTPOSTS",    "GLACIER_IR"};

namespace detail {

// Code points of valid UTF-8: every byte that is not a continuation byte.
inline std::size_t utf8_length(std::string_view text) noexcept {
    return static_cast<std::size_t>(
        std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// Two rules can select one key when neither prefix excludes the other and
// no tag key is required with two different values. A V1 rule's prefix is
// its rule-level one.
inline bool rules_overlap(const ReplicationRule& a, const ReplicationRule& b) {
    const auto prefix_of = [](const ReplicationRule& rule) {
        const std::optional<std::string>& p = rule.has_filter ? rule.filter.prefix : rule.prefix;
        return p ? std::string_view(*p) : std::string_view();
    };
    const std::string_view pa = prefix_of(a), pb = prefix_of(b);
    const std::string_view shorter = pa.size() < pb.size() ? pa : pb;
    const std::string_view longer = pa.size() < pb.size() ? pb : pa;
    if (longer.substr(0, shorter.size()) != shorter) return false;
    for (const auto& ta : a.filter.tags)
        for (const auto& tb : b.filter.tags)
            if (ta.first == tb.first && ta.second != tb.second) return false;
    return true;
}

// The filter's element path for its tags, as the document spells it.
inline const char* tag_path(const ReplicationFilter& filter) {
    return filter.and_operator || filter.tags.size() + (filter.prefix ? 1 : 0) > 1 ? "Filter/And/Tag" : "Filter/Tag";
}

class ConfigChecker {
  public:
    // source_bucket: the bucket the configuration is for, when the caller knows it.
    explicit ConfigChecker(const ReplicationConfig& config,
                           std::optional<std::string_view> source_bucket = std::nullopt)
        : config_(config), source_bucket_(source_bucket) {}

    std::vector<ConfigProblem> run() && {
        if (config_.role.empty()) add(S3ErrorCode::InvalidArgument, "Role", "the role is empty");
        if (config_.rules.empty())
            add(S3ErrorCode::MalformedXML, "Rule", "the configuration has no rule (S3 requires at least one)");
        if (config_.rules.size() > max_rule_count)
            add(S3ErrorCode::InvalidRequest, "Rule",
                "the configuration has " + std::to_string(config_.rules.size()) + " rules (S3 accepts at most 1000)");
        for (index_ = 0; index_ < config_.rules.size(); ++index_) check_rule(config_.rules[index_]);
        return std::move(problems_);
    }

  private:
    void check_rule(const ReplicationRule& rule) {
        rule_ = &rule;
        if (rule.id.empty()) add(S3ErrorCode::InvalidArgument, "ID", "the id is empty");
        if (utf8_length(rule.id) > max_rule_id_length)
            add(S3ErrorCode::InvalidArgument, "ID", "the id is longer than 255 characters");
        check_schema(rule);
        check_filter(rule.filter);
        check_destination(rule);
        check_v1_destination(rule);
        // Pairs only within S3's limit: a 2 MB document of 20000 rules must
        // not cost 2 * 10^8 comparisons to be told it has too many.
        const std::size_t pairs_up_to = config_.rules.size() <= max_rule_count ? index_ : 0;
        for (std::size_t j = 0; j < pairs_up_to; ++j) {
            const ReplicationRule& other = config_.rules[j];
            if (!rule.id.empty() && rule.id == other.id)
                add(S3ErrorCode::InvalidArgument, "ID", "the id is also used by rule " + std::to_string(j));
            // S3 refuses one priority on two enabled rules that can match one
            // key whatever their destinations: every matching rule applies, and
            // the priority is what picks the winner once two share a destination.
            if (rule.status_enabled && other.status_enabled && rule.priority == other.priority &&
                rules_overlap(rule, other))
                add(S3ErrorCode::InvalidRequest, "Priority",
                    "the priority " + std::to_string(rule.priority) + " is also rule " + std::to_string(j) +
                        "'s, and their filters can match one key");
        }
    }

    // Rules without a Filter (the V1 schema) replicate to one bucket: more
    // than one destination needs the V2 schema. Compared with the first V1
    // rule that names a destination, so the check stays linear.
    void check_v1_destination(const ReplicationRule& rule) {
        if (rule.has_filter || rule.destination_bucket.empty()) return;
        if (!first_v1_) {
            first_v1_ = index_;
            return;
        }
        const std::string& first = config_.rules[*first_v1_].destination_bucket;
        if (rule.destination_bucket != first)
            add(S3ErrorCode::InvalidRequest, "Destination/Bucket",
                "the destination bucket '" + rule.destination_bucket + "' is not rule " + std::to_string(*first_v1_) +
                    "'s '" + first + "': rules without a Filter (the V1 schema) replicate to one bucket");
    }

    // V1 (no Filter: a rule-level Prefix at most) or V2 (a Filter, which
    // brings Priority and DeleteMarkerReplication with it).
    void check_schema(const ReplicationRule& rule) {
        if (!rule.has_priority && rule.priority != 0)
            add(S3ErrorCode::InvalidArgument, "Priority",
                "the rule has a priority but no Priority (has_priority is false)");
        if (!rule.has_filter) {
            if (rule.filter != ReplicationFilter{})
                add(S3ErrorCode::InvalidArgument, "Filter",
                    "the rule has filter conditions but no Filter (has_filter is false)");
            return;
        }
        if (rule.prefix) add(S3ErrorCode::MalformedXML, "Prefix", "the rule has both a rule-level Prefix and a Filter");
        if (!rule.has_priority)
            add(S3ErrorCode::InvalidRequest, "Priority", "a rule with a Filter (the V2 schema) needs a Priority");
        if (!rule.delete_marker_replication)
            add(S3ErrorCode::InvalidRequest, "DeleteMarkerReplication",
                "a rule with a Filter (the V2 schema) needs DeleteMarkerReplication");
        else if (*rule.delete_marker_replication && !rule.filter.tags.empty())
            add(S3ErrorCode::InvalidRequest, "DeleteMarkerReplication/Status",
                "delete marker replication must be Disabled when the filter has tags");
    }

    void check_filter(const ReplicationFilter& filter) {
        for (std::size_t t = 0; t < filter.tags.size(); ++t) {
            for (std::size_t u = 0; u < t; ++u) {
                if (filter.tags[u].first == filter.tags[t].first) {
                    add(S3ErrorCode::InvalidRequest, std::string(tag_path(filter)) + "/Key",
                        "the tag key '" + filter.tags[t].first + "' appears twice in the filter");
                    break;
                }
            }
        }
    }

    void check_destination(const ReplicationRule& rule) {
        if (rule.destination_bucket.empty())
            add(S3ErrorCode::InvalidArgument, "Destination/Bucket", "the destination bucket is empty");
        else if (!bucket_from_arn(bucket_arn(rule.destination_bucket)))
            add(S3ErrorCode::InvalidArgument, "Destination/Bucket",
                "the destination bucket name '" + rule.destination_bucket + "' holds '/' or ':'");
        else if (source_bucket_ && rule.destination_bucket == *source_bucket_)
            add(S3ErrorCode::InvalidRequest, "Destination/Bucket",
                "the destination bucket '" + rule.destination_bucket + "' is the source bucket");
        if (rule.destination_storage_class &&
            std::find(replication_storage_classes.begin(), replication_storage_classes.end(),
                      *rule.destination_storage_class) == replication_storage_classes.end())
            add(S3ErrorCode::InvalidArgument, "Destination/StorageClass",
                "the storage class '" + *rule.destination_storage_class + "' is not one S3 replicates to");
        if (rule.access_control_owner && *rule.access_control_owner != "Destination")
            add(S3ErrorCode::InvalidArgument, "Destination/AccessControlTranslation/Owner",
                "the owner override must be 'Destination'");
        if (rule.replication_time) {
            if (rule.replication_time->minutes != replication_time_minutes)
                add(S3ErrorCode::InvalidArgument, "Destination/ReplicationTime/Time/Minutes",
                    "replication time must be 15 minutes");
            if (rule.replication_time->enabled && !(rule.metrics && rule.metrics->enabled))
                add(S3ErrorCode::InvalidRequest, "Destination/Metrics",
                    "replication time control needs Metrics Enabled");
        }
        if (rule.metrics && rule.metrics->event_threshold_minutes &&
            *rule.metrics->event_threshold_minutes != replication_time_minutes)
            add(S3ErrorCode::InvalidArgument, "Destination/Metrics/EventThreshold/Minutes",
                "the metrics event threshold must be 15 minutes");
        const auto& criteria = rule.source_selection_criteria;
        if (criteria && criteria->sse_kms_encrypted_objects.value_or(false) && !rule.replica_kms_key_id)
            add(S3ErrorCode::InvalidRequest, "Destination/EncryptionConfiguration/ReplicaKmsKeyID",
                "replicating SSE-KMS objects needs a ReplicaKmsKeyID");
    }

    void add(S3ErrorCode code, std::string field, std::string message) {
        ConfigProblem problem{code, std::nullopt, std::move(field), std::move(message), {}};
        if (rule_) {
            problem.rule_index = index_;
            problem.rule_id = rule_->id;
        }
        problems_.push_back(std::move(problem));
    }

    const ReplicationConfig& config_;
    const std::optional<std::string_view> source_bucket_;
    std::optional<std::size_t> first_v1_; // the first V1 rule with a destination, see check_v1_destination
    const ReplicationRule* rule_ = nullptr;
    std::size_t index_ = 0;
    std::vector<ConfigProblem> problems_;
};

} // namespace detail

/// Everything that makes `config` unfit to store, as S3 would refuse it;
/// empty when it is valid. Every problem is reported, not only the first.
/// put_config does not call this: a server validates the request first and
/// answers with the first problem's S3 error, as S3 itself does.
///
///     for (const auto& problem : s3repl::validate(config))
///         log(s3repl::to_string(problem.code), s3repl::to_string(problem));
///
/// Without the bucket the configuration is for, a rule that replicates to
/// that very bucket goes unnoticed: a server that has the bucket calls the
/// overload below. Reads `config` only: safe to call from any thread while
/// no one writes it.
///
/// Cost: linear in the configuration, plus the pairs of rules (ids, priority
/// clashes) when there are at most 1000 rules (beyond that, their count is
/// the problem).
inline std::vector<ConfigProblem> validate(const ReplicationConfig& config) {
    return detail::ConfigChecker(config).run();
}

/// validate(config) for the configuration of bucket `source_bucket`: every
/// problem validate(config) finds, plus each rule whose destination is
/// `source_bucket` itself (InvalidRequest, field "Destination/Bucket"), which
/// S3 refuses. What a server answering PutBucketReplication calls:
///
///     const auto problems = s3repl::validate(config, bucket);
///     if (!problems.empty()) answer(problems.front().code, s3repl::to_string(problems.front()));
///
/// Thread safety and cost: as validate(config); `source_bucket` is read
/// during the call only.
inline std::vector<ConfigProblem> validate(const ReplicationConfig& config, std::string_view source_bucket) {
    return detail::ConfigChecker(config, source_bucket).run();
}

} // namespace v0
} // namespace s3repl
