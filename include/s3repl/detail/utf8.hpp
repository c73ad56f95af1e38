#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace s3repl {
inline namespace v0 {
namespace detail {

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. NUL is a valid character. Runs of ASCII are skipped 8 bytes at a
// time because keys are almost always ASCII.
inline bool is_valid_utf8(std::string_view text) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = p + text.size();
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
            return false;
        }
        if (end - p <= continuation) return false;
        if (p[1] < min_second || p[1] > max_second) return false;
        for (int i = 2; i <= continuation; ++i)
            if ((p[i] & 0xC0) != 0x80) return false;
        p += continuation + 1;
    }
    return true;
}

} // namespace detail
} // namespace v0
} // namespace s3repl
