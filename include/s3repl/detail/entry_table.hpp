#pragma once

#include "s3repl/detail/bytes.hpp"
#include "s3repl/detail/flat_index.hpp"
#include "s3repl/detail/hash.hpp"
#include "s3repl/error.hpp"
#include "s3repl/key.hpp"
#include "s3repl/status.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace s3repl {
inline namespace v0 {
namespace detail {

// Makes room for one more element with geometric growth, so that the
// push_back that follows cannot throw (vector::reserve(size() + 1) alone
// would reallocate on every insert).
template <class T>
void reserve_one_more(std::vector<T>& v) {
    if (v.size() == v.capacity()) v.reserve(v.capacity() < 8 ? 8 : v.capacity() * 2);
}

// Hashes of one (bucket, key): the bucket's alone (to find its interned name)
// and the pair's (to find the entry, and, in its top bits, the shard).
struct KeyHashes {
    std::uint64_t bucket;
    std::uint64_t entry;
};
inline KeyHashes hash_key(std::string_view bucket, std::string_view key, std::uint64_t seed) noexcept {
    const std::uint64_t bucket_hash = hash_bytes(bucket, seed);
    return {bucket_hash, hash_bytes(key, bucket_hash)};
}

// The map is split into this many independently locked shards, chosen by
// the top bits of the entry hash: enough that the threads of a server
// working on different keys rarely meet on one lock, few enough that an
// empty manager stays small (about 14 KiB of shards), and that the
// whole-state operations, which hold every shard lock at once, stay within
// what ThreadSanitizer's deadlock detector can track (64 locks per thread).
inline constexpr std::size_t shard_bits = 5;
inline constexpr std::size_t shard_count = std::size_t{1} << shard_bits;
inline std::size_t shard_of(KeyHashes h) noexcept { return static_cast<std::size_t>(h.entry >> (64 - shard_bits)); }

// One stored status, 48 bytes. Keys up to 24 bytes (most S3 keys of a
// bucket's hot prefixes, and the benchmark's) live inside the entry, so a
// lookup touches the index slot and this entry and nothing else; longer
// keys get one exact-size allocation. The bucket is an index into the
// table's interned names, so many keys share one copy of it.
struct StoredEntry {
    static constexpr std::size_t inline_key_capacity = 24;

    union {
        char inline_key[inline_key_capacity];
        char* heap_key; // owned when key_size > inline_key_capacity
    };
    std::uint64_t generation;
    std::int64_t recorded_ns; // nanoseconds since the epoch
    std::uint32_t key_size;
    std::uint32_t bucket_id : 24;
    std::uint32_t status : 8;

    bool key_is_inline() const noexcept { return key_size <= inline_key_capacity; }
    const char* key_data() const noexcept { return key_is_inline() ? inline_key : heap_key; }
    std::string_view key_view() const noexcept { return {key_data(), key_size}; }
    ReplicationStatus status_value() const noexcept { return static_cast<ReplicationStatus>(status); }
    ReplicationStatusEntry to_entry() const noexcept {
        return {status_value(), generation, Timestamp{std::chrono::nanoseconds{recorded_ns}}};
    }
    void free_key() noexcept {
        if (!key_is_inline()) delete[] heap_key;
    }
};
static_assert(sizeof(StoredEntry) == 48, "StoredEntry layout: keep it at 48 bytes");

// The entries of one shard: a dense array of StoredEntry, a FlatIndex over
// it, and the shard's interned bucket names. Not thread-safe: the owning
// shard's lock guards all of it. Also keeps the exact count per status.
class EntryTable {
  public:
    static constexpr std::uint32_t max_bucket_ids = 1u << 24;

    EntryTable() = default;
    EntryTable(EntryTable&& other) noexcept { swap(other); }
    EntryTable& operator=(EntryTable&& other) noexcept {
        EntryTable(std::move(other)).swap(*this);
        return *this;
    }
    EntryTable(const EntryTable&) = delete;
    EntryTable& operator=(const EntryTable&) = delete;
    ~EntryTable() {
        for (StoredEntry& e : entries_) e.free_key();
    }

    void swap(EntryTable& other) noexcept {
        entries_.swap(other.entries_);
        index_.swap(other.index_);
        buckets_.swap(other.buckets_);
        free_bucket_ids_.swap(other.free_bucket_ids_);
        bucket_index_.swap(other.bucket_index_);
        std::swap(count_by_status_, other.count_by_status_);
    }

    std::size_t size() const noexcept { return entries_.size(); }
    std::size_t count(ReplicationStatus status) const noexcept {
        return count_by_status_[static_cast<std::size_t>(status)];
    }

    // Starts loading the index slot of h; the one member callable without
    // the shard's lock (see FlatIndex::prefetch).
    void prefetch(KeyHashes h) const noexcept { index_.prefetch(h.entry); }

    // For lookups, which on a server mostly miss: the presence filter first.
    const StoredEntry* lookup(std::string_view bucket, std::string_view key, KeyHashes h) const noexcept {
        return index_.may_contain(h.entry) ? find(bucket, key, h) : nullptr;
    }

    // For stamps, whose keys are almost always present (PENDING, then
    // COMPLETED): asking the filter first only delays the probe (measured:
    // 60-80 ns per stamp_update on a 1,000,000-entry map).
    const StoredEntry* find(std::string_view bucket, std::string_view key, KeyHashes h) const noexcept {
        const std::uint32_t bucket_id = find_bucket(bucket, h.bucket);
        if (bucket_id == FlatIndex::npos) return nullptr;
        const std::uint32_t pos = index_.find(h.entry, [&](std::uint32_t p) {
            const StoredEntry& e = entries_[p];
            return e.bucket_id == bucket_id && same_bytes(e.key_view(), key);
        });
        return pos == FlatIndex::npos ? nullptr : &entries_[pos];
    }
    StoredEntry* find(std::string_view bucket, std::string_view key, KeyHashes h) noexcept {
        return const_cast<StoredEntry*>(static_cast<const EntryTable&>(*this).find(bucket, key, h));
    }

    // Adds an entry known to be absent. Strong guarantee: on an exception
    // (allocation, too many buckets) the table is unchanged.
    StoredEntry& insert(std::string_view bucket, std::string_view key, KeyHashes h,
                        const ReplicationStatusEntry& value) {
        if (key.size() > max_key_bytes) throw InvalidArgument("a key of more than 2^32-1 bytes cannot be stored");
        reserve_one_more(entries_); // may throw; nothing changed yet
        StoredEntry e{};
        e.key_size = static_cast<std::uint32_t>(key.size());
        std::unique_ptr<char[]> heap_key;
        if (e.key_is_inline()) {
            if (!key.empty()) std::memcpy(e.inline_key, key.data(), key.size());
        } else {
            heap_key.reset(new char[key.size()]);
            std::memcpy(heap_key.get(), key.data(), key.size());
        }
        const std::uint32_t bucket_id = acquire_bucket(bucket, h.bucket);
        const auto pos = static_cast<std::uint32_t>(entries_.size());
        try {
            index_.insert(h.entry, pos, [this](FlatIndex& bigger) { place_all(bigger); });
        } catch (...) {
            release_bucket(bucket_id);
            throw;
        }
        if (heap_key) e.heap_key = heap_key.release();
        // Ids are below max_bucket_ids (2^24); the mask tells -Wconversion so.
        e.bucket_id = bucket_id & (max_bucket_ids - 1);
        entries_.push_back(e); // capacity reserved above: cannot throw
        StoredEntry& stored = entries_.back();
        stored.status = static_cast<std::uint32_t>(value.status);
        ++count_by_status_[stored.status];
        stored.generation = value.generation;
        stored.recorded_ns = value.recorded_at.time_since_epoch().count();
        return stored;
    }

    void assign(StoredEntry& e, const ReplicationStatusEntry& value) noexcept {
        --count_by_status_[e.status];
        e.status = static_cast<std::uint32_t>(value.status);
        ++count_by_status_[e.status];
        e.generation = value.generation;
        e.recorded_ns = value.recorded_at.time_since_epoch().count();
    }

    // Removes every entry for which remove(entry) is true; returns how many.
    template <class Predicate>
    std::size_t erase_if(Predicate&& remove) {
        std::size_t removed = 0;
        for (std::uint32_t p = 0; p < entries_.size();) {
            if (remove(static_cast<const StoredEntry&>(entries_[p]))) {
                erase_at(p); // the last entry moved into p: look at p again
                ++removed;
            } else {
                ++p;
            }
        }
        if (removed != 0) refresh_index();
        return removed;
    }

    // Visits (bucket, key, StoredEntry) in storage order.
    template <class Visitor>
    void for_each(Visitor&& visit) const {
        for (const StoredEntry& e : entries_) visit(std::string_view(buckets_[e.bucket_id].name), e.key_view(), e);
    }

  private:
    struct BucketName {
        std::string name;
        std::uint64_t hash = 0;
        std::uint32_t entries = 0; // 0: the id is free for reuse
    };

    std::uint64_t entry_hash(const StoredEntry& e) const noexcept {
        return hash_bytes(e.key_view(), buckets_[e.bucket_id].hash);
    }

    std::uint32_t find_bucket(std::string_view bucket, std::uint64_t bucket_hash) const noexcept {
        return bucket_index_.find(bucket_hash, [&](std::uint32_t id) { return same_bytes(buckets_[id].name, bucket); });
    }

    std::uint32_t acquire_bucket(std::string_view bucket, std::uint64_t bucket_hash) {
        std::uint32_t id = find_bucket(bucket, bucket_hash);
        if (id == FlatIndex::npos) {
            if (free_bucket_ids_.empty() && buckets_.size() >= max_bucket_ids)
                throw InvalidArgument("more than 2^24 distinct buckets in one shard");
            BucketName record{std::string(bucket), bucket_hash, 0};
            if (free_bucket_ids_.empty()) {
                reserve_one_more(buckets_);
                // Every id may be freed later, and release_bucket must not throw.
                if (free_bucket_ids_.capacity() < buckets_.capacity()) free_bucket_ids_.reserve(buckets_.capacity());
                id = static_cast<std::uint32_t>(buckets_.size());
            } else {
                id = free_bucket_ids_.back();
            }
            bucket_index_.insert(bucket_hash, id, [this](FlatIndex& bigger) {
                for (std::uint32_t b = 0; b < buckets_.size(); ++b)
                    if (buckets_[b].entries != 0) bigger.place(buckets_[b].hash, b);
            });
            if (id == buckets_.size()) {
                buckets_.push_back(std::move(record));
            } else {
                free_bucket_ids_.pop_back();
                buckets_[id] = std::move(record);
            }
        }
        ++buckets_[id].entries;
        return id;
    }

    void release_bucket(std::uint32_t id) noexcept {
        BucketName& b = buckets_[id];
        if (--b.entries != 0) return;
        bucket_index_.erase(b.hash, id);
        b.name = std::string();         // free the name now, not when the id is reused
        free_bucket_ids_.push_back(id); // cannot throw: capacity >= number of ids
    }

    void erase_at(std::uint32_t pos) noexcept {
        StoredEntry& e = entries_[pos];
        index_.erase(entry_hash(e), pos);
        --count_by_status_[e.status];
        e.free_key();
        release_bucket(e.bucket_id);
        const auto last = static_cast<std::uint32_t>(entries_.size() - 1);
        if (pos != last) {
            entries_[pos] = entries_[last];
            index_.relink(entry_hash(entries_[pos]), last, pos);
        }
        entries_.pop_back();
    }

    // After a sweep: give memory back after a large one, so the map stays
    // bounded by what it holds now, not by its peak; and rebuild the index
    // when the erased entries' filter bits would make misses slow.
    // Best effort: it runs after entries were erased, so a failed allocation
    // must not turn a completed sweep into an exception (the old index is
    // still valid).
    void refresh_index() noexcept {
        const bool sparse = entries_.capacity() >= 1024 && entries_.size() < entries_.capacity() / 4;
        if (!sparse && !index_.filter_is_stale()) return;
        try {
            if (sparse) entries_.shrink_to_fit();
            const std::size_t capacity = sparse ? FlatIndex::capacity_for(entries_.size()) : index_.capacity();
            index_.rebuild(capacity, [this](FlatIndex& fresh) { place_all(fresh); });
        } catch (const std::bad_alloc&) {
        }
    }

    void place_all(FlatIndex& fresh) const noexcept {
        for (std::uint32_t p = 0; p < entries_.size(); ++p) fresh.place(entry_hash(entries_[p]), p);
    }

    std::vector<StoredEntry> entries_;
    FlatIndex index_;
    std::vector<BucketName> buckets_;
    std::vector<std::uint32_t> free_bucket_ids_;
    FlatIndex bucket_index_;
    std::array<std::size_t, replication_status_count> count_by_status_{};
};

} // namespace detail
} // namespace v0
} // namespace s3repl
