#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace s3repl {
inline namespace v0 {
namespace detail {

// Where the JSON string whose text starts at p ends: its closing quote, when
// every byte before it is printable ASCII without a backslash (a string the
// reader can view in place: no escape to decode, nothing to check as
// UTF-8); nullptr when a byte before the quote is a backslash, a control
// character or non-ASCII, or no quote comes before end. Reads only [p, end).
//
// SSE2, which every x86-64 has, tests 16 bytes at a time (no wider set is
// used, so no run-time check and no -march flag are needed); elsewhere, and
// for the last bytes, 8 at a time in a 64-bit word.
inline const char* plain_string_end(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(' ');
    while (end - p >= 16) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        // Signed: below ' ' is a control character or a byte of 0x80 and up.
        const __m128i special = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)), _mm_cmplt_epi8(bytes, space));
        const auto mask = static_cast<unsigned>(_mm_movemask_epi8(special));
        if (mask != 0) {
            p += __builtin_ctz(mask);
            return *p == '"' ? p : nullptr;
        }
        p += 16;
    }
#endif
    constexpr std::uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    const auto has_zero_byte = [](std::uint64_t v) { return (v - ones) & ~v & highs; };
    while (end - p >= 8) {
        std::uint64_t chunk;
        std::memcpy(&chunk, p, 8);
        const std::uint64_t special = has_zero_byte(chunk ^ (ones * '"')) | has_zero_byte(chunk ^ (ones * '\\')) |
                                      ((chunk - ones * 0x20) & ~chunk & highs) | (chunk & highs);
        if (special != 0) break;
        p += 8;
    }
    for (; p != end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        if (c == '"') return p;
        if (c == '\\' || c < 0x20 || c >= 0x80) return nullptr;
    }
    return nullptr;
}

// How many bytes from p on need no escape in a JSON string as serde_json
// writes it: none of '"', '\\' or a control character (below 0x20; DEL and
// non-ASCII bytes are written as they are). 16 at a time with SSE2.
inline std::size_t escape_free_size(const char* p, const char* end) noexcept {
    const char* const start = p;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), last_control = _mm_set1_epi8(0x1f);
    while (end - p >= 16) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        // Unsigned: a byte is at most 0x1f when the larger of it and 0x1f is 0x1f.
        const __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(bytes, last_control), last_control);
        const __m128i special =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)), control);
        const auto mask = static_cast<unsigned>(_mm_movemask_epi8(special));
        if (mask != 0) return static_cast<std::size_t>(p - start) + static_cast<std::size_t>(__builtin_ctz(mask));
        p += 16;
    }
#endif
    for (; p != end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        if (c < 0x20 || c == '"' || c == '\\') break;
    }
    return static_cast<std::size_t>(p - start);
}

// How many bytes of [p, end) are `byte`: 16 at a time with SSE2, in byte
// counters summed every 255 rounds (no popcount instruction is assumed).
inline std::size_t count_byte(const char* p, const char* end, char byte) noexcept {
    std::size_t count = 0;
#if defined(__SSE2__)
    const __m128i wanted = _mm_set1_epi8(byte), zero = _mm_setzero_si128();
    while (end - p >= 16) {
        __m128i counters = zero; // a matching byte is -1: subtracting it counts one
        for (int round = 0; round < 255 && end - p >= 16; ++round, p += 16) {
            const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
            counters = _mm_sub_epi8(counters, _mm_cmpeq_epi8(bytes, wanted));
        }
        const __m128i sums = _mm_sad_epu8(counters, zero); // two 64-bit lanes
        count += static_cast<std::size_t>(_mm_cvtsi128_si64(sums)) +
                 static_cast<std::size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
    }
#endif
    for (; p != end; ++p) count += *p == byte;
    return count;
}

} // namespace detail
} // namespace v0
} // namespace s3repl
