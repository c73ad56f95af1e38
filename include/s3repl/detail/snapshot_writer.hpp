#pragma once

#include "s3repl/rules.hpp"
#include "s3repl/status.hpp"
#include "s3repl/timestamp.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>
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
        // One resize per entry, then raw writes: appending piece by piece
        // cost more than everything else the writer does.
        constexpr std::string_view open = "[[", middle = "],{\"status\":\"",
                                   generation_field = "\",\"generation\":", time_field = ",\"recorded_at\":\"",
                                   close = "\"}]";
        constexpr std::size_t fixed = 1 + open.size() + 1 + middle.size() + 9 + generation_field.size() + 20 +
                                      time_field.size() + rfc3339_max_size + close.size();
        char* p = extend(fixed + escaped_size_bound(bucket) + escaped_size_bound(key));
        if (statuses_++ != 0) *p++ = ',';
        p = put(p, open);
        p = put_string(p, bucket);
        *p++ = ',';
        p = put_string(p, key);
        p = put(p, middle);
        p = put(p, snapshot_status_words[static_cast<std::size_t>(status)]);
        p = put(p, generation_field);
        p = std::to_chars(p, p + 20, generation).ptr;
        p = put(p, time_field);
        p = write_rfc3339(recorded_at, p);
        commit(put(p, close));
    }

    // One destination's status, for destinations().
    struct Destination {
        std::string_view bucket;
        ReplicationStatus status;
        Timestamp recorded_at;
    };

    // Adds the per-destination statuses, at(0) .. at(n - 1), to the entry
    // status() just wrote, as s3repl's own member "destinations" (the Rust
    // reader ignores it): [{"bucket":...,"status":...,"recorded_at":...}].
    template <class At>
    void destinations(std::size_t n, At&& at) {
        constexpr std::string_view close = "}]";
        out_.resize(out_.size() - close.size()); // reopen the entry
        out_ += ",\"destinations\":[";
        for (std::size_t i = 0; i < n; ++i) {
            const Destination d = at(i);
            out_ += i == 0 ? "{\"bucket\":" : ",{\"bucket\":";
            write_string(d.bucket);
            out_ += ",\"status\":\"";
            out_ += snapshot_status_words[static_cast<std::size_t>(d.status)];
            out_ += "\",\"recorded_at\":\"";
            commit(write_rfc3339(d.recorded_at, extend(rfc3339_max_size)));
            out_ += "\"}";
        }
        out_ += ']';
        out_ += close;
    }

    // `exhausted`: 2^64-1 was handed out too, so next_generation (2^64-1,
    // the largest the format holds) is not free; said in a member of our own,
    // which the Rust server's reader ignores.
    std::string finish(std::uint64_t next_generation, bool exhausted) && {
        out_ += "],\"next_generation\":";
        write_number(next_generation);
        if (exhausted) out_ += ",\"generations_exhausted\":true";
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
            // A V1 rule's rule-level prefix is what the Rust server must match on.
            out_ += ",\"filter\":{\"prefix\":";
            write_optional(rule.has_filter ? rule.filter.prefix : rule.prefix);
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
            write_aws_members(rule);
            out_ += '}';
        }
        out_ += "]}";
    }

    // The members of AWS's rule the Rust format has no field for, in one
    // extra member "aws" that its reader ignores; written only when one of
    // them is not at its default, so a rule of today's fields is byte for
    // byte what it was. A V1 rule's prefix is in "filter" (see above).
    void write_aws_members(const ReplicationRule& rule) {
        const std::size_t start = out_.size();
        out_ += ",\"aws\":{";
        const std::size_t empty = out_.size();
        const auto member = [&](const char* name) {
            if (out_.size() != empty) out_ += ',';
            out_ += '"';
            out_ += name;
            out_ += "\":";
        };
        const auto flag = [&](const char* name, bool value) {
            member(name);
            out_ += value ? "true" : "false";
        };
        const auto text = [&](const char* name, const std::optional<std::string>& value) {
            if (!value) return;
            member(name);
            write_string(*value);
        };
        if (!rule.has_filter) flag("has_filter", false);
        if (!rule.has_priority) flag("has_priority", false);
        if (rule.has_filter) text("prefix", rule.prefix);
        if (rule.filter.and_operator) flag("and_operator", true);
        if (rule.delete_marker_replication) flag("delete_marker_replication", *rule.delete_marker_replication);
        if (rule.existing_object_replication) flag("existing_object_replication", *rule.existing_object_replication);
        if (const auto& criteria = rule.source_selection_criteria) {
            member("source_selection_criteria");
            out_ += '{';
            const std::size_t inner = out_.size();
            if (criteria->sse_kms_encrypted_objects)
                out_ += *criteria->sse_kms_encrypted_objects ? "\"sse_kms_encrypted_objects\":true"
                                                             : "\"sse_kms_encrypted_objects\":false";
            if (criteria->replica_modifications) {
                if (out_.size() != inner) out_ += ',';
                out_ += *criteria->replica_modifications ? "\"replica_modifications\":true"
                                                         : "\"replica_modifications\":false";
            }
            out_ += '}';
        }
        text("destination_account", rule.destination_account);
        text("access_control_owner", rule.access_control_owner);
        text("replica_kms_key_id", rule.replica_kms_key_id);
        if (const auto& time = rule.replication_time) {
            member("replication_time");
            out_ += time->enabled ? "{\"enabled\":true,\"minutes\":" : "{\"enabled\":false,\"minutes\":";
            write_number(time->minutes);
            out_ += '}';
        }
        if (const auto& metrics = rule.metrics) {
            member("metrics");
            out_ += metrics->enabled ? "{\"enabled\":true" : "{\"enabled\":false";
            if (metrics->event_threshold_minutes) {
                out_ += ",\"event_threshold_minutes\":";
                write_number(*metrics->event_threshold_minutes);
            }
            out_ += '}';
        }
        if (out_.size() == empty) {
            out_.resize(start);
        } else {
            out_ += '}';
        }
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

    void write_string(std::string_view text) { commit(put_string(extend(escaped_size_bound(text)), text)); }

    // Makes room for `bound` more bytes and returns where they start;
    // commit(end) then trims the text to what was written.
    char* extend(std::size_t bound) {
        const std::size_t old_size = out_.size();
        out_.resize(old_size + bound);
        return &out_[old_size];
    }
    void commit(const char* end) { out_.resize(static_cast<std::size_t>(end - out_.data())); }

    static char* put(char* p, std::string_view piece) noexcept {
        std::memcpy(p, piece.data(), piece.size());
        return p + piece.size();
    }

    // Quotes plus the worst case, every byte as \u00xx.
    static std::size_t escaped_size_bound(std::string_view text) noexcept { return 2 + 6 * text.size(); }

    // serde_json's escaping: '"' and '\\' backslashed; \b \f \n \r \t by
    // name; other control characters as \u00xx (lower-case hex); everything
    // else, DEL and non-ASCII included, as is. Input is valid UTF-8.
    static char* put_string(char* p, std::string_view text) noexcept {
        *p++ = '"';
        std::size_t run = 0;
        for (std::size_t i = 0; i < text.size(); ++i) {
            const auto c = static_cast<unsigned char>(text[i]);
            if (c >= 0x20 && c != '"' && c != '\\') continue;
            p = put(p, text.substr(run, i - run));
            run = i + 1;
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
        p = put(p, text.substr(run));
        *p++ = '"';
        return p;
    }

    std::string out_;
    std::size_t statuses_ = 0;
};

} // namespace detail
} // namespace v0
} // namespace s3repl
