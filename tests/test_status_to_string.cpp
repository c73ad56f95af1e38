// to_string(ReplicationStatus): the same words as to_aws_string, found by ADL
// beside std::to_string.

#include <s3repl/status.hpp>

#include <catch2/catch.hpp>

#include <iterator>
#include <string>
#include <string_view>
#include <utility>

using s3repl::ReplicationStatus;

TEST_CASE("to_string of a ReplicationStatus is its AWS header word", "[status][to_string]") {
    using std::to_string; // as generic code writes it: ADL must still pick s3repl's
    const std::pair<ReplicationStatus, std::string_view> names[] = {
        {ReplicationStatus::Pending, "PENDING"},
        {ReplicationStatus::Completed, "COMPLETED"},
        {ReplicationStatus::Failed, "FAILED"},
        {ReplicationStatus::Replica, "REPLICA"},
    };
    STATIC_REQUIRE(std::size(names) == s3repl::replication_status_count);
    for (const auto& [status, name] : names) {
        CHECK(to_string(status) == name);
        CHECK(to_string(status) == s3repl::to_aws_string(status));
        CHECK(s3repl::parse_aws_status(to_string(status)) == status);
    }
    STATIC_REQUIRE(s3repl::to_string(ReplicationStatus::Completed) == "COMPLETED"); // constexpr
}
