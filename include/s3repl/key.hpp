#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/detail/utf8.hpp"

#include <cstddef>
#include <string_view>

namespace s3repl {
inline namespace v0 {

/// The longest object key the manager stores, in bytes: 2^32-1 (a key's
/// length is kept in 32 bits).
inline constexpr std::size_t max_key_bytes = 0xffffffffu;

/// Whether the manager accepts `key` as an object key: exactly the check a
/// stamp of a new key applies, so a server can answer a bad request before it
/// stores anything. True for valid UTF-8 (RFC 3629: no overlong forms, no
/// surrogates, nothing above U+10FFFF; NUL is a character) of at most
/// max_key_bytes; the empty key is accepted. A rejected key makes a stamp
/// throw InvalidArgument naming the byte offset of the first invalid sequence.
/// Thread-safe (pure); cost: one pass over the key, 8 ASCII bytes per step.
///
///     if (!s3repl::is_valid_key(key)) return reply(400, "InvalidArgument");
inline bool is_valid_key(std::string_view key) noexcept {
    return key.size() <= max_key_bytes && detail::is_valid_utf8(key);
}

} // namespace v0
} // namespace s3repl
