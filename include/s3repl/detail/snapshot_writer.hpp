#pragma once

#include "s3repl/detail/byte_scan.hpp"
#include "s3repl/detail/rfc3339_writer.hpp"
#include "s3repl/rules.hpp"
#include "s3repl/status.hpp"
#include "s3repl/timestamp.hpp"

#include <algorithm>
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

// A growing text written through raw pointers: a std::string kept at least
// as long as what is written (size()), grown in large steps. Making room
// for an entry then costs a comparison, where resizing the string per entry
// zero-filled its worst-case room every time and trimmed it again.
class TextBuffer {
  public:
    // Room for `bound` more bytes at the end of the text; commit() says how many were written.
    char* extend(std::size_t bound) {
        if (bytes_.size() - used_ < bound) grow(bound);
        return &bytes_[0] + used_;
    }
    void commit(const char* end) noexcept { used_ = static_cast<std::size_t>(end - bytes_.data()); }

    TextBuffer& operator+=(std::string_view piece) {
        char* p = extend(piece.size());
        if (!piece.empty()) std::memcpy(p, piece.data(), piece.size());
        used_ += piece.size();
        return *this;
    }
    TextBuffer& operator+=(char c) {
        *extend(1) = c;
        ++used_;
        return *this;
    }
    std::size_t size() const noexcept { return used_; }
    void resize(std::size_t n) noexcept { used_ = n; } // back only: n <= size()
    std::string_view view() const noexcept { return {bytes_.data(), used_}; }
    // Capacity for `n` bytes in all (address space: pages are touched as
    // they are written). No huge-page advice: on a VM it made the snapshot
    // bimodal, faster when huge pages were free and 3x slower when the
    // kernel had to compact memory to find them (a measured 73 to 448 ns
    // per entry at a million entries, against 110 to 148 without it).
    void reserve(std::size_t n) { bytes_.reserve(n); }
    std::string take() && {
        bytes_.resize(used_);
        return std::move(bytes_);
    }

  private:
    void grow(std::size_t bound) {
        // Steps of at least 64 KiB or an eighth of the text: the string's
        // own growth beyond its capacity is geometric. Within the capacity a
        // step stops at its end, since one byte past it makes the string copy
        // the whole text into a buffer twice the size (reserve() sized it to
        // hold all of it).
        const std::size_t step = used_ + std::max({bound, std::size_t{1} << 16, bytes_.size() / 8});
        const bool fits = used_ + bound <= bytes_.capacity();
        bytes_.resize(fits ? std::min(step, bytes_.capacity()) : step);
    }

    std::string bytes_;
    std::size_t used_ = 0;
};

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

    // About how many entries will follow: once a sample of them is written,
    // the text is reserved for all at the sample's bytes per entry (one
    // allocation instead of a doubling and a copy of the text each time).
    void expect_entries(std::size_t count) noexcept { expected_entries_ = count; }

    // An unversioned entry, into "statuses".
    void status(std::string_view bucket, std::string_view key, ReplicationStatus status, std::uint64_t generation,
                Timestamp recorded_at) {
        to_ = &out_;
        entry(statuses_, bucket, key, nullptr, status, generation, recorded_at);
    }

    // A version's entry, into s3repl's own top-level member "versions" (the
    // Rust reader ignores it): [["<bucket>","<key>","<version>"],{...}],
    // with "delete_marker":true for a delete marker.
    void version(std::string_view bucket, std::string_view key, std::string_view version_id, bool delete_marker,
                 ReplicationStatus status, std::uint64_t generation, Timestamp recorded_at) {
        to_ = &versions_;
        entry(versions_count_, bucket, key, &version_id, status, generation, recorded_at);
        if (delete_marker) reopen_entry("\"delete_marker\":true");
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
        text().resize(text().size() - close.size()); // reopen the entry
        text() += ",\"destinations\":[";
        for (std::size_t i = 0; i < n; ++i) {
            const Destination d = at(i);
            text() += i == 0 ? "{\"bucket\":" : ",{\"bucket\":";
            write_string(d.bucket);
            text() += ",\"status\":\"";
            text() += snapshot_status_words[static_cast<std::size_t>(d.status)];
            text() += "\",\"recorded_at\":\"";
            commit(times_.write(d.recorded_at, extend(rfc3339_max_size)));
            text() += "\"}";
        }
        text() += ']';
        text() += close;
    }

    // `exhausted`: 2^64-1 was handed out too, so next_generation (2^64-1,
    // the largest the format holds) is not free; said in a member of our own,
    // which the Rust server's reader ignores.
    std::string finish(std::uint64_t next_generation, bool exhausted) && {
        to_ = &out_;
        out_ += ']';
        if (versions_count_ != 0) {
            out_ += ",\"versions\":[";
            out_ += versions_.view();
            out_ += ']';
        }
        out_ += ",\"next_generation\":";
        write_number(next_generation);
        if (exhausted) out_ += ",\"generations_exhausted\":true";
        out_ += '}';
        return std::move(out_).take();
    }

  private:
    void entry(std::size_t& count, std::string_view bucket, std::string_view key, const std::string_view* version,
               ReplicationStatus status, std::uint64_t generation, Timestamp recorded_at) {
        // One resize per entry, then raw writes: appending piece by piece
        // cost more than everything else the writer does.
        constexpr std::string_view open = "[[", middle = "],{\"status\":\"",
                                   generation_field = "\",\"generation\":", time_field = ",\"recorded_at\":\"",
                                   close = "\"}]";
        constexpr std::size_t fixed = 2 + open.size() + 1 + middle.size() + 9 + generation_field.size() + 20 +
                                      time_field.size() + rfc3339_max_size + close.size();
        if (count == reserve_sample && &count == &statuses_ && expected_entries_ > count) {
            const std::size_t per_entry = text().size() / count + 1;
            text().reserve(per_entry * (expected_entries_ + expected_entries_ / 16) + (std::size_t{1} << 16));
        }
        char* p = extend(fixed + escaped_size_bound(bucket) + escaped_size_bound(key) +
                         (version ? escaped_size_bound(*version) : 0));
        if (count++ != 0) *p++ = ',';
        p = put(p, open);
        p = put_string(p, bucket);
        *p++ = ',';
        p = put_string(p, key);
        if (version) {
            *p++ = ',';
            p = put_string(p, *version);
        }
        p = put(p, middle);
        p = put(p, snapshot_status_words[static_cast<std::size_t>(status)]);
        p = put(p, generation_field);
        p = std::to_chars(p, p + 20, generation).ptr;
        p = put(p, time_field);
        p = times_.write(recorded_at, p);
        commit(put(p, close));
    }

    // Adds `member` to the entry just written (before its closing "}]").
    void reopen_entry(std::string_view member) {
        constexpr std::string_view close = "}]";
        text().resize(text().size() - close.size());
        text() += ',';
        text() += member;
        text() += close;
    }

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
        char* p = out_.extend(20);
        out_.commit(std::to_chars(p, p + 20, value).ptr);
    }

    void write_string(std::string_view text) { commit(put_string(extend(escaped_size_bound(text)), text)); }

    // The text entries go to: "statuses" (out_ itself) or "versions".
    TextBuffer& text() noexcept { return *to_; }

    // Makes room for `bound` more bytes of text() and returns where they
    // start; commit(end) then trims it to what was written.
    char* extend(std::size_t bound) { return text().extend(bound); }
    void commit(const char* end) noexcept { text().commit(end); }

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
        const char* s = text.data();
        const char* const end = s + text.size();
        for (;;) {
            const std::size_t clean = escape_free_size(s, end);
            if (clean != 0) std::memcpy(p, s, clean);
            p += clean;
            s += clean;
            if (s == end) break;
            const auto c = static_cast<unsigned char>(*s++);
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

    TextBuffer out_;
    TextBuffer versions_;
    TextBuffer* to_ = &out_;
    Rfc3339Writer times_;
    std::size_t statuses_ = 0;
    std::size_t versions_count_ = 0;
    std::size_t expected_entries_ = 0;
    static constexpr std::size_t reserve_sample = 256;
};

} // namespace detail
} // namespace v0
} // namespace s3repl
