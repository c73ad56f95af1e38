#include "support.hpp"

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using s3repl::ReplicationStatus;
using s3repl_test::Manager;

namespace {

// What on_pass reported, for the test thread to wait on.
class PassLog {
  public:
    s3repl::StaleSweeper<Manager>::PassCallback callback() {
        // No Catch assertions here: this runs on the sweeper's thread.
        return [this](std::size_t swept, std::chrono::nanoseconds) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                swept_.push_back(swept);
            }
            changed_.notify_all();
        };
    }

    // Waits (generously: a hang guard, not a speed check) until the passes
    // reported so far have swept `total` entries, then returns that total.
    std::size_t wait_for_total(std::size_t total) {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait_for(lock, 60s, [&] { return sum() >= total; });
        return sum();
    }

    std::size_t passes() {
        std::lock_guard<std::mutex> lock(mutex_);
        return swept_.size();
    }

  private:
    std::size_t sum() const {
        std::size_t total = 0;
        for (std::size_t s : swept_) total += s;
        return total;
    }

    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::size_t> swept_; // guarded by mutex_
};

s3repl::SweepPolicy policy(std::chrono::nanoseconds completed_ttl, std::chrono::nanoseconds failed_ttl) {
    s3repl::SweepPolicy p;
    p.completed_ttl = completed_ttl;
    p.failed_ttl = failed_ttl;
    return p;
}

} // namespace

TEST_CASE("the sweeper sweeps on the manager's clock, reports each pass, and spares PENDING", "[sweeper][concurrent]") {
    s3repl::ManualClock clock;
    Manager manager(clock);
    manager.record_status_if_newer("b", "done", 1, ReplicationStatus::Completed);
    manager.record_status_if_newer("b", "failed", 2, ReplicationStatus::Failed);
    manager.record_status_if_newer("b", "in-flight", 3, ReplicationStatus::Pending);
    manager.record_status("b", "copy", ReplicationStatus::Replica);
    clock.advance(2h); // past the COMPLETED TTL only
    PassLog log;

    s3repl::StaleSweeper sweeper(manager, policy(1h, 24h), 5ms, log.callback());

    CHECK(log.wait_for_total(1) == 1);
    CHECK_FALSE(manager.lookup_status("b", "done"));
    CHECK(manager.lookup_status("b", "failed") == ReplicationStatus::Failed);

    clock.advance(24h * 365); // past every TTL
    CHECK(log.wait_for_total(2) == 2);
    CHECK_FALSE(manager.lookup_status("b", "failed"));

    sweeper.stop();
    CHECK(manager.lookup_status("b", "in-flight") == ReplicationStatus::Pending);
    CHECK(manager.lookup_status("b", "copy") == ReplicationStatus::Replica);
    CHECK(manager.stats().entries_swept == 2);
}

TEST_CASE("SweepPolicy::never keeps entries forever", "[sweeper][concurrent]") {
    s3repl::ManualClock clock;
    Manager manager(clock);
    manager.record_status_if_newer("b", "done", 1, ReplicationStatus::Completed);
    manager.record_status_if_newer("b", "failed", 2, ReplicationStatus::Failed);
    clock.advance(24h * 365 * 200);
    PassLog log;
    s3repl::StaleSweeper sweeper(manager, policy(s3repl::SweepPolicy::never, 1h), 5ms, log.callback());

    CHECK(log.wait_for_total(1) == 1);
    sweeper.stop();
    CHECK(manager.lookup_status("b", "done") == ReplicationStatus::Completed);
    CHECK_FALSE(manager.lookup_status("b", "failed"));
}

// The interval is an hour: these complete only because stop() wakes the
// thread through the condition variable (a sleeping thread would hold the
// test for an hour, past ctest's timeout). No pass may have run.
TEST_CASE("the sweeper stops promptly mid-interval", "[sweeper][concurrent]") {
    s3repl::ManualClock clock;
    Manager manager(clock);
    manager.record_status_if_newer("b", "done", 1, ReplicationStatus::Completed);
    clock.advance(48h);
    PassLog log;

    SECTION("stop(), twice, then the destructor") {
        s3repl::StaleSweeper sweeper(manager, s3repl::SweepPolicy{}, 1h, log.callback());
        sweeper.stop();
        sweeper.stop();
    }
    SECTION("the destructor alone, with the default interval") {
        s3repl::StaleSweeper sweeper(manager, s3repl::SweepPolicy{});
    }
    SECTION("stop() from several threads at once") {
        s3repl::StaleSweeper sweeper(manager, s3repl::SweepPolicy{}, 1h, log.callback());
        std::thread first([&] { sweeper.stop(); });
        std::thread second([&] { sweeper.stop(); });
        sweeper.stop();
        first.join();
        second.join();
    }
    CHECK(log.passes() == 0);
    CHECK(manager.size() == 1);
}

TEST_CASE("the sweeper refuses a zero or negative TTL or interval", "[sweeper]") {
    Manager manager;
    using s3repl::StaleSweeper;
    CHECK_THROWS_AS(StaleSweeper(manager, policy(0ns, 1h)), s3repl::InvalidArgument);
    CHECK_THROWS_AS(StaleSweeper(manager, policy(1h, -1ns)), s3repl::InvalidArgument);
    CHECK_THROWS_AS(StaleSweeper(manager, s3repl::SweepPolicy{}, 0ns), s3repl::InvalidArgument);
    CHECK_THROWS_AS(StaleSweeper(manager, s3repl::SweepPolicy{}, -5min), s3repl::InvalidArgument);
    CHECK_THROWS_WITH(StaleSweeper(manager, policy(-1h, 1h)), Catch::Contains("completed_ttl must be positive"));
}
