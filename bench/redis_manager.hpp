// --impl redis's manager: s3repl's Redis manager under a key prefix of its
// own, built the way the workloads build the in-memory ones (`Manager m;`,
// `Manager m(clock);`, `Manager::from_json(text)`). When it goes, the keys of
// its prefix go too, so the server holds one state at a time (its memory
// stays that of N entries over a whole run) and a shared server (--redis)
// keeps nothing of the benchmark's.
#pragma once

#include <s3repl/redis.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

namespace s3repl_bench {

// Where every RedisBenchManager connects: set by main before the first is built.
inline s3repl::RedisOptions& redis_bench_server() {
    static s3repl::RedisOptions server;
    return server;
}

// A prefix no other manager of this run, nor of another run on a shared server, uses.
inline std::string fresh_bench_prefix() {
    static std::atomic<unsigned> next{0};
    static const std::string run =
        std::to_string(::getpid()) + "-" +
        std::to_string(std::chrono::system_clock::now().time_since_epoch() / std::chrono::seconds(1));
    return "s3repl-bench-" + run + "-" + std::to_string(next++);
}

// Deletes every key under `prefix` (each is "{prefix:...}"), a SCAN page at a time.
inline void delete_prefix_keys(const s3repl::RedisOptions& server, const std::string& prefix) {
    s3repl::RedisOptions once = server;
    once.connect_attempts = 1; // at exit after a failure the server may be gone: no backoff then
    s3repl::detail::RedisConnection connection(once);
    std::string cursor = "0";
    do {
        const s3repl::detail::RedisReply page =
            connection.command({"SCAN", cursor, "MATCH", "{" + prefix + ":*", "COUNT", "1000"}, "cleanup");
        cursor = page.elements.at(0).text;
        s3repl::detail::RedisCommand del = {"DEL"};
        for (const s3repl::detail::RedisReply& key : page.elements.at(1).elements) del.push_back(key.text);
        if (del.size() > 1) connection.command(del, "cleanup");
    } while (cursor != "0");
}

// The keys of one prefix, deleted when their owner goes (moved, never copied).
class PrefixKeys {
  public:
    explicit PrefixKeys(std::string prefix) : prefix_(std::move(prefix)) {}
    PrefixKeys(PrefixKeys&& other) noexcept : prefix_(std::exchange(other.prefix_, std::string())) {}
    PrefixKeys& operator=(PrefixKeys&& other) noexcept {
        if (this != &other) {
            release();
            prefix_ = std::exchange(other.prefix_, std::string());
        }
        return *this;
    }
    ~PrefixKeys() { release(); }

  private:
    void release() noexcept {
        if (prefix_.empty()) return;
        try {
            delete_prefix_keys(redis_bench_server(), prefix_);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "s3repl-bench: the keys of prefix %s stay on the server: %s\n", prefix_.c_str(),
                         e.what());
        }
        prefix_.clear();
    }

    std::string prefix_;
};

template <class Clock>
class RedisBenchManager : public s3repl::BasicRedisReplicationManager<Clock> {
    using Base = s3repl::BasicRedisReplicationManager<Clock>;

  public:
    explicit RedisBenchManager(Clock clock = Clock{})
        : Base(redis_bench_server(), fresh_bench_prefix(), std::move(clock)), keys_(this->prefix()) {}

    static RedisBenchManager from_json(std::string_view json) {
        RedisBenchManager manager;
        manager.restore_json(json);
        return manager;
    }

  private:
    PrefixKeys keys_;
};

} // namespace s3repl_bench
