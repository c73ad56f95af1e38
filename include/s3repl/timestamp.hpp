#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/status.hpp"

#include <date/date.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace s3repl {
inline namespace v0 {

// RFC 3339 text for Timestamps, as the Rust design writes and reads it.
// Hand-rolled over date's civil calendar (date::year_month_day) rather than
// date::format/date::parse: those go through iostreams and cost about a
// microsecond each, which would dominate snapshot and restore.

namespace detail {
// Longest text format_rfc3339 writes: "YYYY-MM-DDTHH:MM:SS.fffffffffZ".
inline constexpr std::size_t rfc3339_max_size = 30;

// Writes what follows the seconds: nothing when `nanos` is 0, else "." and
// the shortest of 3, 6 or 9 digits that is exact; then "Z". Returns the end.
inline char* write_rfc3339_fraction(std::uint32_t nanos, char* p) noexcept {
    if (nanos != 0) {
        *p++ = '.';
        int digits = 9;
        for (int group = 0; group < 2 && nanos % 1000 == 0; ++group, digits -= 3) nanos /= 1000;
        for (int i = digits - 1; i >= 0; --i, nanos /= 10) p[i] = static_cast<char>('0' + nanos % 10);
        p += digits;
    }
    *p++ = 'Z';
    return p;
}

// Writes the text of t at out (room for rfc3339_max_size chars); returns the end.
inline char* write_rfc3339(Timestamp t, char* out) noexcept {
    // Split into days and time of day with integer division: going through
    // date::floor would convert the day back to nanoseconds, which overflows
    // for the earliest Timestamps.
    constexpr std::int64_t ns_per_day = 86'400'000'000'000;
    std::int64_t days = t.time_since_epoch().count() / ns_per_day;
    std::int64_t in_day = t.time_since_epoch().count() % ns_per_day;
    if (in_day < 0) {
        in_day += ns_per_day;
        --days;
    }
    const date::year_month_day ymd{date::sys_days{date::days{days}}};
    const auto seconds = in_day / 1'000'000'000;
    const auto nanos = static_cast<std::uint32_t>(in_day % 1'000'000'000);

    char* p = out;
    auto put = [&p](std::uint32_t value, int digits) {
        for (int i = digits - 1; i >= 0; --i, value /= 10) p[i] = static_cast<char>('0' + value % 10);
        p += digits;
    };
    put(static_cast<std::uint32_t>(static_cast<int>(ymd.year())), 4);
    *p++ = '-';
    put(static_cast<unsigned>(ymd.month()), 2);
    *p++ = '-';
    put(static_cast<unsigned>(ymd.day()), 2);
    *p++ = 'T';
    put(static_cast<std::uint32_t>(seconds / 3600), 2);
    *p++ = ':';
    put(static_cast<std::uint32_t>(seconds / 60 % 60), 2);
    *p++ = ':';
    put(static_cast<std::uint32_t>(seconds % 60), 2);
    return write_rfc3339_fraction(nanos, p);
}
} // namespace detail

/// "YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z": a fraction only when
/// non-zero, with the shortest of 3, 6 or 9 digits that is exact. Works for
/// the whole Timestamp range, before 1970 included.
inline std::string format_rfc3339(Timestamp t) {
    char buf[detail::rfc3339_max_size];
    return std::string(buf, detail::write_rfc3339(t, buf));
}

/// Parses RFC 3339: 'T', 't' or ' ' between date and time; 'Z', 'z' or
/// +HH:MM/-HH:MM (normalised to UTC); 0 to 9+ fraction digits (beyond 9
/// truncated); a leap second ":60" reads as the following second. nullopt
/// for anything else: an impossible date, no offset, or a time outside what
/// Timestamp holds (about 1677 to 2262).
inline std::optional<Timestamp> parse_rfc3339(std::string_view text) noexcept {
    std::size_t i = 0;
    auto digits = [&](std::size_t count, int& out) {
        if (text.size() - i < count) return false;
        out = 0;
        for (std::size_t end = i + count; i < end; ++i) {
            const char c = text[i];
            if (c < '0' || c > '9') return false;
            out = out * 10 + (c - '0');
        }
        return true;
    };
    auto literal = [&](std::string_view accepted) {
        if (i >= text.size() || accepted.find(text[i]) == std::string_view::npos) return false;
        ++i;
        return true;
    };
    int year, month, day, hour, minute, second;
    if (!digits(4, year) || !literal("-") || !digits(2, month) || !literal("-") || !digits(2, day) || !literal("Tt ") ||
        !digits(2, hour) || !literal(":") || !digits(2, minute) || !literal(":") || !digits(2, second))
        return std::nullopt;
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;

    std::int64_t nanos = 0;
    if (i < text.size() && text[i] == '.') {
        ++i;
        const std::size_t first = i;
        for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i)
            if (i - first < 9) nanos = nanos * 10 + (text[i] - '0');
        const std::size_t count = i - first;
        if (count == 0) return std::nullopt;
        for (std::size_t pad = count; pad < 9; ++pad) nanos *= 10;
    }

    int offset_minutes = 0;
    if (literal("-+")) {
        const bool negative = text[i - 1] == '-';
        int offset_hours, offset_mins;
        if (!digits(2, offset_hours) || !literal(":") || !digits(2, offset_mins) || offset_hours > 23 ||
            offset_mins > 59)
            return std::nullopt;
        offset_minutes = (negative ? -1 : 1) * (offset_hours * 60 + offset_mins);
    } else if (!literal("Zz")) {
        return std::nullopt;
    }
    if (i != text.size()) return std::nullopt;

    const date::year_month_day ymd{date::year{year}, date::month{static_cast<unsigned>(month)},
                                   date::day{static_cast<unsigned>(day)}};
    if (!ymd.ok()) return std::nullopt;
    const std::int64_t days = date::sys_days{ymd}.time_since_epoch().count();
    const std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;

    // seconds * 1e9 + nanos must fit in int64; split so neither step overflows.
    constexpr std::int64_t giga = 1'000'000'000;
    constexpr std::int64_t max_ns = std::numeric_limits<std::int64_t>::max();
    constexpr std::int64_t min_ns = std::numeric_limits<std::int64_t>::min();
    if (seconds > max_ns / giga || seconds < min_ns / giga - 1) return std::nullopt;
    if (seconds >= 0) {
        if (seconds * giga > max_ns - nanos) return std::nullopt;
        return Timestamp{std::chrono::nanoseconds{seconds * giga + nanos}};
    }
    const std::int64_t whole = (seconds + 1) * giga; // >= min_ns + giga - 1, so no overflow
    const std::int64_t rest = nanos - giga;          // in [-1e9, 0)
    if (whole < min_ns - rest) return std::nullopt;
    return Timestamp{std::chrono::nanoseconds{whole + rest}};
}

} // namespace v0
} // namespace s3repl
