#pragma once

#include "aws_chunked.hpp"
#include "byte_range.hpp"
#include "http_request.hpp"
#include "http_text.hpp"
#include "listing.hpp"
#include "object_store.hpp"
#include "replicator.hpp"
#include "s3_error.hpp"
#include "s3_xml.hpp"
#include "sigv4.hpp"

#include <s3repl/destination.hpp>
#include <s3repl/detail/utf8.hpp>
#include <s3repl/error.hpp>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

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
#include <utility>

namespace s3server {

/// The S3 REST operations, path-style: buckets, objects, ListObjectsV2,
/// object tagging (read), bucket versioning (the version of GET, HEAD and
/// DELETE, delete markers, ListObjectVersions) and bucket replication.
/// Every request's signature is verified first (SigV4Verifier). Anything
/// else gets NotImplemented.
/// Thread-safe: the HTTP server calls route from several threads at once.
/// `Manager` as Replicator's.
template <class Manager>
class S3Api {
  public:
    /// `verifier` must outlive the S3Api. `save_config` makes a changed
    /// replication configuration durable before it is answered (the
    /// in-memory manager: a snapshot save, which throws SnapshotError when
    /// it fails); empty when the manager's put_config is durable itself
    /// (Redis).
    S3Api(Manager& manager, ObjectStore& store, Replicator<Manager>& replicator, const SigV4Verifier& verifier,
          std::function<void()> save_config)
        : manager_(manager), store_(store), replicator_(replicator), verifier_(verifier),
          save_config_(std::move(save_config)) {}

    /// Every S3 request passes here before its handler. Every S3 error
    /// comes back as its XML body; a bug comes back as InternalError
    /// instead of a dropped connection. HEAD goes to the GET handlers (the
    /// HTTP layer sends their headers without the body).
    HttpResponse route(const HttpRequest& req) {
        const std::string request_id = next_request_id();
        HttpResponse res = start_response(request_id, req.version());
        try {
            dispatch(req, verified_target_of(req), res);
        } catch (const S3Error& error) {
            send_error(error, resource_of(req), res, request_id);
        } catch (const s3repl::InvalidArgument& error) {
            send_error(invalid_argument(error.what()), resource_of(req), res, request_id);
        } catch (const std::exception& error) {
            std::cerr << req.method_string() << ' ' << req.target() << ": " << error.what() << '\n';
            send_error(S3Error("InternalError", 500, "We encountered an internal error. Please try again."),
                       resource_of(req), res, request_id);
        }
        return res;
    }

    /// The answer to a request the HTTP layer refused before it could be
    /// routed (a parse error, a limit): the error's XML, as S3 sends it.
    HttpResponse refuse(const S3Error& error) {
        const std::string request_id = next_request_id();
        HttpResponse res = start_response(request_id, 11);
        send_error(error, {}, res, request_id);
        return res;
    }

  private:
    /// The target, and the bucket and key it names (path-style).
    struct Target : RequestTarget {
        std::string bucket;                                ///< empty for the service ("/")
        std::string key;                                   ///< empty for a bucket
        Authentication auth = Authentication::anonymous(); ///< what its chunks must still prove
    };

    // The signature first, as S3 does: an unsigned request is denied
    // whatever it names. A signed SHA-256 of the payload is checked here for
    // every request; aws-chunked signatures where the body is decoded (body_of).
    Target verified_target_of(const HttpRequest& req) const {
        Authentication auth = verifier_.verify(req);
        auth.check_payload(req.body());
        Target target = target_of(req);
        target.auth = std::move(auth);
        return target;
    }

    static Target target_of(const HttpRequest& req) {
        Target target;
        static_cast<RequestTarget&>(target) = parse_target(req.target());
        const std::string_view rest = std::string_view(target.path).substr(1);
        const std::size_t slash = rest.find('/');
        target.bucket = rest.substr(0, slash);
        if (slash != std::string_view::npos) target.key = rest.substr(slash + 1);
        // A key is UTF-8 text (S3's rule); a NUL has no place in the XML
        // of a listing, escaped or not.
        if (!s3repl::detail::is_valid_utf8(target.key) || target.key.find('\0') != std::string::npos)
            throw S3Error("InvalidURI", 400, "Couldn't parse the specified URI.");
        return target;
    }

    // An error's <Resource>: the path as sent.
    static std::string resource_of(const HttpRequest& req) {
        const std::string_view target = req.target();
        return std::string(target.substr(0, target.find('?')));
    }

    static HttpResponse start_response(const std::string& request_id, unsigned version) {
        HttpResponse res{boost::beast::http::status::ok, version};
        res.set("x-amz-request-id", request_id);
        res.set(boost::beast::http::field::server, "s3repl-s3-server");
        return res;
    }

    std::string next_request_id() {
        char request_id[17];
        std::snprintf(request_id, sizeof request_id, "%016llx", static_cast<unsigned long long>(++request_counter_));
        return request_id;
    }

    void dispatch(const HttpRequest& req, const Target& target, HttpResponse& res) {
        using boost::beast::http::verb;
        const verb method = req.method();
        const bool read = method == verb::get || method == verb::head;
        if (method == verb::post) throw not_implemented("POST " + target.path);
        if (target.path == "/") {
            if (read) return list_buckets(res);
        } else if (target.key.empty()) {
            if (read) return get_bucket(req, target, res);
            if (method == verb::put) return put_bucket(req, target, res);
            if (method == verb::delete_) return delete_bucket(req, target, res);
        } else {
            if (read) return get_object(req, target, res);
            if (method == verb::put) return put_object(req, target, res);
            if (method == verb::delete_) return delete_object(req, target, res);
        }
        throw method_not_allowed();
    }

    static void send_error(const S3Error& error, const std::string& resource, HttpResponse& res,
                           const std::string& request_id) {
        res.result(static_cast<unsigned>(error.http_status()));
        send_xml(res, error_xml(error, resource, request_id));
    }

    static void send_xml(HttpResponse& res, std::string xml) {
        res.set(boost::beast::http::field::content_type, "application/xml");
        res.body() = std::move(xml);
    }

    static bool has_header(const HttpRequest& req, std::string_view name) { return req.find(name) != req.end(); }

    // The first value of a header field, exactly as sent.
    static std::string header(const HttpRequest& req, std::string_view name) { return std::string(req[name]); }

    // Sub-resources S3 has that this server does not serve.
    static void refuse_unsupported(const HttpRequest& req, const Target& target,
                                   std::initializer_list<const char*> served) {
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
            if (!target.has(name)) continue;
            bool is_served = false;
            for (const char* s : served) is_served = is_served || std::string_view(s) == name;
            if (!is_served) throw not_implemented(std::string(req.method_string()) + " ?" + name);
        }
    }

    void require_bucket(const std::string& bucket) const {
        if (!store_.bucket_exists(bucket)) throw no_such_bucket();
    }

    // The ?versionId= of a request: empty for "null" (the unversioned
    // object). Only IDs this server could have minted name a file.
    static std::string version_param(const Target& target) {
        const std::string id = target.get("versionId");
        if (id == "null") return {};
        const bool valid = !id.empty() && id.size() <= 64 &&
                           id.find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyz"
                                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_") == std::string::npos;
        if (!valid) throw invalid_argument("Invalid version id specified");
        return id;
    }

    static void set_version_header(HttpResponse& res, const std::string& version_id) {
        res.set("x-amz-version-id", version_id.empty() ? "null" : version_id);
    }

    // The PUT payload with AWS's chunked framing, if any, removed, its
    // chunk signatures verified when the request signed them.
    static std::string body_of(const HttpRequest& req, const Target& target) {
        if (!is_aws_chunked(req["x-amz-content-sha256"], req[boost::beast::http::field::content_encoding]))
            return req.body();
        std::optional<sigv4::ChunkSignatureChain> signatures = target.auth.chunk_signatures();
        std::string body = decode_aws_chunked(req.body(), signatures ? &*signatures : nullptr);
        const std::string declared = header(req, "x-amz-decoded-content-length");
        if (!declared.empty() && declared != std::to_string(body.size()))
            throw S3Error("IncompleteBody", 400, "x-amz-decoded-content-length does not match the decoded body");
        return body;
    }

    // ---- service and buckets ---------------------------------------------

    void list_buckets(HttpResponse& res) { send_xml(res, list_buckets_xml(store_.list_buckets())); }

    void put_bucket(const HttpRequest& req, const Target& target, HttpResponse& res) {
        refuse_unsupported(req, target, {"replication", "versioning"});
        const std::string bucket = target.bucket;
        if (target.has("replication")) return put_replication(req, target);
        if (target.has("versioning")) {
            require_bucket(bucket);
            const Versioning state = parse_versioning_xml(body_of(req, target));
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
        res.set("Location", "/" + bucket);
    }

    void get_bucket(const HttpRequest& req, const Target& target, HttpResponse& res) {
        refuse_unsupported(req, target, {"replication", "location", "versioning", "versions"});
        const std::string bucket = target.bucket;
        require_bucket(bucket);
        if (req.method() == boost::beast::http::verb::head) return; // HeadBucket
        if (target.has("versioning")) return send_xml(res, versioning_xml(store_.versioning(bucket)));
        if (target.has("versions"))
            return send_xml(res, list_object_versions_xml(bucket, target.get("prefix"), store_.list_versions(bucket)));
        if (target.has("location")) {
            // Empty: us-east-1, the only region this server pretends to be.
            return send_xml(res, R"(<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns=")" +
                                     std::string(s3_namespace) + R"("/>)");
        }
        if (target.has("replication")) {
            const auto config = manager_.get_config(bucket);
            if (!config)
                throw S3Error("ReplicationConfigurationNotFoundError", 404,
                              "The replication configuration was not found");
            return send_xml(res, s3repl::to_replication_xml(*config));
        }
        if (target.get("list-type") != "2") throw not_implemented("ListObjects (v1); use ListObjectsV2");
        list_objects_v2(target, res, bucket);
    }

    void delete_bucket(const HttpRequest& req, const Target& target, HttpResponse& res) {
        refuse_unsupported(req, target, {"replication"});
        const std::string bucket = target.bucket;
        if (!target.has("replication")) throw not_implemented("DeleteBucket");
        require_bucket(bucket);
        change_config(bucket, std::nullopt);
        res.result(204);
    }

    void put_replication(const HttpRequest& req, const Target& target) {
        const std::string& bucket = target.bucket;
        require_bucket(bucket);
        s3repl::ReplicationConfig config;
        try {
            config = s3repl::parse_replication_xml(body_of(req, target));
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

    // A configuration change is answered once it is durable. In memory: the
    // snapshot is saved before the answer (save_snapshot is durable, and the
    // library's directory lock orders it with the periodic saves), so a
    // kill -9 right after a 200 keeps it; the periodic save alone could lose
    // it, and the restart would then mark the pending copies it selected
    // FAILED. Changes are rare; each costs one snapshot. When the save fails
    // the change is undone and the client gets 500 InternalError: nothing
    // half-applied. On Redis, put_config is durable once it returns (as
    // durable as the Redis server is configured to be), and a BackendError
    // means it did not apply: 500 InternalError too.
    void change_config(const std::string& bucket, std::optional<s3repl::ReplicationConfig> config) {
        const auto apply = [&](std::optional<s3repl::ReplicationConfig> c) {
            if (c)
                manager_.put_config(bucket, std::move(*c));
            else
                manager_.delete_config(bucket);
        };
        // One change at a time, or an undo could erase another's change.
        std::lock_guard<std::mutex> lock(config_mutex_);
        const auto unsaved = [](const s3repl::Error& error) {
            std::cerr << error.what() << '\n';
            return S3Error("InternalError", 500, "The replication configuration could not be saved; it is unchanged.");
        };
        try {
            std::optional<s3repl::ReplicationConfig> previous = manager_.get_config(bucket);
            apply(std::move(config));
            try {
                if (save_config_) save_config_();
            } catch (const s3repl::SnapshotError& error) {
                apply(std::move(previous));
                throw unsaved(error);
            }
        } catch (const s3repl::BackendError& error) {
            throw unsaved(error);
        }
    }

    void list_objects_v2(const Target& target, HttpResponse& res, const std::string& bucket) {
        ListQuery query;
        query.prefix = target.get("prefix");
        query.delimiter = target.get("delimiter");
        query.start_after = target.get("start-after");
        query.continuation_token = url_decode(target.get("continuation-token"), false);
        if (target.has("max-keys")) {
            const std::string text = target.get("max-keys");
            if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
                throw invalid_argument("max-keys must be a non-negative integer");
            query.max_keys = std::min<std::size_t>(std::stoul(text), 1000);
        }
        if (target.has("encoding-type")) {
            if (target.get("encoding-type") != "url")
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

    // "metrics" is taken: GET /metrics is the Prometheus endpoint.
    static bool valid_bucket_name(const std::string& name) { return name != "metrics" && is_valid_bucket_name(name); }

    // ---- objects -----------------------------------------------------------

    void put_object(const HttpRequest& req, const Target& target, HttpResponse& res) {
        refuse_unsupported(req, target, {});
        if (has_header(req, "x-amz-copy-source")) throw not_implemented("CopyObject");
        const std::string bucket = target.bucket;
        const std::string key = target.key;
        require_bucket(bucket);
        ObjectMeta meta;
        for (const auto& field : req) {
            std::string lower(field.name_string());
            for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (lower.compare(0, 11, "x-amz-meta-") == 0 || lower == "cache-control" ||
                lower == "content-disposition" || lower == "content-language" || lower == "x-amz-storage-class")
                meta.headers[lower] = std::string(field.value());
        }
        meta.headers["content-type"] =
            has_header(req, "Content-Type") ? header(req, "Content-Type") : "binary/octet-stream";
        if (has_header(req, "x-amz-tagging")) meta.tags = parse_tagging_header(header(req, "x-amz-tagging"));
        // Versioning Enabled: a new version; Suspended or never configured: the null version.
        const bool versioned = store_.versioning(bucket) == Versioning::Enabled;
        const ObjectMeta stored =
            replicator_.put_object(bucket, key, std::move(meta), body_of(req, target), write_condition(req),
                                   versioned ? store_.new_version_id() : std::string());
        res.set("ETag", stored.etag);
        if (versioned) set_version_header(res, stored.version_id);
    }

    // S3's conditional PutObject: If-Match <etag>, If-None-Match: * (the
    // only value S3 accepts there).
    static s3repl::WriteCondition write_condition(const HttpRequest& req) {
        s3repl::WriteCondition condition;
        if (has_header(req, "If-Match")) condition.if_match = header(req, "If-Match");
        if (has_header(req, "If-None-Match")) {
            if (header(req, "If-None-Match") != "*") throw not_implemented("If-None-Match with a value other than *");
            condition.if_none_match = true;
        }
        return condition;
    }

    // The version a GET or HEAD names, or the key's current one. A delete
    // marker answers as S3 does: 405 when named, 404 when current, with
    // x-amz-delete-marker either way.
    std::pair<ObjectMeta, std::string> object_of(const Target& target, HttpResponse& res, const std::string& bucket,
                                                 const std::string& key) const {
        const bool named = target.has("versionId");
        std::string version_id;
        if (named) {
            version_id = version_param(target);
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
            res.set("x-amz-delete-marker", "true");
            set_version_header(res, version_id);
            if (named) throw method_not_allowed();
            throw no_such_key();
        }
        return std::move(*object);
    }

    void get_object(const HttpRequest& req, const Target& target, HttpResponse& res) {
        refuse_unsupported(req, target, {"tagging", "versionId"});
        const std::string bucket = target.bucket;
        const std::string key = target.key;
        require_bucket(bucket);
        auto object = object_of(target, res, bucket, key);
        const ObjectMeta& meta = object.first;
        if (target.has("tagging")) return send_xml(res, tagging_xml(meta.tags));
        for (const auto& [name, value] : meta.headers)
            if (name != "content-type" && name != "x-amz-replication-status") res.set(name.c_str(), value);
        if (const auto status = replicator_.status_of(bucket, key, meta))
            res.set("x-amz-replication-status", std::string(s3repl::to_aws_string(*status)));
        if (!meta.tags.empty()) res.set("x-amz-tagging-count", std::to_string(meta.tags.size()));
        if (!meta.version_id.empty() || store_.versioning(bucket) != Versioning::Unversioned)
            set_version_header(res, meta.version_id);
        res.set("ETag", meta.etag);
        res.set("Last-Modified", http_date(meta.last_modified));
        res.set("Accept-Ranges", "bytes");
        const auto type = meta.headers.find("content-type");
        res.set(boost::beast::http::field::content_type,
                type == meta.headers.end() ? "binary/octet-stream" : type->second);
        std::string& body = object.second;
        // One range S3 can serve, or none; anything else is ignored as S3 does.
        const std::string range_header = header(req, "Range");
        if (const std::optional<ByteRangeSpec> spec = parse_range(range_header)) {
            const std::optional<ByteRange> range = resolve(*spec, body.size());
            if (!range) {
                res.set(boost::beast::http::field::content_range, "bytes */" + std::to_string(body.size()));
                throw S3Error("InvalidRange", 416, "The requested range is not satisfiable")
                    .with("RangeRequested", range_header)
                    .with("ActualObjectSize", std::to_string(body.size()));
            }
            res.result(boost::beast::http::status::partial_content);
            res.set(boost::beast::http::field::content_range, "bytes " + std::to_string(range->first) + '-' +
                                                                  std::to_string(range->last) + '/' +
                                                                  std::to_string(body.size()));
            body = body.substr(static_cast<std::size_t>(range->first),
                               static_cast<std::size_t>(range->last - range->first + 1));
        }
        res.body() = std::move(body);
    }

    void delete_object(const HttpRequest& req, const Target& target, HttpResponse& res) {
        refuse_unsupported(req, target, {"versionId"});
        const std::string bucket = target.bucket;
        const std::string key = target.key;
        require_bucket(bucket);
        res.result(204); // also when there was no such key or version, as S3 answers
        if (target.has("versionId")) {
            const std::string version_id = version_param(target);
            const std::optional<ObjectMeta> removed = replicator_.delete_version(bucket, key, version_id);
            set_version_header(res, version_id);
            if (removed && removed->delete_marker) res.set("x-amz-delete-marker", "true");
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
        res.set("x-amz-delete-marker", "true");
    }

    Manager& manager_;
    ObjectStore& store_;
    Replicator<Manager>& replicator_;
    const SigV4Verifier& verifier_;
    const std::function<void()> save_config_;
    std::mutex config_mutex_;
    std::atomic<std::uint64_t> request_counter_{0};
};

} // namespace s3server
