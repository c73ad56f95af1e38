// One interface, proven at compile time: the Redis manager satisfies every
// trait the dispatcher, the sweeper and the re-drive recipe check, as the
// in-memory managers do.
#include <s3repl/redis.hpp>
#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <mutex>

namespace {

template <class M>
constexpr bool satisfies_each_trait() {
    namespace d = s3repl::detail;
    static_assert(d::has_match_rules<M>::value, "match_rules");
    static_assert(d::has_commit_in_order<M>::value, "commit_in_order");
    static_assert(d::has_record_destination_status_if_newer<M>::value, "record_destination_status_if_newer");
    static_assert(d::has_lookup_entry<M>::value, "lookup_entry");
    static_assert(d::has_mark_delete_marker<M>::value, "mark_delete_marker");
    static_assert(d::has_forget<M>::value, "forget");
    static_assert(d::has_note_dropped<M>::value, "note_dropped");
    static_assert(d::has_request_redrive<M>::value, "request_redrive");
    static_assert(d::has_clock<M>::value, "clock");
    static_assert(d::has_sweep_stale<M>::value, "sweep_stale");
    static_assert(d::has_failed_destinations<M>::value, "failed_destinations");
    static_assert(d::has_stuck_pending_destinations<M>::value, "stuck_pending_destinations");
    static_assert(s3repl::is_replication_manager_v<M>);
    static_assert(s3repl::is_redrive_source_v<M>);
    return true;
}

static_assert(satisfies_each_trait<s3repl::ReplicationManager>());
static_assert(satisfies_each_trait<s3repl::BasicReplicationManager<s3repl::ManualClock, std::mutex>>());
static_assert(satisfies_each_trait<s3repl::RedisReplicationManager>());
static_assert(satisfies_each_trait<s3repl::BasicRedisReplicationManager<s3repl::ManualClock>>());
static_assert(satisfies_each_trait<s3repl::BasicRedisReplicationManager<s3repl::SystemClock>>());

// The listings alone do not make a manager.
struct OnlyListings {
    std::vector<s3repl::DestinationRef> failed_destinations() const;
    std::vector<s3repl::DestinationRef> stuck_pending_destinations(s3repl::Timestamp, std::chrono::nanoseconds) const;
};
static_assert(s3repl::is_redrive_source_v<OnlyListings>);
static_assert(!s3repl::is_replication_manager_v<OnlyListings>);
static_assert(!s3repl::is_redrive_source_v<int>);

} // namespace

TEST_CASE("the Redis manager satisfies the one interface (checked at compile time)", "[interface][redis]") {
    CHECK(s3repl::is_replication_manager_v<s3repl::RedisReplicationManager>);
    CHECK(s3repl::is_redrive_source_v<s3repl::RedisReplicationManager>);
}
