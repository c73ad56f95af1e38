#pragma once

// The mapping between ReplicationConfig and AWS's ReplicationConfiguration
// document, written once for both of its spellings: S3's XML body and the
// CLI's JSON. The two differ only in their containers (XML repeats <Rule>
// and <Tag>, JSON has "Rules" and "Tags" arrays) and their scalars (XML
// text, JSON numbers and strings), which the Node and Out adapters of
// aws_xml.hpp and aws_json.hpp hide.
//
// Node (reading), a cheap handle on one element or JSON value:
//   bool members(std::vector<std::pair<std::string_view, Node>>&) const
//       its children in order; false when it is not a container
//   bool items(std::vector<Node>&) const       JSON arrays; false otherwise
//   std::optional<std::string> text() const    a text element / a string
//   std::optional<std::uint32_t> uint32() const
//   static constexpr bool repeated_lists       true: XML (repeated elements)
// Out (writing): text(name, value), uint32(name, value), open(name),
//   close(), open_list(json_name), close_list(), open_item(xml_name), close_item().

#include "s3repl/detail/utf8.hpp"
#include "s3repl/error.hpp"
#include "s3repl/rules.hpp"
#include "s3repl/validate.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3repl {
inline namespace v0 {
namespace detail {

/// The largest document either parser reads: S3's own limit for
/// PutBucketReplication (2 MB); it bounds the time and memory a parse takes.
inline constexpr std::size_t max_config_document_size = 2 * 1024 * 1024;

[[noreturn]] inline void config_fail(S3ErrorCode code, std::optional<std::size_t> rule, std::string field,
                                     std::string message) {
    throw ConfigError(ConfigProblem{code, rule, std::move(field), std::move(message), {}});
}

template <class Node>
class DocumentReader {
  public:
    ReplicationConfig read(const Node& root) {
        ReplicationConfig config;
        const Fields fields = open(root, "", {"Role", rules_name}, "Rule");
        config.role = required_text(fields, "Role");
        std::size_t index = 0;
        for (const Node& node : list(fields, "Rule", "Rules")) {
            rule_ = index++;
            config.rules.push_back(read_rule(node));
        }
        return config;
    }

  private:
    // The list members as each spelling names them.
    static constexpr std::string_view rules_name = Node::repeated_lists ? "Rule" : "Rules";
    static constexpr std::string_view tags_name = Node::repeated_lists ? "Tag" : "Tags";

    // A container's children by name, checked against the names it may hold.
    struct Fields {
        std::string path;
        std::vector<std::pair<std::string_view, Node>> members;

        std::optional<Node> find(std::string_view name) const {
            for (const auto& member : members)
                if (member.first == name) return member.second;
            return std::nullopt;
        }
        std::string at(std::string_view name) const {
            return path.empty() ? std::string(name) : path + "/" + std::string(name);
        }
    };

    // `repeated`: the one name that may appear more than once (XML lists).
    Fields open(const Node& node, std::string path, std::initializer_list<std::string_view> allowed,
                std::string_view repeated = {}) {
        Fields fields{std::move(path), {}};
        if (!node.members(fields.members)) malformed(fields.path, "expected elements, found text or another value");
        for (std::size_t i = 0; i < fields.members.size(); ++i) {
            const std::string_view name = fields.members[i].first;
            if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
                malformed(fields.at(name), "unknown element");
            if (Node::repeated_lists && name == repeated) continue;
            for (std::size_t j = 0; j < i; ++j)
                if (fields.members[j].first == name) malformed(fields.at(name), "the element is given twice");
        }
        return fields;
    }

    // XML: every child named `xml_name`; JSON: the items of the `json_name` array.
    std::vector<Node> list(const Fields& fields, std::string_view xml_name, std::string_view json_name) {
        std::vector<Node> nodes;
        if (Node::repeated_lists) {
            for (const auto& member : fields.members)
                if (member.first == xml_name) nodes.push_back(member.second);
        } else if (const std::optional<Node> array = fields.find(json_name)) {
            if (!array->items(nodes)) malformed(fields.at(json_name), "expected an array");
        }
        return nodes;
    }

    std::optional<std::string> optional_text(const Fields& fields, std::string_view name) {
        const std::optional<Node> node = fields.find(name);
        if (!node) return std::nullopt;
        std::optional<std::string> text = node->text();
        if (!text) malformed(fields.at(name), "expected text");
        return text;
    }
    std::string required_text(const Fields& fields, std::string_view name) {
        if (!fields.find(name)) malformed(fields.at(name), "the element is required");
        return *optional_text(fields, name);
    }
    std::optional<std::uint32_t> optional_uint32(const Fields& fields, std::string_view name) {
        const std::optional<Node> node = fields.find(name);
        if (!node) return std::nullopt;
        const std::optional<std::uint32_t> value = node->uint32();
        if (!value) malformed(fields.at(name), "expected an integer from 0 to 4294967295");
        return value;
    }
    std::uint32_t required_uint32(const Fields& fields, std::string_view name) {
        if (!fields.find(name)) malformed(fields.at(name), "the element is required");
        return *optional_uint32(fields, name);
    }

    bool status_word(const Fields& fields) {
        const std::string word = required_text(fields, "Status");
        if (word != "Enabled" && word != "Disabled") malformed(fields.at("Status"), "expected Enabled or Disabled");
        return word == "Enabled";
    }
    // An element holding only a Status.
    std::optional<bool> optional_status(const Fields& parent, std::string_view name) {
        const std::optional<Node> node = parent.find(name);
        if (!node) return std::nullopt;
        return status_word(open(*node, parent.at(name), {"Status"}));
    }

    ReplicationRule read_rule(const Node& node) {
        ReplicationRule rule;
        const Fields fields = open(node, "",
                                   {"ID", "Priority", "Prefix", "Filter", "Status", "SourceSelectionCriteria",
                                    "ExistingObjectReplication", "Destination", "DeleteMarkerReplication"});
        rule.id = optional_text(fields, "ID").value_or(std::string());
        const std::optional<std::uint32_t> priority = optional_uint32(fields, "Priority");
        rule.has_priority = priority.has_value();
        rule.priority = priority.value_or(0);
        rule.prefix = optional_text(fields, "Prefix");
        const std::optional<Node> filter = fields.find("Filter");
        rule.has_filter = filter.has_value();
        if (filter) rule.filter = read_filter(*filter);
        rule.status_enabled = status_word(fields);
        if (const std::optional<Node> criteria = fields.find("SourceSelectionCriteria")) {
            const Fields c =
                open(*criteria, "SourceSelectionCriteria", {"SseKmsEncryptedObjects", "ReplicaModifications"});
            rule.source_selection_criteria = SourceSelectionCriteria{optional_status(c, "SseKmsEncryptedObjects"),
                                                                     optional_status(c, "ReplicaModifications")};
        }
        rule.existing_object_replication = optional_status(fields, "ExistingObjectReplication");
        const std::optional<Node> destination = fields.find("Destination");
        if (!destination) malformed("Destination", "the element is required");
        read_destination(*destination, rule);
        rule.delete_marker_replication = optional_status(fields, "DeleteMarkerReplication");
        return rule;
    }

    ReplicationFilter read_filter(const Node& node) {
        ReplicationFilter filter;
        const Fields fields = open(node, "Filter", {"Prefix", "Tag", "And"});
        if (fields.members.size() > 1)
            malformed("Filter", "a Filter holds one of Prefix, Tag or And (use And to combine them)");
        filter.prefix = optional_text(fields, "Prefix");
        if (const std::optional<Node> tag = fields.find("Tag")) filter.tags.push_back(read_tag(*tag, "Filter/Tag"));
        if (const std::optional<Node> conjunction = fields.find("And")) {
            const Fields a = open(*conjunction, "Filter/And", {"Prefix", tags_name}, "Tag");
            filter.prefix = optional_text(a, "Prefix");
            for (const Node& tag : list(a, "Tag", "Tags")) filter.tags.push_back(read_tag(tag, "Filter/And/Tag"));
            // And is the only form for two conditions: record it only where it is a choice.
            filter.and_operator = filter.tags.size() + (filter.prefix ? 1 : 0) <= 1;
        }
        return filter;
    }

    std::pair<std::string, std::string> read_tag(const Node& node, const char* path) {
        const Fields fields = open(node, path, {"Key", "Value"});
        return {required_text(fields, "Key"), required_text(fields, "Value")};
    }

    void read_destination(const Node& node, ReplicationRule& rule) {
        const Fields fields = open(node, "Destination",
                                   {"Bucket", "Account", "StorageClass", "AccessControlTranslation",
                                    "EncryptionConfiguration", "ReplicationTime", "Metrics"});
        const std::string arn = required_text(fields, "Bucket");
        std::optional<std::string> bucket = bucket_from_arn(arn);
        if (!bucket)
            config_fail(S3ErrorCode::InvalidArgument, rule_, "Destination/Bucket",
                        "'" + arn + "' is not a bucket ARN (arn:aws:s3:::bucket-name)");
        rule.destination_bucket = std::move(*bucket);
        rule.destination_account = optional_text(fields, "Account");
        rule.destination_storage_class = optional_text(fields, "StorageClass");
        if (const std::optional<Node> acl = fields.find("AccessControlTranslation"))
            rule.access_control_owner =
                required_text(open(*acl, fields.at("AccessControlTranslation"), {"Owner"}), "Owner");
        if (const std::optional<Node> encryption = fields.find("EncryptionConfiguration"))
            rule.replica_kms_key_id = required_text(
                open(*encryption, fields.at("EncryptionConfiguration"), {"ReplicaKmsKeyID"}), "ReplicaKmsKeyID");
        if (const std::optional<Node> time = fields.find("ReplicationTime")) {
            const Fields t = open(*time, fields.at("ReplicationTime"), {"Status", "Time"});
            const std::optional<Node> value = t.find("Time");
            if (!value) malformed(t.at("Time"), "the element is required");
            rule.replication_time =
                ReplicationTime{status_word(t), required_uint32(open(*value, t.at("Time"), {"Minutes"}), "Minutes")};
        }
        if (const std::optional<Node> metrics = fields.find("Metrics")) {
            const Fields m = open(*metrics, fields.at("Metrics"), {"Status", "EventThreshold"});
            rule.metrics = ReplicationMetrics{status_word(m), std::nullopt};
            if (const std::optional<Node> threshold = m.find("EventThreshold"))
                rule.metrics->event_threshold_minutes =
                    required_uint32(open(*threshold, m.at("EventThreshold"), {"Minutes"}), "Minutes");
        }
    }

    [[noreturn]] void malformed(const std::string& field, const std::string& what) {
        config_fail(S3ErrorCode::MalformedXML, rule_, field, what);
    }

    std::optional<std::size_t> rule_; // the rule being read
};

template <class Out>
void write_status(Out& out, const char* name, bool enabled) {
    out.open(name);
    out.text("Status", enabled ? "Enabled" : "Disabled");
    out.close();
}

template <class Out>
void write_filter(Out& out, const ReplicationFilter& filter) {
    out.open("Filter");
    const std::size_t conditions = filter.tags.size() + (filter.prefix ? 1 : 0);
    const bool conjunction = filter.and_operator || conditions > 1;
    if (conjunction) out.open("And");
    if (filter.prefix) out.text("Prefix", *filter.prefix);
    if (conjunction) out.open_list("Tags");
    for (const auto& tag : filter.tags) {
        if (conjunction) {
            out.open_item("Tag");
        } else {
            out.open("Tag");
        }
        out.text("Key", tag.first);
        out.text("Value", tag.second);
        if (conjunction) {
            out.close_item();
        } else {
            out.close();
        }
    }
    if (conjunction) {
        out.close_list();
        out.close();
    }
    out.close();
}

template <class Out>
void write_destination(Out& out, const ReplicationRule& rule) {
    out.open("Destination");
    out.text("Bucket", bucket_arn(rule.destination_bucket));
    if (rule.destination_account) out.text("Account", *rule.destination_account);
    if (rule.destination_storage_class) out.text("StorageClass", *rule.destination_storage_class);
    if (rule.access_control_owner) {
        out.open("AccessControlTranslation");
        out.text("Owner", *rule.access_control_owner);
        out.close();
    }
    if (rule.replica_kms_key_id) {
        out.open("EncryptionConfiguration");
        out.text("ReplicaKmsKeyID", *rule.replica_kms_key_id);
        out.close();
    }
    if (rule.replication_time) {
        out.open("ReplicationTime");
        out.text("Status", rule.replication_time->enabled ? "Enabled" : "Disabled");
        out.open("Time");
        out.uint32("Minutes", rule.replication_time->minutes);
        out.close();
        out.close();
    }
    if (rule.metrics) {
        out.open("Metrics");
        out.text("Status", rule.metrics->enabled ? "Enabled" : "Disabled");
        if (rule.metrics->event_threshold_minutes) {
            out.open("EventThreshold");
            out.uint32("Minutes", *rule.metrics->event_threshold_minutes);
            out.close();
        }
        out.close();
    }
    out.close();
}

// In the order S3 itself answers GetBucketReplication. Throws
// InvalidArgument for a string that is not UTF-8, which neither spelling
// can carry (the manager's configurations never hold one).
template <class Out>
void write_document(Out& out, const ReplicationConfig& config) {
    for_each_string(config, [](std::string_view text, const char* field) {
        if (!is_valid_utf8(text)) throw InvalidArgument(std::string(field) + " is not valid UTF-8");
    });
    out.text("Role", config.role);
    out.open_list("Rules");
    for (const ReplicationRule& rule : config.rules) {
        out.open_item("Rule");
        if (!rule.id.empty()) out.text("ID", rule.id);
        if (rule.has_priority) out.uint32("Priority", rule.priority);
        if (rule.prefix) out.text("Prefix", *rule.prefix);
        if (rule.has_filter) write_filter(out, rule.filter);
        out.text("Status", rule.status_enabled ? "Enabled" : "Disabled");
        if (const auto& criteria = rule.source_selection_criteria) {
            out.open("SourceSelectionCriteria");
            if (criteria->sse_kms_encrypted_objects)
                write_status(out, "SseKmsEncryptedObjects", *criteria->sse_kms_encrypted_objects);
            if (criteria->replica_modifications)
                write_status(out, "ReplicaModifications", *criteria->replica_modifications);
            out.close();
        }
        if (rule.existing_object_replication)
            write_status(out, "ExistingObjectReplication", *rule.existing_object_replication);
        write_destination(out, rule);
        if (rule.delete_marker_replication)
            write_status(out, "DeleteMarkerReplication", *rule.delete_marker_replication);
        out.close_item();
    }
    out.close_list();
}

} // namespace detail
} // namespace v0
} // namespace s3repl
