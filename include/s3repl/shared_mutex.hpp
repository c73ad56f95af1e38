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
/// long holder (a sweep, a snapshot, a rehash) costs waiters no CPU. While
/// anyone sleeps, newcomers wait too, so the readers inside drain and
/// overlapping readers do not keep a sleeping writer out for long; once
/// woken, though, the sleepers race whoever comes first, so this favours
/// writers without guaranteeing them a turn (glibc's pthread_rwlock favours
/// readers). A thread holding it shared must not take it shared again:
/// behind a sleeping writer, that deadlocks. Not recursive; meets the
/// standard's SharedMutex requirements (std::shared_lock works with it).
///
/// Like std::mutex, it may be destroyed as soon as no thread owns it or
/// waits for it, even by a waiter that has just got in and out while the
/// thread that let it in is still returning from unlock().
class SharedMutex {
  public:
    SharedMutex() = default;
    SharedMutex(const SharedMutex&) = delete;
    SharedMutex& operator=(const SharedMutex&) = delete;
    // An unlock that found sleepers wakes them holding sleep_mutex_, after
    // its release let others in: one of them may be destroying us. Taking
    // sleep_mutex_ here waits for that unlock to be done with us.
    ~SharedMutex() { std::lock_guard<std::mutex> wait_for_waker(sleep_mutex_); }

    void lock() {
        if (!try_lock()) sleep_until_added(writer, [](std::uint32_t s) { return s == 0; });
    }
    bool try_lock() noexcept {
        std::uint32_t expected = 0;
        return state_.compare_exchange_strong(expected, writer, std::memory_order_acquire, std::memory_order_relaxed);
    }
    void unlock() noexcept {
        if (state_.fetch_sub(writer, std::memory_order_release) & sleepers) wake_sleepers();
    }

    void lock_shared() {
        if (!try_lock_shared()) sleep_until_added(one_reader, free_for_reader);
    }
    bool try_lock_shared() noexcept { return try_add(one_reader, free_for_reader); }
    void unlock_shared() noexcept {
        const std::uint32_t before = state_.fetch_sub(one_reader, std::memory_order_release);
        // Only the last reader out can let a sleeping writer in.
        if ((before & sleepers) != 0 && (before & readers) == one_reader) wake_sleepers();
    }

  private:
    // One word: a writer bit, a "someone sleeps" bit, and the reader count.
    // The sleepers bit keeps everyone out, spinning and sleeping threads
    // too: it is set only while the lock is held, so the release that frees
    // the lock sees it, and until that unlock has cleared it (waking the
    // sleepers, under sleep_mutex_) nobody can get in and destroy the mutex
    // under it. The fast paths' one read-modify-write stays as it was.
    static constexpr std::uint32_t writer = 1u << 31;
    static constexpr std::uint32_t sleepers = 1u << 30;
    static constexpr std::uint32_t readers = sleepers - 1;
    static constexpr std::uint32_t one_reader = 1;
    static constexpr int spins_before_sleeping = 128;

    // Below `readers`: no writer, nobody asleep, room for one more. A type of
    // its own, not a function: a function pointer passed to try_add need not
    // inline, and the uncontended lock_shared must stay one inline RMW
    // (measured: lookup_miss 34 -> 63 ns with the pointer).
    struct FreeForReader {
        bool operator()(std::uint32_t s) const noexcept { return s < readers; }
    };
    static constexpr FreeForReader free_for_reader{};

    // The slow path of lock() and lock_shared(): adds `add` to the word as
    // soon as `available(word)`, setting the sleepers bit before each sleep.
    template <class Available>
    void sleep_until_added(std::uint32_t add, Available available) {
        for (int i = 0; i < spins_before_sleeping; ++i) {
            if (try_add(add, available)) return;
            cpu_relax();
        }
        std::unique_lock<std::mutex> guard(sleep_mutex_);
        std::uint32_t s = state_.load(std::memory_order_relaxed);
        for (;;) {
            if (available(s)) {
                if (state_.compare_exchange_weak(s, s + add, std::memory_order_acquire, std::memory_order_relaxed))
                    return;
            } else if ((s & sleepers) != 0 ||
                       state_.compare_exchange_weak(s, s | sleepers, std::memory_order_relaxed)) {
                // The bit went in by a read-modify-write of the word while the
                // lock was held (a CAS fails if it was released meanwhile), so
                // the unlock that frees it sees the bit and wakes us, after
                // wait() has released sleep_mutex_. If the bit was already
                // set, the lock is held or its releaser is on the way to us.
                wake_.wait(guard);
                s = state_.load(std::memory_order_relaxed);
            }
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
        // Every sleeper wakes and retries; those that still cannot get in set the bit again.
        state_.fetch_and(~sleepers, std::memory_order_relaxed);
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
