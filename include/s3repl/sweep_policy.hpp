#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/detail/time_math.hpp"

#include <chrono>
#include <cstddef>

namespace s3repl {
inline namespace v0 {

/// How long terminal entries live before sweep_stale removes them, and how
/// many versions of a key keep theirs. FAILED is kept longer by default: it
/// is the handle a server uses to re-drive.
///
///     s3repl::SweepPolicy policy{std::chrono::hours(24), std::chrono::hours::max()}; // FAILED forever
struct SweepPolicy {
    /// A TTL that never expires; any duration at or past it means the same.
    static constexpr std::chrono::nanoseconds never = std::chrono::nanoseconds::max();
    std::chrono::nanoseconds completed_ttl = std::chrono::hours(24);
    std::chrono::nanoseconds failed_ttl = std::chrono::hours(24 * 7);
    /// In a versioned bucket, the terminal statuses kept per key: those of
    /// its `latest_versions` newest versions (by generation), at most; older
    /// versions' COMPLETED and FAILED go at the next sweep whatever their
    /// age (PENDING always stays). One by default: what a HEAD of the
    /// current version needs. Unversioned objects are not affected.
    std::size_t latest_versions = 1;

    /// One day for COMPLETED, a week for FAILED.
    constexpr SweepPolicy() noexcept = default;
    /// Takes durations of any type and saturates them: `hours::max()` is
    /// `never`, not an overflow into a negative TTL that sweeps everything.
    template <class CompletedRep, class CompletedPeriod, class FailedRep, class FailedPeriod>
    constexpr SweepPolicy(std::chrono::duration<CompletedRep, CompletedPeriod> completed,
                          std::chrono::duration<FailedRep, FailedPeriod> failed) noexcept
        : completed_ttl(detail::saturating_nanoseconds(completed)), failed_ttl(detail::saturating_nanoseconds(failed)) {
    }
};

} // namespace v0
} // namespace s3repl
