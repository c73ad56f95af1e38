#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace s3repl {
inline namespace v0 {
namespace detail {

// The per-key locks that order source commits: a fixed table of stripes, a
// key's stripe chosen by middle bits of its entry hash (the shard takes the
// top bits, the index the low ones), so two keys of one shard still rarely
// share a stripe.
//
// std::mutex, not the manager's Mutex: a commit is the server's own step (a
// rename, maybe an fsync), so a waiter must sleep, and nothing reads under it.
class CommitLocks {
  public:
    static constexpr std::size_t stripe_count = 256; // 10 KiB; two concurrent PUTs share one 1 time in 256

    std::mutex& stripe_for(std::uint64_t entry_hash) noexcept { return stripes_[(entry_hash >> 32) % stripe_count]; }

  private:
    std::array<std::mutex, stripe_count> stripes_;
};

} // namespace detail
} // namespace v0
} // namespace s3repl
