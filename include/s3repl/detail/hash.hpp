#pragma once

#include "s3repl/detail/bytes.hpp"

#include <cstdint>
#include <string_view>

namespace s3repl {
inline namespace v0 {
namespace detail {

// A seeded 64-bit string hash built on the 64x64->128 "multiply and fold"
// mixer that wyhash popularised: one multiply per 16 bytes, good avalanche,
// and a per-manager seed so clients cannot aim keys at one probe chain or
// one shard.

#if defined(__SIZEOF_INT128__)
__extension__ typedef unsigned __int128 hash_uint128;
inline std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) noexcept {
    const hash_uint128 product = static_cast<hash_uint128>(a) * b;
    return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
}
#else
inline std::uint64_t fold_multiply(std::uint64_t a, std::uint64_t b) noexcept {
    const std::uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32, b_lo = b & 0xffffffffu, b_hi = b >> 32;
    const std::uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi, hi_hi = a_hi * b_hi;
    const std::uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;
    const std::uint64_t upper = hi_hi + (hi_lo >> 32) + (cross >> 32);
    const std::uint64_t lower = (cross << 32) | (lo_lo & 0xffffffffu);
    return lower ^ upper;
}
#endif

// Folds the words `x` and `y` into the running value `s` (`k` tells lanes
// apart). wyhash multiplies (x ^ k) by (y ^ s): a word equal to the constant
// zeroes the product whatever the seed, erasing the seed and all before it,
// so such keys collide under every seed (wyhash's "protected" XOR of the
// factors back into the result keeps the seed, but then the step is linear
// in y and the next word can cancel a difference). Here both factors carry
// `s`, so no data alone makes one zero; one is offset by `k` after the XOR,
// so the factors are not interchangeable either (with x ^ s and y ^ s, two
// keys could swap their words). Costs one add per 16 bytes over wyhash.
inline std::uint64_t mix_step(std::uint64_t x, std::uint64_t y, std::uint64_t s, std::uint64_t k) noexcept {
    return fold_multiply(x ^ s, (y ^ s) + k);
}

inline std::uint64_t hash_bytes(std::string_view bytes, std::uint64_t seed) noexcept {
    constexpr std::uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull, k2 = 0x8ebc6af09c88c6e3ull,
                            k3 = 0x589965cc75374cc3ull;
    const char* p = bytes.data();
    std::size_t n = bytes.size();
    std::uint64_t a = 0, b = 0;
    seed ^= fold_multiply(seed ^ k0, k1);
    if (n <= 16) {
        if (n >= 4) {
            const std::size_t mid = (n >> 3) << 2; // 0 or 4: covers 4..16 bytes with two overlapping pairs
            a = (load32(p) << 32) | load32(p + mid);
            b = (load32(p + n - 4) << 32) | load32(p + n - 4 - mid);
        } else if (n > 0) {
            a = (static_cast<std::uint64_t>(static_cast<unsigned char>(p[0])) << 16) |
                (static_cast<std::uint64_t>(static_cast<unsigned char>(p[n >> 1])) << 8) |
                static_cast<unsigned char>(p[n - 1]);
        }
    } else {
        std::size_t left = n;
        if (left > 48) {
            std::uint64_t lane1 = seed, lane2 = seed;
            do {
                seed = mix_step(load64(p), load64(p + 8), seed, k1);
                lane1 = mix_step(load64(p + 16), load64(p + 24), lane1, k2);
                lane2 = mix_step(load64(p + 32), load64(p + 40), lane2, k3);
                p += 48;
                left -= 48;
            } while (left > 48);
            seed ^= lane1 ^ lane2;
        }
        while (left > 16) {
            seed = mix_step(load64(p), load64(p + 8), seed, k1);
            p += 16;
            left -= 16;
        }
        a = load64(p + left - 16);
        b = load64(p + left - 8);
    }
    return fold_multiply(k1 ^ n ^ mix_step(a, b, seed, k1), seed ^ k0);
}

} // namespace detail
} // namespace v0
} // namespace s3repl
