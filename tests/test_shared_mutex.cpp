// s3repl::SharedMutex, the manager's default reader-writer lock: its
// single-thread semantics, mutual exclusion and shared reading under real
// threads, the path where waiters sleep on the condition variable (no lost
// wake-ups, the last reader out lets a writer in, newcomers' fast path
// refused while someone sleeps), a mixed stress run, and the manager's Mutex
// parameter. Each case names in a comment the broken lock it would catch.
// Catch2's assertions are not thread-safe: threads record what they saw, the
// main thread checks it.

#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using s3repl::ManualClock;
using s3repl::ReplicationStatus;
using s3repl::SharedMutex;
using namespace s3repl_test;

namespace {

// A few compiler barriers: widens the window between two writes of a
// critical section without any atomic the lock could lean on.
void dawdle(unsigned rounds) {
    for (unsigned i = 0; i < rounds; ++i) std::atomic_signal_fence(std::memory_order_seq_cst);
}

// Threads sharing one heap-allocated State. A lost wake-up leaves a thread
// asleep forever: finish_within() then detaches the threads instead of
// hanging, the State staying alive with them, and returns false so the test
// fails instead of hanging. So a body may touch only its State and what it
// captured by value.
template <class State>
class Crew {
  public:
    Crew() : state_(std::make_shared<State>()), finished_(std::make_shared<std::atomic<std::size_t>>(0)) {}
    Crew(const Crew&) = delete;
    Crew& operator=(const Crew&) = delete;
    // When a test stops early (a failed REQUIRE), threads may still wait on
    // what the test would have done: they get the same grace, then are left.
    ~Crew() {
        if (!threads_.empty() && threads_.front().joinable()) finish_within(10s);
    }

    State& state() { return *state_; }

    template <class Body>
    void start(Body body) {
        threads_.emplace_back([state = state_, finished = finished_, body]() mutable {
            body(*state);
            finished->fetch_add(1);
        });
    }

    // Joins every thread if all finish within `limit`; detaches them otherwise.
    bool finish_within(std::chrono::milliseconds limit) {
        const bool all = eventually([&] { return finished_->load() == threads_.size(); }, limit);
        for (std::thread& thread : threads_) all ? thread.join() : thread.detach();
        return all;
    }

  private:
    std::shared_ptr<State> state_;
    std::shared_ptr<std::atomic<std::size_t>> finished_;
    std::vector<std::thread> threads_;
};

// Two plain counters a writer moves together: a == b whenever nobody writes.
struct Guarded {
    SharedMutex mutex;
    std::uint64_t a = 0;         // guarded by mutex
    std::uint64_t b = 0;         // guarded by mutex
    std::atomic<int> arrived{0}; // for start_line
};

// Under the exclusive lock: checks nobody else is mid-write, then moves both
// counters, with a gap between them. Returns whether the check failed.
bool write_pair(Guarded& g, unsigned gap) {
    const bool torn = g.a != g.b;
    ++g.a;
    dawdle(gap);
    ++g.b;
    return torn;
}

// Under the shared lock: whether a writer is mid-write.
bool read_torn(Guarded& g, unsigned gap) {
    const std::uint64_t a = g.a;
    dawdle(gap);
    return a != g.b;
}

// try_lock / try_lock_shared, releasing what they got: a check that
// expects a refusal leaves the lock as it was even when it fails.
bool takes_exclusive(SharedMutex& m) {
    if (!m.try_lock()) return false;
    m.unlock();
    return true;
}
bool takes_shared(SharedMutex& m) {
    if (!m.try_lock_shared()) return false;
    m.unlock_shared();
    return true;
}

// Makes the threads of a Crew start their loops together.
void start_line(std::atomic<int>& arrived, int count) {
    arrived.fetch_add(1);
    while (arrived.load() < count) std::this_thread::yield();
}

} // namespace

// ---- one thread ------------------------------------------------------------

// Catches: try_lock not taking a free lock or taking a held one; a writer not
// keeping readers out (the fast path ignoring the writer bit); readers keeping
// each other out; try_lock ignoring readers; unlock_shared dropping more than
// one reader (try_lock would succeed while one is left); unlock or
// unlock_shared leaving bits behind (nothing succeeds afterwards).
TEST_CASE("SharedMutex on one thread: writers exclude all, readers share", "[shared_mutex]") {
    static_assert(!std::is_copy_constructible<SharedMutex>::value && !std::is_copy_assignable<SharedMutex>::value);
    SharedMutex m;

    REQUIRE(m.try_lock());
    CHECK_FALSE(m.try_lock());
    CHECK_FALSE(m.try_lock_shared());
    m.unlock();

    REQUIRE(m.try_lock_shared());
    REQUIRE(m.try_lock_shared());
    REQUIRE(m.try_lock_shared());
    CHECK_FALSE(m.try_lock());
    m.unlock_shared();
    CHECK_FALSE(m.try_lock());
    m.unlock_shared();
    CHECK_FALSE(m.try_lock());
    CHECK(m.try_lock_shared()); // still shared with the one left
    m.unlock_shared();
    m.unlock_shared();

    REQUIRE(m.try_lock());
    m.unlock();
    REQUIRE(m.try_lock_shared());
    m.unlock_shared();

    // The blocking calls on an uncontended lock take the same fast paths.
    m.lock();
    CHECK_FALSE(m.try_lock());
    CHECK_FALSE(m.try_lock_shared());
    m.unlock();
    m.lock_shared();
    m.lock_shared();
    CHECK_FALSE(m.try_lock());
    m.unlock_shared();
    m.unlock_shared();
    CHECK(m.try_lock());
    m.unlock();
}

// Catches the same mistakes through the standard lock types, and shows
// SharedMutex meets what std::unique_lock and std::shared_lock require.
TEST_CASE("SharedMutex works with std::unique_lock and std::shared_lock", "[shared_mutex]") {
    SharedMutex m;
    {
        std::unique_lock<SharedMutex> writer(m);
        CHECK(writer.owns_lock());
        CHECK_FALSE(std::shared_lock<SharedMutex>(m, std::try_to_lock).owns_lock());
        CHECK_FALSE(std::unique_lock<SharedMutex>(m, std::try_to_lock).owns_lock());
        writer.unlock();
        CHECK(std::unique_lock<SharedMutex>(m, std::try_to_lock).owns_lock());
    }
    {
        std::shared_lock<SharedMutex> first(m);
        std::shared_lock<SharedMutex> second(m, std::try_to_lock);
        CHECK(first.owns_lock());
        CHECK(second.owns_lock());
        CHECK_FALSE(std::unique_lock<SharedMutex>(m, std::try_to_lock).owns_lock());
        first.unlock();
        CHECK_FALSE(std::unique_lock<SharedMutex>(m, std::try_to_lock).owns_lock());
    }
    std::unique_lock<SharedMutex> again(m, std::try_to_lock);
    CHECK(again.owns_lock());
}

// ---- real threads ------------------------------------------------------------

// Catches a writer let in beside another writer (lost increments, or a torn
// pair seen on entry) or beside readers (a reader sees a != b), and, under
// ThreadSanitizer, a lock whose acquire/release do not order the plain
// counters (a data race is reported even when no pair happens to tear).
TEST_CASE("SharedMutex: 2 writers and 2 readers never see a half-done write", "[concurrent][shared_mutex]") {
    constexpr int writers = 2;
    constexpr int readers = 2;
    constexpr int iterations = 50000;
    struct State : Guarded {
        std::atomic<std::uint64_t> torn_writes{0};
        std::atomic<std::uint64_t> torn_reads{0};
    };
    Crew<State> crew;
    for (int t = 0; t < writers + readers; ++t)
        crew.start([t](State& s) {
            start_line(s.arrived, writers + readers);
            std::uint64_t torn = 0;
            for (int i = 0; i < iterations; ++i) {
                if (t < writers) {
                    s.mutex.lock();
                    torn += write_pair(s, 8);
                    // Now and then the holder is descheduled while holding, so
                    // the others go past their spins to sleep.
                    if (i % 256 == 0) std::this_thread::yield();
                    s.mutex.unlock();
                } else {
                    s.mutex.lock_shared();
                    torn += read_torn(s, 8);
                    s.mutex.unlock_shared();
                }
            }
            (t < writers ? s.torn_writes : s.torn_reads).fetch_add(torn);
        });
    REQUIRE(crew.finish_within(30s));
    State& s = crew.state();
    CHECK(s.torn_writes.load() == 0);
    CHECK(s.torn_reads.load() == 0);
    CHECK(s.a == std::uint64_t{writers} * iterations);
    CHECK(s.b == s.a);
}

// Catches lock_shared taking the lock exclusively: B could not get in while A
// holds it, and A gives up waiting for B after 10 s.
TEST_CASE("SharedMutex: a second reader gets in while the first holds the lock", "[concurrent][shared_mutex]") {
    struct State {
        SharedMutex mutex;
        std::atomic<bool> a_in{false};
        std::atomic<bool> b_in{false};
        bool a_saw_b = false; // written by A, read after the join
        bool b_saw_a = false; // written by B, read after the join
    };
    Crew<State> crew;
    crew.start([](State& s) {
        s.mutex.lock_shared();
        s.a_in = true;
        s.a_saw_b = eventually([&] { return s.b_in.load(); });
        s.mutex.unlock_shared();
    });
    crew.start([](State& s) {
        s.b_saw_a = eventually([&] { return s.a_in.load(); });
        s.mutex.lock_shared();
        s.b_in = true;
        s.mutex.unlock_shared();
    });
    REQUIRE(crew.finish_within(30s));
    CHECK(crew.state().b_saw_a);
    CHECK(crew.state().a_saw_b);
}

// The sleeping path. The main thread holds the lock for 100 ms, far longer
// than 128 spins, so the waiters go to sleep on the condition variable.
// Catches a lost wake-up: unlock() not waking sleepers, waking only one of
// them (notify_one: the others would sleep on with the bit already cleared),
// or a sleeper that checks the lock and goes to sleep without setting the
// bit first. Also catches anyone let in while the writer holds.
TEST_CASE("SharedMutex: readers and a writer asleep behind a writer all get in after it unlocks",
          "[concurrent][shared_mutex]") {
    struct State {
        SharedMutex mutex;
        std::atomic<int> waiting{0};
        std::atomic<int> got_in{0};
    };
    constexpr int readers = 3;
    for (int round = 0; round < 3; ++round) {
        Crew<State> crew;
        State& s = crew.state();
        s.mutex.lock();
        for (int t = 0; t < readers + 1; ++t)
            crew.start([t](State& st) {
                st.waiting.fetch_add(1);
                if (t < readers) {
                    st.mutex.lock_shared();
                    st.got_in.fetch_add(1);
                    st.mutex.unlock_shared();
                } else {
                    st.mutex.lock();
                    st.got_in.fetch_add(1);
                    st.mutex.unlock();
                }
            });
        REQUIRE(eventually([&] { return s.waiting.load() == readers + 1; }));
        std::this_thread::sleep_for(100ms);
        CHECK(s.got_in.load() == 0);
        s.mutex.unlock();
        REQUIRE(crew.finish_within(10s));
        CHECK(s.got_in.load() == readers + 1);
        CHECK(takes_exclusive(s.mutex));
    }
}

// Catches a slow path that admits readers one at a time (e.g. a reader's
// `available` demanding no readers): the two readers woken together must be
// inside at the same time.
TEST_CASE("SharedMutex: readers woken together share the lock", "[concurrent][shared_mutex]") {
    struct State {
        SharedMutex mutex;
        std::atomic<int> waiting{0};
        std::atomic<int> inside{0};
        std::atomic<int> saw_both{0};
    };
    Crew<State> crew;
    State& s = crew.state();
    s.mutex.lock();
    for (int t = 0; t < 2; ++t)
        crew.start([](State& st) {
            st.waiting.fetch_add(1);
            st.mutex.lock_shared();
            st.inside.fetch_add(1);
            if (eventually([&] { return st.inside.load() == 2; })) st.saw_both.fetch_add(1);
            st.mutex.unlock_shared();
        });
    REQUIRE(eventually([&] { return s.waiting.load() == 2; }));
    std::this_thread::sleep_for(100ms); // both asleep
    s.mutex.unlock();
    REQUIRE(crew.finish_within(30s));
    CHECK(s.saw_both.load() == 2);
}

// A writer asleep behind two readers. Catches: the fast path admitting new
// readers while someone sleeps (try_lock_shared would keep succeeding, and a
// stream of readers could starve the writer); the writer let in while one
// reader is still inside; the last reader out not waking it (e.g. the
// last-reader test done on the count after the decrement, which wakes at the
// first of two readers out and then never again).
TEST_CASE("SharedMutex: a writer asleep behind readers refuses newcomers' fast path and gets in after the last "
          "reader leaves",
          "[concurrent][shared_mutex]") {
    struct State {
        SharedMutex mutex;
        std::atomic<int> readers_in{0};
        std::atomic<int> readers_out{0};
        std::atomic<bool> release[2] = {{false}, {false}};
        std::atomic<bool> writer_waiting{false};
        std::atomic<bool> writer_in{false};
        std::atomic<int> readers_saw_release{0};
    };
    Crew<State> crew;
    State& s = crew.state();
    for (int r = 0; r < 2; ++r)
        crew.start([r](State& st) {
            st.mutex.lock_shared();
            st.readers_in.fetch_add(1);
            if (eventually([&] { return st.release[r].load(); })) st.readers_saw_release.fetch_add(1);
            st.mutex.unlock_shared();
            st.readers_out.fetch_add(1);
        });
    crew.start([](State& st) {
        eventually([&] { return st.readers_in.load() == 2; });
        st.writer_waiting = true;
        st.mutex.lock();
        st.writer_in = true;
        st.mutex.unlock();
    });

    REQUIRE(eventually([&] { return s.writer_waiting.load(); }));
    // Until the writer has set the sleepers bit, a newcomer's fast path gets in
    // beside the readers; once it has, the fast path refuses. Only the
    // writer's slow path sets that bit here.
    CHECK(eventually([&] { return !takes_shared(s.mutex); }));
    CHECK_FALSE(takes_shared(s.mutex)); // and keeps refusing while it sleeps
    CHECK_FALSE(takes_exclusive(s.mutex));
    CHECK_FALSE(s.writer_in.load());

    s.release[0] = true;
    REQUIRE(eventually([&] { return s.readers_out.load() == 1; }));
    std::this_thread::sleep_for(50ms);
    CHECK_FALSE(s.writer_in.load()); // one reader is still inside

    s.release[1] = true;
    REQUIRE(crew.finish_within(10s));
    CHECK(s.writer_in.load());
    CHECK(s.readers_saw_release.load() == 2);
    CHECK(takes_exclusive(s.mutex));
}

// Catches: a reader-preferring slow path (newcomers getting in while a
// writer sleeps, which lets overlapping readers keep it out forever; the
// lock favours the writer, it does not promise it the next turn). Two
// readers hand the shared lock to each other: each leaves only once the
// other has come back in, or after 50 ms, which only a lock that makes
// newcomers wait behind a sleeping writer forces. The writer must get in.
TEST_CASE("SharedMutex: a sleeping writer gets in although readers keep overlapping", "[concurrent][shared_mutex]") {
    struct State {
        SharedMutex mutex;
        std::atomic<std::uint64_t> entries{0};
        std::atomic<bool> stop{false};
        std::atomic<bool> writer_in{false};
    };
    Crew<State> crew;
    State& shared = crew.state();
    const auto reader = [](State& s) {
        while (!s.stop.load()) {
            s.mutex.lock_shared();
            const std::uint64_t mine = ++s.entries;
            eventually([&] { return s.entries.load() > mine || s.stop.load(); }, 50ms);
            s.mutex.unlock_shared();
        }
    };
    crew.start(reader);
    REQUIRE(eventually([&] { return shared.entries.load() >= 1; }));
    crew.start(reader);
    REQUIRE(eventually([&] { return shared.entries.load() >= 10; })); // the readers overlap
    crew.start([](State& s) {
        s.mutex.lock();
        s.writer_in = true;
        s.mutex.unlock();
    });
    const bool writer_got_in = eventually([&] { return shared.writer_in.load(); });
    shared.stop = true;
    CHECK(writer_got_in);
    CHECK(crew.finish_within(10s));
}

// Every operation from 4 threads at random with random short holds, some
// long enough (a yield, a sleep) to send waiters to sleep. Catches the
// exclusion bugs above in combination, lost wake-ups under churn (the run
// would not finish), and try_lock/try_lock_shared taking a held lock.
TEST_CASE("SharedMutex stress: lock, lock_shared, try_lock and try_lock_shared from 4 threads",
          "[concurrent][shared_mutex]") {
    constexpr int threads = 4;
    constexpr int iterations = 30000;
    struct State : Guarded {
        std::atomic<std::uint64_t> torn{0};
        std::atomic<std::uint64_t> writes{0};
        std::atomic<std::uint64_t> tried_writes{0}; // by try_lock
        std::atomic<std::uint64_t> tried_reads{0};  // by try_lock_shared
    };
    Crew<State> crew;
    for (int t = 0; t < threads; ++t)
        crew.start([t](State& s) {
            std::minstd_rand rng(static_cast<std::uint32_t>(t) + 1);
            const auto hold = [&rng] {
                const std::uint32_t r = rng() % 512;
                if (r == 0)
                    std::this_thread::sleep_for(50us);
                else if (r < 16)
                    std::this_thread::yield();
                return r % 16;
            };
            start_line(s.arrived, threads);
            std::uint64_t torn = 0;
            std::uint64_t writes = 0;
            std::uint64_t tried_writes = 0;
            std::uint64_t tried_reads = 0;
            for (int i = 0; i < iterations; ++i) {
                switch (rng() % 8) {
                case 0:
                case 1: {
                    std::unique_lock<SharedMutex> lock(s.mutex);
                    torn += write_pair(s, hold());
                    ++writes;
                    break;
                }
                case 2: {
                    std::unique_lock<SharedMutex> lock(s.mutex, std::try_to_lock);
                    if (!lock.owns_lock()) break;
                    torn += write_pair(s, hold());
                    ++writes;
                    ++tried_writes;
                    break;
                }
                case 3:
                case 4:
                case 5: {
                    std::shared_lock<SharedMutex> lock(s.mutex);
                    torn += read_torn(s, hold());
                    break;
                }
                default: {
                    std::shared_lock<SharedMutex> lock(s.mutex, std::try_to_lock);
                    if (!lock.owns_lock()) break;
                    torn += read_torn(s, hold());
                    ++tried_reads;
                    break;
                }
                }
            }
            s.torn.fetch_add(torn);
            s.writes.fetch_add(writes);
            s.tried_writes.fetch_add(tried_writes);
            s.tried_reads.fetch_add(tried_reads);
        });
    REQUIRE(crew.finish_within(60s));
    State& s = crew.state();
    CHECK(s.torn.load() == 0);
    CHECK(s.a == s.writes.load());
    CHECK(s.b == s.a);
    // The try paths were exercised, not only refused.
    CHECK(s.tried_writes.load() > 0);
    CHECK(s.tried_reads.load() > 0);
    CHECK(takes_exclusive(s.mutex));
}

// ---- the manager -------------------------------------------------------------

// Catches the default Mutex changing, and the Mutex parameter no longer
// accepting another shared mutex.
TEST_CASE("the manager locks with SharedMutex by default, and std::shared_mutex still fits", "[shared_mutex][mutex]") {
    static_assert(std::is_same<s3repl::ReplicationManager::mutex_type, SharedMutex>::value);
    static_assert(std::is_same<s3repl::BasicReplicationManager<ManualClock>::mutex_type, SharedMutex>::value);

    ManualClock clock(start);
    s3repl::BasicReplicationManager<ManualClock, std::shared_mutex> m(clock);
    static_assert(std::is_same<decltype(m)::mutex_type, std::shared_mutex>::value);
    const std::uint64_t generation = m.next_generation();
    CHECK(m.record_status_if_newer("b", "k", generation, ReplicationStatus::Pending));
    m.record_status("b", "other", ReplicationStatus::Completed);
    CHECK(m.lookup_entry("b", "k") == s3repl::ReplicationStatusEntry{ReplicationStatus::Pending, generation, start});
    CHECK(m.lookup_status("b", "other") == ReplicationStatus::Completed);
    CHECK_FALSE(m.lookup_status("b", "missing").has_value());
    CHECK(m.size() == 2);
}
