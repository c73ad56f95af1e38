// A real redis-server for the Redis manager's tests: started on a free
// loopback port in a temporary directory, stopped by its PID. Nothing here
// depends on a system service. Without redis-server the tests fail, saying
// what to install.
#pragma once

#include "support.hpp"

#include <s3repl/detail/redis_connection.hpp>

#include <catch2/catch.hpp>

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace s3repl_test {

// A port no one listens on now (the kernel's choice for a bound socket).
inline int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    ::close(fd);
    return ntohs(address.sin_port);
}

class RedisServer {
  public:
    // `durable`: appendonly with fsync on every write (the crash tests);
    // otherwise no persistence at all (faster).
    // `extra`: more options (a cluster node's).
    explicit RedisServer(bool durable = false, std::vector<std::string> extra = {}, int port = free_loopback_port())
        : port_(port), durable_(durable), extra_(std::move(extra)) {
        start();
    }
    ~RedisServer() { stop(); }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    int port() const noexcept { return port_; }
    s3repl::RedisOptions options(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
        s3repl::RedisOptions o;
        o.port = port_;
        o.timeout = timeout;
        return o;
    }

    void pause() const { REQUIRE(::kill(pid_, SIGSTOP) == 0); }
    void resume() const { REQUIRE(::kill(pid_, SIGCONT) == 0); }
    // SIGKILL and reap: what a crash of the machine's redis-server looks like.
    void crash() {
        REQUIRE(::kill(pid_, SIGKILL) == 0);
        reap();
    }
    // Starts it again on the same port and directory (its append-only file).
    void restart() { start(); }

    void stop() noexcept {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGCONT); // a paused server would not see the SIGTERM
        ::kill(pid_, SIGTERM);
        reap();
    }

  private:
    void start() {
        const std::string server = S3REPL_REDIS_SERVER;
        if (server.empty())
            FAIL("redis-server was not found when the tests were configured: install redis-server "
                 "(scripts/setup-deps.sh does)");
        std::vector<std::string> args = {server,
                                         "--port",
                                         std::to_string(port_),
                                         "--bind",
                                         "127.0.0.1",
                                         "--dir",
                                         dir_.path().string(),
                                         "--save",
                                         "",
                                         "--appendonly",
                                         durable_ ? "yes" : "no",
                                         "--appendfsync",
                                         "always",
                                         "--daemonize",
                                         "no",
                                         "--logfile",
                                         (dir_.path() / "redis.log").string()};
        args.insert(args.end(), extra_.begin(), extra_.end());
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            std::vector<char*> argv;
            for (std::string& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        pid_ = pid;
        const bool up = eventually([&] { return exited() || answers_ping(); });
        if (exited() || !up)
            FAIL("redis-server did not start on port " << port_ << ": see its log, "
                                                       << (dir_.path() / "redis.log").string() << "\n"
                                                       << read_log());
    }

    bool answers_ping() const {
        const timeval tv{0, 200000};
        std::unique_ptr<redisContext, void (*)(redisContext*)> c(redisConnectWithTimeout("127.0.0.1", port_, tv),
                                                                 redisFree);
        if (!c || c->err != 0) return false;
        std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(redisCommand(c.get(), "PING")),
                                                           freeReplyObject);
        return reply && reply->type == REDIS_REPLY_STATUS && std::string(reply->str) == "PONG";
    }

    bool exited() {
        int status = 0;
        if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return true;
        }
        return pid_ <= 0;
    }

    void reap() noexcept {
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    std::string read_log() const {
        std::error_code ignored;
        if (!std::filesystem::exists(dir_.path() / "redis.log", ignored)) return {};
        return read_raw(dir_.path() / "redis.log");
    }

    TempDir dir_;
    int port_;
    bool durable_;
    std::vector<std::string> extra_;
    pid_t pid_ = -1;
};

// One server for a whole test program (started by the first test that asks).
inline RedisServer& shared_redis_server() {
    static RedisServer server;
    return server;
}

// A key prefix no other test of this program (or earlier run) has used.
inline std::string fresh_prefix() {
    static std::atomic<int> next{0};
    return "t" + std::to_string(::getpid()) + "-" + std::to_string(next++);
}

} // namespace s3repl_test
