#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace s3server {

/// One range of a `Range` header as written: `bytes=first-last`,
/// `bytes=first-` (no last) or `bytes=-length` (no first: the last `length`
/// bytes, held in `last`).
struct ByteRangeSpec {
    std::optional<std::uint64_t> first;
    std::optional<std::uint64_t> last;
};

/// A range inside an object: bytes first..last, both included.
struct ByteRange {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
};

namespace detail {
// A decimal number of at most 19 digits (so it fits), or nothing.
inline std::optional<std::uint64_t> decimal(std::string_view text) noexcept {
    if (text.empty() || text.size() > 19) return std::nullopt;
    std::uint64_t value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}
} // namespace detail

/// The one range of a `Range` header, or nothing when the header is not one
/// byte range S3 serves: a range list (`bytes=0-1,5-6`), another unit, a
/// last before the first, stray spaces or any other syntax. S3 answers such
/// a request as if it had no Range (200 and the whole object), and so does
/// this server (RFC 9110 lets a server ignore a Range).
inline std::optional<ByteRangeSpec> parse_range(std::string_view header) noexcept {
    constexpr std::string_view unit = "bytes=";
    if (header.size() < unit.size()) return std::nullopt;
    for (std::size_t i = 0; i < unit.size(); ++i) // the unit is case-insensitive
        if ((header[i] | (i < 5 ? 0x20 : 0)) != unit[i]) return std::nullopt;
    const std::string_view spec = header.substr(unit.size());
    const std::size_t dash = spec.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    const std::string_view first = spec.substr(0, dash);
    const std::string_view last = spec.substr(dash + 1);
    ByteRangeSpec range;
    if (!first.empty() && !(range.first = detail::decimal(first))) return std::nullopt;
    if (!last.empty() && !(range.last = detail::decimal(last))) return std::nullopt;
    if (!range.first && !range.last) return std::nullopt;
    if (range.first && range.last && *range.last < *range.first) return std::nullopt;
    return range;
}

/// The bytes `spec` selects of an object of `size` bytes, or nothing when it
/// selects none (RFC 9110's unsatisfiable: a first at or past the end, a
/// suffix of zero bytes or of an empty object): S3's 416 InvalidRange. A
/// last past the end is clamped to the object's last byte, and a suffix
/// longer than the object selects all of it.
inline std::optional<ByteRange> resolve(const ByteRangeSpec& spec, std::uint64_t size) noexcept {
    if (!spec.first) {
        if (*spec.last == 0 || size == 0) return std::nullopt;
        return ByteRange{*spec.last >= size ? 0 : size - *spec.last, size - 1};
    }
    if (*spec.first >= size) return std::nullopt;
    return ByteRange{*spec.first, spec.last && *spec.last < size ? *spec.last : size - 1};
}

} // namespace s3server
