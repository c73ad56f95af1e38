#pragma once

#include "s3_error.hpp"

#include <s3repl/rules.hpp>

#include <date/date.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3server {

/// Percent-encodes every byte outside RFC 3986's unreserved set (and '/'
/// when `keep_slash`), as S3 does for `encoding-type=url` listings.
inline std::string url_encode(std::string_view text, bool keep_slash = false) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        const bool unreserved = (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
                                (byte >= '0' && byte <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
        if (unreserved || (keep_slash && c == '/')) {
            out += c;
        } else {
            out += '%';
            out += hex[byte >> 4];
            out += hex[byte & 0xF];
        }
    }
    return out;
}

namespace detail {
inline int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
} // namespace detail

/// Reverses url_encode; '+' is a space in query-string form (`plus_is_space`).
/// Throws InvalidArgument on a truncated or non-hex escape.
inline std::string url_decode(std::string_view text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%') {
            const int hi = i + 2 < text.size() ? detail::hex_value(text[i + 1]) : -1;
            const int lo = hi >= 0 ? detail::hex_value(text[i + 2]) : -1;
            if (lo < 0) throw invalid_argument("bad percent-escape in '" + std::string(text) + "'");
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += plus_is_space && text[i] == '+' ? ' ' : text[i];
        }
    }
    return out;
}

/// Splits query-string form (`k1=v1&k2=v2`) into its pairs in order, each
/// side url_decode'd with '+' a space; a name without '=' has an empty value
/// and empty pairs (`&&`) are skipped. Throws InvalidArgument as url_decode.
inline std::vector<std::pair<std::string, std::string>> parse_query(std::string_view text) {
    std::vector<std::pair<std::string, std::string>> pairs;
    while (!text.empty()) {
        const std::size_t amp = text.find('&');
        const std::string_view pair = text.substr(0, amp);
        text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
        if (pair.empty()) continue;
        const std::size_t eq = pair.find('=');
        pairs.emplace_back(url_decode(pair.substr(0, eq), true),
                           eq == std::string_view::npos ? std::string() : url_decode(pair.substr(eq + 1), true));
    }
    return pairs;
}

/// Parses the `x-amz-tagging` header (`k1=v1&k2=v2`, query-string encoded).
/// A key given twice is S3's InvalidTag.
inline s3repl::TagSet parse_tagging_header(std::string_view header) {
    s3repl::TagSet tags;
    for (auto& [key, value] : parse_query(header)) {
        for (const auto& tag : tags)
            if (tag.first == key) throw S3Error("InvalidTag", 400, "Cannot provide multiple Tags with the same key");
        tags.emplace_back(std::move(key), std::move(value));
    }
    return tags;
}

/// The inverse of parse_tagging_header.
inline std::string format_tagging_header(const s3repl::TagSet& tags) {
    std::string out;
    for (const auto& tag : tags) {
        if (!out.empty()) out += '&';
        out += url_encode(tag.first) + '=' + url_encode(tag.second);
    }
    return out;
}

using SystemTime = std::chrono::system_clock::time_point;

/// `Last-Modified` form: `Tue, 15 Nov 1994 08:12:31 GMT`. Spelled out by hand
/// because Debian's date is built C-locale-only, where %a and %b are best avoided.
inline std::string http_date(SystemTime when) {
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const auto day = date::floor<date::days>(when);
    const date::year_month_day ymd(day);
    const date::hh_mm_ss<std::chrono::seconds> time(std::chrono::duration_cast<std::chrono::seconds>(when - day));
    char text[40];
    std::snprintf(text, sizeof text, "%s, %02u %s %04d %02d:%02d:%02d GMT", days[date::weekday(day).c_encoding()],
                  static_cast<unsigned>(ymd.day()), months[static_cast<unsigned>(ymd.month()) - 1],
                  static_cast<int>(ymd.year()), static_cast<int>(time.hours().count()),
                  static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()));
    return text;
}

/// The XML listings' form: `2006-02-03T16:45:09.000Z`.
inline std::string iso8601_millis(SystemTime when) {
    return date::format("%FT%TZ", date::floor<std::chrono::milliseconds>(when));
}

} // namespace s3server
