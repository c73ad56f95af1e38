#pragma once

#include "s3repl/detail/require_cxx17.hpp" // first: a C++14 build stops here, in one line

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#include <immintrin.h>
#endif

namespace s3repl {
inline namespace v0 {

/// The reader-writer lock each shard of the manager uses by default.
///
/// Why not std::shared_mutex: its lock and unlock are calls into
/// pthread_rwlock, some 80 instructions per lookup. A lookup in a large map
/// waits on a cache miss or two, and the next lookup's misses can only start
/// while this one's are in flight if both fit the CPU's out-of-order window;
/// the pthread calls push them out of it. Here, when nobody waits, each of
/// lock, unlock, lock_shared and unlock_shared is one inline atomic
/// read-modify-write on one 32-bit word.
///
/// A thread that cannot get the lock spins briefly (the manager's critical
/// sections are a hash lookup), then sleeps on a condition variable, so a
/// long holder (a sweep, a snapshot, a rehash) costs waiters no CPU. While a
/// writer sleeps, new readers wait too, so the readers inside drain and
/// overlapping readers do not keep a writer out for long; once woken, though,
/// the writer races whoever comes first, so this favours writers without
/// guaranteeing them a turn (glibc's pthread_rwlock favours readers). A
/// thread holding it shared must not take it shared again: behind a sleeping
/// writer, that deadlocks. Not recursive; meets the standard's SharedMutex
/// requirements (std::shared_lock works with it).
class SharedMutex {
  public:
    SharedMutex() = default;
    SharedMutex(const SharedMutex&) = delete;
    SharedMutex& operator=(const SharedMutex&) = delete;

    void lock() {
        if (!try_lock())
            sleep_until_added(writer, sleepers | writer_sleeps,
                              [](std::uint32_t s) { return (s & ~(sleepers | writer_sleeps)) == 0; });
    }
    bool try_lock() noexcept {
        std::uint32_t expected = 0;
        return state_.compare_exchange_strong(expected, writer, std::memory_order_acquire, std::memory_order_relaxed);
    }
    void unlock() noexcept {
        if (state_.fetch_sub(writer, std::memory_order_release) & sleepers) wake_sleepers();
    }

    void lock_shared() {
        if (!try_lock_shared())
            sleep_until_added(one_reader, sleepers, [](std::uint32_t s) {
                return (s & (writer | writer_sleeps)) == 0 && (s & readers) != readers;
            });
    }
    bool try_lock_shared() noexcept {
        // Below `readers`: no writer, nobody asleep, room for one more.
        return try_add(one_reader, [](std::uint32_t s) { return s < readers; });
    }
    void unlock_shared() noexcept {
        const std::uint32_t before = state_.fetch_sub(one_reader, std::memory_order_release);
        // Only the last reader out can let a sleeping writer in.
        if ((before & sleepers) != 0 && (before & readers) == one_reader) wake_sleepers();
    }

  private:
    // One word: a writer bit, a "someone sleeps" bit, a "a writer sleeps"
    // bit, and the reader count.
    static constexpr std::uint32_t writer = 1u << 31;
    static constexpr std::uint32_t sleepers = 1u << 30;
    static constexpr std::uint32_t writer_sleeps = 1u << 29;
    static constexpr std::uint32_t readers = writer_sleeps - 1;
    static constexpr std::uint32_t one_reader = 1;
    static constexpr int spins_before_sleeping = 128;

    // The slow path of lock() and lock_shared(): adds `add` to the word as
    // soon as `available(word)`, setting `asleep_bits` before each sleep.
    // Unlike the fast paths, `available` ignores the sleepers bit (the
    // sleepers are who it makes newcomers step aside for); a reader's still
    // honours writer_sleeps.
    template <class Available>
    void sleep_until_added(std::uint32_t add, std::uint32_t asleep_bits, Available available) {
        for (int i = 0; i < spins_before_sleeping; ++i) {
            if (try_add(add, available)) return;
            cpu_relax();
        }
        std::unique_lock<std::mutex> guard(sleep_mutex_);
        while (!try_add(add, available)) {
            // The bits are set by a read-modify-write of the lock word itself,
            // so every unlock is ordered before it (and `seen` shows the lock
            // free: retry) or after it (and sees the bit: it wakes us, after
            // wait() has released sleep_mutex_).
            const std::uint32_t seen = state_.fetch_or(asleep_bits, std::memory_order_acq_rel);
            if (!available(seen)) wake_.wait(guard);
        }
    }

    template <class Available>
    bool try_add(std::uint32_t add, Available available) noexcept {
        std::uint32_t s = state_.load(std::memory_order_relaxed);
        while (available(s))
            if (state_.compare_exchange_weak(s, s + add, std::memory_order_acquire, std::memory_order_relaxed))
                return true;
        return false;
    }

    // noexcept: unlock must not throw; should std::mutex::lock fail here
    // (it reports only a broken mutex), terminating beats a lost wake-up.
    void wake_sleepers() noexcept {
        std::lock_guard<std::mutex> guard(sleep_mutex_);
        // Every sleeper wakes and retries; those that still cannot get in set the bits again.
        state_.fetch_and(~(sleepers | writer_sleeps), std::memory_order_relaxed);
        wake_.notify_all();
    }

    static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
        _mm_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
    }

    std::atomic<std::uint32_t> state_{0};
    std::mutex sleep_mutex_; // guards sleeping, not the data
    std::condition_variable wake_;
};

} // namespace v0
} // namespace s3repl
