#pragma once

#include "s3repl/error.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace s3repl {
inline namespace v0 {
namespace detail {

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. NUL is a valid character. Returns the offset of the first byte of
// the first invalid (or truncated) sequence, npos when the text is valid. Runs
// of ASCII are skipped 8 bytes at a time because keys are almost always ASCII.
inline std::size_t first_invalid_utf8(std::string_view text) noexcept {
    const auto* begin = reinterpret_cast<const unsigned char*>(text.data());
    const auto* p = begin;
    const auto* end = p + text.size();
    const auto offset = [begin](const unsigned char* at) { return static_cast<std::size_t>(at - begin); };
    while (p < end) {
        if (end - p >= 8) {
            std::uint64_t chunk;
            std::memcpy(&chunk, p, 8);
            if ((chunk & 0x8080808080808080ull) == 0) {
                p += 8;
                continue;
            }
        }
        const unsigned char lead = *p;
        if (lead < 0x80) {
            ++p;
            continue;
        }
        int continuation;
        unsigned char min_second = 0x80, max_second = 0xBF;
        if (lead >= 0xC2 && lead <= 0xDF) {
            continuation = 1;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            continuation = 2;
            if (lead == 0xE0) min_second = 0xA0; // overlong
            if (lead == 0xED) max_second = 0x9F; // UTF-16 surrogates
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            continuation = 3;
            if (lead == 0xF0) min_second = 0x90; // overlong
            if (lead == 0xF4) max_second = 0x8F; // above U+10FFFF
        } else {
            return offset(p);
        }
        if (end - p <= continuation) return offset(p);
        if (p[1] < min_second || p[1] > max_second) return offset(p);
        for (int i = 2; i <= continuation; ++i)
            if ((p[i] & 0xC0) != 0x80) return offset(p);
        p += continuation + 1;
    }
    return std::string_view::npos;
}

inline bool is_valid_utf8(std::string_view text) noexcept { return first_invalid_utf8(text) == std::string_view::npos; }

// Throws InvalidArgument naming `what` (e.g. "key") and the offset of the
// first invalid sequence; the text itself stays out of the message, which
// could not show it.
inline void require_utf8(std::string_view text, const char* what) {
    const std::size_t at = first_invalid_utf8(text);
    if (at == std::string_view::npos) return;
    static constexpr char hex[] = "0123456789abcdef";
    const auto byte = static_cast<unsigned char>(text[at]);
    throw InvalidArgument(std::string(what) + " is not valid UTF-8 at byte " + std::to_string(at) + " (byte 0x" +
                          hex[byte >> 4] + hex[byte & 0xF] +
                          "; S3 names are UTF-8 and JSON cannot hold anything else)");
}

} // namespace detail
} // namespace v0
} // namespace s3repl
