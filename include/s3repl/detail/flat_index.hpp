#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace s3repl {
inline namespace v0 {
namespace detail {

// An open-addressing Robin Hood index from a 64-bit hash to a 32-bit position
// in a dense array the caller owns (the layout of martinus/unordered_dense).
// Each slot is 8 bytes: the probe distance and 8 fingerprint bits, then the
// position. A lookup touches one or two slots, then the caller's element;
// fingerprints keep false key comparisons rare. Robin Hood ordering lets a
// miss stop as soon as it meets a slot closer to its home than the probe.
//
// Beside the slots sits a presence filter of 8 bits per slot (one bit set
// per element, never cleared by erase): a key whose bit is clear is absent
// without touching the slots. Misses are what most HEADs on a server see
// once the sweep has dropped old statuses, and the filter (1/8 of the
// slots' size) stays in cache where the slots do not.
//
// Bits used: fingerprint = low 8 bits of the hash, home slot = the next bits
// up, filter bit = bits 32 and up. The top bits pick the shard; past 2^24
// slots in one shard the fields start to overlap, which only makes the
// filter's false positives likelier, never a false negative.
class FlatIndex {
  public:
    static constexpr std::uint32_t npos = 0xffffffffu;

    FlatIndex() noexcept = default;
    FlatIndex(FlatIndex&& other) noexcept { swap(other); }
    FlatIndex& operator=(FlatIndex&& other) noexcept {
        FlatIndex(std::move(other)).swap(*this);
        return *this;
    }
    FlatIndex(const FlatIndex&) = delete;
    FlatIndex& operator=(const FlatIndex&) = delete;

    void swap(FlatIndex& other) noexcept {
        std::swap(owned_, other.owned_);
        std::swap(slots_, other.slots_);
        std::swap(mask_, other.mask_);
        std::swap(size_, other.size_);
        std::swap(max_size_, other.max_size_);
        std::swap(owned_filter_, other.owned_filter_);
        std::swap(filter_, other.filter_);
        std::swap(filter_mask_, other.filter_mask_);
        std::swap(filter_marks_, other.filter_marks_);
        publish_prefetch_hint();
        other.publish_prefetch_hint();
    }

    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return owned_ ? std::size_t{mask_} + 1 : 0; }

    // False when no element has this hash: one load from the filter, no
    // probe. True may be a false positive (about 1 in 10 at the highest load).
    bool may_contain(std::uint64_t hash) const noexcept {
        const std::size_t bit = filter_bit(hash);
        return (filter_[bit / 64] >> (bit % 64)) & 1u;
    }

    // Starts loading the home slot of `hash`. The one member that may run
    // without the owner's lock, typically just before taking it, so that the
    // slot's cache miss overlaps the lock and the bucket lookup: it reads
    // only the atomic hint, and a stale hint prefetches a useless line
    // (a prefetch never faults).
    void prefetch(std::uint64_t hash) const noexcept {
        const std::uintptr_t slots = hint_slots_.load(std::memory_order_relaxed);
        const std::size_t i = home(hash, hint_mask_.load(std::memory_order_relaxed));
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(reinterpret_cast<const void*>(slots + i * sizeof(Slot)));
#else
        static_cast<void>(slots + i);
#endif
    }

    // prefetch() and the filter word an insert of `hash` sets (a restore
    // inserts at random; the caller holds the owner's lock or owns it).
    void prefetch_for_insert(std::uint64_t hash) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(&slots_[home(hash)], 1);
        __builtin_prefetch(&filter_[filter_bit(hash) / 64], 1);
#else
        static_cast<void>(hash);
#endif
    }

    // The position whose element `matches`, or npos. Probes without asking
    // the filter: callers whose keys are usually present skip a load.
    template <class Matches>
    std::uint32_t find(std::uint64_t hash, Matches&& matches) const {
        std::uint32_t dist_fp = first_dist_fp(hash);
        for (std::size_t i = home(hash);; i = (i + 1) & mask_) {
            const Slot& slot = slots_[i];
            if (slot.dist_fp == dist_fp && matches(slot.position)) return slot.position;
            if (slot.dist_fp < dist_fp) return npos;
            dist_fp += dist_step;
        }
    }

    // Adds a position known to be absent. `rehash_all(index)` is called when
    // the table must grow; it calls index.place(hash, position) for every
    // live element, this one excluded.
    template <class RehashAll>
    void insert(std::uint64_t hash, std::uint32_t position, RehashAll&& rehash_all) {
        if (size_ + 1 > max_size_) rebuild(capacity() == 0 ? initial_capacity : capacity() * 2, rehash_all);
        place(hash, position);
    }

    // Replaces the slots with `capacity` fresh ones (a power of two) filled
    // by rehash_all(index). Strong guarantee: on bad_alloc nothing changed.
    template <class RehashAll>
    void rebuild(std::size_t capacity, RehashAll&& rehash_all) {
        FlatIndex fresh;
        fresh.allocate(capacity);
        rehash_all(fresh);
        swap(fresh);
    }

    // Only for rehash_all callbacks: adds without growing.
    void place(std::uint64_t hash, std::uint32_t position) noexcept {
        const std::size_t bit = filter_bit(hash);
        filter_[bit / 64] |= std::uint64_t{1} << (bit % 64);
        ++filter_marks_;
        Slot carried{first_dist_fp(hash), position};
        std::size_t i = home(hash);
        while (carried.dist_fp <= slots_[i].dist_fp) {
            carried.dist_fp += dist_step;
            i = (i + 1) & mask_;
        }
        // Robin Hood: take the slot from the richer occupant and carry it on.
        while (slots_[i].dist_fp != 0) {
            std::swap(carried, slots_[i]);
            carried.dist_fp += dist_step;
            i = (i + 1) & mask_;
        }
        slots_[i] = carried;
        ++size_;
    }

    // Removes `position` (which must be present under `hash`), shifting the
    // following run back so no tombstones are left. Its filter bit stays
    // (another element may share it) until the next rebuild.
    void erase(std::uint64_t hash, std::uint32_t position) noexcept {
        std::size_t i = slot_of(hash, position);
        for (std::size_t next = (i + 1) & mask_; slots_[next].dist_fp >= 2 * dist_step;
             i = next, next = (next + 1) & mask_) {
            slots_[i] = Slot{slots_[next].dist_fp - dist_step, slots_[next].position};
        }
        slots_[i] = Slot{};
        --size_;
    }

    // The element at `from` moved to `to` in the caller's dense array.
    void relink(std::uint64_t hash, std::uint32_t from, std::uint32_t to) noexcept {
        slots_[slot_of(hash, from)].position = to;
    }

    // Whether erased elements have left so many stale filter bits that the
    // filter is worth rebuilding (with rebuild(capacity(), ...)).
    bool filter_is_stale() const noexcept { return filter_marks_ > 2 * size_ + initial_capacity; }

    // The smallest capacity that holds `count` elements under the load limit.
    static std::size_t capacity_for(std::size_t count) noexcept {
        std::size_t capacity = initial_capacity;
        while (capacity * max_load_numerator / max_load_denominator < count) capacity *= 2;
        return capacity;
    }

  private:
    struct Slot {
        std::uint32_t dist_fp = 0; // 0: empty; else (distance from home + 1) << 8 | fingerprint
        std::uint32_t position = 0;
    };
    static constexpr std::uint32_t dist_step = 1u << 8;
    static constexpr std::size_t initial_capacity = 16;
    static constexpr std::size_t max_load_numerator = 4, max_load_denominator = 5;

    static constexpr std::size_t filter_bits_per_slot = 8;

    std::size_t filter_bit(std::uint64_t hash) const noexcept {
        return static_cast<std::size_t>(hash >> 32) & filter_mask_;
    }

    static std::uint32_t first_dist_fp(std::uint64_t hash) noexcept {
        return dist_step | static_cast<std::uint32_t>(hash & 0xffu);
    }
    std::size_t home(std::uint64_t hash) const noexcept { return home(hash, mask_); }
    static std::size_t home(std::uint64_t hash, std::uint32_t mask) noexcept {
        return static_cast<std::size_t>(hash >> 8) & mask;
    }

    std::size_t slot_of(std::uint64_t hash, std::uint32_t position) const noexcept {
        std::size_t i = home(hash);
        while (slots_[i].position != position || slots_[i].dist_fp == 0) i = (i + 1) & mask_;
        return i;
    }

    void allocate(std::size_t capacity) {
        const std::size_t filter_words = capacity * filter_bits_per_slot / 64;
        owned_filter_.reset(new std::uint64_t[filter_words]()); // first: on bad_alloc nothing changed
        filter_ = owned_filter_.get();
        filter_mask_ = filter_words * 64 - 1;
        owned_.reset(new Slot[capacity]);
        slots_ = owned_.get();
        mask_ = static_cast<std::uint32_t>(capacity - 1);
        publish_prefetch_hint();
        max_size_ = capacity * max_load_numerator / max_load_denominator;
    }

    // Called wherever slots_ or mask_ change (allocate, swap).
    void publish_prefetch_hint() noexcept {
        hint_slots_.store(reinterpret_cast<std::uintptr_t>(slots_), std::memory_order_relaxed);
        hint_mask_.store(mask_, std::memory_order_relaxed);
    }

    // An empty index points at one shared empty slot, so find() needs no
    // "is it allocated" branch; the first insert allocates because max_size_ is 0.
    static Slot* empty_slot() noexcept {
        static Slot empty;
        return &empty;
    }
    // Likewise an empty filter: one word, all clear.
    static std::uint64_t* empty_filter() noexcept {
        static std::uint64_t empty = 0;
        return &empty;
    }

    std::unique_ptr<Slot[]> owned_;
    Slot* slots_ = empty_slot();
    std::uint32_t mask_ = 0;
    std::size_t size_ = 0;
    std::size_t max_size_ = 0;
    std::unique_ptr<std::uint64_t[]> owned_filter_;
    std::uint64_t* filter_ = empty_filter();
    std::size_t filter_mask_ = 0;  // bits - 1
    std::size_t filter_marks_ = 0; // places since the filter was built: live elements plus stale bits
    // slots_ and mask_ again, for prefetch() without the lock: atomics, so
    // that reading them while a rebuild swaps the slots is defined.
    std::atomic<std::uintptr_t> hint_slots_{reinterpret_cast<std::uintptr_t>(empty_slot())};
    std::atomic<std::uint32_t> hint_mask_{0};
};

} // namespace detail
} // namespace v0
} // namespace s3repl
