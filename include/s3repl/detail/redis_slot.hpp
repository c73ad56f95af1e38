#pragma once

// Redis Cluster's key slot, as the Redis Cluster specification defines it:
// CRC16 (XMODEM: polynomial 0x1021, initial value 0, no reflection) of the
// key's hash tag, modulo 16384. The hash tag is the text between the first
// '{' and the first '}' after it, when that text is not empty; otherwise
// the whole key. A client must compute the same slot as the servers, so
// this is the specification's algorithm, bit by bit, not a table.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace s3repl {
inline namespace v0 {
namespace detail {

inline constexpr std::uint16_t redis_slot_count = 16384;

inline std::uint16_t redis_crc16(std::string_view bytes) noexcept {
    std::uint16_t crc = 0;
    for (const char c : bytes) {
        crc = static_cast<std::uint16_t>(crc ^ static_cast<std::uint16_t>(static_cast<unsigned char>(c) << 8));
        for (int bit = 0; bit < 8; ++bit) {
            const unsigned shifted = static_cast<unsigned>(crc) << 1u;
            crc = static_cast<std::uint16_t>((crc & 0x8000u) != 0 ? shifted ^ 0x1021u : shifted);
        }
    }
    return crc;
}

// The part of `key` Redis Cluster hashes.
inline std::string_view redis_hash_tag(std::string_view key) noexcept {
    const std::size_t open = key.find('{');
    if (open == std::string_view::npos) return key;
    const std::size_t close = key.find('}', open + 1);
    if (close == std::string_view::npos || close == open + 1) return key;
    return key.substr(open + 1, close - open - 1);
}

inline std::uint16_t redis_key_slot(std::string_view key) noexcept {
    return static_cast<std::uint16_t>(redis_crc16(redis_hash_tag(key)) % redis_slot_count);
}

} // namespace detail
} // namespace v0
} // namespace s3repl
