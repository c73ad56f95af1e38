// A redis-server of the benchmark's own (--impl redis without --redis): on a
// free loopback port, in a temporary directory, without persistence (no
// snapshot, no append-only file: the disk is not what is measured), stopped
// by its PID when the object goes. The server dies with the benchmark even
// when the benchmark is killed (PR_SET_PDEATHSIG), so no run leaves one behind.
#pragma once

#include <s3repl/detail/redis_connection.hpp>
#include <s3repl/error.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace s3repl_bench {

class RedisServerProcess {
  public:
    RedisServerProcess() : port_(unused_loopback_port()), dir_(make_temp_dir()) {
        try {
            start();
        } catch (...) {
            stop();
            throw;
        }
    }
    ~RedisServerProcess() { stop(); }
    RedisServerProcess(const RedisServerProcess&) = delete;
    RedisServerProcess& operator=(const RedisServerProcess&) = delete;

    s3repl::RedisOptions options() const {
        s3repl::RedisOptions o;
        o.host = "127.0.0.1";
        o.port = port_;
        return o;
    }

  private:
    static std::filesystem::path make_temp_dir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "s3repl-bench-redis-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("redis-server: no temporary directory");
        return pattern;
    }

    // The kernel's choice of a free port; redis-server binds it right after.
    static int unused_loopback_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        const bool found = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                           ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
        if (fd >= 0) ::close(fd);
        if (!found) throw std::runtime_error("redis-server: no free loopback port");
        return ntohs(address.sin_port);
    }

    void start() {
        std::vector<std::string> args = {"redis-server", "--port",    std::to_string(port_),
                                         "--bind",       "127.0.0.1", "--dir",
                                         dir_.string(),  "--save",    "",
                                         "--appendonly", "no",        "--daemonize",
                                         "no",           "--logfile", (dir_ / "redis.log").string()};
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("redis-server: fork failed");
        if (pid_ == 0) {
            // Dies with the benchmark; a parent already gone before prctl is seen by the check.
            if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent) ::_exit(126);
            std::vector<char*> argv;
            for (std::string& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execvp(argv[0], argv.data());
            ::_exit(127);
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!answers_ping()) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                    throw std::runtime_error("redis-server is not on PATH: install redis-server "
                                             "(scripts/setup-deps.sh does) or pass --redis HOST:PORT");
                throw std::runtime_error("redis-server exited at start on port " + std::to_string(port_) +
                                         "; its log:\n" + log());
            }
            if (std::chrono::steady_clock::now() > deadline)
                throw std::runtime_error("redis-server did not answer PING within 10 s on port " +
                                         std::to_string(port_) + "; its log:\n" + log());
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }

    bool answers_ping() const {
        s3repl::RedisOptions o = options();
        o.connect_attempts = 1;
        o.timeout = std::chrono::milliseconds(200);
        try {
            return s3repl::detail::RedisConnection(o).command({"PING"}, "ping").text == "PONG";
        } catch (const s3repl::BackendError&) {
            return false;
        }
    }

    std::string log() const {
        std::ifstream in(dir_ / "redis.log");
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }

    void stop() noexcept {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
        }
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }

    int port_;
    std::filesystem::path dir_;
    pid_t pid_ = -1;
};

} // namespace s3repl_bench
