#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace s3repl {
inline namespace v0 {
namespace detail {

// Unaligned loads without undefined behaviour; compilers turn the memcpy
// into one mov.
inline std::uint64_t load64(const char* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline std::uint64_t load32(const char* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// Equality of two byte strings, inline: the keys and bucket names a lookup
// compares are a few dozen bytes, where a call to memcmp costs more
// instructions than the comparison (and every instruction in a lookup
// delays the next lookup's cache misses).
inline bool same_bytes(std::string_view a, std::string_view b) noexcept {
    const std::size_t n = a.size();
    if (n != b.size()) return false;
    const char* p = a.data();
    const char* q = b.data();
    if (n >= 8) {
        // Whole words, then the last 8 bytes (overlapping the previous word).
        for (std::size_t i = 0; i + 8 < n; i += 8)
            if (load64(p + i) != load64(q + i)) return false;
        return load64(p + n - 8) == load64(q + n - 8);
    }
    if (n >= 4) return load32(p) == load32(q) && load32(p + n - 4) == load32(q + n - 4);
    for (std::size_t i = 0; i < n; ++i)
        if (p[i] != q[i]) return false;
    return true;
}

} // namespace detail
} // namespace v0
} // namespace s3repl
