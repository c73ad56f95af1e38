#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/error.hpp"
#include "s3repl/manager.hpp"
#include "s3repl/manager_interface.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace s3repl {
inline namespace v0 {

/// Keeps the status map bounded: on its own thread, every `interval` (the
/// first pass one interval after construction), runs
/// `manager.sweep_stale(manager.clock().now(), policy, keep_going)` and
/// reports the pass to `on_pass(swept, took)` (took: steady-clock time of the
/// sweep, for metrics). PENDING and REPLICA entries are never swept. A stop
/// ends a pass between two shards, so stop() waits for one shard's sweep at
/// most, not a whole pass.
///
/// Thread safety: stop() may be called from any thread, concurrently and
/// repeatedly, except from inside on_pass (which runs on the sweeper's
/// thread: stopping there would join itself). The manager must outlive the
/// sweeper; it is used concurrently with the server, as it allows. on_pass
/// must not throw (like any function a std::thread runs, that terminates).
///
/// Cost: one idle thread; each pass locks the manager's shards one at a time.
///
///     s3repl::StaleSweeper sweeper(manager, s3repl::SweepPolicy{}, std::chrono::minutes(10),
///         [](std::size_t swept, std::chrono::nanoseconds took) { metrics.record(swept, took); });
template <class Manager>
class StaleSweeper {
    static_assert(detail::has_clock<Manager>::value,
                  "s3repl: the manager needs clock() with now() -> a std::chrono::system_clock time_point");
    static_assert(detail::has_sweep_stale<Manager>::value,
                  "s3repl: the manager needs sweep_stale(now, policy, keep_going) -> the number swept");

  public:
    using PassCallback = std::function<void(std::size_t swept, std::chrono::nanoseconds took)>;

    /// Starts the thread. Throws InvalidArgument, starting nothing, for a
    /// zero or negative TTL or interval (SweepPolicy::never is a valid TTL).
    StaleSweeper(Manager& manager, SweepPolicy policy, std::chrono::nanoseconds interval = std::chrono::hours(1),
                 PassCallback on_pass = {})
        : manager_(manager), policy_(checked(policy)), interval_(checked(interval)), on_pass_(std::move(on_pass)),
          worker_([this] { run(); }) {}

    StaleSweeper(const StaleSweeper&) = delete;
    StaleSweeper& operator=(const StaleSweeper&) = delete;

    /// Stops and joins: see stop().
    ~StaleSweeper() { stop(); }

    /// Wakes the thread (mid-interval too) and waits for it to end; a pass in
    /// progress stops after the shard it is sweeping (what it left is swept
    /// by the next sweeper). When it returns, on_pass will not be called
    /// again. Idempotent.
    void stop() {
        request_stop();
        // Serialises concurrent stop() calls: only one may join.
        std::lock_guard<std::mutex> lock(join_mutex_);
        if (worker_.joinable()) worker_.join();
    }

    /// Asks the thread to end, without waiting (a server shutting down asks
    /// every component first, then joins each). May be called from on_pass.
    /// Then stop() or the destructor joins.
    void request_stop() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stop_requested_.store(true, std::memory_order_relaxed); // under mutex_: no lost wake-up
        }
        wake_.notify_all();
    }

  private:
    static SweepPolicy checked(SweepPolicy policy) {
        if (policy.completed_ttl <= std::chrono::nanoseconds::zero())
            throw InvalidArgument("StaleSweeper: completed_ttl must be positive (SweepPolicy::never keeps entries)");
        if (policy.failed_ttl <= std::chrono::nanoseconds::zero())
            throw InvalidArgument("StaleSweeper: failed_ttl must be positive (SweepPolicy::never keeps entries)");
        return policy;
    }
    static std::chrono::nanoseconds checked(std::chrono::nanoseconds interval) {
        if (interval <= std::chrono::nanoseconds::zero())
            throw InvalidArgument("StaleSweeper: the interval must be positive");
        return interval;
    }

    void run() {
        using Steady = std::chrono::steady_clock;
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            // Saturate: steady now + a huge interval would overflow into the past.
            const Steady::time_point now = Steady::now();
            const Steady::time_point deadline =
                interval_ < Steady::time_point::max() - now ? now + interval_ : Steady::time_point::max();
            if (wake_.wait_until(lock, deadline, [this] { return stop_requested_.load(std::memory_order_relaxed); }))
                return;
            lock.unlock();
            const Steady::time_point started = Steady::now();
            const std::size_t swept = manager_.sweep_stale(
                manager_.clock().now(), policy_, [this] { return !stop_requested_.load(std::memory_order_relaxed); });
            const std::chrono::nanoseconds took = Steady::now() - started;
            if (on_pass_) on_pass_(swept, took);
            lock.lock();
        }
    }

    Manager& manager_;
    const SweepPolicy policy_;
    const std::chrono::nanoseconds interval_;
    const PassCallback on_pass_;
    std::mutex mutex_;
    std::condition_variable wake_;
    // Set under mutex_ (the wait's predicate), read without it between shards.
    std::atomic<bool> stop_requested_{false};
    std::mutex join_mutex_;
    std::thread worker_; // last: started once everything it reads exists
};

} // namespace v0
} // namespace s3repl
