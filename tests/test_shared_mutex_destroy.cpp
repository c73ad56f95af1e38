// s3repl::SharedMutex destroyed by the last thread to use it, as a
// std::mutex may be: once a waiter has got in and out, no other thread owns
// the mutex, and the waiter may free it at once, even while the thread that
// let it in is still returning from unlock(). An unlock that touches the
// mutex's sleeping machinery after the release that let the waiter in reads
// freed memory then (AddressSanitizer: heap-use-after-free; ThreadSanitizer:
// a race with the free).
//
// Two cases: a stress run (four threads, fresh mutexes, the last one in
// frees), which only lands in that window now and then; and one that forces
// it: pthread_mutex_lock is interposed so that the unlocking thread stops
// right before it takes the sleep mutex, after its release, while another
// waiter gets in and the last one frees the mutex. Interposing would hide
// the locks from ThreadSanitizer, so that case is left out under it.

#include "support.hpp"

#include <s3repl/shared_mutex.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <thread>
#include <vector>

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>

#if defined(__SANITIZE_THREAD__)
#define S3REPL_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define S3REPL_TEST_TSAN 1
#endif
#endif

using s3repl::SharedMutex;

namespace {

// A few compiler barriers: a critical section long enough for the others to
// run out of spins and sleep, without an atomic the lock could lean on.
void dawdle(unsigned rounds) {
    for (unsigned i = 0; i < rounds; ++i) std::atomic_signal_fence(std::memory_order_seq_cst);
}

// What the threads share for one round: a mutex on the heap, and how many
// turns have been taken under it (atomic: readers count too).
struct Box {
    SharedMutex mutex;
    std::atomic<int> turns{0};
};

} // namespace

// Catches: unlock() or unlock_shared() releasing the lock word, then taking
// the sleep mutex and notifying the condition variable, with a waiter free to
// get in meanwhile and to free the mutex on the way out. Each round, four
// threads (two writers, two readers, so both unlocks release with sleepers
// waiting) take turns on a fresh mutex. Every thread takes its last turn
// exclusively, so the thread whose turn is the last of the round knows,
// holding the lock alone, that everyone else has released it, and frees it
// right after its unlock. The first turn of each round is long, so the
// others go to sleep behind it. Under ThreadSanitizer the free races with
// such an unlock's access to the sleep mutex when the lock lets one in.
TEST_CASE("SharedMutex: the last thread to get in may destroy it at once", "[concurrent][shared_mutex]") {
    constexpr int threads = 4;
    constexpr int turns_each = 8;
    constexpr int rounds = 20000;

    std::atomic<Box*> current{nullptr};
    std::atomic<int> round_started{-1};
    std::atomic<int> finished{0}; // threads done with the current round
    std::atomic<int> freed{0};    // rounds whose mutex its last user freed
    std::vector<std::thread> crew;
    for (int t = 0; t < threads; ++t)
        crew.emplace_back([&, t] {
            for (int round = 0; round < rounds; ++round) {
                while (round_started.load() < round) std::this_thread::yield();
                Box* const box = current.load();
                for (int turn = 0; turn < turns_each; ++turn) {
                    const bool exclusive = t % 2 == 0 || turn == turns_each - 1;
                    exclusive ? box->mutex.lock() : box->mutex.lock_shared();
                    const int taken = box->turns.fetch_add(1) + 1;
                    dawdle(taken == 1 ? 20000 : 50);
                    exclusive ? box->mutex.unlock() : box->mutex.unlock_shared();
                    if (taken == threads * turns_each) { // exclusive: nobody else will use it
                        delete box;
                        freed.fetch_add(1);
                    }
                }
                finished.fetch_add(1);
            }
        });
    for (int round = 0; round < rounds; ++round) {
        current.store(new Box);
        finished.store(0);
        round_started.store(round);
        while (finished.load() < threads) std::this_thread::yield();
    }
    for (std::thread& thread : crew) thread.join();
    CHECK(freed.load() == rounds);
}

#ifndef S3REPL_TEST_TSAN

namespace {

// What the interposed pthread_mutex_lock looks at, set by the test below.
// Only atomics: every lock in the process passes through it.
struct Interposition {
    std::atomic<const char*> box{nullptr}; // the mutex under test lies in [box, box + size)
    std::atomic<std::size_t> size{0};
    std::atomic<bool> armed{false}; // stop the unlocker's next lock of a mutex in the box
    std::atomic<pthread_t> unlocker{};
    std::atomic<bool> unlocker_stopped{false};
    std::atomic<bool> newcomer_in{false};     // the newcomer has got the SharedMutex
    std::atomic<bool> newcomer_queued{false}; // ... or is taking the sleep mutex to wait for it
    std::atomic<bool> freed{false};
};
Interposition interposition;

bool in_box(const void* p) {
    const char* const box = interposition.box.load();
    const char* const at = static_cast<const char*>(p);
    return box != nullptr && at >= box && at < box + interposition.size.load();
}

using LockFunction = int (*)(pthread_mutex_t*);
LockFunction real_lock() {
    static std::atomic<LockFunction> real{nullptr}; // constant-initialised: no guard, no lock
    LockFunction f = real.load();
    if (f == nullptr) {
        void* const symbol = ::dlsym(RTLD_NEXT, "pthread_mutex_lock");
        std::memcpy(&f, &symbol, sizeof f);
        real.store(f);
    }
    return f;
}

} // namespace

// Every std::mutex::lock in this program comes through here.
extern "C" int pthread_mutex_lock(pthread_mutex_t* mutex) noexcept {
    if (in_box(mutex)) {
        if (pthread_equal(::pthread_self(), interposition.unlocker.load()) && interposition.armed.exchange(false)) {
            // The unlocker, past its release, about to take the sleep mutex:
            // hold it here until the others have got in and freed the mutex
            // (a fixed lock lets nobody in, and the newcomer queues instead).
            interposition.unlocker_stopped = true;
            while (!interposition.freed.load() && !interposition.newcomer_queued.load()) ::sched_yield();
        } else if (interposition.unlocker_stopped.load() && !interposition.newcomer_in.load()) {
            interposition.newcomer_queued = true;
        }
    }
    return real_lock()(mutex);
}

// Catches what the stress run above only sometimes does, every time: a
// reader holds the lock, a writer sleeps behind it; the reader's unlock
// releases the word and stops before taking the sleep mutex. A second writer
// arrives: a lock whose sleepers bit does not keep newcomers out lets it in
// now; it leaves, waking the sleeper, which gets in, leaves and frees the
// mutex; then the reader's unlock goes on and touches freed memory (under
// AddressSanitizer: heap-use-after-free). A fixed lock keeps the second
// writer out until the reader's unlock has woken the sleepers.
TEST_CASE("SharedMutex: a waiter let in by an unlock still in progress may destroy it", "[concurrent][shared_mutex]") {
    Box* const box = new Box;
    interposition.size = sizeof(Box);
    interposition.box = reinterpret_cast<const char*>(box);

    std::atomic<bool> reader_in{false}, may_unlock{false};
    std::thread reader([&] {
        interposition.unlocker = ::pthread_self();
        box->mutex.lock_shared();
        reader_in = true;
        while (!may_unlock.load()) std::this_thread::yield();
        box->mutex.unlock_shared(); // its last touch of the box
    });
    const auto take_turn = [&](bool newcomer) {
        box->mutex.lock();
        if (newcomer) interposition.newcomer_in = true;
        const bool last = box->turns.fetch_add(1) + 1 == 2;
        box->mutex.unlock();
        if (last) {
            delete box;
            interposition.freed = true;
        }
    };
    while (!reader_in.load()) std::this_thread::yield();
    std::thread sleeper([&] { take_turn(false); });
    // The sleeper has set the sleepers bit once a reader's fast path is refused.
    while (box->mutex.try_lock_shared()) {
        box->mutex.unlock_shared();
        std::this_thread::yield();
    }
    interposition.armed = true;
    may_unlock = true;
    while (!interposition.unlocker_stopped.load()) std::this_thread::yield();
    std::thread newcomer([&] { take_turn(true); });

    reader.join();
    sleeper.join();
    newcomer.join();
    interposition.box = nullptr;
    CHECK(interposition.freed.load());
}

#endif
