#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>

namespace s3repl {
inline namespace v0 {
namespace detail {

// An open-addressing Robin Hood index from a 64-bit hash to a 32-bit position
// in a dense array the caller owns (the layout of martinus/unordered_dense).
// Each slot is 6 bytes: the probe distance and 8 fingerprint bits, then the
// position. A lookup touches one slot's cache line (rarely two), then the
// caller's element; fingerprints keep false key comparisons rare. Robin Hood
// ordering lets a miss stop as soon as it meets a slot closer to its home
// than the probe.
//
// Beside the slots sits a presence filter of 6 bits per home (one bit set
// per element, never cleared by erase): a key whose bit is clear is absent
// without touching the slots. Misses are what most HEADs on a server see
// once the sweep has dropped old statuses, and the filter (1/8 of the
// slots' size) stays in cache where the slots may not.
//
// The index grows by a quarter when it is 7/8 full, so its slots are 70% to
// 87.5% used: about 7.7 bytes per element, which keeps a million-entry
// index (in 32 shards) well inside the last-level cache beside the entries
// it points at. Homes are a multiply-shift of the hash onto any capacity,
// and the slots run on past the last home instead of wrapping: a probe
// steps forward and never tests for the end. A distance fits 8 bits (at most
// `max_dist_`); an element that would land further from home makes the
// index grow instead, which with a seeded hash is a matter of probability
// only (no run of that length forms at these loads).
//
// Bits used: fingerprint = the low 8 bits of the hash, home = the next 32,
// filter bit = bits 32 to 58. The top bits pick the shard. Past 2^27
// filter bits (some 22 million homes) in one shard the filter's bits are
// picked less evenly, which only makes its false positives likelier, never
// a false negative.
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
        std::swap(capacity_, other.capacity_);
        std::swap(max_dist_, other.max_dist_);
        std::swap(size_, other.size_);
        std::swap(max_size_, other.max_size_);
        std::swap(refused_, other.refused_);
        std::swap(owned_filter_, other.owned_filter_);
        std::swap(filter_, other.filter_);
        std::swap(filter_bits_, other.filter_bits_);
        std::swap(filter_marks_, other.filter_marks_);
        publish_prefetch_hint();
        other.publish_prefetch_hint();
    }

    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return capacity_; }

    // False when no element has this hash: one load from the filter, no
    // probe. True may be a false positive (about 1 in 8 at the highest load).
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
        const std::size_t i = home(hash, hint_capacity_.load(std::memory_order_relaxed));
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(reinterpret_cast<const void*>(slots + i * sizeof(Slot)));
#else
        static_cast<void>(slots + i);
#endif
    }

    // The home slot and the filter word an insert of `hash` writes (a
    // restore inserts at random; the caller holds the owner's lock or owns it).
    void prefetch_for_insert(std::uint64_t hash) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(&slots_[home(hash)], 1);
        __builtin_prefetch(&filter_[filter_bit(hash) / 64], 1);
#else
        static_cast<void>(hash);
#endif
    }

    // The position whose element `matches`, or npos. Probes without asking
    // the filter: callers whose keys are usually present skip a load. The
    // last slot is always empty (see allocate), so the probe needs no bound.
    template <class Matches>
    std::uint32_t find(std::uint64_t hash, Matches&& matches) const {
        std::uint32_t dist_fp = first_dist_fp(hash);
        for (const Slot* slot = slots_ + home(hash);; ++slot, dist_fp += dist_step) {
            const std::uint32_t here = slot->dist_fp;
            if (here == dist_fp && matches(slot->position())) return slot->position();
            if (here < dist_fp) return npos;
        }
    }

    // Adds a position known to be absent. `rehash_all(index)` is called when
    // the index must grow, or when this element would land too far from
    // home; it calls index.place(hash, position) for every live element,
    // this one excluded, and may be called more than once. Strong guarantee:
    // on bad_alloc or length_error nothing changed.
    template <class RehashAll>
    void insert(std::uint64_t hash, std::uint32_t position, RehashAll&& rehash_all) {
        const bool full = size_ + 1 > max_size_;
        if (!full && try_place(hash, position)) return;
        rebuild(full ? grown_capacity(capacity_) : capacity_ * 2, [&](FlatIndex& fresh) {
            rehash_all(fresh);
            fresh.place(hash, position);
        });
    }

    // Replaces the slots with `capacity` fresh ones filled by
    // rehash_all(index), or twice as many (and so on) where an element would
    // land too far from home, so rehash_all may be called more than once.
    // Strong guarantee: on bad_alloc, or length_error when no capacity fits
    // the elements (their hashes collide), nothing changed.
    template <class RehashAll>
    void rebuild(std::size_t capacity, RehashAll&& rehash_all) {
        for (;;) {
            FlatIndex fresh;
            fresh.allocate(capacity);
            rehash_all(fresh);
            if (fresh.refused_ == 0) {
                swap(fresh);
                return;
            }
            if (hashes_collide(capacity, fresh.size_ + fresh.refused_)) throw_collisions();
            capacity *= 2;
        }
    }

    // Only for rehash_all callbacks: adds without growing. An element that
    // does not fit is refused, and every one after it: rebuild() then tries
    // a larger index.
    void place(std::uint64_t hash, std::uint32_t position) noexcept {
        if (refused_ != 0 || !try_place(hash, position)) ++refused_;
    }

    // Removes `position` (which must be present under `hash`), shifting the
    // following run back so no tombstones are left. Its filter bit stays
    // (another element may share it) until the next rebuild.
    void erase(std::uint64_t hash, std::uint32_t position) noexcept {
        std::size_t i = slot_of(hash, position);
        for (; slots_[i + 1].dist_fp >= 2 * dist_step; ++i) {
            slots_[i] = slots_[i + 1];
            slots_[i].dist_fp = static_cast<std::uint16_t>(slots_[i].dist_fp - dist_step);
        }
        slots_[i] = Slot{};
        --size_;
    }

    // The element at `from` moved to `to` in the caller's dense array.
    void relink(std::uint64_t hash, std::uint32_t from, std::uint32_t to) noexcept {
        slots_[slot_of(hash, from)].set_position(to);
    }

    // Whether erased elements have left so many stale filter bits that the
    // filter is worth rebuilding (with rebuild(capacity(), ...)).
    bool filter_is_stale() const noexcept { return filter_marks_ > 2 * size_ + initial_capacity; }

    // The capacity that holds `count` elements at the highest load.
    static std::size_t capacity_for(std::size_t count) noexcept {
        const std::size_t capacity = (count * max_load_denominator + max_load_numerator - 1) / max_load_numerator;
        return capacity < initial_capacity ? initial_capacity : capacity;
    }

  private:
    // 6 bytes, 2-aligned: the position is two halves so that no padding
    // rounds the slot up to 8.
    struct Slot {
        std::uint16_t dist_fp = 0; // 0: empty; else (distance from home + 1) << 8 | fingerprint
        std::uint16_t position_low = 0;
        std::uint16_t position_high = 0;

        std::uint32_t position() const noexcept {
            return std::uint32_t{position_low} | std::uint32_t{position_high} << 16;
        }
        void set_position(std::uint32_t p) noexcept {
            position_low = static_cast<std::uint16_t>(p);
            position_high = static_cast<std::uint16_t>(p >> 16);
        }
    };
    static_assert(sizeof(Slot) == 6, "FlatIndex::Slot: keep it at 6 bytes");

    static constexpr std::uint32_t dist_step = 1u << 8;
    static constexpr std::size_t initial_capacity = 16;
    static constexpr std::size_t max_load_numerator = 7, max_load_denominator = 8;
    static constexpr std::size_t longest_dist = 254; // (distance + 1) << 8 fits 16 bits

    static std::size_t grown_capacity(std::size_t capacity) noexcept {
        return capacity == 0 ? initial_capacity : capacity + capacity / 4;
    }
    // Doubling spreads the homes of a cluster apart; once there are eight
    // homes per element and still a run too long, the hashes themselves
    // collide (a seeded hash makes that a broken hash, not bad luck).
    static bool hashes_collide(std::size_t capacity, std::size_t elements) noexcept {
        return capacity > 8 * elements + 64;
    }
    [[noreturn]] static void throw_collisions() {
        throw std::length_error("s3repl: too many keys share one hash in an index");
    }

    static constexpr std::size_t filter_bits_per_home = 6;
    static constexpr unsigned filter_hash_bits = 27;
    std::size_t filter_bit(std::uint64_t hash) const noexcept {
        const std::uint64_t fraction = (hash >> 32) & ((std::uint64_t{1} << filter_hash_bits) - 1);
        return static_cast<std::size_t>(fraction * filter_bits_ >> filter_hash_bits);
    }

    static std::uint32_t first_dist_fp(std::uint64_t hash) noexcept {
        return dist_step | static_cast<std::uint32_t>(hash & 0xffu);
    }
    static std::uint32_t dist_of(std::uint32_t dist_fp) noexcept { return (dist_fp >> 8) - 1; }
    std::size_t home(std::uint64_t hash) const noexcept { return home(hash, capacity_); }
    static std::size_t home(std::uint64_t hash, std::size_t capacity) noexcept {
        return static_cast<std::size_t>(((hash >> 8) & 0xffffffffu) * std::uint64_t{capacity} >> 32);
    }

    // Adds without growing; false, nothing changed, when the element or one
    // it displaces would land more than max_dist_ from home.
    bool try_place(std::uint64_t hash, std::uint32_t position) noexcept {
        std::uint32_t dist_fp = first_dist_fp(hash);
        std::size_t at = home(hash);
        while (dist_fp <= slots_[at].dist_fp) {
            dist_fp += dist_step;
            ++at;
        }
        if (dist_of(dist_fp) > max_dist_) return false;
        // Robin Hood: the new element takes the slot of a richer occupant, and
        // the run from there to the next empty slot moves one step on.
        std::size_t empty = at;
        for (; slots_[empty].dist_fp != 0; ++empty)
            if (dist_of(slots_[empty].dist_fp) >= max_dist_) return false;
        for (std::size_t i = empty; i > at; --i) {
            slots_[i] = slots_[i - 1];
            slots_[i].dist_fp = static_cast<std::uint16_t>(slots_[i].dist_fp + dist_step);
        }
        slots_[at].dist_fp = static_cast<std::uint16_t>(dist_fp);
        slots_[at].set_position(position);
        ++size_;
        const std::size_t bit = filter_bit(hash);
        filter_[bit / 64] |= std::uint64_t{1} << (bit % 64);
        ++filter_marks_;
        return true;
    }

    std::size_t slot_of(std::uint64_t hash, std::uint32_t position) const noexcept {
        std::size_t i = home(hash);
        while (slots_[i].position() != position || slots_[i].dist_fp == 0) ++i;
        return i;
    }

    // `capacity` homes, then max_dist_ + 1 slots a run may spill into. An
    // element lies at most max_dist_ past its home, so the last slot stays
    // empty and ends every probe. A small index's elements cannot run further
    // than there are of them, so its spill is as small as it is.
    void allocate(std::size_t capacity) {
        const std::size_t spill = capacity < longest_dist + 1 ? capacity : longest_dist + 1;
        const std::size_t filter_words = (capacity * filter_bits_per_home + 63) / 64;
        owned_filter_.reset(new std::uint64_t[filter_words]()); // first: on bad_alloc nothing changed
        filter_ = owned_filter_.get();
        filter_bits_ = filter_words * 64;
        owned_.reset(new Slot[capacity + spill]);
        slots_ = owned_.get();
        capacity_ = capacity;
        max_dist_ = spill - 1;
        publish_prefetch_hint();
        max_size_ = capacity * max_load_numerator / max_load_denominator;
    }

    // Called wherever slots_ or capacity_ change (allocate, swap).
    void publish_prefetch_hint() noexcept {
        hint_slots_.store(reinterpret_cast<std::uintptr_t>(slots_), std::memory_order_relaxed);
        hint_capacity_.store(capacity_, std::memory_order_relaxed);
    }

    // An empty index points at one shared empty slot, so find() needs no
    // "is it allocated" branch; the first insert allocates because max_size_ is 0.
    static Slot* empty_slot() noexcept {
        static Slot empty;
        return &empty;
    }

    // Likewise an empty filter: one word, all clear (filter_bits_ 0 picks bit 0).
    static std::uint64_t* empty_filter() noexcept {
        static std::uint64_t empty = 0;
        return &empty;
    }

    std::unique_ptr<Slot[]> owned_;
    Slot* slots_ = empty_slot();
    std::size_t capacity_ = 0; // homes
    std::size_t max_dist_ = 0;
    std::size_t size_ = 0;
    std::size_t max_size_ = 0;
    std::unique_ptr<std::uint64_t[]> owned_filter_;
    std::uint64_t* filter_ = empty_filter();
    std::size_t filter_bits_ = 0;
    std::size_t filter_marks_ = 0; // places since the filter was built: live elements plus stale bits
    std::size_t refused_ = 0;      // place() calls since one did not fit: rebuild() tries a larger index
    // slots_ and capacity_ again, for prefetch() without the lock: atomics,
    // so that reading them while a rebuild swaps the slots is defined.
    std::atomic<std::uintptr_t> hint_slots_{reinterpret_cast<std::uintptr_t>(empty_slot())};
    std::atomic<std::size_t> hint_capacity_{0};
};

} // namespace detail
} // namespace v0
} // namespace s3repl
