#pragma once

// The Redis manager's commit_in_order across nodes. Generations must follow
// the order in which a key's bytes are committed, and on several nodes the
// mint and the commit of one key can interleave: node A mints 5, node B
// mints 6 and renames, then A renames its older bytes over B's. So each
// commit holds a lease on the key in Redis, `SET <lock> <token> NX PX
// <lease>`, from before the mint until after the commit. A node that dies
// holding one delays the key's next commit by the lease at most.
//
// The lease is the contract: a commit that outlives it (a stalled disk, a
// paused process) may be overtaken by another node's, so the lease must be
// well above the slowest commit. The release deletes the lock only while it
// still holds this holder's token: an expired lease another node took is
// theirs.

#include "s3repl/detail/commit_locks.hpp"
#include "s3repl/detail/redis_cluster.hpp"
#include "s3repl/detail/redis_connection.hpp"
#include "s3repl/error.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>

namespace s3repl {
inline namespace v0 {
namespace detail {

inline const char* const redis_lua_unlock = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

class RedisCommitLock {
  public:
    RedisCommitLock(std::chrono::milliseconds lease, std::chrono::milliseconds timeout)
        : lease_(std::max(lease, std::chrono::milliseconds(1))), patience_(lease_ + timeout), holder_(random_holder()) {
    }

    // Runs body() holding this process's stripe of the key (`hash`), then
    // the key's lease in Redis (`lock_key`, in the key's slot). Throws
    // BackendError when the lease stays taken longer than a lease and a
    // timeout, or when Redis fails before body() ran.
    template <class Body>
    void hold(RedisRouter& router, std::uint64_t hash, const std::string& lock_key, Body&& body) {
        std::lock_guard<std::mutex> local(stripes_.stripe_for(hash));
        const std::string token = holder_ + std::to_string(taken_.fetch_add(1, std::memory_order_relaxed));
        acquire(router, lock_key, token);
        Release release{router, unlock_, lock_key, token};
        std::forward<Body>(body)();
    }

  private:
    // Unlocks on every way out of hold(); a release that fails leaves the
    // lease to expire, and the commit, already made, stands.
    struct Release {
        RedisRouter& router;
        RedisScript& unlock;
        const std::string& key;
        const std::string& token;
        ~Release() {
            try {
                router.eval(unlock, {{"1", key, token}});
            } catch (const Error&) {
            }
        }
    };

    void acquire(RedisRouter& router, const std::string& key, const std::string& token) {
        const std::string lease_ms = std::to_string(lease_.count());
        const auto deadline = std::chrono::steady_clock::now() + patience_;
        std::chrono::microseconds wait{100};
        for (;;) {
            const RedisReply reply = router.command({"SET", key, token, "NX", "PX", lease_ms}, "commit_in_order");
            if (reply.is_error()) throw BackendError("commit_in_order: " + reply.text);
            if (!reply.is_nil()) return;
            if (std::chrono::steady_clock::now() > deadline)
                throw BackendError("commit_in_order: another node held the key's commit lock for longer than its "
                                   "lease and RedisOptions::timeout");
            std::this_thread::sleep_for(wait);
            wait = std::min(wait * 2, std::chrono::microseconds(5000));
        }
    }

    // Tells this manager's tokens from every other's: 128 random bits.
    static std::string random_holder() {
        std::random_device entropy;
        std::string out;
        for (int i = 0; i < 4; ++i) out += std::to_string(entropy()) + '.';
        return out;
    }

    const std::chrono::milliseconds lease_;
    const std::chrono::milliseconds patience_;
    const std::string holder_;
    std::atomic<std::uint64_t> taken_{0};
    CommitLocks stripes_;
    RedisScript unlock_{"commit_unlock", redis_lua_unlock};
};

} // namespace detail
} // namespace v0
} // namespace s3repl
