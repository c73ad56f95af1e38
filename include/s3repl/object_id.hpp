#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include "s3repl/detail/utf8.hpp"
#include "s3repl/error.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace s3repl {
inline namespace v0 {

/// The longest version ID the manager stores, in bytes (S3's own are 32
/// characters; 1024 leaves room for any server's scheme).
inline constexpr std::size_t max_version_id_bytes = 1024;

/// Which object a manager call is about: a bucket, a key and, in a bucket
/// with versioning, a version ID. An empty version ID is the unversioned
/// object (S3's `null` version), exactly the (bucket, key) of the calls
/// without one; each version of a key is tracked apart. A view: it refers
/// to the caller's strings, so pass it, do not keep it.
///
///     manager.lookup_status({"photos", "cat.jpg", version_id});
struct ObjectId {
    std::string_view bucket;
    std::string_view key;
    std::string_view version_id{};
};

/// Whether the manager accepts `version_id`: valid UTF-8 of at most
/// max_version_id_bytes (empty: the unversioned object).
inline bool is_valid_version_id(std::string_view version_id) noexcept {
    return version_id.size() <= max_version_id_bytes && detail::is_valid_utf8(version_id);
}

namespace detail {
// The names of an object a stamp may store, or InvalidArgument saying which
// is not: UTF-8 throughout, a version ID of at most max_version_id_bytes.
// One check for the manager (before a new entry) and the dispatcher (before
// a mint).
inline void require_storable(const ObjectId& object) {
    require_utf8(object.bucket, "bucket");
    require_utf8(object.key, "key");
    require_utf8(object.version_id, "version ID");
    if (object.version_id.size() > max_version_id_bytes)
        throw InvalidArgument("a version ID of " + std::to_string(object.version_id.size()) +
                              " bytes is longer than 1024");
}
} // namespace detail

} // namespace v0
} // namespace s3repl
