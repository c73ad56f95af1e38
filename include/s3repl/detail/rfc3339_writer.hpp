#pragma once

#include "s3repl/status.hpp"
#include "s3repl/timestamp.hpp"

#include <cstdint>
#include <cstring>
#include <limits>

namespace s3repl {
inline namespace v0 {
namespace detail {

// write_rfc3339 for a run of times that share seconds (a snapshot's entries,
// stamped by a whole-second clock or in bursts): the text of the last second
// is remembered, so a time in it costs a copy of 19 bytes and its fraction
// instead of the civil-calendar arithmetic. The same bytes as write_rfc3339.
class Rfc3339Writer {
  public:
    // Writes t at out (room for rfc3339_max_size chars); returns the end.
    char* write(Timestamp t, char* out) noexcept {
        const std::int64_t ns = t.time_since_epoch().count();
        // Within a second of the lowest Timestamp, its second is not one.
        if (ns < std::numeric_limits<std::int64_t>::min() + giga) return write_rfc3339(t, out);
        std::int64_t second = ns / giga;
        if (ns % giga < 0) --second;
        if (!cached_ || second != second_) {
            write_rfc3339(Timestamp{std::chrono::nanoseconds{second * giga}}, text_);
            second_ = second;
            cached_ = true;
        }
        std::memcpy(out, text_, second_size);
        return write_rfc3339_fraction(static_cast<std::uint32_t>(ns - second * giga), out + second_size);
    }

  private:
    static constexpr std::int64_t giga = 1'000'000'000;
    static constexpr std::size_t second_size = 19; // "YYYY-MM-DDTHH:MM:SS"

    char text_[rfc3339_max_size] = {}; // the second's text, then "Z"
    std::int64_t second_ = 0;
    bool cached_ = false;
};

} // namespace detail
} // namespace v0
} // namespace s3repl
