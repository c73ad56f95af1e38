#pragma once

#include "s3repl/destination_status.hpp"
#include "s3repl/detail/bucket_names.hpp"
#include "s3repl/detail/bytes.hpp"
#include "s3repl/detail/flat_index.hpp"
#include "s3repl/detail/hash.hpp"
#include "s3repl/error.hpp"
#include "s3repl/key.hpp"
#include "s3repl/status.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace s3repl {
inline namespace v0 {
namespace detail {

// Which entry of a bucket: a key, and a version ID for a version of a
// versioned bucket's object (empty: the unversioned object). A version's
// entry stores the key as key, version, then the version's length in two
// bytes, and is told apart from an unversioned key of those bytes by a flag.
struct EntryName {
    EntryName(std::string_view key_, std::string_view version_ = {}) noexcept : key(key_), version(version_) {}
    std::string_view key;
    std::string_view version;

    bool versioned() const noexcept { return !version.empty(); }
    std::size_t stored_size() const noexcept { return versioned() ? key.size() + version.size() + 2 : key.size(); }
};

// Hashes of one (bucket, key): the bucket's alone (to find its interned name)
// and the pair's (to find the entry, and, in its top bits, the shard).
struct KeyHashes {
    std::uint64_t bucket;
    std::uint64_t entry;
};

// The top bits of an entry hash pick the shard (see shard_of): a version
// keeps its key's, so that every version of a key lives in one shard (the
// sweep's latest-versions rule compares them there), and takes the rest
// from the version ID.
inline constexpr std::uint64_t shard_hash_bits = ~std::uint64_t{0} << 59;
inline std::uint64_t version_hash(std::uint64_t key_hash, std::string_view version) noexcept {
    return (key_hash & shard_hash_bits) | (hash_bytes(version, key_hash) & ~shard_hash_bits);
}
inline KeyHashes hash_key(std::string_view bucket, const EntryName& name, std::uint64_t seed) noexcept {
    const std::uint64_t bucket_hash = hash_bytes(bucket, seed);
    const std::uint64_t key_hash = hash_bytes(name.key, bucket_hash);
    return {bucket_hash, name.versioned() ? version_hash(key_hash, name.version) : key_hash};
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
static_assert(shard_bits <= 5, "shard_hash_bits keeps the top 5 bits of a version's hash");

// One stored status, 48 bytes. Keys up to 24 bytes (most S3 keys of a
// bucket's hot prefixes, and the benchmark's) live inside the entry, so a
// lookup touches the index slot and this entry and nothing else; longer
// keys get one exact-size allocation. The bucket is an index into the
// table's interned names, so many keys share one copy of it.
//
// An object replicated to several destinations keeps its per-destination
// statuses beside the table (has_destinations); the entry then holds their
// aggregate, so lookups, the sweep and the snapshot's Rust fields read the
// entry alone either way.
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
    std::uint32_t status : 4;
    std::uint32_t has_destinations : 1;
    std::uint32_t versioned : 1;     // the key is an EntryName's stored form with a version
    std::uint32_t delete_marker : 1; // the version is a delete marker

    bool key_is_inline() const noexcept { return key_size <= inline_key_capacity; }
    const char* key_data() const noexcept { return key_is_inline() ? inline_key : heap_key; }
    std::string_view key_view() const noexcept { return {key_data(), key_size}; }
    EntryName name() const noexcept {
        if (!versioned) return EntryName(key_view());
        const char* p = key_data();
        const std::size_t version_size = static_cast<std::size_t>(static_cast<unsigned char>(p[key_size - 2])) |
                                         static_cast<std::size_t>(static_cast<unsigned char>(p[key_size - 1])) << 8;
        const std::size_t key_part = key_size - 2 - version_size;
        return EntryName(std::string_view(p, key_part), std::string_view(p + key_part, version_size));
    }
    bool is_named(const EntryName& n) const noexcept {
        if (versioned != static_cast<std::uint32_t>(n.versioned())) return false;
        if (!versioned) return same_bytes(key_view(), n.key);
        const EntryName mine = name();
        return same_bytes(mine.key, n.key) && same_bytes(mine.version, n.version);
    }
    ReplicationStatus status_value() const noexcept { return static_cast<ReplicationStatus>(status); }
    ReplicationStatusEntry to_entry() const noexcept {
        return {status_value(), generation, Timestamp{std::chrono::nanoseconds{recorded_ns}}};
    }
    void free_key() noexcept {
        if (!key_is_inline()) delete[] heap_key;
    }
};
static_assert(sizeof(StoredEntry) == 48, "StoredEntry layout: keep it at 48 bytes");

// One destination's status of a StoredEntry, at the entry's generation.
struct StoredDestination {
    std::uint32_t bucket_id;
    ReplicationStatus status;
    std::int64_t recorded_ns;
};

// A destination stamp as a table is handed it.
struct DestinationStamp {
    HashedName destination;
    ReplicationStatus status;
    std::int64_t recorded_ns;
};

// The entries of one shard: a dense array of StoredEntry, a FlatIndex over
// it, the shard's interned bucket names, and the destination lists of the
// entries that have one (keyed by position in the array). Not thread-safe:
// the owning shard's lock guards all of it. Also keeps the exact count per
// status, and per bucket the counts of destination statistics.
class EntryTable {
  public:
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
        destinations_.swap(other.destinations_);
        std::swap(count_by_status_, other.count_by_status_);
        std::swap(versioned_, other.versioned_);
    }

    std::size_t size() const noexcept { return entries_.size(); }
    std::size_t count(ReplicationStatus status) const noexcept {
        return count_by_status_[static_cast<std::size_t>(status)];
    }
    const BucketNames& buckets() const noexcept { return buckets_; }

    // Room for `count` entries in all without growing the array or the
    // index (a restore reserves what it expects to read). Strong guarantee.
    void reserve(std::size_t count) {
        entries_.reserve(count);
        const std::size_t capacity = FlatIndex::capacity_for(count);
        if (index_.capacity() < capacity) index_.rebuild(capacity, [this](FlatIndex& fresh) { place_all(fresh); });
    }

    // Starts loading the index slot of h; the one member callable without
    // the shard's lock (see FlatIndex::prefetch).
    void prefetch(KeyHashes h) const noexcept { index_.prefetch(h.entry); }

    // Starts loading what an insert of h writes in the index (the slot and
    // the presence filter's word), for a caller about to insert many.
    void prefetch_for_insert(KeyHashes h) const noexcept { index_.prefetch_for_insert(h.entry); }

    // The entry a find of h compares first (the first slot with its
    // fingerprint), or nullptr; reads the slots, not the entry. A batch
    // prefetches it under the shard's lock, so that the entries' cache
    // misses overlap (see detail/batch_lookup.hpp).
    const StoredEntry* first_candidate(KeyHashes h) const noexcept {
        const std::uint32_t pos = index_.find(h.entry, [](std::uint32_t) { return true; });
        return pos == FlatIndex::npos ? nullptr : &entries_[pos];
    }

    // For lookups, which on a server mostly miss: the presence filter first.
    const StoredEntry* lookup(std::string_view bucket, const EntryName& key, KeyHashes h) const noexcept {
        return index_.may_contain(h.entry) ? find(bucket, key, h) : nullptr;
    }

    // For stamps, whose keys are almost always present (PENDING, then
    // COMPLETED): asking the filter first only delays the probe (measured:
    // 60-80 ns per stamp_update on a 1,000,000-entry map).
    const StoredEntry* find(std::string_view bucket, const EntryName& key, KeyHashes h) const noexcept {
        const std::uint32_t bucket_id = buckets_.find({bucket, h.bucket});
        if (bucket_id == FlatIndex::npos) return nullptr;
        const std::uint32_t pos = index_.find(h.entry, [&](std::uint32_t p) {
            const StoredEntry& e = entries_[p];
            return e.bucket_id == bucket_id && e.is_named(key);
        });
        return pos == FlatIndex::npos ? nullptr : &entries_[pos];
    }
    StoredEntry* find(std::string_view bucket, const EntryName& key, KeyHashes h) noexcept {
        return const_cast<StoredEntry*>(static_cast<const EntryTable&>(*this).find(bucket, key, h));
    }

    // Adds an entry known to be absent, with no destination list. Strong
    // guarantee: on an exception (allocation, too many buckets) the table is
    // unchanged.
    StoredEntry& insert(std::string_view bucket, const EntryName& key, KeyHashes h,
                        const ReplicationStatusEntry& value) {
        if (key.stored_size() > max_key_bytes)
            throw InvalidArgument("a key of more than 2^32-1 bytes (with its version ID) cannot be stored");
        reserve_one_more(entries_); // may throw; nothing changed yet
        StoredEntry e{};
        e.key_size = static_cast<std::uint32_t>(key.stored_size());
        e.versioned = key.versioned() ? 1u : 0u;
        std::unique_ptr<char[]> heap_key;
        char* text = e.inline_key;
        if (!e.key_is_inline()) {
            heap_key.reset(new char[e.key_size]);
            text = heap_key.get();
        }
        write_name(text, key);
        const std::uint32_t bucket_id = buckets_.acquire({bucket, h.bucket});
        const auto pos = static_cast<std::uint32_t>(entries_.size());
        try {
            index_.insert(h.entry, pos, [this](FlatIndex& bigger) { place_all(bigger); });
        } catch (...) {
            buckets_.release(bucket_id);
            throw;
        }
        if (heap_key) e.heap_key = heap_key.release();
        // Ids are below BucketNames::max_ids (2^24); the mask tells -Wconversion so.
        e.bucket_id = bucket_id & (BucketNames::max_ids - 1);
        set_value(e, value);
        entries_.push_back(e);        // capacity reserved above: cannot throw
        ++count_by_status_[e.status]; // a new entry has no destinations: count() without its branches
        ++buckets_[bucket_id].single[e.status];
        versioned_ += e.versioned;
        return entries_.back();
    }

    // The entry of that name given `value` (its destination list dropped),
    // or a new one (a restore: a key listed twice, the later wins). Strong
    // guarantee.
    StoredEntry& put(std::string_view bucket, const EntryName& key, KeyHashes h, const ReplicationStatusEntry& value) {
        if (StoredEntry* stored = find(bucket, key, h)) {
            assign(*stored, value);
            return *stored;
        }
        return insert(bucket, key, h, value);
    }

    // Adds an entry known to be absent with the destination list `stamps`
    // (see set_destinations). Strong guarantee.
    StoredEntry& insert(std::string_view bucket, const EntryName& key, KeyHashes h, std::uint64_t generation,
                        const DestinationStamp* stamps, std::size_t n) {
        StoredEntry& added = insert(bucket, key, h, {stamps[0].status, generation, Timestamp{}});
        try {
            set_destinations(added, generation, stamps, n);
        } catch (...) {
            erase_at(static_cast<std::uint32_t>(entries_.size() - 1));
            throw;
        }
        return added;
    }

    // Stores one status for the entry, dropping its destination list.
    void assign(StoredEntry& e, const ReplicationStatusEntry& value) noexcept {
        if (e.has_destinations) return assign_dropping_destinations(e, value);
        // The stamp's hot path: one status for another, in two pairs of counts.
        BucketNames::Record& bucket = buckets_[e.bucket_id];
        --count_by_status_[e.status];
        --bucket.single[e.status];
        set_value(e, value);
        ++count_by_status_[e.status];
        ++bucket.single[e.status];
    }

    // ---- destination lists -------------------------------------------------

    // The entry's destination list, or nullptr when it holds one status.
    const std::vector<StoredDestination>* destinations_of(const StoredEntry& e) const noexcept {
        if (!e.has_destinations) return nullptr;
        return &destinations_.find(position_of(e))->second;
    }

    // Makes `stamps` (distinct destinations) the entry's whole list at
    // `generation`, the entry's status their aggregate, recorded at the
    // newest of theirs. Strong guarantee.
    void set_destinations(StoredEntry& e, std::uint64_t generation, const DestinationStamp* stamps, std::size_t n) {
        std::vector<StoredDestination> list;
        std::vector<StoredDestination>* slot = nullptr;
        list.reserve(n);
        try {
            for (std::size_t i = 0; i < n; ++i)
                list.push_back({buckets_.acquire(stamps[i].destination), stamps[i].status, stamps[i].recorded_ns});
            slot = e.has_destinations ? &destinations_.find(position_of(e))->second
                                      : &destinations_.try_emplace(position_of(e)).first->second;
        } catch (...) {
            for (const StoredDestination& d : list) buckets_.release(d.bucket_id);
            throw;
        }
        uncount(e); // an entry without a list still counts as one (the slot just made is empty)
        for (const StoredDestination& d : *slot) buckets_.release(d.bucket_id);
        *slot = std::move(list);
        e.has_destinations = 1;
        e.generation = generation;
        refresh_aggregate(e);
        count(e);
    }

    // The CAS of one destination of an entry with a list, at the entry's
    // generation: adds the destination, or updates it unless it is
    // COMPLETED and `stamp.status` is not. Returns whether it was
    // accepted. Strong guarantee.
    bool stamp_destination(StoredEntry& e, const DestinationStamp& stamp) {
        std::vector<StoredDestination>& list = destinations_.find(position_of(e))->second;
        const std::uint32_t id = buckets_.find(stamp.destination);
        const auto found =
            std::find_if(list.begin(), list.end(), [&](const StoredDestination& d) { return d.bucket_id == id; });
        if (found != list.end() && found->status == ReplicationStatus::Completed &&
            stamp.status != ReplicationStatus::Completed)
            return false;
        if (found == list.end()) {
            reserve_one_more(list);
            const std::uint32_t added = buckets_.acquire(stamp.destination); // after the reserve: nothing to undo
            uncount(e);
            list.push_back({added, stamp.status, stamp.recorded_ns});
        } else {
            uncount(e);
            found->status = stamp.status;
            found->recorded_ns = stamp.recorded_ns;
        }
        refresh_aggregate(e);
        count(e);
        return true;
    }

    // A stamp for the object as a whole on an entry with a list, at its
    // generation: each destination's CAS (COMPLETED stays unless `status`
    // is COMPLETED). Returns whether any destination took it.
    bool stamp_every_destination(StoredEntry& e, ReplicationStatus status, std::int64_t recorded_ns) noexcept {
        bool accepted = false;
        uncount(e);
        for (StoredDestination& d : destinations_.find(position_of(e))->second) {
            if (d.status == ReplicationStatus::Completed && status != ReplicationStatus::Completed) continue;
            d.status = status;
            d.recorded_ns = recorded_ns;
            accepted = true;
        }
        refresh_aggregate(e);
        count(e);
        return accepted;
    }

    // ---- whole-table walks -------------------------------------------------

    // Removes every entry for which remove(entry) is true; returns how many.
    // remove() sees the table unchanged: every entry is asked first. When
    // many go, the survivors are moved down in one pass and the index is
    // built afresh, one hash and one slot per survivor, where erasing each
    // entry costs two of each (its own slot, and the slot of the last entry
    // moved into its place).
    template <class Predicate>
    std::size_t erase_if(Predicate&& remove) {
        std::vector<bool> doomed;
        try {
            doomed.resize(entries_.size());
        } catch (const std::bad_alloc&) {
            return erase_each_if(remove); // a sweep must free memory even when none can be had
        }
        std::size_t removed = 0;
        for (std::size_t p = 0; p < entries_.size(); ++p) {
            doomed[p] = remove(static_cast<const StoredEntry&>(entries_[p]));
            removed += doomed[p];
        }
        if (removed == 0) return 0;
        if (removed >= entries_.size() / 8 && entries_.size() >= 1024 && compact(doomed)) return removed;
        for (std::uint32_t p = 0; p < entries_.size();) {
            if (doomed[p]) {
                doomed[p] = doomed.back(); // the last entry moves into p: look at p again
                doomed.pop_back();
                erase_at(p);
            } else {
                ++p;
            }
        }
        refresh_index();
        return removed;
    }

    // Visits (bucket, EntryName, StoredEntry) in storage order.
    template <class Visitor>
    void for_each(Visitor&& visit) const {
        for (const StoredEntry& e : entries_) visit(std::string_view(buckets_[e.bucket_id].name), e.name(), e);
    }

    // Removes one entry (a deleted version).
    void erase(StoredEntry& e) noexcept {
        erase_at(position_of(e));
        refresh_index();
    }

    // Whether a version is a delete marker (kept across stamps).
    static void set_delete_marker(StoredEntry& e, bool marker) noexcept { e.delete_marker = marker ? 1u : 0u; }

    // For the sweep's latest-versions rule: per versioned key (its bucket id
    // and key bytes), the generation below which a version is not among the
    // key's `latest` newest; keys with at most `latest` versions are absent.
    std::unordered_map<std::string, std::uint64_t> version_cutoffs(std::size_t latest) const {
        if (versioned_ == 0) return {}; // no pass over the entries of an unversioned shard
        std::unordered_map<std::string, std::vector<std::uint64_t>> generations;
        for (const StoredEntry& e : entries_)
            if (e.versioned) generations[version_group(e)].push_back(e.generation);
        std::unordered_map<std::string, std::uint64_t> cutoffs;
        for (auto& [group, list] : generations) {
            if (list.size() <= latest) continue;
            if (latest == 0) {
                cutoffs.emplace(group, ~std::uint64_t{0});
                continue;
            }
            const auto newest_end = list.begin() + static_cast<std::ptrdiff_t>(latest);
            std::nth_element(list.begin(), newest_end, list.end(), std::greater<>());
            cutoffs.emplace(group, *std::min_element(list.begin(), newest_end)); // ties with it are kept
        }
        return cutoffs;
    }
    static std::string version_group(const StoredEntry& e) {
        const std::uint32_t id = e.bucket_id;
        std::string group(sizeof id, '\0');
        std::memcpy(&group[0], &id, sizeof id);
        group += e.name().key;
        return group;
    }

    // The name behind an id of this table.
    std::string_view bucket_name(std::uint32_t id) const noexcept { return buckets_[id].name; }

  private:
    void assign_dropping_destinations(StoredEntry& e, const ReplicationStatusEntry& value) noexcept {
        uncount(e);
        drop_destinations(e);
        set_value(e, value);
        count(e);
    }

    static void write_name(char* out, const EntryName& name) noexcept {
        if (!name.key.empty()) std::memcpy(out, name.key.data(), name.key.size());
        if (!name.versioned()) return;
        std::memcpy(out + name.key.size(), name.version.data(), name.version.size());
        out[name.key.size() + name.version.size()] = static_cast<char>(name.version.size() & 0xffu);
        out[name.key.size() + name.version.size() + 1] = static_cast<char>(name.version.size() >> 8);
    }

    static void set_value(StoredEntry& e, const ReplicationStatusEntry& value) noexcept {
        e.status = static_cast<std::uint32_t>(value.status) & 0xfu;
        e.generation = value.generation;
        e.recorded_ns = value.recorded_at.time_since_epoch().count();
    }

    // The status of an entry with a list is their aggregate, recorded when
    // the newest of them was.
    void refresh_aggregate(StoredEntry& e) const noexcept {
        AggregateStatus aggregate;
        std::int64_t newest = std::numeric_limits<std::int64_t>::min();
        for (const StoredDestination& d : destinations_.find(position_of(e))->second) {
            aggregate.add(d.status);
            if (d.recorded_ns > newest) newest = d.recorded_ns;
        }
        e.status = static_cast<std::uint32_t>(aggregate.value()) & 0xfu;
        e.recorded_ns = newest;
    }

    // The counts an entry contributes to: the table's per status, and per
    // bucket either its source bucket's single statuses or each
    // destination's. Every change to an entry goes uncount, change, count.
    void count(const StoredEntry& e) noexcept { adjust(e, 1); }
    void uncount(const StoredEntry& e) noexcept { adjust(e, ~std::uint32_t{0}); }
    // `delta` is +1 or -1 in 32-bit modular arithmetic.
    void adjust(const StoredEntry& e, std::uint32_t delta) noexcept {
        count_by_status_[e.status] += delta;
        if (!e.has_destinations) {
            buckets_[e.bucket_id].single[e.status] += delta;
            return;
        }
        for (const StoredDestination& d : destinations_.find(position_of(e))->second)
            buckets_[d.bucket_id].as_destination[static_cast<std::size_t>(d.status)] += delta;
    }

    // Forgets the entry's list (its counts are the caller's to adjust).
    void drop_destinations(StoredEntry& e) noexcept {
        if (!e.has_destinations) return;
        const auto found = destinations_.find(position_of(e));
        for (const StoredDestination& d : found->second) buckets_.release(d.bucket_id);
        destinations_.erase(found);
        e.has_destinations = 0;
    }

    std::uint32_t position_of(const StoredEntry& e) const noexcept {
        return static_cast<std::uint32_t>(&e - entries_.data());
    }

    std::uint64_t entry_hash(const StoredEntry& e) const noexcept {
        const EntryName name = e.name();
        const std::uint64_t key_hash = hash_bytes(name.key, buckets_[e.bucket_id].hash);
        return name.versioned() ? version_hash(key_hash, name.version) : key_hash;
    }

    void erase_at(std::uint32_t pos) noexcept {
        StoredEntry& e = entries_[pos];
        index_.erase(entry_hash(e), pos);
        uncount(e);
        drop_destinations(e);
        versioned_ -= e.versioned;
        e.free_key();
        buckets_.release(e.bucket_id);
        const auto last = static_cast<std::uint32_t>(entries_.size() - 1);
        if (pos != last) {
            entries_[pos] = entries_[last];
            index_.relink(entry_hash(entries_[pos]), last, pos);
            if (entries_[pos].has_destinations) {
                // One node out, the same node back in: the map never grows,
                // so it never rehashes, so this cannot throw.
                auto node = destinations_.extract(last);
                node.key() = pos;
                destinations_.insert(std::move(node));
            }
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
        } catch (const std::exception&) {
        }
    }

    // erase_if without memory of its own: each entry erased as it is found.
    template <class Predicate>
    std::size_t erase_each_if(Predicate& remove) {
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

    // Drops the doomed entries, moving the others down, with a new index;
    // false, the table unchanged, when the index cannot be built. The index
    // is built first, over the positions the survivors will have, because
    // building it may take more than one try (FlatIndex::rebuild).
    bool compact(const std::vector<bool>& doomed) noexcept {
        const std::size_t survivors =
            entries_.size() - static_cast<std::size_t>(std::count(doomed.begin(), doomed.end(), true));
        const bool sparse = entries_.capacity() >= 1024 && survivors < entries_.capacity() / 4;
        try {
            index_.rebuild(sparse ? FlatIndex::capacity_for(survivors) : index_.capacity(), [&](FlatIndex& fresh) {
                std::uint32_t kept = 0;
                for (std::uint32_t p = 0; p < entries_.size(); ++p)
                    if (!doomed[p]) fresh.place(entry_hash(entries_[p]), kept++);
            });
        } catch (const std::exception&) {
            return false;
        }
        std::uint32_t kept = 0;
        for (std::uint32_t p = 0; p < entries_.size(); ++p) {
            StoredEntry& e = entries_[p];
            if (doomed[p]) {
                uncount(e);
                drop_destinations(e);
                versioned_ -= e.versioned;
                e.free_key();
                buckets_.release(e.bucket_id);
                continue;
            }
            if (kept != p) {
                entries_[kept] = e;
                if (e.has_destinations) {
                    // Position kept is free: every entry below p is moved or gone.
                    auto node = destinations_.extract(p);
                    node.key() = kept;
                    destinations_.insert(std::move(node));
                }
            }
            ++kept;
        }
        entries_.resize(kept);
        if (sparse) {
            try {
                entries_.shrink_to_fit();
            } catch (const std::bad_alloc&) {
            }
        }
        return true;
    }

    void place_all(FlatIndex& fresh) const noexcept {
        for (std::uint32_t p = 0; p < entries_.size(); ++p) fresh.place(entry_hash(entries_[p]), p);
    }

    std::vector<StoredEntry> entries_;
    FlatIndex index_;
    BucketNames buckets_;
    std::unordered_map<std::uint32_t, std::vector<StoredDestination>> destinations_; // by position in entries_
    std::array<std::uint32_t, replication_status_count> count_by_status_{};
    std::uint32_t versioned_ = 0; // entries that are versions
};

} // namespace detail
} // namespace v0
} // namespace s3repl
