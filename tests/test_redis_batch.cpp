// The Redis manager's pipelined stamps: a batch decides as the same stamps
// sent one by one to the in-memory manager do, and bad input sends nothing.
#include "redis_server.hpp"
#include "support.hpp"

#include <s3repl/redis.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

using s3repl::ObjectId;
using s3repl::ReplicationStatus;
using s3repl::StatusStamp;

TEST_CASE("a pipelined batch of stamps decides as the stamps one by one", "[redis]") {
    s3repl::ManualClock clock{s3repl_test::start};
    s3repl::BasicRedisReplicationManager<s3repl::ManualClock> redis(s3repl_test::shared_redis_server().options(),
                                                                    s3repl_test::fresh_prefix(), clock);
    s3repl_test::Manager memory(clock);
    const std::string keys[] = {"a", "b", "c"};
    std::vector<StatusStamp> stamps;
    // Same keys several times in one batch: later stamps see earlier ones.
    for (std::uint64_t round = 0; round < 30; ++round) {
        const std::uint64_t generation = 1 + (round * 7) % 11;
        const auto status = s3repl_test::all_statuses[round % 3];
        stamps.push_back({ObjectId{"src", keys[round % 3], round % 2 ? "v" : ""}, generation, status});
    }
    std::unique_ptr<bool[]> accepted(new bool[stamps.size()]);
    redis.record_statuses_if_newer(stamps.data(), stamps.size(), accepted.get());
    for (std::size_t i = 0; i < stamps.size(); ++i)
        CHECK(accepted[i] == memory.record_status_if_newer(stamps[i].object, stamps[i].generation, stamps[i].status));
    for (const auto& stamp : stamps) CHECK(redis.lookup_entry(stamp.object) == memory.lookup_entry(stamp.object));
    CHECK(redis.stats().stamps_accepted == memory.stats().stamps_accepted);
    CHECK(redis.stats().stamps_rejected == memory.stats().stamps_rejected);
    CHECK(redis.next_generation() == memory.next_generation()); // the batch raised the counter
}

TEST_CASE("a batch with one invalid stamp sends none", "[redis]") {
    s3repl::RedisReplicationManager m(s3repl_test::shared_redis_server().options(), s3repl_test::fresh_prefix());
    const StatusStamp stamps[] = {{ObjectId{"src", "ok"}, 1, ReplicationStatus::Pending},
                                  {ObjectId{"src", "\xff"}, 2, ReplicationStatus::Pending}};
    bool accepted[2] = {};
    CHECK_THROWS_AS(m.record_statuses_if_newer(stamps, 2, accepted), s3repl::InvalidArgument);
    CHECK(m.size() == 0);
    CHECK(m.next_generation() == 1);                 // not raised either
    m.record_statuses_if_newer(stamps, 0, accepted); // an empty batch: nothing to send
}
