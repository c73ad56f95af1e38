#pragma once

#include "s3repl/rules.hpp"
#include "s3repl/status.hpp"
#include "s3repl/timestamp.hpp"

#include <charconv>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace s3repl {
inline namespace v0 {
namespace detail {

using ConfigMap = std::map<std::string, ReplicationConfig, std::less<>>;

// The status words of the Rust enum, as the snapshot spells them.
inline constexpr std::string_view snapshot_status_words[replication_status_count] = {"Pending", "Completed", "Failed",
                                                                                    "Replica"};

// Writes the snapshot format byte for byte as the Rust server (serde_json)
// does: compact, fields in declaration order, strings escaped as serde
// escapes them. Written by hand rather than through a nlohmann DOM, which
// would cost an allocation per string and several per entry.
class SnapshotWriter {
  public:
    // First call: the bucket configurations, which open the document.
    void configs(const ConfigMap& configs) {
        out_ += "{\"by_bucket\":{";
        bool first = true;
        for (const auto& [bucket, config] : configs) {
            if (!first) out_ += ',';
            first = false;
            write_string(bucket);
            write_config(config);
        }
        out_ += "},\"statuses\":[";
    }

    void status(std::string_view bucket, std::string_view key, ReplicationStatus status, std::uint64_t generation,
                Timestamp recorded_at) {
        if (statuses_ != 0) out_ += ',';
        ++statuses_;
        out_ += "[[";
        write_string(bucket);
        out_ += ',';
        write_string(key);
        out_ += "],{\"status\":\"";
        out_ += snapshot_status_words[static_cast<std::size_t>(status)];
        out_ += "\",\"generation\":";
        write_number(generation);
        out_ += ",\"recorded_at\":\"";
        char text[rfc3339_max_size];
        out_.append(text, write_rfc3339(recorded_at, text));
        out_ += "\"}]";
    }

    std::string finish(std::uint64_t next_generation) && {
        out_ += "],\"next_generation\":";
        write_number(next_generation);
        out_ += '}';
        return std::move(out_);
    }

  private:
    void write_config(const ReplicationConfig& config) {
        out_ += ":{\"role\":";
        write_string(config.role);
        out_ += ",\"rules\":[";
        for (std::size_t i = 0; i < config.rules.size(); ++i) {
            const ReplicationRule& rule = config.rules[i];
            if (i != 0) out_ += ',';
            out_ += "{\"id\":";
            write_string(rule.id);
            out_ += ",\"priority\":";
            write_number(rule.priority);
            out_ += rule.status_enabled ? ",\"status_enabled\":true" : ",\"status_enabled\":false";
            out_ += ",\"filter\":{\"prefix\":";
            write_optional(rule.filter.prefix);
            out_ += ",\"tags\":[";
            for (std::size_t t = 0; t < rule.filter.tags.size(); ++t) {
                out_ += t == 0 ? "[" : ",[";
                write_string(rule.filter.tags[t].first);
                out_ += ',';
                write_string(rule.filter.tags[t].second);
                out_ += ']';
            }
            out_ += "]},\"destination_bucket\":";
            write_string(rule.destination_bucket);
            out_ += ",\"destination_storage_class\":";
            write_optional(rule.destination_storage_class);
            out_ += '}';
        }
        out_ += "]}";
    }

    void write_optional(const std::optional<std::string>& text) {
        if (text) {
            write_string(*text);
        } else {
            out_ += "null";
        }
    }

    void write_number(std::uint64_t value) {
        char digits[20];
        out_.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
    }

    // serde_json's escaping: '"' and '\\' backslashed; \b \f \n \r \t by
    // name; other control characters as \u00xx (lower-case hex); everything
    // else, DEL and non-ASCII included, as is. Input is valid UTF-8.
    void write_string(std::string_view text) {
        out_ += '"';
        std::size_t run = 0;
        for (std::size_t i = 0; i < text.size(); ++i) {
            const auto c = static_cast<unsigned char>(text[i]);
            if (c >= 0x20 && c != '"' && c != '\\') continue;
            out_.append(text.data() + run, i - run);
            run = i + 1;
            switch (c) {
            case '"': out_ += "\\\""; break;
            case '\\': out_ += "\\\\"; break;
            case '\b': out_ += "\\b"; break;
            case '\f': out_ += "\\f"; break;
            case '\n': out_ += "\\n"; break;
            case '\r': out_ += "\\r"; break;
            case '\t': out_ += "\\t"; break;
            default: {
                const char escape[] = {'\\', 'u', '0', '0', "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 0xf]};
                out_.append(escape, sizeof escape);
            }
            }
        }
        out_.append(text.data() + run, text.size() - run);
        out_ += '"';
    }

    std::string out_;
    std::size_t statuses_ = 0;
};

} // namespace detail
} // namespace v0
} // namespace s3repl
