// A consumer of s3repl::redis: the Redis manager's header builds and links
// with hiredis as the installed package provides it. It connects lazily, so
// constructing one needs no server.
#include <s3repl/redis.hpp>

#include <iostream>

int main() {
    s3repl::RedisReplicationManager manager(s3repl::RedisOptions{}, "consumer");
    if (manager.prefix() != "consumer") return 1;
    std::cout << "OK s3repl::redis\n";
}
