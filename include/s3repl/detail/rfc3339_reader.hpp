#pragma once

#include <date/date.h>

#include <cstdint>
#include <cstring>
#include <string_view>

namespace s3repl {
inline namespace v0 {
namespace detail {

// Reads the RFC 3339 forms write_rfc3339 writes, "YYYY-MM-DDTHH:MM:SSZ"
// with no fraction or one of 3, 6 or 9 digits, for years 1678 to 2261 (so
// that no step can overflow), as nanoseconds since the epoch, exactly as
// parse_rfc3339 reads them. Anything else it declines, leaving the text to
// parse_rfc3339 (which reads every form and says what is wrong).
//
// A snapshot's entries share days and often seconds: the text of the last
// second and of the last day is remembered with its value, so most times
// cost one comparison of 19 bytes and the fraction. One per thread.
class Rfc3339Reader {
  public:
    bool read(std::string_view text, std::int64_t& ns) noexcept {
        const std::size_t size = text.size();
        if (size != 20 && size != 24 && size != 27 && size != 30) return false;
        const char* t = text.data();
        if (t[size - 1] != 'Z') return false;
        std::int64_t fraction = 0;
        if (size != 20) {
            if (t[19] != '.') return false;
            for (std::size_t i = 20; i + 1 < size; ++i) {
                const unsigned d = digit(t[i]);
                if (d > 9) return false;
                fraction = fraction * 10 + d;
            }
            for (std::size_t pad = size - 21; pad < 9; pad += 3) fraction *= 1000;
        }
        if (std::memcmp(t, second_text_, second_size) != 0 && !read_second(t)) return false;
        ns = second_ * giga + fraction;
        return true;
    }

  private:
    static constexpr std::size_t second_size = 19, day_size = 10; // "YYYY-MM-DDTHH:MM:SS", "YYYY-MM-DD"
    static constexpr std::int64_t giga = 1'000'000'000;

    static unsigned digit(char c) noexcept { return static_cast<unsigned>(static_cast<unsigned char>(c)) - '0'; }
    // Two digits at t, or a value over 99 when either is not a digit.
    static unsigned pair(const char* t) noexcept {
        const unsigned tens = digit(t[0]), ones = digit(t[1]);
        return tens > 9 || ones > 9 ? 100 : tens * 10 + ones;
    }

    bool read_second(const char* t) noexcept {
        if (std::memcmp(t, day_text_, day_size) != 0 && !read_day(t)) return false;
        if (t[10] != 'T' || t[13] != ':' || t[16] != ':') return false;
        const unsigned hour = pair(t + 11), minute = pair(t + 14), second = pair(t + 17);
        if (hour > 23 || minute > 59 || second > 59) return false; // ":60" is parse_rfc3339's
        second_ = day_ * 86400 + hour * 3600 + minute * 60 + second;
        std::memcpy(second_text_, t, second_size);
        return true;
    }

    bool read_day(const char* t) noexcept {
        if (t[4] != '-' || t[7] != '-') return false;
        const unsigned century = pair(t), year_in = pair(t + 2), month = pair(t + 5), day = pair(t + 8);
        if (century > 99 || year_in > 99 || month > 12 || day > 31) return false;
        const int year = static_cast<int>(century * 100 + year_in);
        if (year < 1678 || year > 2261) return false;
        const date::year_month_day ymd{date::year{year}, date::month{month}, date::day{day}};
        if (!ymd.ok()) return false;
        day_ = date::sys_days{ymd}.time_since_epoch().count();
        std::memcpy(day_text_, t, day_size);
        return true;
    }

    // No text matches until the first read: a time never holds a NUL byte.
    char second_text_[second_size] = {};
    char day_text_[day_size] = {};
    std::int64_t second_ = 0; // seconds since the epoch of second_text_
    std::int64_t day_ = 0;    // days since the epoch of day_text_
};

} // namespace detail
} // namespace v0
} // namespace s3repl
