#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/status.hpp"

#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <type_traits>

namespace s3repl {
inline namespace v0 {

/// The wall clock, to the nanosecond where the platform has it. The wall
/// clock, not a steady one, because recorded_at is persisted and compared
/// against TTLs across restarts (a steady clock restarts at boot).
struct SystemClock {
    std::chrono::system_clock::time_point now() const noexcept { return std::chrono::system_clock::now(); }
};

/// The default clock: the wall clock to the whole second (std::time).
///
/// recorded_at only ever meets TTLs and "stuck for" thresholds of minutes to
/// days, so seconds lose nothing a server uses, and S3's own Last-Modified
/// has the same resolution. What it saves: on Linux, std::time reads one
/// word the kernel keeps, while a finer read (system_clock::now(), even
/// CLOCK_REALTIME_COARSE) runs rdtsc or a sequence-lock loop, which costs
/// 60 to 120 ns per stamp in a stream of stamps on a large map (the
/// benchmark's stamp_update: see the README). Pass SystemClock for
/// nanoseconds.
struct CoarseSystemClock {
    std::chrono::system_clock::time_point now() const noexcept {
        return std::chrono::system_clock::from_time_t(std::time(nullptr));
    }
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
