#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/dispatch.hpp"
#include "s3repl/status.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace s3repl {
inline namespace v0 {

/// What the dispatcher's outcome hook records, for metrics: replications by
/// result, failures by reason, and histograms of replication latency
/// (source PUT to COMPLETED) and of attempts per replication. Lock-free:
/// record() may run on every worker at once while a scrape reads. Each
/// counter is exact; a scrape during records may see one histogram's count
/// a record ahead of its sum (each is its own atomic), never a torn value.
///
///     s3repl::OutcomeMetrics metrics;
///     options.on_outcome = metrics.recorder(manager.clock());
///     // GET /metrics: s3repl::to_prometheus(manager, &metrics)
class OutcomeMetrics {
  public:
    /// Upper bounds of the latency buckets, in seconds (then +Inf).
    static constexpr std::array<double, 14> latency_bounds{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                           2.5,  5,     10,   30,  60,   300, 3600};
    /// Upper bounds of the attempts buckets (then +Inf).
    static constexpr std::array<double, 7> attempts_bounds{1, 2, 3, 5, 8, 13, 21};

    /// A cumulative histogram as Prometheus exposes one.
    template <std::size_t Bounds>
    class Histogram {
      public:
        void observe(double value, const std::array<double, Bounds>& bounds) noexcept {
            std::size_t i = 0;
            while (i < Bounds && value > bounds[i]) ++i;
            counts_[i].fetch_add(1, std::memory_order_relaxed);
            // Summed in nanounits so that the sum is an exact integer counter.
            sum_nano_.fetch_add(static_cast<std::uint64_t>(value * 1e9), std::memory_order_relaxed);
        }
        /// Observations at or below bounds[i] (i == Bounds: all of them).
        std::uint64_t cumulative(std::size_t i) const noexcept {
            std::uint64_t total = 0;
            for (std::size_t b = 0; b <= i; ++b) total += counts_[b].load(std::memory_order_relaxed);
            return total;
        }
        std::uint64_t count() const noexcept { return cumulative(Bounds); }
        double sum() const noexcept { return static_cast<double>(sum_nano_.load(std::memory_order_relaxed)) / 1e9; }

      private:
        std::array<std::atomic<std::uint64_t>, Bounds + 1> counts_{};
        std::atomic<std::uint64_t> sum_nano_{0};
    };

    /// Records one outcome of replicate_object: its result; for Completed,
    /// the latency from job.committed_at to `now` (not recorded when the job
    /// carries no commit time); for Completed and Failed, the attempts; for
    /// Failed, the last attempt's reason.
    void record(const ReplicationJob& job, const ReplicationOutcome& outcome, Timestamp now) noexcept {
        results_[static_cast<std::size_t>(outcome.result)].fetch_add(1, std::memory_order_relaxed);
        if (outcome.result == ReplicationResult::Failed)
            failures_[static_cast<std::size_t>(outcome.last_failure)].fetch_add(1, std::memory_order_relaxed);
        if (outcome.result == ReplicationResult::Completed || outcome.result == ReplicationResult::Failed)
            attempts_.observe(static_cast<double>(outcome.attempts), attempts_bounds);
        if (outcome.result == ReplicationResult::Completed && job.committed_at) {
            const auto elapsed = now - *job.committed_at;
            latency_.observe(elapsed.count() < 0 ? 0.0 : std::chrono::duration<double>(elapsed).count(),
                             latency_bounds);
        }
    }

    /// A ReplicationOptions::on_outcome that records with `clock`'s time
    /// (the manager's clock, so that latencies and commit times agree).
    template <class Clock>
    std::function<void(const ReplicationJob&, const ReplicationOutcome&)> recorder(Clock clock) {
        return [this, clock](const ReplicationJob& job, const ReplicationOutcome& outcome) {
            record(job, outcome, std::chrono::time_point_cast<std::chrono::nanoseconds>(clock.now()));
        };
    }

    static constexpr std::size_t result_count = 4;  ///< ReplicationResult enumerators
    static constexpr std::size_t failure_count = 4; ///< FailureReason enumerators

    std::uint64_t results(ReplicationResult result) const noexcept {
        return results_[static_cast<std::size_t>(result)].load(std::memory_order_relaxed);
    }
    std::uint64_t failures(FailureReason reason) const noexcept {
        return failures_[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed);
    }
    const Histogram<latency_bounds.size()>& latency() const noexcept { return latency_; }
    const Histogram<attempts_bounds.size()>& attempts() const noexcept { return attempts_; }

  private:
    std::array<std::atomic<std::uint64_t>, result_count> results_{};
    std::array<std::atomic<std::uint64_t>, failure_count> failures_{};
    Histogram<latency_bounds.size()> latency_;
    Histogram<attempts_bounds.size()> attempts_;
};

} // namespace v0
} // namespace s3repl
