#pragma once

#include "s3repl/detail/byte_scan.hpp"
#include "s3repl/detail/rfc3339_reader.hpp"
#include "s3repl/detail/snapshot_writer.hpp"
#include "s3repl/status.hpp"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace s3repl {
inline namespace v0 {
namespace detail {

// A snapshot's status word; false for any other text.
inline bool parse_status_word(std::string_view word, ReplicationStatus& status) noexcept {
    for (std::size_t i = 0; i < replication_status_count; ++i) {
        if (snapshot_status_words[i] == word) {
            status = static_cast<ReplicationStatus>(i);
            return true;
        }
    }
    return false;
}

// One element of "statuses" as read by WriterEntryParser: views into the text.
struct WriterEntry {
    std::string_view bucket, key;
    ReplicationStatusEntry value;
};

// Reads one element of "statuses" exactly as SnapshotWriter::status writes it,
//   [["<bucket>","<key>"],{"status":"<word>","generation":<n>,"recorded_at":"<time>"}]
// with printable ASCII strings (no escapes), n below 10^19 and a time
// Rfc3339Reader reads: the common case of a restore, at a fraction of the
// general reader's cost. Such text means to the general reader exactly
// what it means here; any other text (other whitespace, field order or
// forms, an escape, a version, destinations, any error) it declines, for
// the general reader to read with its checks and messages. One per thread.
class WriterEntryParser {
  public:
    // Where the element at p ends, or nullptr when it declines.
    const char* parse(const char* p, const char* end, WriterEntry& out) noexcept {
        const auto literal = [&](std::string_view text) {
            if (static_cast<std::size_t>(end - p) < text.size() || std::memcmp(p, text.data(), text.size()) != 0)
                return false;
            p += text.size();
            return true;
        };
        const auto plain = [&](std::string_view& text) {
            const char* quote = plain_string_end(p, end);
            if (quote == nullptr) return false;
            text = std::string_view(p, static_cast<std::size_t>(quote - p));
            p = quote + 1;
            return true;
        };
        std::string_view word, time;
        if (!literal("[[\"") || !plain(out.bucket) || !literal(",\"") || !plain(out.key) ||
            !literal("],{\"status\":\"") || !plain(word) || !literal(",\"generation\":"))
            return nullptr;
        if (!parse_status_word(word, out.value.status)) return nullptr;
        // A JSON number without sign, fraction or exponent: "0" or no leading zero.
        const char* digits = p;
        std::uint64_t generation = 0;
        if (p != end && *p == '0') {
            ++p;
        } else {
            for (; p != end && p - digits < 19 && *p >= '0' && *p <= '9'; ++p)
                generation = generation * 10 + static_cast<std::uint64_t>(*p - '0');
        }
        std::int64_t ns = 0;
        if (p == digits || !literal(",\"recorded_at\":\"") || !plain(time) || !literal("}]") || !times_.read(time, ns))
            return nullptr;
        out.value.generation = generation;
        out.value.recorded_at = Timestamp{std::chrono::nanoseconds{ns}};
        return p;
    }

  private:
    Rfc3339Reader times_;
};

} // namespace detail
} // namespace v0
} // namespace s3repl
