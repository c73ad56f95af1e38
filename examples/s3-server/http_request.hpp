#pragma once

#include "http_text.hpp"
#include "s3_error.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3server {

/// A request as Boost.Beast parsed it: the method, the target exactly as
/// sent (`target()`), header fields with their values untouched (RFC 9110:
/// opaque octets; nothing here percent-decodes them) and the whole body,
/// HTTP chunked transfer coding already removed.
using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

/// A response; the HTTP layer sets its Content-Length (and drops the body
/// of a HEAD) before sending it.
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

/// A request target split as S3 reads it. The raw target stays in
/// HttpRequest::target() for anything that needs it as sent (signatures).
struct RequestTarget {
    std::string path; ///< percent-decoded, '+' kept as '+'; "/" at least
    /// The query's `name=value` pairs in order, each side percent-decoded,
    /// '+' a space (query form); a name without '=' has an empty value.
    std::vector<std::pair<std::string, std::string>> query;

    /// Whether the query names `name` (with or without a value).
    bool has(std::string_view name) const noexcept {
        for (const auto& pair : query)
            if (pair.first == name) return true;
        return false;
    }

    /// The first value of `name`, or empty.
    std::string get(std::string_view name) const {
        for (const auto& pair : query)
            if (pair.first == name) return pair.second;
        return {};
    }
};

/// Splits an origin-form target (`/path?query`). Throws S3's InvalidURI for
/// any other form or a broken percent-escape, as S3 answers such a URI.
inline RequestTarget parse_target(std::string_view raw) {
    const auto invalid_uri = [] { return S3Error("InvalidURI", 400, "Couldn't parse the specified URI."); };
    if (raw.empty() || raw.front() != '/') throw invalid_uri();
    const std::size_t question = raw.find('?');
    RequestTarget target;
    try {
        target.path = url_decode(raw.substr(0, question), false);
        if (question != std::string_view::npos) target.query = parse_query(raw.substr(question + 1));
    } catch (const S3Error&) {
        throw invalid_uri();
    }
    return target;
}

} // namespace s3server
