#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/status.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace s3repl {
inline namespace v0 {

/// The replication status of one object at one destination bucket. Every
/// destination of an entry is at the entry's generation: a newer PUT
/// replaces the whole set with the destinations its rules select.
struct DestinationStatus {
    /// Empty for an entry that holds one status for whichever destination
    /// its rules select (see BasicReplicationManager::lookup_destinations).
    std::string destination_bucket;
    ReplicationStatus status = ReplicationStatus::Pending;
    std::uint64_t generation = 0;
    Timestamp recorded_at{};

    friend bool operator==(const DestinationStatus& a, const DestinationStatus& b) {
        return a.destination_bucket == b.destination_bucket && a.status == b.status && a.generation == b.generation &&
               a.recorded_at == b.recorded_at;
    }
    friend bool operator!=(const DestinationStatus& a, const DestinationStatus& b) { return !(a == b); }
};

/// An owned copy of one destination's status, for re-drive queues.
/// `version_id` is empty for an unversioned object; `delete_marker` says the
/// version to copy is a delete marker.
struct DestinationRef {
    std::string bucket;
    std::string key;
    DestinationStatus destination;
    std::string version_id{};
    bool delete_marker = false;

    friend bool operator==(const DestinationRef& a, const DestinationRef& b) {
        return a.bucket == b.bucket && a.key == b.key && a.destination == b.destination &&
               a.version_id == b.version_id && a.delete_marker == b.delete_marker;
    }
    friend bool operator!=(const DestinationRef& a, const DestinationRef& b) { return !(a == b); }
};

/// Exact counts of one destination bucket's statuses, for metrics.
struct DestinationCounts {
    std::string destination_bucket; ///< empty: entries whose destination the rules decide (see destination_stats)
    std::size_t pending = 0;
    std::size_t completed = 0;
    std::size_t failed = 0;

    friend bool operator==(const DestinationCounts& a, const DestinationCounts& b) {
        return a.destination_bucket == b.destination_bucket && a.pending == b.pending && a.completed == b.completed &&
               a.failed == b.failed;
    }
    friend bool operator!=(const DestinationCounts& a, const DestinationCounts& b) { return !(a == b); }
};

/// `x-amz-replication-status` over several destinations, as AWS documents
/// it: FAILED if any destination failed; otherwise PENDING while any is
/// pending; COMPLETED when every one completed. Feed it each destination's
/// status with add(); value() of nothing added is COMPLETED.
class AggregateStatus {
  public:
    constexpr void add(ReplicationStatus status) noexcept {
        failed_ = failed_ || status == ReplicationStatus::Failed;
        pending_ = pending_ || status == ReplicationStatus::Pending;
    }
    constexpr ReplicationStatus value() const noexcept {
        return failed_    ? ReplicationStatus::Failed
               : pending_ ? ReplicationStatus::Pending
                          : ReplicationStatus::Completed;
    }

  private:
    bool failed_ = false;
    bool pending_ = false;
};

} // namespace v0
} // namespace s3repl
