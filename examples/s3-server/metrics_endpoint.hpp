#pragma once

#include "http_request.hpp"
#include "private_file.hpp"
#include "sigv4_crypto.hpp"

#include <s3repl/error.hpp>
#include <s3repl/outcome_metrics.hpp>
#include <s3repl/prometheus.hpp>

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace s3server {

/// The bearer token of `GET /metrics` from `path`: the file's text without
/// trailing white space, read as a private file (read_private_file: group or
/// others may not access it). Throws std::invalid_argument naming the file
/// and the reason.
inline std::string read_metrics_token(const std::filesystem::path& path) {
    const std::string where = "--metrics-token-file " + path.string() + ": ";
    std::string token = read_private_file(path, "--metrics-token-file");
    token.erase(token.find_last_not_of(" \t\r\n") + 1);
    if (token.empty()) throw std::invalid_argument(where + "the file holds no token");
    if (token.find_first_of(" \t\r\n") != std::string::npos)
        throw std::invalid_argument(where + "a token is one line without spaces");
    return token;
}

/// Serves `GET /metrics` (and HEAD) in the Prometheus text format
/// (s3repl::to_prometheus of the manager and the outcome metrics), outside
/// the S3 routes: no S3 error bodies, no request IDs, no signatures. With a
/// token, only a request carrying `Authorization: Bearer <token>` is
/// answered (as MinIO's metrics are); without one the endpoint is open.
/// Asked before the S3 routes, which would take /metrics for a bucket (the
/// S3 API reserves that name). `manager` and `metrics` must outlive it.
/// `Manager` as Replicator's: on Redis the counts are every node's (the
/// shared state's), the outcome metrics this node's. Thread-safe.
template <class Manager>
class MetricsEndpoint {
  public:
    MetricsEndpoint(const Manager& manager, const s3repl::OutcomeMetrics& metrics, std::optional<std::string> token)
        : manager_(manager), metrics_(metrics), token_(std::move(token)) {}

    /// Whether `req` is for this endpoint: GET or HEAD of /metrics, any query.
    static bool serves(const HttpRequest& req) noexcept {
        const std::string_view target = req.target();
        return (req.method() == boost::beast::http::verb::get || req.method() == boost::beast::http::verb::head) &&
               target.substr(0, target.find('?')) == "/metrics";
    }

    HttpResponse respond(const HttpRequest& req) const {
        if (token_) {
            const std::string_view header = req[boost::beast::http::field::authorization];
            if (header.empty()) {
                HttpResponse res = text(boost::beast::http::status::unauthorized, "a bearer token is required\n");
                res.set(boost::beast::http::field::www_authenticate, "Bearer");
                return res;
            }
            if (!sigv4::same_secret(header, "Bearer " + *token_))
                return text(boost::beast::http::status::forbidden, "wrong bearer token\n");
        }
        std::string body;
        try {
            body = s3repl::to_prometheus(manager_, &metrics_);
        } catch (const s3repl::BackendError& error) {
            return text(boost::beast::http::status::service_unavailable, std::string(error.what()) + '\n');
        }
        HttpResponse res{boost::beast::http::status::ok, req.version()};
        res.set(boost::beast::http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = std::move(body);
        return res;
    }

  private:
    static HttpResponse text(boost::beast::http::status status, std::string body) {
        HttpResponse res{status, 11};
        res.set(boost::beast::http::field::content_type, "text/plain; charset=utf-8");
        res.body() = std::move(body);
        return res;
    }

    const Manager& manager_;
    const s3repl::OutcomeMetrics& metrics_;
    std::optional<std::string> token_;
};

} // namespace s3server
