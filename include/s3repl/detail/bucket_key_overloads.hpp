#pragma once

// The members every manager offers twice: on an ObjectId, where the work is
// done, and on (bucket, key), the unversioned object, which only forwards.
// Each manager derives from this with itself as `Manager` and names the
// overloads it takes in with `using` (its own ObjectId members would hide
// them otherwise), so the forwarding is written once for both.

#include "s3repl/destination_status.hpp"
#include "s3repl/object_id.hpp"
#include "s3repl/status.hpp"
#include "s3repl/sweep_policy.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace s3repl {
inline namespace v0 {
namespace detail {

template <class Manager>
class BucketKeyOverloads {
  public:
    void record_status(std::string_view bucket, std::string_view key, ReplicationStatus status) {
        self().record_status(ObjectId{bucket, key}, status);
    }
    bool record_status_if_newer(std::string_view bucket, std::string_view key, std::uint64_t generation,
                                ReplicationStatus status) {
        return self().record_status_if_newer(ObjectId{bucket, key}, generation, status);
    }
    bool record_destination_status_if_newer(std::string_view bucket, std::string_view key,
                                            std::string_view destination_bucket, std::uint64_t generation,
                                            ReplicationStatus status) {
        return self().record_destination_status_if_newer(ObjectId{bucket, key}, destination_bucket, generation, status);
    }
    std::optional<ReplicationStatus> lookup_status(std::string_view bucket, std::string_view key) const {
        return self().lookup_status(ObjectId{bucket, key});
    }
    std::optional<ReplicationStatusEntry> lookup_entry(std::string_view bucket, std::string_view key) const {
        return self().lookup_entry(ObjectId{bucket, key});
    }
    std::vector<DestinationStatus> lookup_destinations(std::string_view bucket, std::string_view key) const {
        return self().lookup_destinations(ObjectId{bucket, key});
    }

    /// sweep_stale with one TTL for COMPLETED and FAILED. Any duration type
    /// is accepted and clamped, so hours::max() means "keep everything"
    /// instead of overflowing in a conversion.
    template <class Rep, class Period>
    std::size_t sweep_stale(Timestamp now, std::chrono::duration<Rep, Period> max_age) {
        return self().sweep_stale(now, SweepPolicy{max_age, max_age});
    }
    /// sweep_stale going through every shard.
    std::size_t sweep_stale(Timestamp now, const SweepPolicy& policy) {
        return self().sweep_stale(now, policy, [] { return true; });
    }

  protected:
    BucketKeyOverloads() = default;

  private:
    Manager& self() noexcept { return static_cast<Manager&>(*this); }
    const Manager& self() const noexcept { return static_cast<const Manager&>(*this); }
};

} // namespace detail
} // namespace v0
} // namespace s3repl
