#pragma once

// The Redis client under s3repl/redis.hpp, on hiredis's blocking API: owned
// replies, a timeout on every call, reconnection with bounded exponential
// backoff, pipelines, and Lua scripts run by EVALSHA (loaded once per server,
// loaded again when the server answers NOSCRIPT, as after a restart).

#include "s3repl/error.hpp"

#include <hiredis/hiredis.h>

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace s3repl {
inline namespace v0 {

/// Where the Redis manager connects and how patiently.
struct RedisOptions {
    std::string host = "127.0.0.1";
    int port = 6379;
    /// Bounds every connect, send and reply: a server that stops answering
    /// fails the call with BackendError after about this long.
    std::chrono::milliseconds timeout = std::chrono::seconds(2);
    /// A dropped connection is re-opened on the next call, trying this many
    /// times, waiting first_backoff, then twice as long each time, at most
    /// max_backoff, before the call fails with BackendError.
    int connect_attempts = 6;
    std::chrono::milliseconds first_backoff = std::chrono::milliseconds(20);
    std::chrono::milliseconds max_backoff = std::chrono::seconds(1);
    /// How long commit_in_order's lock on a key lasts when its holder dies
    /// or stalls: another node's commit of that key waits up to this long.
    /// It must exceed the slowest commit callback (a rename, an fsync);
    /// one that outlives it may be overtaken by another node's commit of
    /// the key, and the two generations then need not follow their order.
    std::chrono::milliseconds commit_lease = std::chrono::seconds(30);
    /// Connections kept open while idle (more are opened while more threads call at once).
    std::size_t idle_connections = 8;
};

namespace detail {

// One reply, copied out of hiredis's tree so no hiredis type escapes.
struct RedisReply {
    enum class Type { Nil, String, Integer, Array, Status, Error };
    Type type = Type::Nil;
    std::string text; // String, Status, Error
    long long integer = 0;
    std::vector<RedisReply> elements;

    bool is_error() const noexcept { return type == Type::Error; }
    bool is_nil() const noexcept { return type == Type::Nil; }

    static RedisReply from(const redisReply& r) {
        RedisReply out;
        switch (r.type) {
        case REDIS_REPLY_STRING: out.type = Type::String; break;
        case REDIS_REPLY_STATUS: out.type = Type::Status; break;
        case REDIS_REPLY_ERROR: out.type = Type::Error; break;
        case REDIS_REPLY_INTEGER: out.type = Type::Integer; break;
        case REDIS_REPLY_ARRAY: out.type = Type::Array; break;
        default: out.type = Type::Nil; break;
        }
        if (r.str != nullptr) out.text.assign(r.str, r.len);
        out.integer = r.integer;
        out.elements.reserve(r.elements);
        for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(from(*r.element[i]));
        return out;
    }
};

// One command's words, binary-safe.
using RedisCommand = std::vector<std::string>;

// A Lua script and the SHA1 the server gave it. The SHA is learnt from the
// first SCRIPT LOAD and shared by every connection to the server.
class RedisScript {
  public:
    RedisScript(const char* name, std::string body) : name_(name), body_(std::move(body)) {}
    const char* name() const noexcept { return name_; }
    const std::string& body() const noexcept { return body_; }
    std::string sha() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return sha_;
    }
    void set_sha(std::string sha) {
        std::lock_guard<std::mutex> lock(mutex_);
        sha_ = std::move(sha);
    }

  private:
    const char* name_;
    std::string body_;
    mutable std::mutex mutex_;
    std::string sha_; // guarded by mutex_; empty until loaded
};

inline timeval to_timeval(std::chrono::milliseconds d) {
    timeval tv{};
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(d.count() / 1000);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>((d.count() % 1000) * 1000);
    return tv;
}

// One connection, used by one thread at a time (RedisPool hands it out).
// After an I/O error or a timeout the socket is closed (a late reply would
// answer the wrong command); the next call re-opens it with backoff.
class RedisConnection {
  public:
    explicit RedisConnection(const RedisOptions& options) : options_(options) {}

    // Sends every command, then reads every reply: one round trip. An
    // error reply is returned as such; a lost connection throws.
    std::vector<RedisReply> pipeline(const std::vector<RedisCommand>& commands, const char* where) {
        redisContext* c = connected(where);
        for (const RedisCommand& command : commands) {
            std::vector<const char*> argv;
            std::vector<std::size_t> lengths;
            argv.reserve(command.size());
            lengths.reserve(command.size());
            for (const std::string& word : command) {
                argv.push_back(word.data());
                lengths.push_back(word.size());
            }
            if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data()) != REDIS_OK)
                fail(where);
        }
        std::vector<RedisReply> replies;
        replies.reserve(commands.size());
        for (std::size_t i = 0; i < commands.size(); ++i) {
            void* raw = nullptr;
            if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) fail(where);
            std::unique_ptr<redisReply, void (*)(void*)> owned(static_cast<redisReply*>(raw), freeReplyObject);
            replies.push_back(RedisReply::from(*owned));
        }
        return replies;
    }

    // One command; an error reply throws BackendError with Redis's message.
    RedisReply command(const RedisCommand& words, const char* where) {
        RedisReply reply = std::move(pipeline({words}, where).front());
        if (reply.is_error()) throw BackendError(std::string(where) + ": " + reply.text);
        return reply;
    }

    // EVALSHA of each call of `script`, pipelined; a NOSCRIPT answer (the
    // server lost its script cache) loads the script and runs those calls
    // again (NOSCRIPT means they did not run). Error replies are returned.
    std::vector<RedisReply> eval(RedisScript& script, const std::vector<RedisCommand>& calls) {
        std::string sha = script.sha();
        if (sha.empty()) sha = load(script);
        std::vector<RedisReply> replies = pipeline(evalsha_commands(sha, calls), script.name());
        std::vector<std::size_t> again;
        for (std::size_t i = 0; i < replies.size(); ++i)
            if (replies[i].is_error() && replies[i].text.compare(0, 8, "NOSCRIPT") == 0) again.push_back(i);
        if (again.empty()) return replies;
        sha = load(script);
        std::vector<RedisCommand> retry;
        for (std::size_t i : again) retry.push_back(calls[i]);
        std::vector<RedisReply> second = pipeline(evalsha_commands(sha, retry), script.name());
        for (std::size_t j = 0; j < again.size(); ++j) replies[again[j]] = std::move(second[j]);
        return replies;
    }

    // `calls` are each [numkeys, keys..., args...].
    RedisReply eval_one(RedisScript& script, RedisCommand call) {
        RedisReply reply = std::move(eval(script, {std::move(call)}).front());
        if (reply.is_error()) throw BackendError(std::string(script.name()) + ": " + reply.text);
        return reply;
    }

  private:
    struct ContextDeleter {
        void operator()(redisContext* c) const noexcept { redisFree(c); }
    };

    static std::vector<RedisCommand> evalsha_commands(const std::string& sha, const std::vector<RedisCommand>& calls) {
        std::vector<RedisCommand> commands;
        commands.reserve(calls.size());
        for (const RedisCommand& call : calls) {
            RedisCommand words{"EVALSHA", sha};
            words.insert(words.end(), call.begin(), call.end());
            commands.push_back(std::move(words));
        }
        return commands;
    }

    std::string load(RedisScript& script) {
        RedisReply reply = command({"SCRIPT", "LOAD", script.body()}, script.name());
        script.set_sha(reply.text);
        return reply.text;
    }

    // Whether the server closed an idle connection (it restarted, or dropped
    // an idle client): Redis sends nothing unasked, so a readable socket
    // means end of file or an error. Checked before sending, so a command is
    // never written to a socket that cannot deliver it (whether it ran would
    // be unknown).
    static bool closed_by_peer(const redisContext& c) noexcept {
        pollfd p{c.fd, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) return false;
        char byte = 0;
        return ::recv(c.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
    }

    // The open context, or a new one: connect_attempts tries with growing pauses.
    redisContext* connected(const char* where) {
        if (context_ && closed_by_peer(*context_)) context_.reset();
        if (context_) return context_.get();
        std::chrono::milliseconds pause = options_.first_backoff;
        std::string last;
        for (int attempt = 0; attempt < std::max(options_.connect_attempts, 1); ++attempt) {
            if (attempt != 0) {
                std::this_thread::sleep_for(pause);
                pause = std::min(pause * 2, options_.max_backoff);
            }
            std::unique_ptr<redisContext, ContextDeleter> c(
                redisConnectWithTimeout(options_.host.c_str(), options_.port, to_timeval(options_.timeout)));
            if (c == nullptr) {
                last = "out of memory";
                continue;
            }
            if (c->err != 0 || redisSetTimeout(c.get(), to_timeval(options_.timeout)) != REDIS_OK) {
                last = c->errstr;
                continue;
            }
            context_ = std::move(c);
            return context_.get();
        }
        throw BackendError(std::string(where) + ": cannot connect to " + options_.host + ":" +
                           std::to_string(options_.port) + " after " + std::to_string(options_.connect_attempts) +
                           " attempts: " + last);
    }

    // The connection is unusable after an I/O error: close it and report.
    [[noreturn]] void fail(const char* where) {
        std::string what = context_ && context_->errstr[0] != '\0' ? context_->errstr : "connection lost";
        if (context_ && context_->err == REDIS_ERR_IO &&
            what.find("Resource temporarily unavailable") != std::string::npos)
            what = "no answer within " + std::to_string(options_.timeout.count()) + " ms (" + what + ")";
        context_.reset();
        throw BackendError(std::string(where) + ": " + what);
    }

    RedisOptions options_;
    std::unique_ptr<redisContext, ContextDeleter> context_;
};

// Connections for any number of threads: a call leases one (an idle one, or
// a new one), so threads never wait for each other's round trips, and
// returns it after. Redis serves each connection in order, so one shared
// connection under a mutex would serialise every caller's network latency;
// one per calling thread would leak sockets in a server with short-lived
// threads. Up to idle_connections stay open between calls.
class RedisPool {
  public:
    explicit RedisPool(RedisOptions options) : options_(std::move(options)) {}

    class Lease {
      public:
        Lease(RedisPool& pool, std::unique_ptr<RedisConnection> c) : pool_(pool), c_(std::move(c)) {}
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() { pool_.give_back(std::move(c_)); }
        RedisConnection* operator->() const noexcept { return c_.get(); }

      private:
        RedisPool& pool_;
        std::unique_ptr<RedisConnection> c_;
    };

    Lease lease() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!idle_.empty()) {
                std::unique_ptr<RedisConnection> c = std::move(idle_.back());
                idle_.pop_back();
                return Lease(*this, std::move(c));
            }
        }
        return Lease(*this, std::make_unique<RedisConnection>(options_));
    }

    const RedisOptions& options() const noexcept { return options_; }

  private:
    void give_back(std::unique_ptr<RedisConnection> c) noexcept {
        std::lock_guard<std::mutex> lock(mutex_);
        if (idle_.size() < options_.idle_connections) {
            try {
                idle_.push_back(std::move(c));
            } catch (...) { // no room: close it instead
            }
        }
    }

    const RedisOptions options_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<RedisConnection>> idle_; // guarded by mutex_
};

} // namespace detail
} // namespace v0
} // namespace s3repl
