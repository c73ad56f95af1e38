// validate()'s checks for configurations with several destinations: every
// enabled matching rule applies (one winner per destination bucket), so a
// priority shared by rules that can match one key is refused whatever their
// destinations, V1 rules (no Filter) replicate to one bucket only, and with
// the source bucket known, a rule may not replicate into it.

#include <s3repl/validate.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

using s3repl::ConfigProblem;
using s3repl::ReplicationConfig;
using s3repl::ReplicationRule;
using s3repl::S3ErrorCode;

namespace {

// A V2 rule (it has a Filter, so a Priority and DeleteMarkerReplication).
ReplicationRule v2_rule(std::string id, std::uint32_t priority, std::string destination,
                        std::optional<std::string> prefix = std::nullopt) {
    ReplicationRule rule;
    rule.id = std::move(id);
    rule.priority = priority;
    rule.filter.prefix = std::move(prefix);
    rule.destination_bucket = std::move(destination);
    rule.delete_marker_replication = false;
    return rule;
}

// A V1 rule: no Filter, no Priority, a rule-level Prefix.
ReplicationRule v1_rule(std::string id, std::string destination, std::string prefix) {
    ReplicationRule rule;
    rule.id = std::move(id);
    rule.has_filter = false;
    rule.has_priority = false;
    rule.prefix = std::move(prefix);
    rule.destination_bucket = std::move(destination);
    return rule;
}

ReplicationConfig config_of(std::vector<ReplicationRule> rules) {
    return ReplicationConfig{"arn:aws:iam::123456789012:role/replication", std::move(rules)};
}

std::string all_of(const std::vector<ConfigProblem>& problems) {
    std::string all;
    for (const ConfigProblem& p : problems) all += s3repl::to_string(p) + "\n";
    return all;
}

void check_problem(const ConfigProblem& problem, S3ErrorCode code, std::size_t rule, const std::string& field) {
    INFO(s3repl::to_string(problem));
    CHECK(problem.code == code);
    CHECK(problem.rule_index == std::optional<std::size_t>(rule));
    CHECK(problem.field == field);
}

// The normal multi-destination configuration: overlapping filters, one
// destination each, distinct priorities.
ReplicationConfig fan_out() {
    ReplicationRule tagged = v2_rule("tagged", 3, "dst-tagged");
    tagged.filter.tags = {{"copy", "yes"}};
    return config_of({v2_rule("everything", 1, "dst-all"), v2_rule("logs", 2, "dst-logs", "logs/"), tagged,
                      v2_rule("logs-again", 4, "dst-all", "logs/")});
}

} // namespace

// ---- one priority, overlapping filters -------------------------------------

TEST_CASE("validate: enabled rules with one priority whose filters overlap clash, whatever their destinations",
          "[validate][destinations]") {
    ReplicationRule a = v2_rule("a", 4, "dst-a", "logs/");
    ReplicationRule b = v2_rule("b", 4, "dst-b", "logs/2026/");
    SECTION("different destinations") {}
    SECTION("one destination") { b.destination_bucket = a.destination_bucket; }
    SECTION("one filter matches everything") { a.filter.prefix.reset(); }
    const std::vector<ConfigProblem> problems = s3repl::validate(config_of({a, b}));
    INFO(all_of(problems));
    REQUIRE(problems.size() == 1);
    check_problem(problems[0], S3ErrorCode::InvalidRequest, 1, "Priority");
    CHECK_THAT(problems[0].message, Catch::Contains("rule 0"));
    CHECK_THAT(problems[0].message, Catch::Contains("priority 4"));
}

TEST_CASE("validate: a priority clash is reported on the later rule, once per earlier rule it clashes with",
          "[validate][destinations]") {
    const std::vector<ConfigProblem> problems = s3repl::validate(
        config_of({v2_rule("a", 7, "dst-a"), v2_rule("b", 7, "dst-b", "x/"), v2_rule("c", 7, "dst-c", "x/y")}));
    INFO(all_of(problems));
    REQUIRE(problems.size() == 3);
    check_problem(problems[0], S3ErrorCode::InvalidRequest, 1, "Priority");
    CHECK_THAT(problems[0].message, Catch::Contains("rule 0"));
    check_problem(problems[1], S3ErrorCode::InvalidRequest, 2, "Priority");
    CHECK_THAT(problems[1].message, Catch::Contains("rule 0"));
    check_problem(problems[2], S3ErrorCode::InvalidRequest, 2, "Priority");
    CHECK_THAT(problems[2].message, Catch::Contains("rule 1"));
    CHECK(s3repl::to_string(problems[0]) == "rule 1 ('b'): the priority 7 is also rule 0's, and their filters "
                                            "can match one key");
}

TEST_CASE("validate: one priority is no clash when the rules cannot both apply", "[validate][destinations]") {
    ReplicationRule a = v2_rule("a", 4, "dst-a", "logs/");
    ReplicationRule b = v2_rule("b", 4, "dst-b", "images/");
    SECTION("disjoint prefixes") {}
    SECTION("a disabled rule") {
        b.filter.prefix = a.filter.prefix;
        b.status_enabled = false;
    }
    SECTION("tags that conflict") {
        b.filter.prefix = a.filter.prefix;
        a.filter.tags = {{"env", "prod"}};
        b.filter.tags = {{"team", "storage"}, {"env", "dev"}};
    }
    const std::vector<ConfigProblem> problems = s3repl::validate(config_of({a, b}));
    INFO(all_of(problems));
    CHECK(problems.empty());
}

TEST_CASE("validate: V2 rules to several destinations with distinct priorities are sound", "[validate][destinations]") {
    const ReplicationConfig config = fan_out();
    const std::vector<ConfigProblem> problems = s3repl::validate(config);
    INFO(all_of(problems));
    CHECK(problems.empty());
    CHECK(s3repl::validate(config, "src").empty());
}

// ---- V1: one destination ---------------------------------------------------

TEST_CASE("validate: V1 rules to more than one destination are refused, on each rule off the first one's",
          "[validate][destinations]") {
    const std::vector<ConfigProblem> problems =
        s3repl::validate(config_of({v1_rule("a", "dst", "a/"), v1_rule("b", "other", "b/"), v1_rule("c", "dst", "c/"),
                                    v1_rule("d", "third", "d/")}));
    INFO(all_of(problems));
    REQUIRE(problems.size() == 2);
    check_problem(problems[0], S3ErrorCode::InvalidRequest, 1, "Destination/Bucket");
    CHECK_THAT(problems[0].message, Catch::Contains("'other'") && Catch::Contains("rule 0"));
    check_problem(problems[1], S3ErrorCode::InvalidRequest, 3, "Destination/Bucket");
    CHECK_THAT(problems[1].message, Catch::Contains("'third'") && Catch::Contains("rule 0"));
}

TEST_CASE("validate: a disabled V1 rule to another destination is refused too (the schema, not selection)",
          "[validate][destinations]") {
    ReplicationRule off = v1_rule("off", "other", "b/");
    off.status_enabled = false;
    const std::vector<ConfigProblem> problems = s3repl::validate(config_of({v1_rule("a", "dst", "a/"), off}));
    INFO(all_of(problems));
    REQUIRE(problems.size() == 1);
    check_problem(problems[0], S3ErrorCode::InvalidRequest, 1, "Destination/Bucket");
}

TEST_CASE("validate: V1 rules all to one destination are sound", "[validate][destinations]") {
    const std::vector<ConfigProblem> problems =
        s3repl::validate(config_of({v1_rule("a", "dst", "a/"), v1_rule("b", "dst", "b/"), v1_rule("c", "dst", "c/")}));
    INFO(all_of(problems));
    CHECK(problems.empty());
}

TEST_CASE("validate: a V1 rule without a destination is reported once, as empty", "[validate][destinations]") {
    const std::vector<ConfigProblem> problems =
        s3repl::validate(config_of({v1_rule("a", "", "a/"), v1_rule("b", "dst", "b/"), v1_rule("c", "dst", "c/")}));
    INFO(all_of(problems));
    REQUIRE(problems.size() == 1);
    check_problem(problems[0], S3ErrorCode::InvalidArgument, 0, "Destination/Bucket");
}

// ---- the source bucket -----------------------------------------------------

TEST_CASE("validate(config, bucket): a rule replicating into its own bucket is refused", "[validate][destinations]") {
    ReplicationConfig config = fan_out();
    config.rules[2].destination_bucket = "src";
    const std::vector<ConfigProblem> problems = s3repl::validate(config, "src");
    INFO(all_of(problems));
    REQUIRE(problems.size() == 1);
    check_problem(problems[0], S3ErrorCode::InvalidRequest, 2, "Destination/Bucket");
    CHECK(s3repl::to_string(problems[0]) == "rule 2 ('tagged'): the destination bucket 'src' is the source bucket");
    CHECK(s3repl::validate(config, "elsewhere").empty());
}

TEST_CASE("validate(config) without a bucket does not report a rule to the source bucket", "[validate][destinations]") {
    ReplicationConfig config = fan_out();
    config.rules[0].destination_bucket = "src";
    CHECK(s3repl::validate(config).empty());
}

TEST_CASE("validate(config, bucket) finds everything validate(config) finds, in the same order",
          "[validate][destinations]") {
    ReplicationConfig config = fan_out();
    config.role.clear();
    config.rules[1].priority = config.rules[3].priority; // "logs" and "logs-again" now clash
    config.rules[2].destination_bucket = "src";          // only the overload sees this
    config.rules[3].id = std::string(256, 'x');          // too long
    const std::vector<ConfigProblem> without = s3repl::validate(config);
    const std::vector<ConfigProblem> with = s3repl::validate(config, "src");
    INFO(all_of(with));
    REQUIRE(without.size() == 3);
    REQUIRE(with.size() == 4);
    CHECK(with[0] == without[0]); // the role
    check_problem(with[1], S3ErrorCode::InvalidRequest, 2, "Destination/Bucket");
    CHECK(with[2] == without[1]); // rule 3's id
    CHECK(with[3] == without[2]); // rule 3's priority, rule 1's too
    check_problem(without[2], S3ErrorCode::InvalidRequest, 3, "Priority");
}
