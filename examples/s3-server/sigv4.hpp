#pragma once

#include "credentials.hpp"
#include "http_request.hpp"
#include "s3_error.hpp"
#include "sigv4_crypto.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <date/date.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// AWS Signature Version 4 as S3 verifies it: the Authorization header,
// presigned URLs (query-string authentication) and, with sigv4_crypto.hpp's
// chain, aws-chunked chunk signatures.
namespace s3server {

namespace sigv4 {

/// How far a request's X-Amz-Date may be from the server's clock (S3's 15 minutes).
inline constexpr std::chrono::minutes max_skew{15};
/// The longest X-Amz-Expires of a presigned URL: seven days.
inline constexpr long long max_expires_seconds = 604800;

inline std::string_view view(boost::beast::string_view text) noexcept { return {text.data(), text.size()}; }

/// S3's UriEncode: every byte but the unreserved A-Z a-z 0-9 - . _ ~ (and
/// '/' when `keep_slash`) as %XX with upper-case hex.
inline std::string uri_encode(std::string_view bytes, bool keep_slash) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string encoded;
    encoded.reserve(bytes.size());
    for (const char c : bytes) {
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
        if (unreserved) {
            encoded += c;
            continue;
        }
        const auto byte = static_cast<unsigned char>(c);
        encoded += '%';
        encoded += digits[byte >> 4];
        encoded += digits[byte & 0xf];
    }
    return encoded;
}

/// %XX sequences decoded; a '%' not followed by two hex digits stays a
/// literal '%' (and is then encoded as %25, as a client would have).
inline std::string percent_decode(std::string_view text) {
    const auto value = [](char c) {
        return (c >= '0' && c <= '9')   ? c - '0'
               : (c >= 'a' && c <= 'f') ? c - 'a' + 10
               : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                        : -1;
    };
    std::string decoded;
    decoded.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && value(text[i + 1]) >= 0 && value(text[i + 2]) >= 0) {
            decoded += static_cast<char>(value(text[i + 1]) * 16 + value(text[i + 2]));
            i += 2;
        } else {
            decoded += text[i];
        }
    }
    return decoded;
}

/// The canonical URI of a raw (still encoded) request path, as S3 makes it:
/// each '/'-separated segment decoded once, then every byte but the
/// unreserved ones encoded. So `/test$file.text` and `/test%24file.text`
/// both give `/test%24file.text`, nothing is encoded twice, and an encoded
/// slash (%2F, inside a segment) stays encoded. No `.`/`..` or `//`
/// normalisation: S3 keeps those in keys.
inline std::string canonical_uri(std::string_view raw_path) {
    if (raw_path.empty()) return "/";
    std::string uri;
    for (;;) {
        const std::size_t slash = raw_path.find('/');
        uri += uri_encode(percent_decode(raw_path.substr(0, slash)), false);
        if (slash == std::string_view::npos) return uri;
        uri += '/';
        raw_path.remove_prefix(slash + 1);
    }
}

/// The decoded name=value pairs of a raw query string, in order; a name
/// without '=' has an empty value; empty pieces (`a&&b`) are skipped.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

inline QueryParams parse_query(std::string_view raw_query) {
    QueryParams params;
    while (!raw_query.empty()) {
        const std::size_t end = raw_query.find('&');
        const std::string_view piece = raw_query.substr(0, end);
        raw_query.remove_prefix(end == std::string_view::npos ? raw_query.size() : end + 1);
        if (piece.empty()) continue;
        const std::size_t equals = piece.find('=');
        params.emplace_back(percent_decode(piece.substr(0, equals)), equals == std::string_view::npos
                                                                         ? std::string()
                                                                         : percent_decode(piece.substr(equals + 1)));
    }
    return params;
}

/// The canonical query string: each name and value URI-encoded ('/' too),
/// sorted by encoded name then value, `name=value` joined with '&' (the '='
/// even for an empty value). A parameter named `skip` is left out (a
/// presigned URL's X-Amz-Signature).
inline std::string canonical_query(const QueryParams& params, std::string_view skip = {}) {
    std::vector<std::pair<std::string, std::string>> encoded;
    encoded.reserve(params.size());
    for (const auto& [name, value] : params)
        if (skip.empty() || name != skip) encoded.emplace_back(uri_encode(name, false), uri_encode(value, false));
    std::sort(encoded.begin(), encoded.end());
    std::string query;
    for (const auto& [name, value] : encoded) {
        if (!query.empty()) query += '&';
        query += name;
        query += '=';
        query += value;
    }
    return query;
}

/// A header value as SigV4 canonicalises it: leading and trailing spaces and
/// tabs removed, each inner run of them folded to one space.
inline std::string trimmed_value(std::string_view value) {
    std::string trimmed;
    bool in_space = false;
    for (const char c : value) {
        if (c == ' ' || c == '\t') {
            in_space = !trimmed.empty();
            continue;
        }
        if (in_space) trimmed += ' ';
        in_space = false;
        trimmed += c;
    }
    return trimmed;
}

/// `name:value\n` for each signed header, in the order signed; the values
/// of a header sent several times are joined with ','.
inline std::string canonical_headers(const HttpRequest& request, const std::vector<std::string>& signed_headers) {
    std::string headers;
    for (const std::string& name : signed_headers) {
        headers += name;
        headers += ':';
        bool first = true;
        for (auto [field, end] = request.equal_range(name); field != end; ++field) {
            if (!first) headers += ',';
            first = false;
            headers += trimmed_value(view(field->value()));
        }
        headers += '\n';
    }
    return headers;
}

/// The scope a Credential names: `AKID/yyyymmdd/region/s3/aws4_request`.
struct CredentialScope {
    std::string access_key_id;
    std::string date;
    std::string region;

    std::string scope() const { return date + "/" + region + "/s3/aws4_request"; }
};

/// yyyymmddThhmmssZ (ISO 8601 basic, UTC), the form of X-Amz-Date.
inline std::optional<std::chrono::system_clock::time_point> parse_amz_date(std::string_view text) {
    if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
    const auto number = [&](std::size_t at, std::size_t digits) -> int {
        int value = 0;
        for (std::size_t i = at; i < at + digits; ++i) {
            if (text[i] < '0' || text[i] > '9') return -1;
            value = value * 10 + (text[i] - '0');
        }
        return value;
    };
    const int year = number(0, 4), month = number(4, 2), day = number(6, 2);
    const int hour = number(9, 2), minute = number(11, 2), second = number(13, 2);
    const date::year_month_day ymd{date::year{year}, date::month{static_cast<unsigned>(month)},
                                   date::day{static_cast<unsigned>(day)}};
    if (year < 0 || month < 0 || day < 0 || !ymd.ok() || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
        second < 0 || second > 59)
        return std::nullopt;
    return date::sys_days(ymd) + std::chrono::hours(hour) + std::chrono::minutes(minute) + std::chrono::seconds(second);
}

/// An RFC 1123 HTTP date, `Fri, 24 May 2013 00:00:00 GMT` (the Date header,
/// which SigV4 falls back to without X-Amz-Date).
inline std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text) {
    static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    // "Www, DD Mon YYYY HH:MM:SS GMT": rearranged into the basic form.
    if (text.size() != 29 || text.substr(3, 2) != ", " || text.substr(25) != " GMT" || text[7] != ' ' ||
        text[11] != ' ' || text[16] != ' ' || text[19] != ':' || text[22] != ':')
        return std::nullopt;
    const auto month = std::find(std::begin(months), std::end(months), text.substr(8, 3));
    if (month == std::end(months)) return std::nullopt;
    const auto index = static_cast<int>(month - std::begin(months)) + 1;
    const std::string basic = std::string(text.substr(12, 4)) + (index < 10 ? "0" : "") + std::to_string(index) +
                              std::string(text.substr(5, 2)) + "T" + std::string(text.substr(17, 2)) +
                              std::string(text.substr(20, 2)) + std::string(text.substr(23, 2)) + "Z";
    return parse_amz_date(basic);
}

inline std::string amz_date(std::chrono::system_clock::time_point time) {
    return date::format("%Y%m%dT%H%M%SZ", std::chrono::floor<std::chrono::seconds>(time));
}

inline std::string iso8601(std::chrono::system_clock::time_point time) {
    return date::format("%Y-%m-%dT%H:%M:%SZ", std::chrono::floor<std::chrono::seconds>(time));
}

} // namespace sigv4

/// What a verified request still owes: its payload. Handlers that read a
/// body pass it through check_payload and, for aws-chunked framing,
/// chunk_signatures (to decode_aws_chunked). Cheap to copy.
class Authentication {
  public:
    /// An unsigned request let in by --allow-anonymous, or any request to a
    /// server without credentials: nothing to check.
    static Authentication anonymous() { return Authentication(); }

    /// A request signed by `access_key_id`. `payload_sha256`: the hex SHA-256
    /// it signed for its payload (empty for UNSIGNED-PAYLOAD and streaming);
    /// `chunks`: the chain of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload.
    Authentication(std::string access_key_id, std::string payload_sha256,
                   std::optional<sigv4::ChunkSignatureChain> chunks)
        : access_key_id_(std::move(access_key_id)), payload_sha256_(std::move(payload_sha256)),
          chunks_(std::move(chunks)) {}

    /// Who signed the request; empty when anonymous.
    const std::string& access_key_id() const noexcept { return access_key_id_; }

    /// Throws XAmzContentSHA256Mismatch (400) when the request signed a
    /// SHA-256 of its payload that `body` (as received, before any
    /// aws-chunked decoding) does not have. O(body size) then, else free.
    void check_payload(std::string_view body) const {
        if (payload_sha256_.empty()) return;
        const std::string computed = sigv4::sha256_hex(body);
        if (computed != payload_sha256_)
            throw S3Error("XAmzContentSHA256Mismatch", 400,
                          "The provided 'x-amz-content-sha256' header does not match what was computed.")
                .with("ClientComputedContentSHA256", payload_sha256_)
                .with("S3ComputedContentSHA256", computed);
    }

    /// For a signed streaming upload, a fresh chain to verify its chunks
    /// with; std::nullopt when the chunks are unsigned.
    std::optional<sigv4::ChunkSignatureChain> chunk_signatures() const { return chunks_; }

  private:
    Authentication() = default;

    std::string access_key_id_;
    std::string payload_sha256_;
    std::optional<sigv4::ChunkSignatureChain> chunks_;
};

/// Verifies AWS Signature Version 4 on S3 requests as S3 does, against the
/// credentials file's keys: the Authorization header
/// (`AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`,
/// with x-amz-content-sha256 a hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-
/// value) and presigned URLs (X-Amz-Algorithm, -Credential, -Date, -Expires,
/// -SignedHeaders, -Signature). The scope must name `region` (the server
/// plays us-east-1) and the s3 service. Errors are S3's S3Error codes:
/// 403 AccessDenied (unsigned, expired, unsigned x-amz-* headers),
/// InvalidAccessKeyId, RequestTimeTooSkewed (beyond 15 minutes),
/// SignatureDoesNotMatch; 400 AuthorizationHeaderMalformed,
/// AuthorizationQueryParametersError, InvalidRequest, InvalidArgument.
/// Thread-safe (const; the clock must be too). Cost: a few HMACs and one
/// SHA-256 over the canonical request; the payload is checked later
/// (Authentication).
class SigV4Verifier {
  public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;

    /// `credentials`: std::nullopt for a server without any (then every
    /// request passes unchecked, as --allow-anonymous alone says).
    /// `allow_anonymous` with credentials: unsigned requests pass as
    /// anonymous, signed ones are verified.
    SigV4Verifier(std::optional<Credentials> credentials, bool allow_anonymous,
                  Clock clock = &std::chrono::system_clock::now, std::string region = "us-east-1")
        : credentials_(std::move(credentials)), allow_anonymous_(allow_anonymous), clock_(std::move(clock)),
          region_(std::move(region)) {}

    /// Verifies `request`'s signature (not its payload: see Authentication).
    /// Throws S3Error.
    Authentication verify(const HttpRequest& request) const {
        if (!credentials_) return Authentication::anonymous();
        const std::string_view target = sigv4::view(request.target());
        const std::size_t question = target.find('?');
        const sigv4::QueryParams query =
            sigv4::parse_query(question == std::string_view::npos ? std::string_view() : target.substr(question + 1));
        const auto has_param = [&](std::string_view name) {
            return std::any_of(query.begin(), query.end(), [&](const auto& param) { return param.first == name; });
        };
        const auto authorization = request.find(boost::beast::http::field::authorization);
        const bool presigned =
            has_param("X-Amz-Algorithm") || has_param("X-Amz-Credential") || has_param("X-Amz-Signature");
        if (authorization != request.end() && presigned)
            throw invalid_argument("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                                   "Signature query string parameter or the Authorization header should be "
                                   "specified");
        if (authorization != request.end())
            return verify_header(request, sigv4::view(authorization->value()), target.substr(0, question), query);
        if (presigned) return verify_presigned(request, target.substr(0, question), query);
        if (has_param("AWSAccessKeyId") || has_param("Signature")) throw unsupported_mechanism();
        if (allow_anonymous_) return Authentication::anonymous();
        throw S3Error("AccessDenied", 403, "Access Denied");
    }

  private:
    using TimePoint = std::chrono::system_clock::time_point;

    static S3Error unsupported_mechanism() {
        return invalid_request("The authorization mechanism you have provided is not supported. Please use "
                               "AWS4-HMAC-SHA256.");
    }

    // The Authorization header's and the query's errors differ in code and
    // wording only; one parser serves both.
    struct Errors {
        const char* code;
        const char* prefix;
        S3Error operator()(const std::string& why) const { return S3Error(code, 400, prefix + why); }
    };
    static constexpr Errors header_errors{"AuthorizationHeaderMalformed", "The authorization header is malformed; "};
    static constexpr Errors query_errors{"AuthorizationQueryParametersError",
                                         "Error parsing the X-Amz-Credential parameter; "};

    sigv4::CredentialScope parse_credential(std::string_view text, const Errors& malformed) const {
        std::vector<std::string_view> parts;
        for (;;) {
            const std::size_t slash = text.find('/');
            parts.push_back(text.substr(0, slash));
            if (slash == std::string_view::npos) break;
            text.remove_prefix(slash + 1);
        }
        if (parts.size() != 5 || parts[0].empty())
            throw malformed("the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/"
                            "aws4_request\".");
        if (parts[1].size() != 8 ||
            !std::all_of(parts[1].begin(), parts[1].end(), [](char c) { return c >= '0' && c <= '9'; }))
            throw malformed("incorrect date format \"" + std::string(parts[1]) +
                            "\". This date in the credential must be in the format \"yyyyMMdd\".");
        if (parts[2] != region_)
            throw malformed("the region '" + std::string(parts[2]) + "' is wrong; expecting '" + region_ + "'")
                .with("Region", region_);
        if (parts[3] != "s3")
            throw malformed("incorrect service \"" + std::string(parts[3]) + "\". This endpoint belongs to \"s3\".");
        if (parts[4] != "aws4_request")
            throw malformed("incorrect terminal \"" + std::string(parts[4]) +
                            "\". This endpoint uses \"aws4_request\".");
        return {std::string(parts[0]), std::string(parts[1]), std::string(parts[2])};
    }

    static std::vector<std::string> parse_signed_headers(std::string_view text, const Errors& malformed) {
        std::vector<std::string> names;
        for (;;) {
            const std::size_t semicolon = text.find(';');
            const std::string_view name = text.substr(0, semicolon);
            if (name.empty() || name.find_first_of(" \t") != std::string_view::npos)
                throw malformed("SignedHeaders is a ';'-separated list of header names, not '" + std::string(text) +
                                "'");
            names.emplace_back(name);
            if (semicolon == std::string_view::npos) break;
            text.remove_prefix(semicolon + 1);
        }
        if (std::find(names.begin(), names.end(), "host") == names.end())
            throw malformed("the host header must be signed (SignedHeaders must include host)");
        return names;
    }

    const std::string& secret_of(const std::string& access_key_id) const {
        const std::string* secret = credentials_->secret_of(access_key_id);
        if (secret == nullptr)
            throw S3Error("InvalidAccessKeyId", 403,
                          "The AWS Access Key Id you provided does not exist in our records.")
                .with("AWSAccessKeyId", access_key_id);
        return *secret;
    }

    // S3 refuses x-amz-* headers a signature does not cover: they would let
    // anyone holding a presigned URL add metadata, tags or conditions.
    // x-amz-content-sha256 is covered by the canonical request's last line.
    static void require_signed_amz_headers(const HttpRequest& request, const std::vector<std::string>& signed_headers) {
        std::string unsigned_names;
        for (const auto& field : request) {
            std::string name(sigv4::view(field.name_string()));
            std::transform(name.begin(), name.end(), name.begin(),
                           [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
            if (name.rfind("x-amz-", 0) != 0 || name == "x-amz-content-sha256") continue;
            const bool covered = std::any_of(signed_headers.begin(), signed_headers.end(),
                                             [&](const std::string& s) { return boost::beast::iequals(s, name); });
            if (!covered) unsigned_names += (unsigned_names.empty() ? "" : ", ") + name;
        }
        if (!unsigned_names.empty())
            throw S3Error("AccessDenied", 403, "There were headers present in the request which were not signed")
                .with("HeadersNotSigned", unsigned_names);
    }

    // Compares the signature last, in constant time; on a mismatch S3 sends
    // what it signed, so a client author can see where the two differ.
    static void require_signature(const std::string& key, const std::string& canonical_request,
                                  const std::string& timestamp, const sigv4::CredentialScope& scope,
                                  std::string_view given) {
        const std::string string_to_sign =
            "AWS4-HMAC-SHA256\n" + timestamp + "\n" + scope.scope() + "\n" + sigv4::sha256_hex(canonical_request);
        if (!sigv4::same_secret(given, sigv4::signature(key, string_to_sign)))
            throw sigv4::signature_does_not_match()
                .with("AWSAccessKeyId", scope.access_key_id)
                .with("StringToSign", string_to_sign)
                .with("SignatureProvided", std::string(given))
                .with("CanonicalRequest", canonical_request);
    }

    static std::string canonical_request(const HttpRequest& request, std::string_view raw_path,
                                         const std::string& query, const std::vector<std::string>& signed_headers,
                                         std::string_view payload) {
        std::string joined;
        for (const std::string& name : signed_headers) joined += (joined.empty() ? "" : ";") + name;
        return std::string(sigv4::view(request.method_string())) + "\n" + sigv4::canonical_uri(raw_path) + "\n" +
               query + "\n" + sigv4::canonical_headers(request, signed_headers) + "\n" + joined + "\n" +
               std::string(payload);
    }

    Authentication verify_header(const HttpRequest& request, std::string_view authorization, std::string_view raw_path,
                                 const sigv4::QueryParams& query) const {
        constexpr std::string_view algorithm = "AWS4-HMAC-SHA256 ";
        if (authorization.substr(0, 4) == "AWS ") throw unsupported_mechanism();
        if (authorization.substr(0, algorithm.size()) != algorithm)
            throw header_errors("it must start with 'AWS4-HMAC-SHA256 ', then Credential, SignedHeaders and "
                                "Signature.");
        authorization.remove_prefix(algorithm.size());
        std::optional<std::string_view> credential, signed_headers_text, signature;
        while (!authorization.empty()) {
            const std::size_t comma = authorization.find(',');
            std::string_view part = authorization.substr(0, comma);
            authorization.remove_prefix(comma == std::string_view::npos ? authorization.size() : comma + 1);
            while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
            while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
            const std::size_t equals = part.find('=');
            const std::string_view name = part.substr(0, equals);
            std::optional<std::string_view>* slot = name == "Credential"      ? &credential
                                                    : name == "SignedHeaders" ? &signed_headers_text
                                                    : name == "Signature"     ? &signature
                                                                              : nullptr;
            if (slot == nullptr || equals == std::string_view::npos || slot->has_value())
                throw header_errors("the authorization header requires three components: Credential, "
                                    "SignedHeaders, and Signature, each once.");
            *slot = part.substr(equals + 1);
        }
        if (!credential || !signed_headers_text || !signature)
            throw header_errors("the authorization header requires three components: Credential, SignedHeaders, "
                                "and Signature.");
        const sigv4::CredentialScope scope = parse_credential(*credential, header_errors);
        const std::vector<std::string> signed_headers = parse_signed_headers(*signed_headers_text, header_errors);
        const std::string& secret = secret_of(scope.access_key_id);

        const auto amz_date = request.find("x-amz-date");
        const auto http_date = request.find(boost::beast::http::field::date);
        const std::optional<TimePoint> time =
            amz_date != request.end()    ? sigv4::parse_amz_date(sigv4::view(amz_date->value()))
            : http_date != request.end() ? sigv4::parse_http_date(sigv4::view(http_date->value()))
                                         : std::nullopt;
        if (!time) throw S3Error("AccessDenied", 403, "AWS authentication requires a valid Date or x-amz-date header");
        const std::string timestamp = sigv4::amz_date(*time);
        if (timestamp.compare(0, 8, scope.date) != 0)
            throw header_errors("Invalid credential date \"" + scope.date +
                                "\". This date is not the same as X-Amz-Date: \"" + timestamp.substr(0, 8) + "\".");
        const TimePoint now = clock_();
        if (*time - now > sigv4::max_skew || now - *time > sigv4::max_skew)
            throw S3Error("RequestTimeTooSkewed", 403,
                          "The difference between the request time and the current time is too large.")
                .with("RequestTime", amz_date != request.end() ? std::string(sigv4::view(amz_date->value()))
                                                               : std::string(sigv4::view(http_date->value())))
                .with("ServerTime", sigv4::iso8601(now))
                .with("MaxAllowedSkewMilliseconds", "900000");

        const auto content_sha256 = request.find("x-amz-content-sha256");
        if (content_sha256 == request.end())
            throw invalid_request("Missing required header for this request: x-amz-content-sha256");
        const std::string_view payload = sigv4::view(content_sha256->value());
        const bool streaming =
            payload == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" || payload == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
        const bool hashed = payload.size() == 64 && payload.find_first_not_of("0123456789abcdef") == std::string::npos;
        if (!streaming && !hashed && payload != "UNSIGNED-PAYLOAD" && payload != "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
            throw invalid_argument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                                   "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or "
                                   "a valid sha256 value.");
        require_signed_amz_headers(request, signed_headers);

        const std::string key = sigv4::signing_key(secret, scope.date, region_);
        require_signature(key,
                          canonical_request(request, raw_path, sigv4::canonical_query(query), signed_headers, payload),
                          timestamp, scope, *signature);
        std::optional<sigv4::ChunkSignatureChain> chunks;
        if (streaming)
            chunks.emplace(key, timestamp, scope.scope(), std::string(*signature),
                           payload == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
        return Authentication(scope.access_key_id, hashed ? std::string(payload) : std::string(), std::move(chunks));
    }

    Authentication verify_presigned(const HttpRequest& request, std::string_view raw_path,
                                    const sigv4::QueryParams& query) const {
        const auto param = [&](const char* name) -> const std::string& {
            const std::string* found = nullptr;
            for (const auto& [key, value] : query) {
                if (key != name) continue;
                if (found != nullptr)
                    throw S3Error("AuthorizationQueryParametersError", 400,
                                  std::string(name) + " is given more than once.");
                found = &value;
            }
            if (found == nullptr)
                throw S3Error("AuthorizationQueryParametersError", 400,
                              "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                              "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                              "X-Amz-Expires parameters.");
            return *found;
        };
        const auto malformed = [](const std::string& why) {
            return S3Error("AuthorizationQueryParametersError", 400, why);
        };
        if (param("X-Amz-Algorithm") != "AWS4-HMAC-SHA256")
            throw malformed("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
        const sigv4::CredentialScope scope = parse_credential(param("X-Amz-Credential"), query_errors);
        const std::vector<std::string> signed_headers =
            parse_signed_headers(param("X-Amz-SignedHeaders"), Errors{"AuthorizationQueryParametersError", ""});
        const std::string& timestamp = param("X-Amz-Date");
        const std::optional<TimePoint> time = sigv4::parse_amz_date(timestamp);
        if (!time) throw malformed("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
        if (timestamp.compare(0, 8, scope.date) != 0)
            throw malformed("Invalid credential date \"" + scope.date +
                            "\". This date is not the same as X-Amz-Date: \"" + timestamp.substr(0, 8) + "\".");
        const std::string& expires_text = param("X-Amz-Expires");
        if (expires_text.empty() || expires_text.size() > 7 ||
            expires_text.find_first_not_of("0123456789") != std::string::npos)
            throw malformed("X-Amz-Expires should be a number");
        const long long expires = std::stoll(expires_text);
        if (expires < 1) throw malformed("X-Amz-Expires must be non-negative");
        if (expires > sigv4::max_expires_seconds)
            throw malformed("X-Amz-Expires must be less than a week (in seconds) that is 604800");
        const std::string& given = param("X-Amz-Signature");
        const std::string& secret = secret_of(scope.access_key_id);

        const TimePoint now = clock_();
        if (*time - now > sigv4::max_skew) throw S3Error("AccessDenied", 403, "Request is not valid yet");
        if (now - *time > std::chrono::seconds(expires))
            throw S3Error("AccessDenied", 403, "Request has expired")
                .with("X-Amz-Expires", expires_text)
                .with("Expires", sigv4::iso8601(*time + std::chrono::seconds(expires)))
                .with("ServerTime", sigv4::iso8601(now));
        require_signed_amz_headers(request, signed_headers);

        const std::string key = sigv4::signing_key(secret, scope.date, region_);
        require_signature(key,
                          canonical_request(request, raw_path, sigv4::canonical_query(query, "X-Amz-Signature"),
                                            signed_headers, "UNSIGNED-PAYLOAD"),
                          timestamp, scope, given);
        return Authentication(scope.access_key_id, std::string(), std::nullopt);
    }

    std::optional<Credentials> credentials_;
    bool allow_anonymous_;
    Clock clock_;
    std::string region_;
};

} // namespace s3server
