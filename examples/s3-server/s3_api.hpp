#pragma once

#include "aws_chunked.hpp"
#include "http_text.hpp"
#include "listing.hpp"
#include "object_store.hpp"
#include "replicator.hpp"
#include "s3_error.hpp"
#include "s3_xml.hpp"

#include <s3repl/destination.hpp>
#include <s3repl/error.hpp>
#include <s3repl/manager.hpp>

#include <httplib.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace s3server {

/// The S3 REST operations, path-style, on a cpp-httplib server: buckets,
/// objects, ListObjectsV2, object tagging (read), bucket versioning (the
/// version of GET, HEAD and DELETE, delete markers, ListObjectVersions) and
/// bucket replication.
/// Signatures are not checked. Anything else gets NotImplemented.
/// Thread-safe: handlers run on cpp-httplib's thread pool.
class S3Api {
  public:
    S3Api(s3repl::ReplicationManager& manager, ObjectStore& store, Replicator& replicator)
        : manager_(manager), store_(store), replicator_(replicator) {}

    void install(httplib::Server& http) {
        const char* bucket_path = R"(/([^/]+)/?)";
        const char* object_path = R"(/([^/]+)/(.+))";
        // cpp-httplib 0.11 routes HEAD to the GET handlers and drops the body.
        http.Get("/", route([this](const auto& req, auto& res) { list_buckets(req, res); }));
        http.Get(bucket_path, route([this](const auto& req, auto& res) { get_bucket(req, res); }));
        http.Put(bucket_path, route([this](const auto& req, auto& res) { put_bucket(req, res); }));
        http.Delete(bucket_path, route([this](const auto& req, auto& res) { delete_bucket(req, res); }));
        http.Get(object_path, route([this](const auto& req, auto& res) { get_object(req, res); }));
        http.Put(object_path, route([this](const auto& req, auto& res) { put_object(req, res); }));
        http.Delete(object_path, route([this](const auto& req, auto& res) { delete_object(req, res); }));
        http.Post(".*", route([](const auto& req, auto&) { throw not_implemented("POST " + req.path); }));
    }

  private:
    using Request = httplib::Request;
    using Response = httplib::Response;

    // Every S3 error comes back as its XML body; a bug comes back as
    // InternalError instead of a dropped connection.
    httplib::Server::Handler route(std::function<void(const Request&, Response&)> handler) {
        return [this, handler = std::move(handler)](const Request& req, Response& res) {
            char request_id[17];
            std::snprintf(request_id, sizeof request_id, "%016llx",
                          static_cast<unsigned long long>(++request_counter_));
            res.set_header("x-amz-request-id", request_id);
            res.set_header("Server", "s3repl-s3-server");
            try {
                handler(req, res);
            } catch (const S3Error& error) {
                send_error(error, req, res, request_id);
            } catch (const s3repl::InvalidArgument& error) {
                send_error(invalid_argument(error.what()), req, res, request_id);
            } catch (const std::exception& error) {
                std::cerr << req.method << ' ' << req.path << ": " << error.what() << '\n';
                send_error(S3Error("InternalError", 500, "We encountered an internal error. Please try again."), req,
                           res, request_id);
            }
        };
    }

    static void send_error(const S3Error& error, const Request& req, Response& res, const char* request_id) {
        // cpp-httplib 0.11 cuts any body to the request's Range after the
        // handler, an error's too (a 404 came back as a slice of its XML),
        // and answers a Range past that body with its own empty 416. S3 sends
        // its errors whole. Handlers get httplib's own non-const Request as
        // const; clearing its parsed ranges is the only way to say so.
        const_cast<Request&>(req).ranges.clear();
        res.status = error.http_status();
        res.set_content(error_xml(error, req.path, request_id), "application/xml");
    }

    static void send_xml(Response& res, const std::string& xml) { res.set_content(xml, "application/xml"); }

    // req.matches holds sub_match objects; str() copies, so keep the copies here.
    static std::string match(const Request& req, int index) { return req.matches[index].str(); }

    // Sub-resources S3 has that this server does not serve.
    static void refuse_unsupported(const Request& req, std::initializer_list<const char*> served) {
        static constexpr const char* known[] = {"accelerate",
                                                "acl",
                                                "analytics",
                                                "attributes",
                                                "cors",
                                                "delete",
                                                "encryption",
                                                "intelligent-tiering",
                                                "inventory",
                                                "legal-hold",
                                                "lifecycle",
                                                "location",
                                                "logging",
                                                "metrics",
                                                "notification",
                                                "object-lock",
                                                "ownershipControls",
                                                "partNumber",
                                                "policy",
                                                "publicAccessBlock",
                                                "replication",
                                                "requestPayment",
                                                "restore",
                                                "retention",
                                                "select",
                                                "tagging",
                                                "torrent",
                                                "uploadId",
                                                "uploads",
                                                "versionId",
                                                "versioning",
                                                "versions",
                                                "website"};
        for (const char* name : known) {
            if (!req.has_param(name)) continue;
            bool is_served = false;
            for (const char* s : served) is_served = is_served || std::string_view(s) == name;
            if (!is_served) throw not_implemented(req.method + " ?" + name);
        }
    }

    void require_bucket(const std::string& bucket) const {
        if (!store_.bucket_exists(bucket)) throw no_such_bucket();
    }

    // The ?versionId= of a request: empty for "null" (the unversioned
    // object). Only IDs this server could have minted name a file.
    static std::string version_param(const Request& req) {
        const std::string id = req.get_param_value("versionId");
        if (id == "null") return {};
        const bool valid = !id.empty() && id.size() <= 64 &&
                           id.find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyz"
                                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_") == std::string::npos;
        if (!valid) throw invalid_argument("Invalid version id specified");
        return id;
    }

    static void set_version_header(Response& res, const std::string& version_id) {
        res.set_header("x-amz-version-id", version_id.empty() ? "null" : version_id);
    }

    // The PUT payload with AWS's chunked framing, if any, removed.
    static std::string body_of(const Request& req) {
        if (!is_aws_chunked(req.get_header_value("x-amz-content-sha256"), req.get_header_value("Content-Encoding")))
            return req.body;
        std::string body = decode_aws_chunked(req.body);
        const std::string declared = req.get_header_value("x-amz-decoded-content-length");
        if (!declared.empty() && declared != std::to_string(body.size()))
            throw S3Error("IncompleteBody", 400, "x-amz-decoded-content-length does not match the decoded body");
        return body;
    }

    // ---- service and buckets ---------------------------------------------

    void list_buckets(const Request&, Response& res) { send_xml(res, list_buckets_xml(store_.list_buckets())); }

    void put_bucket(const Request& req, Response& res) {
        refuse_unsupported(req, {"replication", "versioning"});
        const std::string bucket = match(req, 1);
        if (req.has_param("replication")) return put_replication(req, bucket);
        if (req.has_param("versioning")) {
            require_bucket(bucket);
            const Versioning state = parse_versioning_xml(body_of(req));
            // S3's rule: a replicated source keeps versioning Enabled.
            if (state == Versioning::Suspended && manager_.get_config(bucket))
                throw S3Error("InvalidBucketState", 409,
                              "A replication configuration is present on this bucket, so you cannot change the "
                              "versioning state. To change the versioning state, first delete the replication "
                              "configuration.");
            return store_.set_versioning(bucket, state);
        }
        if (!valid_bucket_name(bucket))
            throw S3Error("InvalidBucketName", 400, "The specified bucket is not valid: " + bucket);
        if (!store_.create_bucket(bucket))
            throw S3Error("BucketAlreadyOwnedByYou", 409,
                          "Your previous request to create the named bucket succeeded and you already own it.");
        res.set_header("Location", "/" + bucket);
    }

    void get_bucket(const Request& req, Response& res) {
        refuse_unsupported(req, {"replication", "location", "versioning", "versions"});
        const std::string bucket = match(req, 1);
        require_bucket(bucket);
        if (req.method == "HEAD") return; // HeadBucket
        if (req.has_param("versioning")) return send_xml(res, versioning_xml(store_.versioning(bucket)));
        if (req.has_param("versions"))
            return send_xml(
                res, list_object_versions_xml(bucket, req.get_param_value("prefix"), store_.list_versions(bucket)));
        if (req.has_param("location")) {
            // Empty: us-east-1, the only region this server pretends to be.
            return send_xml(res, R"(<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns=")" +
                                     std::string(s3_namespace) + R"("/>)");
        }
        if (req.has_param("replication")) {
            const auto config = manager_.get_config(bucket);
            if (!config)
                throw S3Error("ReplicationConfigurationNotFoundError", 404,
                              "The replication configuration was not found");
            return send_xml(res, s3repl::to_replication_xml(*config));
        }
        if (req.get_param_value("list-type") != "2") throw not_implemented("ListObjects (v1); use ListObjectsV2");
        list_objects_v2(req, res, bucket);
    }

    void delete_bucket(const Request& req, Response& res) {
        refuse_unsupported(req, {"replication"});
        const std::string bucket = match(req, 1);
        if (!req.has_param("replication")) throw not_implemented("DeleteBucket");
        require_bucket(bucket);
        change_config(bucket, std::nullopt);
        res.status = 204;
    }

    void put_replication(const Request& req, const std::string& bucket) {
        require_bucket(bucket);
        s3repl::ReplicationConfig config;
        try {
            config = s3repl::parse_replication_xml(body_of(req));
        } catch (const s3repl::ConfigError& error) {
            throw config_error(error.problem());
        }
        // S3 makes up an ID for a rule that has none.
        for (std::size_t i = 0; i < config.rules.size(); ++i)
            if (config.rules[i].id.empty()) config.rules[i].id = "rule-" + std::to_string(i + 1);
        // S3 answers with the first problem it finds (a destination that is
        // this bucket among them).
        const std::vector<s3repl::ConfigProblem> problems = s3repl::validate(config, bucket);
        if (!problems.empty()) throw config_error(problems.front());
        // S3 requires versioning Enabled on the source and every destination.
        // This demo also replicates between buckets never configured for
        // versioning (unversioned objects); once a source has a versioning
        // state, S3's rule applies.
        const Versioning source = store_.versioning(bucket);
        if (source == Versioning::Suspended)
            throw invalid_request("Versioning must be 'Enabled' on the bucket to apply a replication configuration");
        for (const s3repl::ReplicationRule& rule : config.rules) {
            if (!store_.bucket_exists(rule.destination_bucket))
                throw invalid_request("Destination bucket must exist: " + rule.destination_bucket);
            if (source == Versioning::Enabled && store_.versioning(rule.destination_bucket) != Versioning::Enabled)
                throw invalid_request("Destination bucket must have versioning enabled.");
        }
        change_config(bucket, std::move(config));
    }

    // A configuration change is answered once it is on disk: the snapshot is
    // saved before the answer (save_snapshot is durable, and the library's
    // directory lock orders it with the periodic saves), so a kill -9 right
    // after a 200 keeps it; the periodic save alone could lose it, and the
    // restart would then mark the pending copies it selected FAILED. Changes
    // are rare; each costs one snapshot. When the save fails the change is
    // undone and the client gets 500 InternalError: nothing half-applied.
    void change_config(const std::string& bucket, std::optional<s3repl::ReplicationConfig> config) {
        const auto apply = [&](std::optional<s3repl::ReplicationConfig> c) {
            if (c)
                manager_.put_config(bucket, std::move(*c));
            else
                manager_.delete_config(bucket);
        };
        // One change at a time, or an undo could erase another's change.
        std::lock_guard<std::mutex> lock(config_mutex_);
        std::optional<s3repl::ReplicationConfig> previous = manager_.get_config(bucket);
        apply(std::move(config));
        try {
            manager_.save_snapshot(store_.snapshot_path());
        } catch (const s3repl::SnapshotError& error) {
            apply(std::move(previous));
            std::cerr << error.what() << '\n';
            throw S3Error("InternalError", 500, "The replication configuration could not be saved; it is unchanged.");
        }
    }

    void list_objects_v2(const Request& req, Response& res, const std::string& bucket) {
        ListQuery query;
        query.prefix = req.get_param_value("prefix");
        query.delimiter = req.get_param_value("delimiter");
        query.start_after = req.get_param_value("start-after");
        query.continuation_token = url_decode(req.get_param_value("continuation-token"), false);
        if (req.has_param("max-keys")) {
            const std::string text = req.get_param_value("max-keys");
            if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
                throw invalid_argument("max-keys must be a non-negative integer");
            query.max_keys = std::min<std::size_t>(std::stoul(text), 1000);
        }
        if (req.has_param("encoding-type")) {
            if (req.get_param_value("encoding-type") != "url")
                throw invalid_argument("Invalid Encoding Method specified in Request");
            query.url_encoding = true;
        }
        std::vector<ListedObject> objects;
        for (auto& [key, meta] : store_.list(bucket)) {
            const auto storage_class = meta.headers.find("x-amz-storage-class");
            objects.push_back({key, meta.etag, meta.size, meta.last_modified,
                               storage_class == meta.headers.end() ? "STANDARD" : storage_class->second});
        }
        send_xml(res, list_objects_v2_xml(bucket, query, list_page(objects, query)));
    }

    // S3's rules for new buckets: 3 to 63 of a-z 0-9 . -, starting and ending
    // with a letter or digit. They also make the name a safe directory name.
    // "metrics" is taken: GET /metrics is the Prometheus endpoint.
    static bool valid_bucket_name(const std::string& name) {
        if (name.size() < 3 || name.size() > 63 || name == "metrics") return false;
        for (const char c : name)
            if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
                  c == '.' || c == '-'))
                return false;
        return std::isalnum(static_cast<unsigned char>(name.front())) &&
               std::isalnum(static_cast<unsigned char>(name.back()));
    }

    // ---- objects -----------------------------------------------------------

    void put_object(const Request& req, Response& res) {
        refuse_unsupported(req, {});
        if (req.has_header("x-amz-copy-source")) throw not_implemented("CopyObject");
        const std::string bucket = match(req, 1);
        const std::string key = match(req, 2);
        require_bucket(bucket);
        ObjectMeta meta;
        for (const auto& [name, value] : req.headers) {
            std::string lower = name;
            for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (lower.compare(0, 11, "x-amz-meta-") == 0 || lower == "cache-control" ||
                lower == "content-disposition" || lower == "content-language" || lower == "x-amz-storage-class")
                meta.headers[lower] = value;
        }
        meta.headers["content-type"] =
            req.has_header("Content-Type") ? req.get_header_value("Content-Type") : "binary/octet-stream";
        if (req.has_header("x-amz-tagging")) meta.tags = parse_tagging_header(req.get_header_value("x-amz-tagging"));
        // Versioning Enabled: a new version; Suspended or never configured: the null version.
        const bool versioned = store_.versioning(bucket) == Versioning::Enabled;
        const ObjectMeta stored =
            replicator_.put_object(bucket, key, std::move(meta), body_of(req), write_condition(req),
                                   versioned ? store_.new_version_id() : std::string());
        res.set_header("ETag", stored.etag);
        if (versioned) set_version_header(res, stored.version_id);
    }

    // S3's conditional PutObject: If-Match <etag>, If-None-Match: * (the
    // only value S3 accepts there).
    static s3repl::WriteCondition write_condition(const Request& req) {
        s3repl::WriteCondition condition;
        if (req.has_header("If-Match")) condition.if_match = req.get_header_value("If-Match");
        if (req.has_header("If-None-Match")) {
            if (req.get_header_value("If-None-Match") != "*")
                throw not_implemented("If-None-Match with a value other than *");
            condition.if_none_match = true;
        }
        return condition;
    }

    // The version a GET or HEAD names, or the key's current one. A delete
    // marker answers as S3 does: 405 when named, 404 when current, with
    // x-amz-delete-marker either way.
    std::pair<ObjectMeta, std::string> object_of(const Request& req, Response& res, const std::string& bucket,
                                                 const std::string& key) const {
        const bool named = req.has_param("versionId");
        std::string version_id;
        if (named) {
            version_id = version_param(req);
        } else {
            const std::optional<ObjectMeta> current = store_.latest(bucket, key);
            if (!current) throw no_such_key();
            version_id = current->version_id;
        }
        auto object = store_.get(bucket, key, version_id);
        if (!object) {
            if (named) throw S3Error("NoSuchVersion", 404, "The specified version does not exist.");
            throw no_such_key(); // removed since the lookup
        }
        if (object->first.delete_marker) {
            res.set_header("x-amz-delete-marker", "true");
            set_version_header(res, version_id);
            if (named)
                throw S3Error("MethodNotAllowed", 405, "The specified method is not allowed against this resource.");
            throw no_such_key();
        }
        return std::move(*object);
    }

    void get_object(const Request& req, Response& res) {
        refuse_unsupported(req, {"tagging", "versionId"});
        const std::string bucket = match(req, 1);
        const std::string key = match(req, 2);
        require_bucket(bucket);
        auto object = object_of(req, res, bucket, key);
        const ObjectMeta& meta = object.first;
        if (req.has_param("tagging")) return send_xml(res, tagging_xml(meta.tags));
        for (const auto& [name, value] : meta.headers)
            if (name != "content-type" && name != "x-amz-replication-status") res.set_header(name.c_str(), value);
        if (const auto status = replicator_.status_of(bucket, key, meta))
            res.set_header("x-amz-replication-status", std::string(s3repl::to_aws_string(*status)));
        if (!meta.tags.empty()) res.set_header("x-amz-tagging-count", std::to_string(meta.tags.size()));
        if (!meta.version_id.empty() || store_.versioning(bucket) != Versioning::Unversioned)
            set_version_header(res, meta.version_id);
        res.set_header("ETag", meta.etag);
        res.set_header("Last-Modified", http_date(meta.last_modified));
        res.set_header("Accept-Ranges", "bytes");
        if (req.has_header("Range") && !satisfiable(req.ranges, object.second.size())) {
            res.set_header("Content-Range", "bytes */" + std::to_string(object.second.size()));
            throw S3Error("InvalidRange", 416, "The requested range is not satisfiable")
                .with("RangeRequested", req.get_header_value("Range"))
                .with("ActualObjectSize", std::to_string(object.second.size()));
        }
        // The body on HEAD too: cpp-httplib derives Content-Length from it and sends no body.
        const auto type = meta.headers.find("content-type");
        res.set_content(std::move(object.second),
                        type == meta.headers.end() ? "binary/octet-stream" : type->second.c_str());
    }

    // RFC 9110's rule: a range is satisfiable when its first byte is inside
    // the object, a suffix range ("-N", first = -1) when N and the object
    // are not empty; a Range is when one of its ranges is.
    static bool satisfiable(const httplib::Ranges& ranges, std::size_t size) {
        for (const auto& [first, last] : ranges) {
            if (first < 0 ? last > 0 && size > 0 : static_cast<std::size_t>(first) < size) return true;
        }
        return false;
    }

    void delete_object(const Request& req, Response& res) {
        refuse_unsupported(req, {"versionId"});
        const std::string bucket = match(req, 1);
        const std::string key = match(req, 2);
        require_bucket(bucket);
        res.status = 204; // also when there was no such key or version, as S3 answers
        if (req.has_param("versionId")) {
            const std::string version_id = version_param(req);
            const std::optional<ObjectMeta> removed = replicator_.delete_version(bucket, key, version_id);
            set_version_header(res, version_id);
            if (removed && removed->delete_marker) res.set_header("x-amz-delete-marker", "true");
            return;
        }
        switch (store_.versioning(bucket)) {
        case Versioning::Unversioned: replicator_.delete_object(bucket, key); return;
        case Versioning::Suspended:
            replicator_.put_null_delete_marker(bucket, key);
            set_version_header(res, {});
            break;
        case Versioning::Enabled:
            set_version_header(res, replicator_.put_delete_marker(bucket, key, store_.new_version_id()).version_id);
            break;
        }
        res.set_header("x-amz-delete-marker", "true");
    }

    s3repl::ReplicationManager& manager_;
    ObjectStore& store_;
    Replicator& replicator_;
    std::mutex config_mutex_;
    std::atomic<std::uint64_t> request_counter_{0};
};

} // namespace s3server
