#pragma once

// The snapshot text of the abseil peer (abseil_manager.hpp), by hand: times,
// strings, numbers and bucket configurations written with std::to_chars and
// fixed tables, and read back through simdjson On-Demand. Byte for byte the
// format s3repl writes (README, "Snapshot format"). Benchmark code only.

#include <s3repl/rules.hpp>
#include <s3repl/status.hpp>

#include <date/date.h>
#include <simdjson.h>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace s3repl_bench {
namespace abseil_peer {

using s3repl::ReplicationConfig;
using s3repl::ReplicationStatus;

inline std::size_t status_index(ReplicationStatus status) noexcept { return static_cast<std::size_t>(status); }

// ---- writing -----------------------------------------------------------------------

inline constexpr std::string_view status_words[s3repl::replication_status_count] = {"Pending", "Completed", "Failed",
                                                                                    "Replica"};

// "00" to "99": each two-digit field of a time is one two-byte copy.
struct DigitPairs {
    char text[200];
    constexpr DigitPairs() : text() {
        for (int i = 0; i < 100; ++i) {
            text[2 * i] = static_cast<char>('0' + i / 10);
            text[2 * i + 1] = static_cast<char>('0' + i % 10);
        }
    }
};
inline constexpr DigitPairs digit_pairs{};

inline char* put_pair(char* p, unsigned value) noexcept {
    std::memcpy(p, digit_pairs.text + 2 * value, 2);
    return p + 2;
}

inline char* put(char* p, std::string_view piece) noexcept {
    std::memcpy(p, piece.data(), piece.size());
    return p + piece.size();
}

// s3repl's (and the Rust server's) RFC 3339: seconds, then 3, 6 or 9
// fraction digits (the shortest exact one) only when the fraction is not
// zero, then Z. At most 30 bytes.
inline char* put_time(char* p, std::int64_t ns) noexcept {
    constexpr std::int64_t ns_per_day = 86'400'000'000'000;
    std::int64_t days = ns / ns_per_day;
    std::int64_t in_day = ns % ns_per_day;
    if (in_day < 0) {
        in_day += ns_per_day;
        --days;
    }
    const date::year_month_day ymd{date::sys_days{date::days{static_cast<int>(days)}}};
    const auto year = static_cast<unsigned>(static_cast<int>(ymd.year())); // 1677 to 2262
    const auto seconds = static_cast<unsigned>(in_day / 1'000'000'000);
    auto nanos = static_cast<unsigned>(in_day % 1'000'000'000);
    p = put_pair(p, year / 100);
    p = put_pair(p, year % 100);
    *p++ = '-';
    p = put_pair(p, static_cast<unsigned>(ymd.month()));
    *p++ = '-';
    p = put_pair(p, static_cast<unsigned>(ymd.day()));
    *p++ = 'T';
    p = put_pair(p, seconds / 3600);
    *p++ = ':';
    p = put_pair(p, seconds / 60 % 60);
    *p++ = ':';
    p = put_pair(p, seconds % 60);
    if (nanos != 0) {
        *p++ = '.';
        int digits = 9;
        for (; digits > 3 && nanos % 1000 == 0; digits -= 3) nanos /= 1000;
        for (int i = digits - 1; i >= 0; --i, nanos /= 10) p[i] = static_cast<char>('0' + nanos % 10);
        p += digits;
    }
    *p++ = 'Z';
    return p;
}

// Whether one of the 8 bytes needs escaping: below 0x20, '"' or '\\' (the
// classic SWAR tests, exact as a yes/no answer).
inline bool word_needs_escape(std::uint64_t w) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    const auto below = [&](std::uint64_t x, std::uint64_t n) { return (x - ones * n) & ~x & highs; };
    return (below(w, 0x20) | below(w ^ (ones * '"'), 1) | below(w ^ (ones * '\\'), 1)) != 0;
}

// The quoted, serde_json-escaped text ('"' and '\\' backslashed; \b \f \n \r
// \t by name; other control bytes as \u00xx in lower-case hex; the rest, DEL
// and non-ASCII included, as is). Room needed: 2 + 6 * size.
inline char* put_string(char* p, std::string_view text) noexcept {
    *p++ = '"';
    std::size_t clean = 0; // bytes known to need no escape, 8 at a time
    for (std::uint64_t w; clean + 8 <= text.size(); clean += 8) {
        std::memcpy(&w, text.data() + clean, 8);
        if (word_needs_escape(w)) break;
    }
    p = put(p, {text.data(), clean});
    for (std::size_t i = clean; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = static_cast<char>(c);
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\b': *p++ = 'b'; break;
        case '\f': *p++ = 'f'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        default:
            p = put(p, "u00");
            *p++ = "0123456789abcdef"[c >> 4];
            *p++ = "0123456789abcdef"[c & 0xf];
        }
    }
    *p++ = '"';
    return p;
}

inline void append_string(std::string& out, std::string_view text) {
    const std::size_t old_size = out.size();
    out.resize(old_size + 2 + 6 * text.size());
    char* end = put_string(&out[old_size], text);
    out.resize(static_cast<std::size_t>(end - out.data()));
}

inline void append_number(std::string& out, std::uint64_t value) {
    char digits[20];
    out.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

inline void append_optional(std::string& out, const std::optional<std::string>& text) {
    if (text)
        append_string(out, *text);
    else
        out += "null";
}

inline void append_config(std::string& out, const ReplicationConfig& config) {
    out += "{\"role\":";
    append_string(out, config.role);
    out += ",\"rules\":[";
    for (std::size_t i = 0; i < config.rules.size(); ++i) {
        const s3repl::ReplicationRule& rule = config.rules[i];
        out += i == 0 ? "{\"id\":" : ",{\"id\":";
        append_string(out, rule.id);
        out += ",\"priority\":";
        append_number(out, rule.priority);
        out += rule.status_enabled ? ",\"status_enabled\":true" : ",\"status_enabled\":false";
        out += ",\"filter\":{\"prefix\":";
        append_optional(out, rule.filter.prefix);
        out += ",\"tags\":[";
        for (std::size_t t = 0; t < rule.filter.tags.size(); ++t) {
            out += t == 0 ? "[" : ",[";
            append_string(out, rule.filter.tags[t].first);
            out += ',';
            append_string(out, rule.filter.tags[t].second);
            out += ']';
        }
        out += "]},\"destination_bucket\":";
        append_string(out, rule.destination_bucket);
        out += ",\"destination_storage_class\":";
        append_optional(out, rule.destination_storage_class);
        out += '}';
    }
    out += "]}";
}

// ---- reading -----------------------------------------------------------------------

[[noreturn]] inline void restore_error(const std::string& what) {
    throw std::runtime_error("abseil peer: restore: " + what);
}

inline ReplicationStatus parse_status(std::string_view word) {
    for (std::size_t i = 0; i < s3repl::replication_status_count; ++i)
        if (word == status_words[i]) return static_cast<ReplicationStatus>(i);
    restore_error("unknown status \"" + std::string(word) + "\"");
}

// What put_time writes: "YYYY-MM-DDTHH:MM:SS[.F{1,9}]Z" (UTC, up to 9
// fraction digits); strict enough for snapshots of s3repl and of this peer.
inline std::int64_t parse_time(std::string_view t) {
    const auto bad = [&] { restore_error("not an RFC 3339 UTC time: \"" + std::string(t) + "\""); };
    const auto digit = [&](std::size_t at) {
        const unsigned d = static_cast<unsigned char>(t[at]) - unsigned{'0'};
        if (d > 9) bad();
        return d;
    };
    const auto pair = [&](std::size_t at) { return digit(at) * 10 + digit(at + 1); };
    if (t.size() < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':') bad();
    const unsigned hour = pair(11), minute = pair(14), second = pair(17);
    const date::year_month_day ymd{date::year{static_cast<int>(pair(0) * 100 + pair(2))}, date::month{pair(5)},
                                   date::day{pair(8)}};
    if (!ymd.ok() || hour > 23 || minute > 59 || second > 59) bad();
    std::size_t at = 19;
    std::int64_t nanos = 0;
    if (t[at] == '.') {
        const std::size_t first = ++at;
        for (; at < t.size() && t[at] != 'Z'; ++at) {
            if (at - first == 9) bad();
            nanos = nanos * 10 + digit(at);
        }
        if (at == first) bad();
        for (std::size_t pad = at - first; pad < 9; ++pad) nanos *= 10;
    }
    if (at + 1 != t.size() || t[at] != 'Z') bad();
    const std::int64_t seconds = std::int64_t{date::sys_days{ymd}.time_since_epoch().count()} * 86400 +
                                 std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 + std::int64_t{second};
    // Within what nanoseconds in an int64 hold (about 1677 to 2262).
    if (seconds < -9'223'372'036 || seconds > 9'223'372'035) bad();
    return seconds * 1'000'000'000 + nanos;
}

inline std::uint32_t read_u32(simdjson::ondemand::value value, const char* what) {
    const std::uint64_t number = value.get_uint64();
    if (number > std::numeric_limits<std::uint32_t>::max()) restore_error(std::string(what) + " over 2^32-1");
    return static_cast<std::uint32_t>(number);
}

inline std::optional<std::string> read_optional_string(simdjson::ondemand::value value) {
    if (value.is_null()) return std::nullopt;
    return std::string(std::string_view(value.get_string()));
}

// Pins the object's fields, any order, unknown ones skipped: each known field
// once, and the required ones present.
class FieldSet {
  public:
    explicit FieldSet(const char* where) : where_(where) {}
    void saw(unsigned bit, std::string_view name) {
        if (seen_ & (1u << bit)) restore_error(std::string(where_) + ": \"" + std::string(name) + "\" given twice");
        seen_ |= 1u << bit;
    }
    void require(unsigned mask, const char* names) const {
        if ((seen_ & mask) != mask) restore_error(std::string(where_) + ": needs " + names);
    }

  private:
    const char* where_;
    unsigned seen_ = 0;
};

inline s3repl::ReplicationRule read_rule(simdjson::ondemand::object object) {
    s3repl::ReplicationRule rule;
    FieldSet fields("rule");
    for (simdjson::ondemand::field field : object) {
        const simdjson::ondemand::raw_json_string name = field.key();
        if (name == "id") {
            fields.saw(0, "id");
            rule.id = std::string(std::string_view(field.value().get_string()));
        } else if (name == "priority") {
            fields.saw(1, "priority");
            rule.priority = read_u32(field.value(), "priority");
        } else if (name == "status_enabled") {
            fields.saw(2, "status_enabled");
            rule.status_enabled = field.value().get_bool();
        } else if (name == "filter") {
            fields.saw(3, "filter");
            FieldSet filter_fields("filter");
            for (simdjson::ondemand::field filter_field : field.value().get_object()) {
                const simdjson::ondemand::raw_json_string filter_name = filter_field.key();
                if (filter_name == "prefix") {
                    filter_fields.saw(0, "prefix");
                    rule.filter.prefix = read_optional_string(filter_field.value());
                } else if (filter_name == "tags") {
                    filter_fields.saw(1, "tags");
                    for (simdjson::ondemand::array tag : filter_field.value().get_array()) {
                        std::vector<std::string> parts;
                        for (simdjson::ondemand::value part : tag)
                            parts.emplace_back(std::string_view(part.get_string()));
                        if (parts.size() != 2) restore_error("a tag is not a [key, value] pair");
                        rule.filter.tags.emplace_back(std::move(parts[0]), std::move(parts[1]));
                    }
                }
            }
            filter_fields.require(0b10, "tags");
        } else if (name == "destination_bucket") {
            fields.saw(4, "destination_bucket");
            rule.destination_bucket = std::string(std::string_view(field.value().get_string()));
        } else if (name == "destination_storage_class") {
            fields.saw(5, "destination_storage_class");
            rule.destination_storage_class = read_optional_string(field.value());
        }
    }
    fields.require(0b11111, "id, priority, status_enabled, filter and destination_bucket");
    return rule;
}

inline ReplicationConfig read_config(simdjson::ondemand::object object) {
    ReplicationConfig config;
    FieldSet fields("configuration");
    for (simdjson::ondemand::field field : object) {
        const simdjson::ondemand::raw_json_string name = field.key();
        if (name == "role") {
            fields.saw(0, "role");
            config.role = std::string(std::string_view(field.value().get_string()));
        } else if (name == "rules") {
            fields.saw(1, "rules");
            for (simdjson::ondemand::object rule : field.value().get_array()) config.rules.push_back(read_rule(rule));
        }
    }
    fields.require(0b11, "role and rules");
    return config;
}

} // namespace abseil_peer
} // namespace s3repl_bench
