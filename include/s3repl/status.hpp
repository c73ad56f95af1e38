#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace s3repl {
inline namespace v0 {

/// The value of `x-amz-replication-status`. Source objects move through
/// Pending to Completed or Failed; a destination copy carries Replica.
enum class ReplicationStatus : std::uint8_t { Pending, Completed, Failed, Replica };

/// Number of ReplicationStatus values; handy for per-status arrays.
inline constexpr std::size_t replication_status_count = 4;

/// The header value AWS uses: "PENDING", "COMPLETED", "FAILED", "REPLICA".
constexpr std::string_view to_aws_string(ReplicationStatus status) noexcept {
    switch (status) {
    case ReplicationStatus::Pending: return "PENDING";
    case ReplicationStatus::Completed: return "COMPLETED";
    case ReplicationStatus::Failed: return "FAILED";
    case ReplicationStatus::Replica: return "REPLICA";
    }
    return "PENDING"; // unreachable for valid enumerators
}

/// The status's name for logs and messages: the same words as to_aws_string
/// ("PENDING", "COMPLETED", "FAILED", "REPLICA"), so a log line and the header a
/// client sees agree. Found by ADL as `to_string(status)`, like the
/// to_string of every other s3repl enum.
constexpr std::string_view to_string(ReplicationStatus status) noexcept { return to_aws_string(status); }

/// Parses a header value; accepts AWS's legacy "COMPLETE" as Completed.
/// Case-sensitive, as S3 is.
constexpr std::optional<ReplicationStatus> parse_aws_status(std::string_view text) noexcept {
    if (text == "PENDING") return ReplicationStatus::Pending;
    if (text == "COMPLETED" || text == "COMPLETE") return ReplicationStatus::Completed;
    if (text == "FAILED") return ReplicationStatus::Failed;
    if (text == "REPLICA") return ReplicationStatus::Replica;
    return std::nullopt;
}

/// COMPLETED and FAILED are terminal: the only statuses the sweep removes.
constexpr bool is_terminal(ReplicationStatus status) noexcept {
    return status == ReplicationStatus::Completed || status == ReplicationStatus::Failed;
}

/// Nanoseconds on every standard library (libc++'s system_clock ticks in
/// microseconds), so 9-digit fractions round-trip. Range: about 1677 to 2262.
using Timestamp = std::chrono::time_point<std::chrono::system_clock, std::chrono::nanoseconds>;

/// What the manager stores per (bucket, key).
struct ReplicationStatusEntry {
    ReplicationStatus status = ReplicationStatus::Pending;
    /// The source PUT's token; 0 for unconditional stamps and legacy snapshots.
    std::uint64_t generation = 0;
    /// The manager's clock when the stamp was accepted.
    Timestamp recorded_at{};

    friend bool operator==(const ReplicationStatusEntry& a, const ReplicationStatusEntry& b) noexcept {
        return a.status == b.status && a.generation == b.generation && a.recorded_at == b.recorded_at;
    }
    friend bool operator!=(const ReplicationStatusEntry& a, const ReplicationStatusEntry& b) noexcept {
        return !(a == b);
    }
};

} // namespace v0
} // namespace s3repl
