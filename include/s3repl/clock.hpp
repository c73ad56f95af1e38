#pragma once

#include "s3repl/status.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <type_traits>

namespace s3repl {
inline namespace v0 {

/// The default clock: the wall clock, because recorded_at is persisted and
/// compared against TTLs across restarts (a steady clock restarts at boot).
struct SystemClock {
    std::chrono::system_clock::time_point now() const noexcept { return std::chrono::system_clock::now(); }
};

/// A clock that moves only when told to. Copies share one time, so a test can
/// keep a copy and advance the one a manager (or sweeper) holds. Thread-safe.
class ManualClock {
  public:
    explicit ManualClock(Timestamp start = Timestamp{})
        : nanos_(std::make_shared<std::atomic<std::int64_t>>(start.time_since_epoch().count())) {}

    Timestamp now() const noexcept { return Timestamp{std::chrono::nanoseconds{nanos_->load()}}; }
    // const: they move the shared time, not this handle.
    void set(Timestamp t) const noexcept { nanos_->store(t.time_since_epoch().count()); }
    void advance(std::chrono::nanoseconds by) const noexcept { nanos_->fetch_add(by.count()); }

  private:
    std::shared_ptr<std::atomic<std::int64_t>> nanos_;
};

namespace detail {
template <class Clock, class = void>
struct is_system_clock_like : std::false_type {};
template <class Clock>
struct is_system_clock_like<Clock,
                            std::enable_if_t<std::is_same<typename decltype(std::declval<const Clock&>().now())::clock,
                                                          std::chrono::system_clock>::value>> : std::true_type {};
} // namespace detail

} // namespace v0
} // namespace s3repl
