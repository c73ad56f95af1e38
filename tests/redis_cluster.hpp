// A real three-master Redis Cluster for the tests: three redis-server
// processes with --cluster-enabled yes, each in its own temporary directory
// on a free loopback port, joined by `redis-cli --cluster create`, stopped
// by their PIDs. Nothing here depends on a system service.
#pragma once

#include "redis_server.hpp"

#include <s3repl/detail/redis_cluster.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace s3repl_test {

// A free port whose cluster bus port (the port + 10000) is free too.
inline int free_cluster_port() {
    for (;;) {
        const int port = free_loopback_port();
        if (port + 10000 > 65535) continue;
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(static_cast<std::uint16_t>(port + 10000));
        const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
        ::close(fd);
        if (free) return port;
    }
}

// Runs a program to its end, its output discarded; returns its exit status.
inline int run_program(std::vector<std::string> args) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::dup2(null, 2);
        std::vector<char*> argv;
        for (std::string& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// redis-cli, next to the redis-server the tests were configured with.
inline std::string redis_cli() {
    std::string path = S3REPL_REDIS_SERVER;
    const std::size_t name = path.rfind("redis-server");
    REQUIRE(name != std::string::npos);
    return path.replace(name, 12, "redis-cli");
}

class RedisCluster {
  public:
    RedisCluster() {
        for (auto& node : nodes_)
            node = std::make_unique<RedisServer>(
                false, std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"},
                free_cluster_port());
        std::vector<std::string> create = {redis_cli(), "--cluster", "create"};
        for (const auto& node : nodes_) create.push_back(address(*node));
        create.insert(create.end(), {"--cluster-replicas", "0", "--cluster-yes"});
        REQUIRE(run_program(create) == 0);
        REQUIRE(eventually(
            [&] {
                for (std::size_t i = 0; i < nodes_.size(); ++i)
                    if (ask(i, {"CLUSTER", "INFO"}).text.find("cluster_state:ok") == std::string::npos) return false;
                return true;
            },
            std::chrono::seconds(30)));
    }

    std::string seeds() const { return address(*nodes_[0]) + "," + address(*nodes_[1]); }
    s3repl::RedisClusterOptions options() const {
        s3repl::RedisClusterOptions o;
        o.seeds = seeds();
        o.node = nodes_[0]->options();
        return o;
    }
    std::size_t size() const noexcept { return nodes_.size(); }
    s3repl::RedisOptions node_options(std::size_t i) const { return nodes_[i]->options(); }
    std::string id(std::size_t i) const { return ask(i, {"CLUSTER", "MYID"}).text; }

    // One command to node i.
    s3repl::detail::RedisReply ask(std::size_t i, const s3repl::detail::RedisCommand& words) const {
        s3repl::detail::RedisConnection c(nodes_[i]->options());
        return c.command(words, "test");
    }

    // Moves `slots` slots from node `from` to node `to` (redis-cli --cluster reshard).
    int reshard(std::size_t from, std::size_t to, int slots) const {
        return run_program({redis_cli(), "--cluster", "reshard", address(*nodes_[0]), "--cluster-from", id(from),
                            "--cluster-to", id(to), "--cluster-slots", std::to_string(slots), "--cluster-yes"});
    }

  private:
    static std::string address(const RedisServer& s) { return "127.0.0.1:" + std::to_string(s.port()); }
    std::array<std::unique_ptr<RedisServer>, 3> nodes_;
};

} // namespace s3repl_test
