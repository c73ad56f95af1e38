#pragma once

#include "s3repl/detail/bytes.hpp"
#include "s3repl/detail/flat_index.hpp"
#include "s3repl/error.hpp"
#include "s3repl/status.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
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

// A bucket name and its hash, as a table is told them (the hash is seeded
// by the manager, which the table does not know).
struct HashedName {
    std::string_view name;
    std::uint64_t hash;
};

// The bucket names of one shard, interned: entries and destination stamps
// hold a 24-bit id instead of a copy of the name. An id lives while
// something references it and is then reused. Beside each name, the counts
// the per-destination statistics need: the entries of this source bucket
// that hold one status for whatever destination its rules select ("single"),
// and the destination stamps naming this bucket, by status. Not
// thread-safe: the owning shard's lock guards it.
class BucketNames {
  public:
    static constexpr std::uint32_t max_ids = 1u << 24;

    // A shard holds fewer than 2^32 entries, so 32-bit counts suffice. What
    // a stamp touches (the hash and name that find() compares, the single
    // counts that it updates) shares the first cache line.
    struct alignas(64) Record {
        std::uint64_t hash = 0;
        std::uint32_t references = 0; // 0: the id is free for reuse
        std::array<std::uint32_t, replication_status_count> single{};
        std::string name;
        std::array<std::uint32_t, replication_status_count> as_destination{};
    };

    void swap(BucketNames& other) noexcept {
        records_.swap(other.records_);
        free_ids_.swap(other.free_ids_);
        index_.swap(other.index_);
    }

    Record& operator[](std::uint32_t id) noexcept { return records_[id]; }
    const Record& operator[](std::uint32_t id) const noexcept { return records_[id]; }

    // FlatIndex::npos when the name is not interned.
    std::uint32_t find(HashedName bucket) const noexcept {
        return index_.find(bucket.hash, [&](std::uint32_t id) { return same_bytes(records_[id].name, bucket.name); });
    }

    // The id of `bucket`, interned if new, with one more reference. Strong
    // guarantee: on an exception (allocation, 2^24 names) nothing changed.
    std::uint32_t acquire(HashedName bucket) {
        std::uint32_t id = find(bucket);
        if (id == FlatIndex::npos) {
            if (free_ids_.empty() && records_.size() >= max_ids)
                throw InvalidArgument("more than 2^24 distinct buckets in one shard");
            Record record;
            record.hash = bucket.hash;
            record.name = std::string(bucket.name);
            if (free_ids_.empty()) {
                reserve_one_more(records_);
                // Every id may be freed later, and release must not throw.
                if (free_ids_.capacity() < records_.capacity()) free_ids_.reserve(records_.capacity());
                id = static_cast<std::uint32_t>(records_.size());
            } else {
                id = free_ids_.back();
            }
            index_.insert(bucket.hash, id, [this](FlatIndex& bigger) {
                for (std::uint32_t b = 0; b < records_.size(); ++b)
                    if (records_[b].references != 0) bigger.place(records_[b].hash, b);
            });
            if (id == records_.size()) {
                records_.push_back(std::move(record));
            } else {
                free_ids_.pop_back();
                records_[id] = std::move(record);
            }
        }
        ++records_[id].references;
        return id;
    }

    void release(std::uint32_t id) noexcept {
        Record& r = records_[id];
        if (--r.references != 0) return;
        index_.erase(r.hash, id);
        r.name = std::string();  // free the name now, not when the id is reused
        free_ids_.push_back(id); // cannot throw: capacity >= number of ids
    }

    // Visits every live record.
    template <class Visitor>
    void for_each(Visitor&& visit) const {
        for (const Record& r : records_)
            if (r.references != 0) visit(r);
    }

  private:
    std::vector<Record> records_;
    std::vector<std::uint32_t> free_ids_;
    FlatIndex index_;
};

} // namespace detail
} // namespace v0
} // namespace s3repl
