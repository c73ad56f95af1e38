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
//
// A mint is one fetch_add, as cheap as a counter that may wrap. The word it
// adds to, raw_, cannot also hold "2^64-1 handed out, refuse the next", so
// it holds the counter only up to fast_limit (2^63-1), a value 2^63 mints
// (three centuries at one per nanosecond) never reach. A jump past it (a
// stamp or restore of a generation of 2^63 or more) switches raw_ into the
// upper half for good: the counter then lives in high_, minted by a CAS loop
// that refuses at 2^64-1, and raw_ only counts those mints and refusals on
// its way from 2^63 to 2^64. It would wrap after 2^63 of them, out of reach
// as well: that is what keeps the fetch_add from ever handing out a small
// generation again.
class GenerationCounter {
  public:
    static constexpr std::uint64_t exhausted_value = std::numeric_limits<std::uint64_t>::max();

    // Lock-free; throws GenerationExhausted instead of wrapping.
    std::uint64_t mint() {
        const std::uint64_t before = raw_.fetch_add(1, std::memory_order_relaxed);
        if (before < fast_limit) return before + 1;
        return mint_high();
    }

    // After it, last_issued() >= floor. Lock-free.
    void raise_to(std::uint64_t floor) noexcept {
        if (floor <= fast_limit) {
            std::uint64_t last = raw_.load(std::memory_order_relaxed);
            while (last < floor) // in the upper half, last > fast_limit >= floor: nothing to do
                if (raw_.compare_exchange_weak(last, floor, std::memory_order_relaxed)) {
                    jumped_.fetch_add(floor - last, std::memory_order_relaxed);
                    return;
                }
            return;
        }
        // high_ first, then raw_ into the upper half (release): a mint that
        // sees the upper half sees this floor in high_ too.
        std::uint64_t jump = 0;
        std::uint64_t high = high_.load(std::memory_order_relaxed);
        while (high < floor)
            if (high_.compare_exchange_weak(high, floor, std::memory_order_relaxed)) {
                jump = floor - high;
                break;
            }
        std::uint64_t raw = raw_.load(std::memory_order_relaxed);
        while (raw <= fast_limit)
            if (raw_.compare_exchange_weak(raw, upper_half, std::memory_order_release, std::memory_order_relaxed)) {
                jump += fast_limit - raw; // from the last value of raw_ to where high_ started
                break;
            }
        jumped_.fetch_add(jump, std::memory_order_relaxed);
    }

    std::uint64_t last_issued() const noexcept {
        const std::uint64_t raw = raw_.load(std::memory_order_acquire);
        return raw <= fast_limit ? raw : high_.load(std::memory_order_relaxed);
    }

    // Tokens handed out by mint() since construction. Exact unless a
    // raise_to() runs concurrently (then briefly high by its jump): the jump
    // is added after the counter moved.
    std::uint64_t minted() const noexcept {
        const std::uint64_t jumped = jumped_.load(std::memory_order_relaxed);
        return last_issued() - jumped;
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
    static constexpr std::uint64_t fast_limit = std::numeric_limits<std::uint64_t>::max() >> 1; // 2^63-1
    static constexpr std::uint64_t upper_half = fast_limit + 1;

    // The counter in high_: reached by a jump past fast_limit, or by the
    // 2^63-th mint, which high_'s start at fast_limit continues exactly.
    std::uint64_t mint_high() {
        // Pairs with raise_to's release: the fetch_add read its write (or a
        // later one of the same chain of read-modify-writes).
        std::atomic_thread_fence(std::memory_order_acquire);
        std::uint64_t last = high_.load(std::memory_order_relaxed);
        do {
            if (last == exhausted_value) throw GenerationExhausted();
        } while (!high_.compare_exchange_weak(last, last + 1, std::memory_order_relaxed));
        return last + 1;
    }

    std::atomic<std::uint64_t> raw_{0};           // the counter while <= fast_limit; see above
    std::atomic<std::uint64_t> high_{fast_limit}; // the counter once raw_ is in the upper half
    std::atomic<std::uint64_t> jumped_{0};        // how far raise_to() moved it in all
};

} // namespace detail
} // namespace v0
} // namespace s3repl
