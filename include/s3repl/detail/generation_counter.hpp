#pragma once

#include "s3repl/error.hpp"

#include <atomic>
#include <cstdint>
#include <limits>

namespace s3repl {
inline namespace v0 {
namespace detail {

// The source of generation tokens. Invariant: every generation handed out or
// stored is <= last_issued(), so the next mint is above all of them. The
// counter only moves up: by a mint (one token), or by a jump (a floor raised,
// a stamp above the counter, a restore) that hands nothing out, which is why
// minted() subtracts the jumps.
class GenerationCounter {
  public:
    static constexpr std::uint64_t exhausted_value = std::numeric_limits<std::uint64_t>::max();

    // Lock-free; throws GenerationExhausted instead of wrapping.
    std::uint64_t mint() {
        std::uint64_t last = last_issued_.load(std::memory_order_relaxed);
        do {
            if (last == exhausted_value) throw GenerationExhausted();
        } while (!last_issued_.compare_exchange_weak(last, last + 1, std::memory_order_relaxed));
        return last + 1;
    }

    // After it, last_issued() >= floor. Lock-free.
    void raise_to(std::uint64_t floor) noexcept {
        std::uint64_t last = last_issued_.load(std::memory_order_relaxed);
        while (last < floor)
            if (last_issued_.compare_exchange_weak(last, floor, std::memory_order_relaxed)) {
                jumped_.fetch_add(floor - last, std::memory_order_relaxed);
                return;
            }
    }

    std::uint64_t last_issued() const noexcept { return last_issued_.load(std::memory_order_relaxed); }

    // Tokens handed out by mint() since construction. Exact unless a
    // raise_to() runs concurrently (then briefly high by its jump): the jump
    // is added after the counter moved.
    std::uint64_t minted() const noexcept {
        const std::uint64_t jumped = jumped_.load(std::memory_order_relaxed);
        return last_issued_.load(std::memory_order_relaxed) - jumped;
    }

    // The snapshot's next_generation: above every generation handed out or
    // stored. The format has no value past 2^64-1, so an exhausted counter
    // writes 2^64-1 and says exhausted() beside it.
    std::uint64_t snapshot_value(std::uint64_t highest_stored) const noexcept {
        const std::uint64_t issued = last_issued();
        const std::uint64_t last = issued > highest_stored ? issued : highest_stored;
        return last == exhausted_value ? last : last + 1;
    }
    bool exhausted() const noexcept { return last_issued() == exhausted_value; }

  private:
    std::atomic<std::uint64_t> last_issued_{0}; // the highest generation handed out or stored
    std::atomic<std::uint64_t> jumped_{0};      // how far raise_to() moved it in all
};

} // namespace detail
} // namespace v0
} // namespace s3repl
