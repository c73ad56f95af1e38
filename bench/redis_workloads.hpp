// The Redis-only workloads of docs/bench-spec.md, printed by --impl redis
// after the spec's lines: what a manager whose every call is a round trip
// adds to them. Pipelining (redis_stamp_batch beside stamp_update, as
// lookup_batch beside lookup_hit), client threads (redis_stamp_tT,
// redis_lookup_tT: T threads, each on its own entries), the one generation
// key every node mints on (redis_mint_tT beside redis_stamp_tT, stamps that
// mint nothing), and the server's memory per entry (the spec's
// rss_per_entry measures the client, which holds no entries).
//
// Their timed lines carry one more field than the spec's,
// server_ns_per_op: the server's own time in scripts per call meanwhile
// (INFO commandstats), which bounds what any number of clients and nodes
// get from one server.
//
// Data is s3repl_bench.cpp's (bucket(i), keys, order, visited_keys,
// generation(i), n).
#pragma once

#include "redis_manager.hpp"

#include <s3repl/redis.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace s3repl_bench {

inline constexpr std::array<std::string_view, 14> redis_workload_names = {
    "redis_stamp_batch", "redis_stamp_t1",  "redis_stamp_t2",  "redis_stamp_t4",     "redis_stamp_t8",
    "redis_lookup_t1",   "redis_lookup_t2", "redis_lookup_t4", "redis_lookup_t8",    "redis_mint_t1",
    "redis_mint_t2",     "redis_mint_t4",   "redis_mint_t8",   "redis_server_memory"};

// The server's used_memory (INFO memory): what its allocator holds for the data.
inline std::uint64_t redis_used_memory(const s3repl::RedisOptions& server) {
    const std::string info = s3repl::detail::RedisConnection(server).command({"INFO", "memory"}, "info").text;
    constexpr std::string_view field = "used_memory:";
    const std::size_t at = info.find(field);
    if (at == std::string::npos) throw std::runtime_error("INFO memory without used_memory");
    return std::stoull(info.substr(at + field.size()));
}

// The server's time in scripts so far (INFO commandstats: EVALSHA's usec), in ns.
inline double redis_script_ns(const s3repl::RedisOptions& server) {
    const std::string info = s3repl::detail::RedisConnection(server).command({"INFO", "commandstats"}, "info").text;
    const std::size_t line = info.find("cmdstat_evalsha:");
    if (line == std::string::npos) return 0; // no script run yet
    constexpr std::string_view field = "usec=";
    const std::size_t at = info.find(field, line);
    if (at == std::string::npos) throw std::runtime_error("INFO commandstats: EVALSHA without usec");
    return 1000.0 * static_cast<double>(std::stoull(info.substr(at + field.size())));
}

template <class Data>
class RedisWorkloads {
    using Manager = RedisBenchManager<s3repl::CoarseSystemClock>;
    using ReplicationStatus = s3repl::ReplicationStatus;

  public:
    RedisWorkloads(const Data& data, int runs)
        : d_(data), n_(data.n), runs_(runs), pending_(stamps_of(ReplicationStatus::Pending)),
          completed_(stamps_of(ReplicationStatus::Completed)) {}

    template <class Wants>
    void run(Wants&& wants) {
        if (wants("redis_stamp_batch")) stamp_batch();
        constexpr std::uint64_t thread_counts[] = {1, 2, 4, 8};
        const auto each_one = [](std::uint64_t ops) { return ops; }; // every op answers 1: accepted, found
        // A fresh prefix mints generations 1 to ops, each once: their sum.
        const auto each_generation = [](std::uint64_t ops) { return ops * (ops + 1) / 2; };
        for (const std::uint64_t t : thread_counts)
            if (wants("redis_stamp_t" + std::to_string(t)))
                in_threads("redis_stamp_t", t, true, each_one, [this](Manager& m, std::uint64_t k) -> std::uint64_t {
                    const std::uint64_t entry = d_.order[k];
                    return m.record_status_if_newer(d_.bucket(entry), d_.visited_keys[k], Data::generation(entry),
                                                    ReplicationStatus::Completed);
                });
        for (const std::uint64_t t : thread_counts)
            if (wants("redis_lookup_t" + std::to_string(t)))
                in_threads("redis_lookup_t", t, true, each_one, [this](Manager& m, std::uint64_t k) -> std::uint64_t {
                    return m.lookup_status(d_.bucket(d_.order[k]), d_.visited_keys[k]) == ReplicationStatus::Pending;
                });
        for (const std::uint64_t t : thread_counts)
            if (wants("redis_mint_t" + std::to_string(t)))
                in_threads("redis_mint_t", t, false, each_generation,
                           [](Manager& m, std::uint64_t) -> std::uint64_t { return m.next_generation(); });
        if (wants("redis_server_memory")) server_memory();
    }

  private:
    static constexpr std::size_t batch_size = 64; // as lookup_batch's

    std::vector<s3repl::StatusStamp> stamps_of(ReplicationStatus status) const {
        std::vector<s3repl::StatusStamp> stamps;
        stamps.reserve(n_);
        for (std::uint64_t i = 0; i < n_; ++i)
            stamps.push_back({{d_.bucket(i), d_.keys[i]}, Data::generation(i), status});
        return stamps;
    }

    // record_statuses_if_newer over `stamps`, batch_size per call; returns how many were accepted.
    static std::uint64_t stamp_in_batches(Manager& manager, const std::vector<s3repl::StatusStamp>& stamps) {
        std::array<bool, batch_size> accepted{};
        std::uint64_t count = 0;
        for (std::size_t j = 0; j < stamps.size(); j += batch_size) {
            const std::size_t size = std::min(batch_size, stamps.size() - j);
            manager.record_statuses_if_newer(stamps.data() + j, size, accepted.data());
            count += static_cast<std::uint64_t>(std::count(accepted.begin(), accepted.begin() + size, true));
        }
        return count;
    }

    void fill(Manager& manager) const {
        expect_that(stamp_in_batches(manager, pending_) == n_, "every entry stamped PENDING before the workload");
    }

    // stamp_update's stamps on stamp_insert's state, pipelined: ns_per_op = total / N.
    void stamp_batch() const {
        Samples samples;
        for (int r = 0; r < runs_; ++r) {
            progress("redis_stamp_batch", r);
            Manager manager;
            fill(manager);
            std::uint64_t accepted = 0;
            samples.time(n_, [&] { accepted = stamp_in_batches(manager, completed_); });
            expect_that(accepted == n_, "redis_stamp_batch: every equal-generation stamp accepted");
            expect_that(manager.lookup_status(d_.bucket(n_ - 1), d_.keys[n_ - 1]) == ReplicationStatus::Completed,
                        "redis_stamp_batch: the last entry COMPLETED");
        }
        samples.print("redis_stamp_batch", n_);
    }

    // `threads` threads on one fresh manager (holding the N entries PENDING
    // when `filled`), thread t calling op(manager, k) for its share of the
    // visiting order, k = j * threads + t for j < N / threads (as mixed
    // splits it): each thread its own entries. The ops' answers must sum to
    // expected_sum(ops). ns_per_op = wall time / ops, the inverse of the
    // total throughput.
    template <class ExpectedSum, class Op>
    void in_threads(const std::string& family, std::uint64_t threads, bool filled, ExpectedSum expected_sum,
                    Op op) const {
        const std::string name = family + std::to_string(threads);
        const std::uint64_t per_thread = n_ / threads, ops = per_thread * threads;
        const std::uint64_t expected = expected_sum(ops);
        Samples samples;
        for (int r = 0; r < runs_; ++r) {
            progress(name, r);
            Manager manager;
            if (filled) fill(manager);
            std::vector<std::uint64_t> sums(threads, 0);
            std::vector<std::exception_ptr> failures(threads);
            samples.time(ops, [&] {
                std::vector<std::thread> workers;
                for (std::uint64_t t = 0; t < threads; ++t)
                    workers.emplace_back([&, t] {
                        try {
                            for (std::uint64_t j = 0; j < per_thread; ++j) sums[t] += op(manager, j * threads + t);
                        } catch (...) {
                            failures[t] = std::current_exception();
                        }
                    });
                for (std::thread& worker : workers) worker.join();
            });
            for (const std::exception_ptr& failure : failures)
                if (failure) std::rethrow_exception(failure);
            expect_that(std::accumulate(sums.begin(), sums.end(), std::uint64_t{0}) == expected,
                        name + ": every op answered as expected");
        }
        samples.print(name, ops);
    }

    // The server's used_memory growth when N PENDING entries are stamped, per entry.
    void server_memory() const {
        std::fprintf(stderr, "  redis_server_memory\n");
        Manager manager;
        const double before = static_cast<double>(redis_used_memory(redis_bench_server()));
        fill(manager);
        const double grown = static_cast<double>(redis_used_memory(redis_bench_server())) - before;
        std::printf("bench redis_server_memory n=%llu bytes_per_entry=%.1f\n", static_cast<unsigned long long>(n_),
                    grown / static_cast<double>(n_));
        std::fflush(stdout);
    }

    // Each run's wall time and the server's script time, per op; the line prints the medians.
    struct Samples {
        template <class Body>
        void time(std::uint64_t ops, Body&& body) {
            const double server_before = redis_script_ns(redis_bench_server());
            const auto start = std::chrono::steady_clock::now();
            body();
            const auto stop = std::chrono::steady_clock::now();
            const double server = redis_script_ns(redis_bench_server()) - server_before;
            wall.push_back(std::chrono::duration<double, std::nano>(stop - start).count() / static_cast<double>(ops));
            in_scripts.push_back(server / static_cast<double>(ops));
        }
        void print(const std::string& name, std::uint64_t ops) {
            std::printf("bench %s n=%llu ns_per_op=%.1f server_ns_per_op=%.1f\n", name.c_str(),
                        static_cast<unsigned long long>(ops), median(wall), median(in_scripts));
            std::fflush(stdout);
        }
        static double median(std::vector<double>& values) {
            std::sort(values.begin(), values.end());
            return values[values.size() / 2];
        }
        std::vector<double> wall, in_scripts;
    };
    void progress(const std::string& name, int run) const {
        std::fprintf(stderr, "  %s run %d/%d\n", name.c_str(), run + 1, runs_);
    }
    static void expect_that(bool ok, const std::string& what) {
        if (!ok) throw std::runtime_error("check failed: " + what);
    }

    const Data& d_;
    std::uint64_t n_;
    int runs_;
    std::vector<s3repl::StatusStamp> pending_, completed_; // stamp_insert's and stamp_update's
};

} // namespace s3repl_bench
