#pragma once

// The strongest obvious alternative to s3repl: what
// a skilled C++ engineer builds in a day from the best-known libraries. 32
// shards, each an absl::flat_hash_map under an absl::Mutex (reader locks for
// lookups); a snapshot writer by hand with std::to_chars; restore through
// simdjson On-Demand, fields read in place. Meant to be a strong peer, not a
// strawman: one heap block per key and 32-byte slots, no allocation on a
// lookup or on a stamp of a known key, the hash computed once per operation,
// reserved outputs and tables. Same CAS rule, sweep rule, counter rule and
// snapshot bytes as s3repl for what the benchmark exercises. Benchmark code
// only (libabsl-dev and libsimdjson-dev), never part of the library.

#include "abseil_snapshot.hpp"

#include <s3repl/clock.hpp>
#include <s3repl/rules.hpp>
#include <s3repl/status.hpp>

#include <absl/container/flat_hash_map.h>
#include <absl/hash/hash.h>
#include <absl/strings/string_view.h>
#include <absl/synchronization/mutex.h>
#include <simdjson.h>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace s3repl_bench {
namespace abseil_peer {

using s3repl::ReplicationConfig;
using s3repl::ReplicationStatus;
using s3repl::Timestamp;

// ---- keys ------------------------------------------------------------------

// A (bucket, key) being looked up, with its hash computed once: the top bits
// pick the shard, and the table reuses the whole value (KeyHash below)
// instead of hashing the strings a second time.
struct HashedKey {
    absl::string_view bucket;
    absl::string_view key;
    std::size_t hash;
};

// absl::string_view, not std::string_view: Debian's Abseil is built with its
// own string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0), and that is the type
// absl::Hash has its fast string path for.
inline std::size_t hash_of(absl::string_view bucket, absl::string_view key) noexcept {
    return absl::HashOf(bucket, key);
}

// A stored (bucket, key): one exact-size heap block, [key size: 4 bytes]
// [bucket size: 1 byte][bucket][key], behind one pointer, so a slot stays at
// 32 bytes (this pointer and the Value). S3 bucket names have at most 63
// bytes; the constructor's caller checks the sizes (record_status_if_newer,
// the restore), because Abseil's tables assume constructors do not throw.
// A raw owning pointer rather than a unique_ptr: a standard-layout key is
// what lets Abseil move slots as mutable pairs on a rehash. It still
// compiles the copy of a const key there, hence the deep copy.
class PackedKey {
  public:
    static constexpr std::size_t max_bucket_size = std::numeric_limits<std::uint8_t>::max();
    static constexpr std::size_t max_key_size = std::numeric_limits<std::uint32_t>::max();

    explicit PackedKey(const HashedKey& k) : text_(new char[header_size + k.bucket.size() + k.key.size()]) {
        const auto key_size = static_cast<std::uint32_t>(k.key.size());
        std::memcpy(text_, &key_size, sizeof key_size);
        text_[sizeof key_size] = static_cast<char>(static_cast<std::uint8_t>(k.bucket.size()));
        std::memcpy(text_ + header_size, k.bucket.data(), k.bucket.size());
        std::memcpy(text_ + header_size + k.bucket.size(), k.key.data(), k.key.size());
    }
    PackedKey(const PackedKey& other) : PackedKey(HashedKey{other.bucket(), other.key(), 0}) {}
    PackedKey(PackedKey&& other) noexcept : text_(std::exchange(other.text_, nullptr)) {}
    PackedKey& operator=(PackedKey other) noexcept {
        std::swap(text_, other.text_);
        return *this;
    }
    ~PackedKey() { delete[] text_; }

    absl::string_view bucket() const noexcept { return {text_ + header_size, bucket_size()}; }
    absl::string_view key() const noexcept { return {text_ + header_size + bucket_size(), key_size()}; }
    // Bytes of bucket and key, what a snapshot entry carries besides its fixed part.
    std::size_t text_size() const noexcept { return bucket_size() + key_size(); }
    // Starts loading the block: a walk over the table reads the blocks in
    // slot order, that is at random, so it asks for them a few slots ahead.
    void prefetch() const noexcept { __builtin_prefetch(text_); }

  private:
    static constexpr std::size_t header_size = sizeof(std::uint32_t) + 1;

    std::size_t key_size() const noexcept {
        std::uint32_t size;
        std::memcpy(&size, text_, sizeof size);
        return size;
    }
    std::size_t bucket_size() const noexcept { return static_cast<std::uint8_t>(text_[sizeof(std::uint32_t)]); }

    char* text_;
};

// Heterogeneous lookup: a HashedKey finds a PackedKey without building one.
struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(const HashedKey& k) const noexcept { return k.hash; }
    std::size_t operator()(const PackedKey& k) const noexcept { return hash_of(k.bucket(), k.key()); }
};
struct KeyEq {
    using is_transparent = void;
    bool operator()(const PackedKey& a, const PackedKey& b) const noexcept {
        return a.bucket() == b.bucket() && a.key() == b.key();
    }
    bool operator()(const HashedKey& a, const PackedKey& b) const noexcept {
        return a.key == b.key() && a.bucket == b.bucket();
    }
    bool operator()(const PackedKey& a, const HashedKey& b) const noexcept { return (*this)(b, a); }
};

struct Value {
    std::uint64_t generation = 0;
    std::int64_t recorded_ns = 0; // nanoseconds since the epoch
    ReplicationStatus status = ReplicationStatus::Pending;
};

using Map = absl::flat_hash_map<PackedKey, Value, KeyHash, KeyEq>;
static_assert(sizeof(Map::value_type) == 32, "a slot is the key's pointer and the Value");
static_assert(std::is_standard_layout<PackedKey>::value && std::is_standard_layout<Value>::value,
              "Abseil moves slots as mutable pairs only for standard-layout keys and values (else it copies keys)");

inline constexpr std::size_t shard_bits = 5;
inline constexpr std::size_t shard_count = std::size_t{1} << shard_bits;

// How many slots ahead a walk over a table prefetches key blocks: enough
// misses in flight to cover the latency of one, few enough to stay in cache.
inline constexpr std::size_t prefetch_distance = 8;

// An iterator `distance` slots after `it` (or end).
inline Map::const_iterator slots_ahead(const Map& map, Map::const_iterator it, std::size_t distance) {
    for (; distance != 0 && it != map.end(); --distance) ++it;
    return it;
}

// ---- snapshot entries ----------------------------------------------------------

inline std::string_view std_view(absl::string_view text) noexcept { return {text.data(), text.size()}; }

// The longest fixed part of one entry: `,[["",""],{"status":"Completed",
// "generation":<20 digits>,"recorded_at":"<30>"}]`.
inline constexpr std::size_t max_entry_fixed_size = 114;

inline char* put_entry(char* p, const PackedKey& k, const Value& v) noexcept {
    p = put(p, "[[");
    p = put_string(p, std_view(k.bucket()));
    *p++ = ',';
    p = put_string(p, std_view(k.key()));
    p = put(p, "],{\"status\":\"");
    p = put(p, status_words[status_index(v.status)]);
    p = put(p, "\",\"generation\":");
    p = std::to_chars(p, p + 20, v.generation).ptr;
    p = put(p, ",\"recorded_at\":\"");
    p = put_time(p, v.recorded_ns);
    return put(p, "\"}]");
}

// ---- the manager -------------------------------------------------------------------

/// The alternative design, with the operations the benchmark calls. Every
/// member may be called concurrently (except moving the manager).
template <class Clock = s3repl::CoarseSystemClock>
class AbseilManager {
  public:
    explicit AbseilManager(Clock clock = Clock{}) : clock_(std::move(clock)), state_(new State) {
        // Debian builds Abseil without NDEBUG, which turns on absl::Mutex's
        // deadlock detector: a lock-order graph updated on every Lock(). No
        // server would run with it; turned off once, before the first lock.
        static const bool detector_off = [] {
            absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
            return true;
        }();
        static_cast<void>(detector_off);
    }

    /// 1 first, then increasing. A plain fetch_add: it does NOT guard wrap
    /// (after 2^64-1 it hands out 0 again), the check s3repl's CAS loop pays for.
    std::uint64_t next_generation() noexcept { return state_->last_issued.fetch_add(1, std::memory_order_relaxed) + 1; }

    void put_config(std::string_view bucket, ReplicationConfig config) {
        absl::MutexLock lock(&state_->config_mutex);
        state_->configs.insert_or_assign(std::string(bucket), std::move(config));
    }

    /// s3repl's CAS: the greater generation wins; an equal one wins unless
    /// the stored status is COMPLETED and the new one another. An accepted
    /// generation above the counter raises it. Throws std::invalid_argument,
    /// storing nothing, for a status out of range, a bucket over 255 bytes or
    /// a new bucket or key that is not UTF-8.
    bool record_status_if_newer(std::string_view bucket, std::string_view key, std::uint64_t generation,
                                ReplicationStatus status) {
        if (status_index(status) >= s3repl::replication_status_count || bucket.size() > PackedKey::max_bucket_size ||
            key.size() > PackedKey::max_key_size)
            throw std::invalid_argument("abseil peer: status out of range, or bucket or key too long");
        const HashedKey k = hashed(bucket, key);
        Shard& shard = shard_for(k);
        absl::MutexLock lock(&shard.mutex);
        const auto [it, inserted] = shard.map.try_emplace(k);
        Value& stored = it->second;
        if (inserted) {
            if (!simdjson::validate_utf8(bucket.data(), bucket.size()) ||
                !simdjson::validate_utf8(key.data(), key.size())) {
                shard.map.erase(it);
                throw std::invalid_argument("abseil peer: bucket or key is not valid UTF-8");
            }
            shard.text_bytes += bucket.size() + key.size();
        } else {
            const bool wins = generation != stored.generation ? generation > stored.generation
                                                              : stored.status != ReplicationStatus::Completed ||
                                                                    status == ReplicationStatus::Completed;
            if (!wins) return false;
            --shard.counts[status_index(stored.status)];
        }
        raise_counter(generation);
        stored = Value{generation, now_ns(), status};
        ++shard.counts[status_index(status)];
        return true;
    }

    std::optional<ReplicationStatus> lookup_status(std::string_view bucket, std::string_view key) const {
        const HashedKey k = hashed(bucket, key);
        const Shard& shard = shard_for(k);
        absl::ReaderMutexLock lock(&shard.mutex);
        const auto found = shard.map.find(k);
        if (found == shard.map.end()) return std::nullopt;
        return found->second.status;
    }

    std::size_t size() const {
        std::size_t total = 0;
        for (const Shard& shard : state_->shards) {
            absl::ReaderMutexLock lock(&shard.mutex);
            total += shard.map.size();
        }
        return total;
    }

    /// Removes COMPLETED and FAILED entries recorded strictly before
    /// now - max_age, one shard at a time; skips shards with none. No
    /// saturation: a TTL near the limits of nanoseconds overflows.
    std::size_t sweep_stale(Timestamp now, std::chrono::nanoseconds max_age) {
        const std::int64_t cutoff = now.time_since_epoch().count() - max_age.count();
        std::size_t removed = 0;
        for (Shard& shard : state_->shards) {
            absl::MutexLock lock(&shard.mutex);
            std::size_t& completed = shard.counts[status_index(ReplicationStatus::Completed)];
            std::size_t& failed = shard.counts[status_index(ReplicationStatus::Failed)];
            if (completed == 0 && failed == 0) continue;
            const auto expired = [cutoff](const Value& v) {
                return s3repl::is_terminal(v.status) && v.recorded_ns < cutoff;
            };
            // Erasing frees the key's block, whose allocator header is a
            // miss: prefetched for the expired entries a few slots ahead.
            // Erasing leaves the other iterators valid.
            auto ahead = slots_ahead(shard.map, shard.map.begin(), prefetch_distance);
            for (auto it = shard.map.begin(); it != shard.map.end();) {
                if (ahead != shard.map.end()) {
                    if (expired(ahead->second)) ahead->first.prefetch();
                    ++ahead;
                }
                if (!expired(it->second)) {
                    ++it;
                    continue;
                }
                --(it->second.status == ReplicationStatus::Completed ? completed : failed);
                shard.text_bytes -= it->first.text_size();
                shard.map.erase(it++);
                ++removed;
            }
        }
        return removed;
    }

    /// The snapshot format, byte for byte what s3repl writes for the same
    /// state (entry order aside: both come from hash maps). One shard's reader
    /// lock at a time. The text's capacity has simdjson's padding beyond its
    /// end (zeros), so from_json reads it in place, as a server would read a
    /// file into a padded buffer.
    std::string to_json() const {
        std::string out;
        std::size_t estimate = 64 + simdjson::SIMDJSON_PADDING;
        for (const Shard& shard : state_->shards) {
            absl::ReaderMutexLock lock(&shard.mutex);
            estimate += shard.map.size() * max_entry_fixed_size + shard.text_bytes;
        }
        {
            absl::ReaderMutexLock lock(&state_->config_mutex);
            out.reserve(estimate + 1024 * state_->configs.size());
            out += "{\"by_bucket\":{";
            bool first = true;
            for (const auto& [bucket, config] : state_->configs) {
                if (!first) out += ',';
                first = false;
                append_string(out, bucket);
                out += ':';
                append_config(out, config);
            }
            out += "},\"statuses\":[";
        }
        std::vector<char> scratch(1024);
        std::uint64_t highest = 0;
        bool first = true;
        for (const Shard& shard : state_->shards) {
            absl::ReaderMutexLock lock(&shard.mutex);
            auto ahead = slots_ahead(shard.map, shard.map.begin(), prefetch_distance);
            for (const auto& [k, v] : shard.map) {
                if (ahead != shard.map.end()) (ahead++)->first.prefetch();
                const std::size_t bound = max_entry_fixed_size + 6 * k.text_size() + 6;
                if (scratch.size() < bound) scratch.resize(bound);
                char* p = scratch.data();
                if (!first) *p++ = ',';
                first = false;
                out.append(scratch.data(), put_entry(p, k, v));
                if (v.generation > highest) highest = v.generation;
            }
        }
        // Read after the entries: above every generation minted before them.
        const std::uint64_t issued = state_->last_issued.load(std::memory_order_relaxed);
        out += "],\"next_generation\":";
        append_number(out, (issued > highest ? issued : highest) + 1);
        out += '}';
        const std::size_t size = out.size();
        out.append(simdjson::SIMDJSON_PADDING, '\0');
        out.resize(size);
        return out;
    }

    /// A new manager from a snapshot, through simdjson On-Demand: the text
    /// is indexed with SIMD, then every field is read in place. Reads the
    /// text where it is when its capacity holds simdjson's padding (to_json's
    /// output does), else from a padded copy. Throws std::runtime_error; the
    /// unfinished manager is dropped.
    static AbseilManager from_json(const std::string& json, Clock clock = Clock{}) {
        AbseilManager manager(std::move(clock));
        try {
            if (json.capacity() - json.size() >= simdjson::SIMDJSON_PADDING) {
                manager.read_snapshot(simdjson::padded_string_view(json));
            } else {
                const simdjson::padded_string copy(json);
                manager.read_snapshot(copy);
            }
        } catch (const simdjson::simdjson_error& e) {
            restore_error(e.what());
        }
        return manager;
    }

  private:
    struct alignas(64) Shard {
        mutable absl::Mutex mutex;
        Map map;                                                            // guarded by mutex
        std::array<std::size_t, s3repl::replication_status_count> counts{}; // per status; guarded by mutex
        std::size_t text_bytes = 0;                                         // bucket and key bytes; guarded by mutex
    };

    struct State {
        std::array<Shard, shard_count> shards;
        mutable absl::Mutex config_mutex;
        std::map<std::string, ReplicationConfig, std::less<>> configs; // guarded by config_mutex
        std::atomic<std::uint64_t> last_issued{0};                     // the highest generation handed out or stored
    };

    static HashedKey hashed(std::string_view bucket, std::string_view key) noexcept {
        const absl::string_view b(bucket.data(), bucket.size()), k(key.data(), key.size());
        return {b, k, hash_of(b, k)};
    }
    // The top bits: the table places a key by the low ones.
    Shard& shard_for(const HashedKey& k) noexcept { return state_->shards[k.hash >> (64 - shard_bits)]; }
    const Shard& shard_for(const HashedKey& k) const noexcept { return state_->shards[k.hash >> (64 - shard_bits)]; }

    void raise_counter(std::uint64_t generation) noexcept {
        std::uint64_t last = state_->last_issued.load(std::memory_order_relaxed);
        while (last < generation &&
               !state_->last_issued.compare_exchange_weak(last, generation, std::memory_order_relaxed)) {
        }
    }

    std::int64_t now_ns() const {
        return std::chrono::time_point_cast<std::chrono::nanoseconds>(clock_.now()).time_since_epoch().count();
    }

    // Fills this new manager, not yet shared with any thread, so no locks.
    void read_snapshot(simdjson::padded_string_view text) {
        simdjson::ondemand::parser parser;
        simdjson::ondemand::document doc = parser.iterate(text);
        std::optional<std::uint64_t> next_generation;
        std::uint64_t highest = 0;
        FieldSet fields("snapshot");
        for (simdjson::ondemand::field field : doc.get_object()) {
            const simdjson::ondemand::raw_json_string name = field.key();
            if (name == "by_bucket") {
                fields.saw(0, "by_bucket");
                for (simdjson::ondemand::field bucket : field.value().get_object()) {
                    std::string name_text(std::string_view(bucket.unescaped_key()));
                    state_->configs.insert_or_assign(std::move(name_text), read_config(bucket.value().get_object()));
                }
            } else if (name == "statuses") {
                fields.saw(1, "statuses");
                highest = read_statuses(field.value().get_array());
            } else if (name == "next_generation") {
                fields.saw(2, "next_generation");
                const std::uint64_t value = field.value().get_uint64();
                next_generation = value;
            }
        }
        fields.require(0b11, "by_bucket and statuses");
        // current_location() is OUT_OF_BOUNDS exactly when every token was read.
        if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) restore_error("content after the snapshot");
        // Never reissue: above the snapshot's counter and every stored generation.
        const std::uint64_t from_counter = next_generation.value_or(1) == 0 ? 0 : next_generation.value_or(1) - 1;
        state_->last_issued.store(highest > from_counter ? highest : from_counter, std::memory_order_relaxed);
    }

    // Returns the highest generation stored.
    std::uint64_t read_statuses(simdjson::ondemand::array statuses) {
        // One pass over the structural index to count, so each table is
        // sized once instead of rehashing every key as it doubles. Keys
        // spread evenly over the shards: the expected share plus four
        // standard deviations.
        const std::size_t count = statuses.count_elements();
        const std::size_t share = count / shard_count;
        const auto margin = static_cast<std::size_t>(4 * std::sqrt(static_cast<double>(share))) + 16;
        for (Shard& shard : state_->shards) shard.map.reserve(share + margin);

        std::uint64_t highest = 0;
        for (simdjson::ondemand::array item : statuses) {
            std::string_view names[2];
            Value value;
            std::size_t parts = 0;
            for (simdjson::ondemand::value part : item) {
                if (parts == 0) {
                    std::size_t strings = 0;
                    for (simdjson::ondemand::value name : part.get_array()) {
                        if (strings == 2) restore_error("a key is not a [bucket, key] pair");
                        names[strings++] = name.get_string();
                    }
                    if (strings != 2) restore_error("a key is not a [bucket, key] pair");
                } else if (parts == 1) {
                    value = read_entry(part.get_object());
                } else {
                    restore_error("a status is not a [key, entry] pair");
                }
                ++parts;
            }
            if (parts != 2) restore_error("a status is not a [key, entry] pair");
            if (names[0].size() > PackedKey::max_bucket_size || names[1].size() > PackedKey::max_key_size)
                restore_error("a bucket over 255 bytes or a key over 2^32-1");
            store_restored(hashed(names[0], names[1]), value);
            if (value.generation > highest) highest = value.generation;
        }
        return highest;
    }

    static Value read_entry(simdjson::ondemand::object object) {
        Value value;
        FieldSet fields("entry");
        for (simdjson::ondemand::field field : object) {
            const simdjson::ondemand::raw_json_string name = field.key();
            if (name == "status") {
                fields.saw(0, "status");
                value.status = parse_status(field.value().get_string());
            } else if (name == "generation") {
                fields.saw(1, "generation");
                value.generation = field.value().get_uint64();
            } else if (name == "recorded_at") {
                fields.saw(2, "recorded_at");
                value.recorded_ns = parse_time(field.value().get_string());
            }
        }
        fields.require(0b111, "status, generation and recorded_at");
        return value;
    }

    // A key listed twice: the later wins, as in s3repl.
    void store_restored(const HashedKey& k, const Value& value) {
        Shard& shard = shard_for(k);
        const auto [it, inserted] = shard.map.try_emplace(k);
        if (inserted)
            shard.text_bytes += k.bucket.size() + k.key.size();
        else
            --shard.counts[status_index(it->second.status)];
        it->second = value;
        ++shard.counts[status_index(value.status)];
    }

    Clock clock_;
    std::unique_ptr<State> state_;
};

} // namespace abseil_peer

using abseil_peer::AbseilManager;

} // namespace s3repl_bench
