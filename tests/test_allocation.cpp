// The hot paths make no heap allocation: lookups (hits and misses) and a CAS
// stamp on an existing entry (accepted or rejected). Every global operator
// new of this program is replaced by one that counts, per thread, so the
// test sees exactly what the calls between two reads of the counter did.

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>

namespace {

thread_local std::size_t allocations = 0;
thread_local bool allocations_fail = false; // simulates exhausted memory on this thread

void* counted_allocate(std::size_t size) noexcept {
    ++allocations;
    if (allocations_fail) return nullptr;
    return std::malloc(size == 0 ? 1 : size);
}

void* counted_allocate(std::size_t size, std::align_val_t alignment) noexcept {
    ++allocations;
    if (allocations_fail) return nullptr;
    const auto align = static_cast<std::size_t>(alignment);
    // aligned_alloc wants a size that is a multiple of the alignment.
    const std::size_t rounded = (size == 0 ? align : (size + align - 1) / align * align);
    return std::aligned_alloc(align, rounded);
}

void* or_throw(void* p) {
    if (p == nullptr) throw std::bad_alloc();
    return p;
}

} // namespace

void* operator new(std::size_t size) { return or_throw(counted_allocate(size)); }
void* operator new[](std::size_t size) { return or_throw(counted_allocate(size)); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_allocate(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted_allocate(size); }
void* operator new(std::size_t size, std::align_val_t alignment) { return or_throw(counted_allocate(size, alignment)); }
void* operator new[](std::size_t size, std::align_val_t alignment) {
    return or_throw(counted_allocate(size, alignment));
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    return counted_allocate(size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    return counted_allocate(size, alignment);
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

using s3repl::ReplicationStatus;
using s3repl::ReplicationStatusEntry;

namespace {

// The allocations `call()` makes on this thread.
template <class Call>
std::size_t allocations_during(Call&& call) {
    const std::size_t before = allocations;
    call();
    return allocations - before;
}

// Keys longer than any small-string buffer, so a hidden std::string copy
// would have to allocate.
const std::string bucket = "source-bucket-with-a-name-longer-than-any-small-string-buffer";
const std::string long_key = "photos/2024/01/01/" + std::string(200, 'k') + ".jpg";
const std::string absent_key = "photos/2024/01/01/" + std::string(200, 'a') + ".jpg";
const std::string other_bucket = "another-bucket-with-a-name-longer-than-any-small-string-buffer";

void* volatile sink = nullptr;

} // namespace

TEST_CASE("the counting operator new sees allocations (control)", "[allocation]") {
    // Each allocation escapes through `sink`, so the optimiser cannot elide it.
    CHECK(allocations_during([] {
              std::string copy(long_key);
              sink = copy.data();
          }) >= 1);
    CHECK(allocations_during([] {
              int* p = new int(1);
              sink = p;
              delete p;
          }) == 1);
    CHECK(allocations_during([] {
              char* p = new (std::nothrow) char[3];
              sink = p;
              delete[] p;
          }) == 1);
    struct alignas(128) Wide {
        char bytes[128];
    };
    CHECK(allocations_during([] {
              Wide* p = new Wide{};
              sink = p;
              delete p;
          }) == 1);
}

TEST_CASE("inserting a new entry allocates (control)", "[allocation]") {
    s3repl::ReplicationManager m;
    m.record_status(bucket, "warm-up", ReplicationStatus::Pending);
    CHECK(allocations_during([&] { m.record_status_if_newer(bucket, long_key, 1, ReplicationStatus::Pending); }) >= 1);
}

TEST_CASE("lookup_status and lookup_entry allocate nothing, on hits and misses", "[allocation]") {
    s3repl::ReplicationManager m;
    for (int i = 0; i < 1000; ++i) m.record_status(bucket, "k" + std::to_string(i), ReplicationStatus::Completed);
    REQUIRE(m.record_status_if_newer(bucket, long_key, 5, ReplicationStatus::Pending));
    REQUIRE(m.record_status_if_newer(bucket, "", 5, ReplicationStatus::Replica));

    std::optional<ReplicationStatus> status;
    std::optional<ReplicationStatusEntry> entry;
    CHECK(allocations_during([&] { status = m.lookup_status(bucket, long_key); }) == 0);
    CHECK(status == ReplicationStatus::Pending);
    CHECK(allocations_during([&] { entry = m.lookup_entry(bucket, long_key); }) == 0);
    REQUIRE(entry.has_value());
    CHECK(entry->generation == 5);
    CHECK(allocations_during([&] { status = m.lookup_status(bucket, ""); }) == 0);
    CHECK(status == ReplicationStatus::Replica);

    // Misses: an absent key in a known bucket, and an unknown bucket.
    CHECK(allocations_during([&] { status = m.lookup_status(bucket, absent_key); }) == 0);
    CHECK_FALSE(status.has_value());
    CHECK(allocations_during([&] { entry = m.lookup_entry(bucket, absent_key); }) == 0);
    CHECK_FALSE(entry.has_value());
    CHECK(allocations_during([&] { status = m.lookup_status(other_bucket, long_key); }) == 0);
    CHECK_FALSE(status.has_value());
    CHECK(allocations_during([&] { entry = m.lookup_entry(other_bucket, long_key); }) == 0);
    CHECK_FALSE(entry.has_value());

    // Many lookups in a row, over every entry: still none.
    std::size_t hits = 0;
    const std::string short_keys[] = {"k0", "k1", "k500", "k999", "k1000"};
    CHECK(allocations_during([&] {
              for (int round = 0; round < 100; ++round)
                  for (const std::string& key : short_keys) hits += m.lookup_status(bucket, key).has_value();
          }) == 0);
    CHECK(hits == 400);
}

TEST_CASE("record_status_if_newer on an existing entry allocates nothing, accepted or rejected", "[allocation]") {
    s3repl::ReplicationManager m;
    for (int i = 0; i < 1000; ++i) m.record_status(bucket, "k" + std::to_string(i), ReplicationStatus::Pending);
    REQUIRE(m.record_status_if_newer(bucket, long_key, 10, ReplicationStatus::Pending));

    bool accepted = false;
    CHECK(allocations_during(
              [&] { accepted = m.record_status_if_newer(bucket, long_key, 11, ReplicationStatus::Pending); }) == 0);
    CHECK(accepted);
    CHECK(allocations_during(
              [&] { accepted = m.record_status_if_newer(bucket, long_key, 11, ReplicationStatus::Completed); }) == 0);
    CHECK(accepted);
    // Rejected: a stale generation, and COMPLETED-final.
    CHECK(allocations_during(
              [&] { accepted = m.record_status_if_newer(bucket, long_key, 3, ReplicationStatus::Failed); }) == 0);
    CHECK_FALSE(accepted);
    CHECK(allocations_during(
              [&] { accepted = m.record_status_if_newer(bucket, long_key, 11, ReplicationStatus::Failed); }) == 0);
    CHECK_FALSE(accepted);
    CHECK(m.lookup_entry(bucket, long_key)->status == ReplicationStatus::Completed);

    // A run of stamps over several existing entries.
    std::size_t accepted_count = 0;
    const std::string keys[] = {"k0", "k7", "k994"};
    CHECK(allocations_during([&] {
              for (std::uint64_t generation = 4; generation <= 100; ++generation)
                  for (const std::string& key : keys)
                      accepted_count += m.record_status_if_newer(bucket, key, generation, ReplicationStatus::Failed);
          }) == 0);
    CHECK(accepted_count == 97 * 3);
}

TEST_CASE("a sweep that frees most of a shard completes even when no memory can be allocated", "[allocation][sweep]") {
    s3repl::BasicReplicationManager<s3repl::ManualClock> m;
    for (int i = 0; i < 100000; ++i)
        m.record_status("b", "key-" + std::to_string(i), s3repl::ReplicationStatus::Completed);
    m.record_status("b", "pending", s3repl::ReplicationStatus::Pending);
    m.clock().advance(std::chrono::hours(48));
    const s3repl::Timestamp now = m.clock().now();
    std::size_t swept = 0;
    allocations_fail = true; // giving memory back after the sweep needs a new, smaller index
    const std::size_t before = allocations;
    CHECK_NOTHROW(swept = m.sweep_stale(now, std::chrono::hours(1)));
    const bool tried_to_allocate = allocations != before;
    allocations_fail = false;
    CHECK(tried_to_allocate); // the shrink was attempted, so the failure path really ran
    CHECK(swept == 100000);
    CHECK(m.size() == 1);
    CHECK(m.stats().entries_swept == 100000);
    CHECK(m.lookup_status("b", "pending") == s3repl::ReplicationStatus::Pending);
    CHECK_FALSE(m.lookup_status("b", "key-7"));
}
