// The Redis client under the Redis manager, against a real redis-server:
// commands, pipelines, scripts reloaded after the server forgot them, Redis's
// own error messages, the timeout on a server that stopped answering, and the
// reconnection after a crash.
#include "redis_server.hpp"

#include <s3repl/detail/redis_connection.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using s3repl::detail::RedisConnection;
using s3repl::detail::RedisReply;
using s3repl::detail::RedisScript;

TEST_CASE("commands and a pipeline answer in order, binary-safe", "[redis]") {
    s3repl_test::RedisServer server;
    RedisConnection c(server.options());
    const std::string key("bin\0key", 7), value("v\0\xff", 3);
    CHECK(c.command({"SET", key, value}, "test").text == "OK");
    CHECK(c.command({"GET", key}, "test").text == value);
    CHECK(c.command({"GET", "missing"}, "test").is_nil());
    const std::vector<RedisReply> replies = c.pipeline(
        {{"INCR", "n"}, {"INCR", "n"}, {"LPUSH", key, "x"}, {"RPUSH", "l", "a", "b"}, {"LRANGE", "l", "0", "-1"}},
        "test");
    REQUIRE(replies.size() == 5);
    CHECK(replies[0].integer == 1);
    CHECK(replies[1].integer == 2);
    CHECK(replies[2].is_error()); // WRONGTYPE, returned in its place
    CHECK(replies[2].text.find("WRONGTYPE") == 0);
    CHECK(replies[3].integer == 2);
    REQUIRE(replies[4].elements.size() == 2);
    CHECK(replies[4].elements[1].text == "b");
}

TEST_CASE("an error reply is a BackendError carrying Redis's message", "[redis]") {
    s3repl_test::RedisServer server;
    RedisConnection c(server.options());
    try {
        c.command({"NOSUCHCOMMAND"}, "probe");
        FAIL("no error");
    } catch (const s3repl::BackendError& e) {
        CHECK_THAT(e.what(), Catch::StartsWith("[s3repl.redis] probe: ERR unknown command"));
    }
    // The connection is still usable after an error reply.
    CHECK(c.command({"PING"}, "probe").text == "PONG");
}

TEST_CASE("a script is loaded once, and again after the server forgot it", "[redis]") {
    s3repl_test::RedisServer server;
    RedisConnection c(server.options());
    RedisScript script("double", "return tonumber(ARGV[1]) * 2");
    CHECK(c.eval_one(script, {"0", "21"}).integer == 42);
    const std::string sha = script.sha();
    CHECK(sha.size() == 40);
    CHECK(c.command({"SCRIPT", "FLUSH"}, "test").text == "OK");
    const std::vector<RedisReply> replies = c.eval(script, {{"0", "1"}, {"0", "2"}});
    REQUIRE(replies.size() == 2);
    CHECK(replies[0].integer == 2);
    CHECK(replies[1].integer == 4);
    CHECK(script.sha() == sha);
    RedisScript broken("broken", "return redis.error_reply('BROKEN on purpose')");
    CHECK_THROWS_WITH(c.eval_one(broken, {"0"}), Catch::StartsWith("[s3repl.redis] broken: BROKEN on purpose"));
}

TEST_CASE("a stopped server fails the call within the timeout; the next call after it resumes works",
          "[redis][faults]") {
    s3repl_test::RedisServer server;
    RedisConnection c(server.options(300ms));
    CHECK(c.command({"SET", "k", "1"}, "test").text == "OK");
    server.pause();
    CHECK_THROWS_WITH(c.command({"GET", "k"}, "stopped"), Catch::StartsWith("[s3repl.redis] stopped: "));
    server.resume();
    CHECK(c.command({"GET", "k"}, "test").text == "1");
}

TEST_CASE("after a crash the connection is opened again, with backoff until the server is back", "[redis][faults]") {
    s3repl_test::RedisServer server(true);
    s3repl::RedisOptions options = server.options();
    options.connect_attempts = 3;
    options.first_backoff = 1ms;
    RedisConnection c(options);
    CHECK(c.command({"SET", "k", "1"}, "test").text == "OK");
    server.crash();
    CHECK_THROWS_AS(c.command({"GET", "k"}, "crashed"), s3repl::BackendError); // the dropped socket
    CHECK_THROWS_WITH(c.command({"GET", "k"}, "down"),
                      Catch::Contains("cannot connect") && Catch::Contains("3 attempts"));
    server.restart();
    CHECK(c.command({"GET", "k"}, "test").text == "1"); // appendfsync always: the SET survived
}

TEST_CASE("the pool hands each thread its own connection", "[redis][concurrent]") {
    s3repl_test::RedisServer server;
    s3repl::detail::RedisPool pool(server.options());
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 100; ++i) {
                auto c = pool.lease();
                c->command({"INCR", "n"}, "test");
            }
        });
    for (auto& t : threads) t.join();
    auto c = pool.lease();
    CHECK(c->command({"GET", "n"}, "test").text == "400");
}

TEST_CASE("an idle connection the server closed is opened again before the next command is sent", "[redis][faults]") {
    s3repl_test::RedisServer server(true);
    RedisConnection c(server.options());
    CHECK(c.command({"SET", "k", "1"}, "test").text == "OK");
    server.crash();
    server.restart();
    CHECK(c.command({"INCR", "k"}, "test").integer == 2); // sent once, on the new connection
}
