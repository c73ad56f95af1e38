#pragma once

#include "http_text.hpp"
#include "listing.hpp"
#include "s3_error.hpp"

#include <s3repl/rules.hpp>

#include <pugixml.hpp>

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3server {

inline constexpr const char* s3_namespace = "http://s3.amazonaws.com/doc/2006-03-01/";
inline constexpr std::string_view bucket_arn_prefix = "arn:aws:s3:::";

namespace detail {

inline std::string to_text(const pugi::xml_document& doc) {
    std::ostringstream out;
    doc.save(out, "", pugi::format_raw);
    return out.str();
}

// A document with the XML declaration and a root element in S3's namespace.
inline pugi::xml_node start_document(pugi::xml_document& doc, const char* root_name) {
    pugi::xml_node declaration = doc.append_child(pugi::node_declaration);
    declaration.append_attribute("version") = "1.0";
    declaration.append_attribute("encoding") = "UTF-8";
    pugi::xml_node root = doc.append_child(root_name);
    root.append_attribute("xmlns") = s3_namespace;
    return root;
}

inline void add_text(pugi::xml_node parent, const char* name, const std::string& text) {
    parent.append_child(name).text().set(text.c_str());
}

inline std::optional<std::string> child_text(pugi::xml_node parent, const char* name) {
    const pugi::xml_node child = parent.child(name);
    if (!child) return std::nullopt;
    return std::string(child.child_value());
}

inline std::pair<std::string, std::string> parse_tag(pugi::xml_node tag) {
    const auto key = child_text(tag, "Key");
    if (!key) throw malformed_xml("a Tag has no Key");
    return {*key, child_text(tag, "Value").value_or("")};
}

inline std::uint32_t parse_priority(const std::string& text) {
    std::uint64_t value = 0;
    if (text.empty() || text.size() > 10) throw malformed_xml("Priority must be an integer from 0 to 4294967295");
    for (const char c : text) {
        if (c < '0' || c > '9') throw malformed_xml("Priority must be an integer from 0 to 4294967295");
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (value > UINT32_MAX) throw malformed_xml("Priority must be an integer from 0 to 4294967295");
    return static_cast<std::uint32_t>(value);
}

// Filter holds at most one of Prefix, Tag, And; And holds a Prefix and Tags.
inline s3repl::ReplicationFilter parse_filter(pugi::xml_node filter) {
    s3repl::ReplicationFilter result;
    const pugi::xml_node and_node = filter.child("And");
    const int parts = (filter.child("Prefix") ? 1 : 0) + (filter.child("Tag") ? 1 : 0) + (and_node ? 1 : 0);
    if (parts > 1 || std::distance(filter.children("Tag").begin(), filter.children("Tag").end()) > 1)
        throw malformed_xml("a Filter holds one of Prefix, Tag or And (use And to combine them)");
    const pugi::xml_node holder = and_node ? and_node : filter;
    result.prefix = child_text(holder, "Prefix");
    for (const pugi::xml_node tag : holder.children("Tag")) {
        result.tags.push_back(parse_tag(tag));
        for (std::size_t i = 0; i + 1 < result.tags.size(); ++i)
            if (result.tags[i].first == result.tags.back().first)
                throw invalid_argument("duplicate tag key in a Filter: " + result.tags.back().first);
    }
    return result;
}

inline s3repl::ReplicationRule parse_rule(pugi::xml_node rule, std::size_t index) {
    s3repl::ReplicationRule result;
    // S3 makes up an ID when the request has none.
    result.id = child_text(rule, "ID").value_or("rule-" + std::to_string(index + 1));
    if (const auto priority = child_text(rule, "Priority")) result.priority = parse_priority(*priority);

    const auto status = child_text(rule, "Status");
    if (!status || (*status != "Enabled" && *status != "Disabled"))
        throw malformed_xml("a Rule needs Status Enabled or Disabled");
    result.status_enabled = *status == "Enabled";

    // The V1 schema puts Prefix on the rule itself, with no Filter.
    if (const pugi::xml_node filter = rule.child("Filter"))
        result.filter = parse_filter(filter);
    else
        result.filter.prefix = child_text(rule, "Prefix");

    const pugi::xml_node destination = rule.child("Destination");
    const auto arn = child_text(destination, "Bucket");
    if (!destination || !arn) throw malformed_xml("a Rule needs a Destination with a Bucket");
    if (arn->compare(0, bucket_arn_prefix.size(), bucket_arn_prefix) != 0 || arn->size() == bucket_arn_prefix.size())
        throw invalid_argument("Invalid bucket ARN: " + *arn + " (expected arn:aws:s3:::bucket-name)");
    result.destination_bucket = arn->substr(bucket_arn_prefix.size());
    result.destination_storage_class = child_text(destination, "StorageClass");
    return result;
}

inline void add_tag(pugi::xml_node parent, const std::pair<std::string, std::string>& tag) {
    pugi::xml_node node = parent.append_child("Tag");
    add_text(node, "Key", tag.first);
    add_text(node, "Value", tag.second);
}

// The shortest AWS form that reads back to the same filter.
inline void add_filter(pugi::xml_node rule, const s3repl::ReplicationFilter& filter) {
    pugi::xml_node node = rule.append_child("Filter");
    const std::size_t parts = (filter.prefix ? 1 : 0) + filter.tags.size();
    if (parts > 1) node = node.append_child("And");
    if (filter.prefix) add_text(node, "Prefix", *filter.prefix);
    for (const auto& tag : filter.tags) add_tag(node, tag);
}

} // namespace detail

/// Parses a PutBucketReplication body. Throws MalformedXML when the document
/// does not parse or lacks what the schema requires, InvalidArgument for
/// values S3 refuses (a destination that is not a bucket ARN, ...). Elements
/// this server does not model (DeleteMarkerReplication, ...) are ignored.
inline s3repl::ReplicationConfig parse_replication_xml(std::string_view body) {
    pugi::xml_document doc;
    const pugi::xml_parse_result parsed = doc.load_buffer(body.data(), body.size());
    if (!parsed) throw malformed_xml(parsed.description());
    const pugi::xml_node root = doc.document_element();
    if (std::string_view(root.name()) != "ReplicationConfiguration")
        throw malformed_xml("the root element must be ReplicationConfiguration");
    s3repl::ReplicationConfig config;
    config.role = detail::child_text(root, "Role").value_or("");
    for (const pugi::xml_node rule : root.children("Rule"))
        config.rules.push_back(detail::parse_rule(rule, config.rules.size()));
    if (config.rules.empty()) throw malformed_xml("a ReplicationConfiguration needs at least one Rule");
    return config;
}

/// The GetBucketReplication body; parse_replication_xml reads it back equal.
inline std::string replication_xml(const s3repl::ReplicationConfig& config) {
    pugi::xml_document doc;
    pugi::xml_node root = detail::start_document(doc, "ReplicationConfiguration");
    detail::add_text(root, "Role", config.role);
    for (const s3repl::ReplicationRule& rule : config.rules) {
        pugi::xml_node node = root.append_child("Rule");
        detail::add_text(node, "ID", rule.id);
        detail::add_text(node, "Priority", std::to_string(rule.priority));
        detail::add_text(node, "Status", rule.status_enabled ? "Enabled" : "Disabled");
        detail::add_filter(node, rule.filter);
        pugi::xml_node destination = node.append_child("Destination");
        detail::add_text(destination, "Bucket", std::string(bucket_arn_prefix) + rule.destination_bucket);
        if (rule.destination_storage_class)
            detail::add_text(destination, "StorageClass", *rule.destination_storage_class);
    }
    return detail::to_text(doc);
}

/// An S3 error body (no namespace, as S3 sends it).
inline std::string error_xml(const S3Error& error, const std::string& resource, const std::string& request_id) {
    pugi::xml_document doc;
    pugi::xml_node declaration = doc.append_child(pugi::node_declaration);
    declaration.append_attribute("version") = "1.0";
    declaration.append_attribute("encoding") = "UTF-8";
    pugi::xml_node root = doc.append_child("Error");
    detail::add_text(root, "Code", error.code());
    detail::add_text(root, "Message", error.what());
    detail::add_text(root, "Resource", resource);
    detail::add_text(root, "RequestId", request_id);
    return detail::to_text(doc);
}

/// The ListBuckets body.
inline std::string list_buckets_xml(const std::vector<std::pair<std::string, SystemTime>>& buckets) {
    pugi::xml_document doc;
    pugi::xml_node root = detail::start_document(doc, "ListAllMyBucketsResult");
    pugi::xml_node owner = root.append_child("Owner");
    detail::add_text(owner, "ID", "s3repl-demo");
    detail::add_text(owner, "DisplayName", "s3repl-demo");
    pugi::xml_node list = root.append_child("Buckets");
    for (const auto& bucket : buckets) {
        pugi::xml_node node = list.append_child("Bucket");
        detail::add_text(node, "Name", bucket.first);
        detail::add_text(node, "CreationDate", iso8601_millis(bucket.second));
    }
    return detail::to_text(doc);
}

/// The ListObjectsV2 body. The continuation tokens are percent-encoded keys.
inline std::string list_objects_v2_xml(const std::string& bucket, const ListQuery& query, const ListPage& page) {
    const auto name = [&](const std::string& text) { return query.url_encoding ? url_encode(text, true) : text; };
    pugi::xml_document doc;
    pugi::xml_node root = detail::start_document(doc, "ListBucketResult");
    detail::add_text(root, "Name", bucket);
    detail::add_text(root, "Prefix", name(query.prefix));
    if (!query.delimiter.empty()) detail::add_text(root, "Delimiter", name(query.delimiter));
    if (!query.start_after.empty()) detail::add_text(root, "StartAfter", name(query.start_after));
    if (!query.continuation_token.empty())
        detail::add_text(root, "ContinuationToken", url_encode(query.continuation_token));
    if (page.truncated) detail::add_text(root, "NextContinuationToken", url_encode(page.next_continuation_token));
    detail::add_text(root, "KeyCount", std::to_string(page.contents.size() + page.common_prefixes.size()));
    detail::add_text(root, "MaxKeys", std::to_string(query.max_keys));
    detail::add_text(root, "IsTruncated", page.truncated ? "true" : "false");
    if (query.url_encoding) detail::add_text(root, "EncodingType", "url");
    for (const ListedObject& object : page.contents) {
        pugi::xml_node node = root.append_child("Contents");
        detail::add_text(node, "Key", name(object.key));
        detail::add_text(node, "LastModified", iso8601_millis(object.last_modified));
        detail::add_text(node, "ETag", object.etag);
        detail::add_text(node, "Size", std::to_string(object.size));
        detail::add_text(node, "StorageClass", object.storage_class);
    }
    for (const std::string& prefix : page.common_prefixes)
        detail::add_text(root.append_child("CommonPrefixes"), "Prefix", name(prefix));
    return detail::to_text(doc);
}

/// The GetObjectTagging body.
inline std::string tagging_xml(const s3repl::TagSet& tags) {
    pugi::xml_document doc;
    pugi::xml_node set = detail::start_document(doc, "Tagging").append_child("TagSet");
    for (const auto& tag : tags) detail::add_tag(set, tag);
    return detail::to_text(doc);
}

} // namespace s3server
