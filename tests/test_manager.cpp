#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

using s3repl::ReplicationStatus;

TEST_CASE("first generation is 1 and each is greater", "[generation]") {
    s3repl::ReplicationManager m;
    CHECK(m.next_generation() == 1);
    CHECK(m.next_generation() == 2);
}

TEST_CASE("CAS basics", "[cas]") {
    s3repl::BasicReplicationManager<s3repl::ManualClock> m;
    CHECK(m.record_status_if_newer("b", "k", 5, ReplicationStatus::Pending));
    CHECK_FALSE(m.record_status_if_newer("b", "k", 4, ReplicationStatus::Completed));
    CHECK(m.record_status_if_newer("b", "k", 5, ReplicationStatus::Completed));
    CHECK_FALSE(m.record_status_if_newer("b", "k", 5, ReplicationStatus::Failed));
    CHECK(m.lookup_status("b", "k") == ReplicationStatus::Completed);
    for (int i = 0; i < 10000; ++i) m.record_status("b" + std::to_string(i % 7), "key" + std::to_string(i), ReplicationStatus::Completed);
    CHECK(m.size() == 10001);
    for (int i = 0; i < 10000; ++i) REQUIRE(m.lookup_status("b" + std::to_string(i % 7), "key" + std::to_string(i)) == ReplicationStatus::Completed);
    m.clock().advance(std::chrono::hours(2));
    CHECK(m.sweep_stale(m.clock().now(), std::chrono::hours(1)) == 10001);
    CHECK(m.size() == 0);
    CHECK(m.stats().entries_swept == 10001);
}
