#pragma once

#include "s3repl/status.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>

namespace s3repl {
inline namespace v0 {
namespace detail {

// Any duration as nanoseconds, clamped instead of overflowing (a TTL of
// "hours::max()" must mean "forever", not wrap to the past).
template <class Rep, class Period>
constexpr std::chrono::nanoseconds saturating_nanoseconds(std::chrono::duration<Rep, Period> d) noexcept {
    using Source = std::chrono::duration<Rep, Period>;
    // Finer than a nanosecond: converting divides, so it cannot overflow
    // (while converting nanoseconds::max() to the finer unit would).
    if constexpr (std::ratio_less<Period, std::nano>::value)
        return std::chrono::duration_cast<std::chrono::nanoseconds>(d);
    if (d >= std::chrono::duration_cast<Source>(std::chrono::nanoseconds::max()))
        return std::chrono::nanoseconds::max();
    if (d <= std::chrono::duration_cast<Source>(std::chrono::nanoseconds::min()))
        return std::chrono::nanoseconds::min();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d);
}

// now - age in nanoseconds since the epoch, clamped to the int64 range.
inline std::int64_t saturating_cutoff(Timestamp now, std::chrono::nanoseconds age) noexcept {
    constexpr std::int64_t lowest = std::numeric_limits<std::int64_t>::min();
    constexpr std::int64_t highest = std::numeric_limits<std::int64_t>::max();
    const std::int64_t n = now.time_since_epoch().count();
    const std::int64_t a = age.count();
    if (a >= 0) return n < lowest + a ? lowest : n - a;
    return n > highest + a ? highest : n - a;
}

} // namespace detail
} // namespace v0
} // namespace s3repl
