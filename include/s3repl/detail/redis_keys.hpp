#pragma once

// The Redis manager's key layout and the encodings of its values (the layout
// is documented in s3repl/redis.hpp). Everything here is a pure function of
// its arguments: every node computes the same key names for an object.

#include "s3repl/error.hpp"
#include "s3repl/object_id.hpp"
#include "s3repl/status.hpp"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace s3repl {
inline namespace v0 {
namespace detail {

// Fixed by the layout: changing it moves every entry.
inline constexpr std::size_t redis_shard_count = 256;

// An object's names as one binary-safe string: "<n>:<bucket><m>:<key>" is
// its group (every version of a key), the group plus the version ID its
// entry's name. Lengths first, so no byte of a name needs escaping.
inline std::string redis_group(std::string_view bucket, std::string_view key) {
    std::string out = std::to_string(bucket.size());
    out += ':';
    out += bucket;
    out += std::to_string(key.size());
    out += ':';
    out += key;
    return out;
}
inline std::string redis_name(const ObjectId& object) {
    std::string out = redis_group(object.bucket, object.key);
    out += object.version_id;
    return out;
}

// The inverse of redis_name; nullopt for bytes no name encodes to.
struct RedisDecodedName {
    std::string bucket, key, version_id;
};
inline std::optional<RedisDecodedName> redis_decode_name(std::string_view name) {
    RedisDecodedName out;
    std::string* parts[] = {&out.bucket, &out.key};
    for (std::string* part : parts) {
        const std::size_t colon = name.find(':');
        if (colon == std::string_view::npos) return std::nullopt;
        std::size_t n = 0;
        const auto parsed = std::from_chars(name.data(), name.data() + colon, n);
        if (parsed.ec != std::errc() || parsed.ptr != name.data() + colon || name.size() - colon - 1 < n)
            return std::nullopt;
        part->assign(name.substr(colon + 1, n));
        name.remove_prefix(colon + 1 + n);
    }
    out.version_id.assign(name);
    return out;
}

// A key group's hash: FNV-1a, unseeded (every node must agree on shards).
inline std::uint64_t redis_hash(std::string_view group) noexcept {
    std::uint64_t h = 14695981039346656037ull;
    for (const char c : group) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ull;
    }
    return h;
}
inline std::size_t redis_shard_of(std::string_view group) noexcept {
    return static_cast<std::size_t>(redis_hash(group) % redis_shard_count);
}

// The key names under a prefix. The text in braces is the hash tag Redis
// Cluster places a key by: one per shard, and one each for the generation
// counter (which the configurations share, so a restore switches both in
// one script) and the re-drive queue. The entries live in an epoch: 0 until
// the first restore_json, then the one each restore staged and switched in.
class RedisKeys {
  public:
    explicit RedisKeys(std::string prefix) : prefix_(std::move(prefix)) {
        if (prefix_.empty() || prefix_.find_first_of("{}") != std::string::npos)
            throw InvalidArgument("the Redis key prefix must be non-empty and free of '{' and '}' (hash tags)");
    }
    const std::string& prefix() const noexcept { return prefix_; }
    std::string generation() const { return "{" + prefix_ + ":gen}"; }
    std::string configs() const { return generation() + ":config"; }
    // Where a restore stages its configurations before switching them in.
    std::string staged_configs(std::uint64_t epoch) const { return configs() + ":@" + std::to_string(epoch); }
    std::string redrive() const { return "{" + prefix_ + ":redrive}"; }
    // The start of every key of a shard in an epoch; the scripts append
    // "e:<name>", "z:<status>", "n", "vk", "k:<group>", and "x" (the marker
    // of an epoch a restore replaced). Epoch 0's names are the first
    // layout's; a later epoch's continue with "@<epoch>:", which no key of
    // epoch 0 starts with.
    std::string shard_base(std::size_t shard, std::uint64_t epoch = 0) const {
        std::string base = "{" + prefix_ + ":" + std::to_string(shard) + "}:";
        if (epoch != 0) base += "@" + std::to_string(epoch) + ":";
        return base;
    }

    // The lease commit_in_order holds on a key across nodes ("l:" is no
    // epoch's: a restore leaves it alone), in the slot of the key's entries.
    std::string commit_lock(const std::string& group) const { return shard_base(redis_shard_of(group)) + "l:" + group; }

  private:
    std::string prefix_;
};

// recorded_at as the scripts compare it: nanoseconds since the epoch plus
// 2^63, in decimal, so Lua compares two times as unsigned decimal strings
// (its numbers are doubles, exact only to 2^53).
inline std::string redis_time(Timestamp t) {
    const std::uint64_t u = static_cast<std::uint64_t>(t.time_since_epoch().count()) ^ (std::uint64_t{1} << 63);
    return std::to_string(u);
}
inline std::optional<Timestamp> redis_parse_time(std::string_view text) {
    std::uint64_t u = 0;
    const auto parsed = std::from_chars(text.data(), text.data() + text.size(), u);
    if (parsed.ec != std::errc() || parsed.ptr != text.data() + text.size()) return std::nullopt;
    return Timestamp{std::chrono::nanoseconds{static_cast<std::int64_t>(u ^ (std::uint64_t{1} << 63))}};
}
// A sorted set's score for recorded_at: whole milliseconds, rounded down,
// exact in a double; the sweep re-checks the exact time.
inline std::string redis_score(std::int64_t ns) {
    std::int64_t ms = ns / 1000000;
    if (ns % 1000000 < 0) --ms;
    return std::to_string(ms);
}
inline std::optional<std::uint64_t> redis_parse_u64(std::string_view text) {
    std::uint64_t u = 0;
    const auto parsed = std::from_chars(text.data(), text.data() + text.size(), u);
    if (text.empty() || parsed.ec != std::errc() || parsed.ptr != text.data() + text.size()) return std::nullopt;
    return u;
}

// Statuses as the single digit the scripts store.
inline std::string redis_status(ReplicationStatus status) {
    return std::string(1, static_cast<char>('0' + static_cast<int>(status)));
}
inline std::optional<ReplicationStatus> redis_parse_status(std::string_view text) {
    if (text.size() != 1 || text[0] < '0' || text[0] > '3') return std::nullopt;
    return static_cast<ReplicationStatus>(text[0] - '0');
}

} // namespace detail
} // namespace v0
} // namespace s3repl
