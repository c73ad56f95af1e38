#pragma once

#include "s3repl/detail/entry_table.hpp"
#include "s3repl/detail/lock.hpp"
#include "s3repl/object_id.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace s3repl {
inline namespace v0 {
namespace detail {

// Keys a batch lookup resolves together: enough in flight to cover the
// memory latency twice over (two dependent misses per key), few enough that
// the chunk's state stays on the stack (about 1.2 KiB) and a shard's read
// lock is held briefly.
inline constexpr std::size_t batch_chunk = 64;

// Looks up objects[0, count) in `shards` (each with a `mutex` and an
// EntryTable `table`) and calls found(i, entry) for each, `entry` being the
// StoredEntry of objects[i] or nullptr, under its shard's read lock. The
// keys of a chunk are resolved in four passes rather than one after
// another, so their cache misses overlap instead of adding up:
// 1. hash each key and prefetch its index slot (no lock needed);
// 2. sort the chunk by shard (a counting sort of 64 bytes);
// 3. per shard, under its read lock: read the slots, prefetch the entries;
// 4. per shard, under its read lock: the lookups proper, in cache by now.
// The presence filter that single lookups ask first is skipped: the slots
// are read anyway, and the filter would be one more miss per key.
// Pass 3 only warms the cache, so the result of pass 4 is the state at the
// instant its shard's lock was held, whatever ran between the passes.
template <class Shard, class Found>
void lookup_batch(const std::array<Shard, shard_count>& shards, std::uint64_t seed, const ObjectId* objects,
                  std::size_t count, Found&& found) {
    using Mutex = decltype(Shard::mutex);
    std::array<KeyHashes, batch_chunk> hashes;
    std::array<std::uint8_t, batch_chunk> by_shard;          // chunk positions, grouped by shard
    std::array<std::uint8_t, shard_count + 1> shard_begin{}; // shard s owns by_shard[shard_begin[s], shard_begin[s+1])
    for (std::size_t base = 0; base < count; base += batch_chunk) {
        const std::size_t size = count - base < batch_chunk ? count - base : batch_chunk;
        std::array<std::uint8_t, shard_count> per_shard{};
        for (std::size_t i = 0; i < size; ++i) {
            const ObjectId& object = objects[base + i];
            hashes[i] = hash_key(object.bucket, EntryName(object.key, object.version_id), seed);
            const std::size_t s = shard_of(hashes[i]);
            shards[s].table.prefetch(hashes[i]);
            ++per_shard[s];
        }
        shard_begin[0] = 0;
        for (std::size_t s = 0; s < shard_count; ++s)
            shard_begin[s + 1] = static_cast<std::uint8_t>(shard_begin[s] + per_shard[s]);
        std::array<std::uint8_t, shard_count> next{};
        for (std::size_t i = 0; i < size; ++i) {
            const std::size_t s = shard_of(hashes[i]);
            by_shard[shard_begin[s] + next[s]++] = static_cast<std::uint8_t>(i);
        }
        for (std::size_t s = 0; s < shard_count; ++s) {
            if (per_shard[s] == 0) continue;
            ReadLock<Mutex> lock(shards[s].mutex);
            for (std::size_t k = shard_begin[s]; k < shard_begin[s + 1]; ++k) {
                // Both ends: an entry may straddle two cache lines. The
                // prefetch stays in this function, which has side effects:
                // GCC took a member doing nothing but a probe and a prefetch
                // for pure, and dropped its calls.
                const char* entry = reinterpret_cast<const char*>(shards[s].table.first_candidate(hashes[by_shard[k]]));
                if (entry == nullptr) continue;
#if defined(__GNUC__) || defined(__clang__)
                __builtin_prefetch(entry);
                __builtin_prefetch(entry + sizeof(StoredEntry) - 1);
#endif
            }
        }
        for (std::size_t s = 0; s < shard_count; ++s) {
            if (per_shard[s] == 0) continue;
            ReadLock<Mutex> lock(shards[s].mutex);
            for (std::size_t k = shard_begin[s]; k < shard_begin[s + 1]; ++k) {
                const std::size_t i = by_shard[k];
                const ObjectId& object = objects[base + i];
                found(base + i,
                      shards[s].table.find(object.bucket, EntryName(object.key, object.version_id), hashes[i]));
            }
        }
    }
}

} // namespace detail
} // namespace v0
} // namespace s3repl
