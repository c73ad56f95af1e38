#pragma once

#include "http_text.hpp"
#include "listing.hpp"
#include "object_store.hpp"
#include "s3_error.hpp"

#include <s3repl/aws_xml.hpp>
#include <s3repl/rules.hpp>
#include <s3repl/validate.hpp>

#include <pugixml.hpp>

#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3server {

// The replication configuration document itself is the library's
// (s3repl/aws_xml.hpp): parse_replication_xml, to_replication_xml.
inline constexpr std::string_view s3_namespace = s3repl::s3_xml_namespace;

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
    root.append_attribute("xmlns") = std::string(s3_namespace).c_str();
    return root;
}

inline void add_text(pugi::xml_node parent, const char* name, const std::string& text) {
    parent.append_child(name).text().set(text.c_str());
}

inline void add_tag(pugi::xml_node parent, const std::pair<std::string, std::string>& tag) {
    pugi::xml_node node = parent.append_child("Tag");
    add_text(node, "Key", tag.first);
    add_text(node, "Value", tag.second);
}

} // namespace detail

/// The S3 error for a replication configuration the library refused (a
/// parse's ConfigError or validate()'s first problem): its code, HTTP 400.
inline S3Error config_error(const s3repl::ConfigProblem& problem) {
    if (problem.code == s3repl::S3ErrorCode::MalformedXML) {
        std::string where = problem.rule_index ? "Rule " + std::to_string(*problem.rule_index) : std::string();
        if (!problem.field.empty()) where += (where.empty() ? "" : " ") + problem.field;
        return malformed_xml((where.empty() ? "" : where + ": ") + problem.message);
    }
    return S3Error(std::string(s3repl::to_string(problem.code)), 400, s3repl::to_string(problem));
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
    for (const auto& [element, text] : error.details()) detail::add_text(root, element.c_str(), text);
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

/// The GetBucketVersioning body: no Status for a bucket never configured.
inline std::string versioning_xml(Versioning state) {
    pugi::xml_document doc;
    pugi::xml_node root = detail::start_document(doc, "VersioningConfiguration");
    if (state != Versioning::Unversioned)
        detail::add_text(root, "Status", state == Versioning::Enabled ? "Enabled" : "Suspended");
    return detail::to_text(doc);
}

/// The state a PutBucketVersioning body asks for: Status Enabled or
/// Suspended (MfaDelete is not served). Throws S3Error MalformedXML or, for
/// another Status, IllegalVersioningConfigurationException, as S3 does.
inline Versioning parse_versioning_xml(const std::string& body) {
    pugi::xml_document doc;
    if (!doc.load_string(body.c_str())) throw malformed_xml("the VersioningConfiguration is not XML");
    const pugi::xml_node root = doc.child("VersioningConfiguration");
    if (!root) throw malformed_xml("the root element must be VersioningConfiguration");
    if (root.child("MfaDelete")) throw not_implemented("MfaDelete");
    const std::string status = root.child("Status").text().as_string();
    if (status == "Enabled") return Versioning::Enabled;
    if (status == "Suspended") return Versioning::Suspended;
    throw S3Error("IllegalVersioningConfigurationException", 400,
                  "The versioning configuration specified in the request is invalid: Status must be Enabled or "
                  "Suspended");
}

/// The ListObjectVersions body: every version of every key under `prefix`,
/// keys in byte order, each key's versions newest first, as Version and
/// DeleteMarker elements in that order. Not paginated (a demo).
inline std::string list_object_versions_xml(const std::string& bucket, const std::string& prefix,
                                            const std::vector<std::pair<std::string, std::vector<ObjectMeta>>>& keys) {
    pugi::xml_document doc;
    pugi::xml_node root = detail::start_document(doc, "ListVersionsResult");
    detail::add_text(root, "Name", bucket);
    detail::add_text(root, "Prefix", prefix);
    detail::add_text(root, "KeyMarker", "");
    detail::add_text(root, "VersionIdMarker", "");
    detail::add_text(root, "MaxKeys", "1000");
    detail::add_text(root, "IsTruncated", "false");
    for (const auto& [key, versions] : keys) {
        if (key.compare(0, prefix.size(), prefix) != 0) continue;
        bool latest = true;
        for (const ObjectMeta& version : versions) {
            pugi::xml_node node = root.append_child(version.delete_marker ? "DeleteMarker" : "Version");
            detail::add_text(node, "Key", key);
            detail::add_text(node, "VersionId", version.version_id.empty() ? "null" : version.version_id);
            detail::add_text(node, "IsLatest", latest ? "true" : "false");
            detail::add_text(node, "LastModified", iso8601_millis(version.last_modified));
            if (!version.delete_marker) {
                const auto storage_class = version.headers.find("x-amz-storage-class");
                detail::add_text(node, "ETag", version.etag);
                detail::add_text(node, "Size", std::to_string(version.size));
                detail::add_text(node, "StorageClass",
                                 storage_class == version.headers.end() ? "STANDARD" : storage_class->second);
            }
            pugi::xml_node owner = node.append_child("Owner");
            detail::add_text(owner, "ID", "s3repl-demo");
            detail::add_text(owner, "DisplayName", "s3repl-demo");
            latest = false;
        }
    }
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
