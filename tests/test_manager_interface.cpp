// The one interface the dispatcher and the sweeper are written against: every
// manager satisfies it, and a manager missing a member is told which.
#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <mutex>
#include <shared_mutex>
#include <vector>

namespace {

// Everything but sweep_stale: what a backend without a sweep would be.
struct WithoutSweep {
    std::vector<s3repl::ReplicationRule> match_rules(std::string_view, std::string_view, const s3repl::TagSet&) const;
    template <class Commit>
    std::uint64_t commit_in_order(std::string_view, std::string_view, Commit&&);
    bool record_destination_status_if_newer(const s3repl::ObjectId&, std::string_view, std::uint64_t,
                                            s3repl::ReplicationStatus);
    std::optional<s3repl::ReplicationStatusEntry> lookup_entry(const s3repl::ObjectId&) const;
    void mark_delete_marker(const s3repl::ObjectId&);
    bool forget(const s3repl::ObjectId&);
    void note_dropped();
    void request_redrive(std::string_view, std::string_view);
    const s3repl::SystemClock& clock() const;
};

// A status lookup that returns the wrong type.
struct WrongLookup : WithoutSweep {
    int lookup_entry(const s3repl::ObjectId&) const;
};

} // namespace

static_assert(s3repl::is_replication_manager_v<s3repl::ReplicationManager>);
static_assert(s3repl::is_replication_manager_v<s3repl::BasicReplicationManager<s3repl::ManualClock, std::mutex>>);
static_assert(
    s3repl::is_replication_manager_v<s3repl::BasicReplicationManager<s3repl::SystemClock, std::shared_mutex>>);
static_assert(!s3repl::is_replication_manager_v<int>);
static_assert(!s3repl::is_replication_manager_v<WithoutSweep>);
static_assert(!s3repl::detail::has_sweep_stale<WithoutSweep>::value);
static_assert(s3repl::detail::has_commit_in_order<WithoutSweep>::value);
static_assert(s3repl::detail::has_match_rules<WithoutSweep>::value);
static_assert(s3repl::detail::has_record_destination_status_if_newer<WithoutSweep>::value);
static_assert(!s3repl::detail::has_lookup_entry<WrongLookup>::value);

TEST_CASE("both the in-memory managers and the traits agree at run time too", "[interface]") {
    CHECK(s3repl::is_replication_manager_v<s3repl::ReplicationManager>);
    CHECK_FALSE(s3repl::is_replication_manager_v<WithoutSweep>);
    CHECK(s3repl::detail::has_request_redrive<WithoutSweep>::value);
}
