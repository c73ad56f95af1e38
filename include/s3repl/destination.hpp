#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace s3repl {
inline namespace v0 {

/// What a HEAD of a replica says: the source generation it was copied at
/// (its `x-amz-meta-s3repl-generation`; 0 when it carries none, as an object
/// written there by anyone else) and its ETag, for the next conditional write.
struct ReplicaState {
    std::uint64_t generation = 0;
    std::string etag;

    friend bool operator==(const ReplicaState& a, const ReplicaState& b) {
        return a.generation == b.generation && a.etag == b.etag;
    }
    friend bool operator!=(const ReplicaState& a, const ReplicaState& b) { return !(a == b); }
};

/// S3's conditional PutObject, which AWS S3 and MinIO honour: write only if
/// the object's ETag is still `if_match` (`If-Match: <etag>`), or only if
/// there is no object (`If-None-Match: *`). Neither set: unconditional.
struct WriteCondition {
    std::optional<std::string> if_match;
    bool if_none_match = false;
};

/// What a destination's conditional put did.
enum class WriteResult {
    Written,            ///< the replica is stored
    PreconditionFailed, ///< the condition did not hold: someone wrote in between (S3's 412)
    Failed,             ///< the write failed for another reason (a failed attempt)
};

/// "Written", "PreconditionFailed", "Failed".
constexpr std::string_view to_string(WriteResult result) noexcept {
    switch (result) {
    case WriteResult::Written: return "Written";
    case WriteResult::PreconditionFailed: return "PreconditionFailed";
    case WriteResult::Failed: return "Failed";
    }
    return "Failed"; // unreachable for valid enumerators
}

/// The replica metadata that carries the source generation, decimal, as
/// user metadata (so S3 stores it and a HEAD returns it).
inline constexpr std::string_view replica_generation_header = "x-amz-meta-s3repl-generation";

/// `generation` as the header's value.
inline std::string format_replica_generation(std::uint64_t generation) { return std::to_string(generation); }

/// The header's value as a generation: plain decimal digits (no sign, no
/// spaces) within 64 bits; nullopt for anything else.
inline std::optional<std::uint64_t> parse_replica_generation(std::string_view text) noexcept {
    if (text.empty() || text.size() > 20 || text.front() < '0' || text.front() > '9') return std::nullopt;
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

/// Sets the header in a string-to-string metadata map.
template <class Metadata>
void set_replica_generation(Metadata& metadata, std::uint64_t generation) {
    metadata[typename Metadata::key_type(replica_generation_header)] =
        typename Metadata::mapped_type(format_replica_generation(generation));
}

/// The generation a replica's metadata carries: 0 when the header is absent
/// or not a valid value (an object nobody replicated at a known generation).
template <class Metadata>
std::uint64_t replica_generation_of(const Metadata& metadata) {
    const auto found = metadata.find(typename Metadata::key_type(replica_generation_header));
    if (found == metadata.end()) return 0;
    return parse_replica_generation(std::string_view(found->second)).value_or(0);
}

namespace detail {

template <class Destination>
using head_result_t =
    decltype(std::declval<Destination&>().head(std::declval<const std::string&>(), std::declval<const std::string&>()));
template <class Destination, class Body, class Metadata>
using put_result_t =
    decltype(std::declval<Destination&>().put(std::declval<const std::string&>(), std::declval<const std::string&>(),
                                              std::declval<const Body&>(), std::declval<const Metadata&>(),
                                              std::declval<const WriteCondition&>()));

// A destination: head(bucket, key) -> optional<ReplicaState> and
// put(bucket, key, body, metadata, condition) -> WriteResult.
template <class Destination, class Body, class Metadata, class = void>
struct is_destination : std::false_type {};
template <class Destination, class Body, class Metadata>
struct is_destination<Destination, Body, Metadata,
                      std::void_t<head_result_t<Destination>, put_result_t<Destination, Body, Metadata>>>
    : std::conjunction<std::is_convertible<head_result_t<Destination>, std::optional<ReplicaState>>,
                       std::is_convertible<put_result_t<Destination, Body, Metadata>, WriteResult>> {};

// A destination with versioning: head(bucket, key, version_id) ->
// optional<ReplicaState>, put(bucket, key, version_id, body, metadata,
// condition) -> WriteResult (the replica keeps the source's version ID),
// and put_delete_marker(bucket, key, version_id, metadata) -> WriteResult (a
// delete marker of that version ID). An empty version ID is the
// unversioned object.
template <class Destination>
using versioned_head_result_t = decltype(std::declval<Destination&>().head(
    std::declval<const std::string&>(), std::declval<const std::string&>(), std::declval<const std::string&>()));
template <class Destination, class Body, class Metadata>
using versioned_put_result_t =
    decltype(std::declval<Destination&>().put(std::declval<const std::string&>(), std::declval<const std::string&>(),
                                              std::declval<const std::string&>(), std::declval<const Body&>(),
                                              std::declval<const Metadata&>(), std::declval<const WriteCondition&>()));
template <class Destination, class Metadata>
using delete_marker_result_t = decltype(std::declval<Destination&>().put_delete_marker(
    std::declval<const std::string&>(), std::declval<const std::string&>(), std::declval<const std::string&>(),
    std::declval<const Metadata&>()));

template <class Destination, class Body, class Metadata, class = void>
struct is_versioned_destination : std::false_type {};
template <class Destination, class Body, class Metadata>
struct is_versioned_destination<
    Destination, Body, Metadata,
    std::void_t<versioned_head_result_t<Destination>, versioned_put_result_t<Destination, Body, Metadata>,
                delete_marker_result_t<Destination, Metadata>>>
    : std::conjunction<std::is_convertible<versioned_head_result_t<Destination>, std::optional<ReplicaState>>,
                       std::is_convertible<versioned_put_result_t<Destination, Body, Metadata>, WriteResult>,
                       std::is_convertible<delete_marker_result_t<Destination, Metadata>, WriteResult>> {};

} // namespace detail

} // namespace v0
} // namespace s3repl
