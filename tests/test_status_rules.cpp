// The status words and the bucket replication rules: parsing, filter
// matching, rule selection, the configuration store and validate().

#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

using s3repl::ReplicationConfig;
using s3repl::ReplicationFilter;
using s3repl::ReplicationRule;
using s3repl::ReplicationStatus;
using s3repl::TagSet;

namespace {

ReplicationRule make_rule(std::string id, std::uint32_t priority, std::string destination,
                          std::optional<std::string> prefix = std::nullopt, TagSet tags = {}, bool enabled = true) {
    ReplicationRule rule;
    rule.id = std::move(id);
    rule.priority = priority;
    rule.status_enabled = enabled;
    rule.filter.prefix = std::move(prefix);
    rule.filter.tags = std::move(tags);
    rule.destination_bucket = std::move(destination);
    rule.delete_marker_replication = false; // a V2 rule (it has a Filter) must say
    return rule;
}

ReplicationConfig make_config(std::vector<ReplicationRule> rules) {
    return ReplicationConfig{"arn:aws:iam::123456789012:role/replication", std::move(rules)};
}

// A configuration validate() must accept; each finding test breaks one thing.
ReplicationConfig valid_config() {
    return make_config({make_rule("logs", 2, "dst-logs", "logs/"), make_rule("images", 2, "dst-logs", "images/"),
                        make_rule("all", 1, "dst-all")});
}

} // namespace

// ---- status words ---------------------------------------------------------

TEST_CASE("to_aws_string gives the four AWS header values", "[status]") {
    CHECK(s3repl::to_aws_string(ReplicationStatus::Pending) == "PENDING");
    CHECK(s3repl::to_aws_string(ReplicationStatus::Completed) == "COMPLETED");
    CHECK(s3repl::to_aws_string(ReplicationStatus::Failed) == "FAILED");
    CHECK(s3repl::to_aws_string(ReplicationStatus::Replica) == "REPLICA");
    static_assert(s3repl::to_aws_string(ReplicationStatus::Replica) == "REPLICA", "usable in constant expressions");
}

TEST_CASE("parse_aws_status reads back every to_aws_string value", "[status]") {
    for (ReplicationStatus status : {ReplicationStatus::Pending, ReplicationStatus::Completed,
                                     ReplicationStatus::Failed, ReplicationStatus::Replica}) {
        INFO(s3repl::to_aws_string(status));
        CHECK(s3repl::parse_aws_status(s3repl::to_aws_string(status)) == status);
    }
}

TEST_CASE("parse_aws_status accepts AWS's legacy COMPLETE as Completed", "[status]") {
    CHECK(s3repl::parse_aws_status("COMPLETE") == ReplicationStatus::Completed);
}

TEST_CASE("parse_aws_status rejects other case, unknown words and near misses", "[status]") {
    using namespace std::string_view_literals;
    for (std::string_view text :
         {"pending"sv, "Completed"sv, "complete"sv, "Failed"sv, "replica"sv, ""sv, "UNKNOWN"sv, "COMPLETEDX"sv,
          " COMPLETED"sv, "COMPLETED "sv, "PEND"sv, "FAILED\0"sv, "REPLICAS"sv}) {
        INFO('"' << std::string(text) << '"');
        CHECK_FALSE(s3repl::parse_aws_status(text).has_value());
    }
}

// ---- filter_matches -------------------------------------------------------

TEST_CASE("filter_matches: the key must start with the prefix", "[rules][filter]") {
    const ReplicationFilter filter{std::string("logs/"), {}};
    CHECK(s3repl::filter_matches(filter, "logs/", {}));
    CHECK(s3repl::filter_matches(filter, "logs/2024/a.txt", {}));
    CHECK_FALSE(s3repl::filter_matches(filter, "logs", {}));
    CHECK_FALSE(s3repl::filter_matches(filter, "Logs/a", {}));
    CHECK_FALSE(s3repl::filter_matches(filter, "x/logs/a", {}));
    CHECK_FALSE(s3repl::filter_matches(filter, "", {}));
}

TEST_CASE("filter_matches: an absent or empty prefix matches every key", "[rules][filter]") {
    const ReplicationFilter absent{std::nullopt, {}};
    const ReplicationFilter empty{std::string(), {}};
    for (std::string_view key : {"", "a", "logs/x", "\xE2\x82\xAC"}) {
        CHECK(s3repl::filter_matches(absent, key, {}));
        CHECK(s3repl::filter_matches(empty, key, {}));
    }
}

TEST_CASE("filter_matches: every filter tag must be on the object with the same value", "[rules][filter]") {
    const ReplicationFilter filter{std::nullopt, {{"env", "prod"}, {"team", "a"}}};
    CHECK(s3repl::filter_matches(filter, "k", {{"env", "prod"}, {"team", "a"}}));
    CHECK(s3repl::filter_matches(filter, "k", {{"team", "a"}, {"env", "prod"}}));       // order does not matter
    CHECK_FALSE(s3repl::filter_matches(filter, "k", {{"env", "prod"}}));                // one missing
    CHECK_FALSE(s3repl::filter_matches(filter, "k", {{"env", "dev"}, {"team", "a"}}));  // wrong value
    CHECK_FALSE(s3repl::filter_matches(filter, "k", {{"ENV", "prod"}, {"team", "a"}})); // keys are case-sensitive
    CHECK_FALSE(s3repl::filter_matches(filter, "k", {}));
}

TEST_CASE("filter_matches: extra object tags are fine", "[rules][filter]") {
    const ReplicationFilter filter{std::nullopt, {{"env", "prod"}}};
    CHECK(s3repl::filter_matches(filter, "k", {{"owner", "x"}, {"env", "prod"}, {"cost", "7"}}));
}

TEST_CASE("filter_matches: prefix and tags must both hold", "[rules][filter]") {
    const ReplicationFilter filter{std::string("a/"), {{"env", "prod"}}};
    CHECK(s3repl::filter_matches(filter, "a/k", {{"env", "prod"}}));
    CHECK_FALSE(s3repl::filter_matches(filter, "b/k", {{"env", "prod"}}));
    CHECK_FALSE(s3repl::filter_matches(filter, "a/k", {{"env", "dev"}}));
}

// ---- match_rule -----------------------------------------------------------

TEST_CASE("match_rule: no configuration means no rule", "[rules][match]") {
    s3repl::ReplicationManager m;
    CHECK_FALSE(m.match_rule("src", "k", {}).has_value());
    m.put_config("other", make_config({make_rule("r", 1, "dst")}));
    CHECK_FALSE(m.match_rule("src", "k", {}).has_value());
    CHECK(m.match_rule("other", "k", {}).has_value());
}

TEST_CASE("match_rule: a prefix selects its keys only", "[rules][match]") {
    s3repl::ReplicationManager m;
    const ReplicationRule logs = make_rule("logs", 1, "dst-logs", "logs/");
    m.put_config("src", make_config({logs}));
    CHECK(m.match_rule("src", "logs/a", {}) == logs);
    CHECK_FALSE(m.match_rule("src", "images/a", {}).has_value());
    CHECK_FALSE(m.match_rule("src", "log", {}).has_value());
}

TEST_CASE("match_rule: an absent or empty prefix matches every key", "[rules][match]") {
    s3repl::ReplicationManager m;
    const ReplicationRule absent = make_rule("absent", 1, "dst-a");
    const ReplicationRule empty = make_rule("empty", 1, "dst-b", std::string());
    m.put_config("a", make_config({absent}));
    m.put_config("b", make_config({empty}));
    for (std::string_view key : {"", "x", "logs/deep/key", "\xF0\x9F\x98\x80"}) {
        CHECK(m.match_rule("a", key, {}) == absent);
        CHECK(m.match_rule("b", key, {}) == empty);
    }
}

TEST_CASE("match_rule: filter tags must be a subset of the object's tags", "[rules][match]") {
    s3repl::ReplicationManager m;
    const ReplicationRule tagged = make_rule("tagged", 1, "dst", std::nullopt, {{"env", "prod"}, {"tier", "1"}});
    m.put_config("src", make_config({tagged}));
    CHECK(m.match_rule("src", "k", {{"tier", "1"}, {"env", "prod"}}) == tagged);
    CHECK(m.match_rule("src", "k", {{"x", "y"}, {"tier", "1"}, {"env", "prod"}}) == tagged); // extra tags
    CHECK_FALSE(m.match_rule("src", "k", {{"env", "prod"}}).has_value());
    CHECK_FALSE(m.match_rule("src", "k", {{"env", "prod"}, {"tier", "2"}}).has_value());
    CHECK_FALSE(m.match_rule("src", "k", {}).has_value());
}

TEST_CASE("match_rule: the highest-priority matching rule wins wherever it is declared", "[rules][match]") {
    s3repl::ReplicationManager m;
    const ReplicationRule low = make_rule("low", 1, "dst-low");
    const ReplicationRule high = make_rule("high", 9, "dst-high", "hot/");
    const ReplicationRule mid = make_rule("mid", 5, "dst-mid");
    m.put_config("src", make_config({low, high, mid}));
    CHECK(m.match_rule("src", "hot/k", {}) == high);
    CHECK(m.match_rule("src", "cold/k", {}) == mid); // high does not match: the next priority does
    m.put_config("src", make_config({high, mid, low}));
    CHECK(m.match_rule("src", "hot/k", {}) == high);
    CHECK(m.match_rule("src", "cold/k", {}) == mid);
}

TEST_CASE("match_rule: a tie on priority goes to the rule declared first", "[rules][match]") {
    s3repl::ReplicationManager m;
    const ReplicationRule first = make_rule("first", 3, "dst-1");
    const ReplicationRule second = make_rule("second", 3, "dst-2");
    const ReplicationRule third = make_rule("third", 3, "dst-3");
    m.put_config("src", make_config({first, second, third}));
    CHECK(m.match_rule("src", "k", {}) == first);
    m.put_config("src", make_config({third, first, second}));
    CHECK(m.match_rule("src", "k", {}) == third);
}

TEST_CASE("match_rule: disabled rules never match", "[rules][match]") {
    s3repl::ReplicationManager m;
    const ReplicationRule disabled = make_rule("off", 100, "dst-off", std::nullopt, {}, false);
    const ReplicationRule enabled = make_rule("on", 1, "dst-on");
    m.put_config("src", make_config({disabled, enabled}));
    CHECK(m.match_rule("src", "k", {}) == enabled);
    m.put_config("src", make_config({disabled}));
    CHECK_FALSE(m.match_rule("src", "k", {}).has_value());
}

TEST_CASE("match_rule returns the whole rule, storage class included", "[rules][match]") {
    s3repl::ReplicationManager m;
    ReplicationRule rule = make_rule("r", 7, "dst", "p/", {{"a", "b"}});
    rule.destination_storage_class = "STANDARD_IA";
    m.put_config("src", make_config({rule}));
    const auto matched = m.match_rule("src", "p/k", {{"a", "b"}});
    REQUIRE(matched.has_value());
    CHECK(matched->id == "r");
    CHECK(matched->priority == 7);
    CHECK(matched->destination_bucket == "dst");
    CHECK(matched->destination_storage_class == std::optional<std::string>("STANDARD_IA"));
    CHECK(*matched == rule);
}

// ---- configuration store --------------------------------------------------

TEST_CASE("put_config replaces, get_config returns what was stored", "[rules][config]") {
    s3repl::ReplicationManager m;
    CHECK_FALSE(m.get_config("src").has_value());
    const ReplicationConfig first = make_config({make_rule("a", 1, "dst-a"), make_rule("b", 2, "dst-b", "b/")});
    ReplicationConfig second = make_config({make_rule("c", 3, "dst-c")});
    second.role = "another-role";
    m.put_config("src", first);
    m.put_config("bystander", first);
    CHECK(m.get_config("src") == first);
    m.put_config("src", second);
    CHECK(m.get_config("src") == second); // replaced, not merged
    CHECK(m.get_config("bystander") == first);
    CHECK(m.match_rule("src", "b/k", {})->id == "c");
}

TEST_CASE("delete_config removes the configuration and is idempotent", "[rules][config]") {
    s3repl::ReplicationManager m;
    CHECK_NOTHROW(m.delete_config("never-configured"));
    const ReplicationConfig config = make_config({make_rule("r", 1, "dst")});
    m.put_config("src", config);
    m.put_config("bystander", config);
    m.delete_config("src");
    CHECK_FALSE(m.get_config("src").has_value());
    CHECK_FALSE(m.match_rule("src", "k", {}).has_value());
    CHECK_NOTHROW(m.delete_config("src"));
    CHECK_FALSE(m.get_config("src").has_value());
    CHECK(m.get_config("bystander") == config);
}

TEST_CASE("put_config rejects invalid UTF-8 in any string and stores nothing", "[rules][config][utf8]") {
    const std::string bad = "a\xC0\xAF"; // overlong '/'
    using Mutation = std::function<void(ReplicationConfig&)>;
    const std::vector<std::pair<const char*, Mutation>> mutations = {
        {"role", [&](ReplicationConfig& c) { c.role = bad; }},
        {"rule id", [&](ReplicationConfig& c) { c.rules[1].id = bad; }},
        {"prefix", [&](ReplicationConfig& c) { c.rules[1].filter.prefix = bad; }},
        {"tag key", [&](ReplicationConfig& c) { c.rules[1].filter.tags.emplace_back(bad, "v"); }},
        {"tag value", [&](ReplicationConfig& c) { c.rules[1].filter.tags.emplace_back("k", bad); }},
        {"destination", [&](ReplicationConfig& c) { c.rules[1].destination_bucket = bad; }},
        {"storage class", [&](ReplicationConfig& c) { c.rules[1].destination_storage_class = bad; }},
    };
    const ReplicationConfig original = valid_config();
    for (const auto& mutation : mutations) {
        INFO("invalid " << mutation.first);
        s3repl::ReplicationManager m;
        m.put_config("src", original);
        ReplicationConfig broken = original;
        mutation.second(broken);
        CHECK_THROWS_AS(m.put_config("src", broken), s3repl::InvalidArgument);
        CHECK(m.get_config("src") == original);
        CHECK_THROWS_AS(m.put_config("fresh", broken), s3repl::InvalidArgument);
        CHECK_FALSE(m.get_config("fresh").has_value());
    }
    s3repl::ReplicationManager m;
    CHECK_THROWS_AS(m.put_config(bad, original), s3repl::InvalidArgument);
    CHECK_FALSE(m.get_config(bad).has_value());
}

TEST_CASE("put_config accepts any valid UTF-8, NUL included", "[rules][config][utf8]") {
    s3repl::ReplicationManager m;
    ReplicationConfig config = make_config({make_rule(std::string("id\0\xE2\x82\xAC", 6), 1, "dst",
                                                      std::string("\xF4\x8F\xBF\xBF/"), {{"\xC3\xA9", ""}})});
    m.put_config("src", config);
    CHECK(m.get_config("src") == config);
}

TEST_CASE("InvalidArgument is an s3repl::Error and a std::runtime_error", "[rules][config][utf8]") {
    s3repl::ReplicationManager m;
    CHECK_THROWS_AS(m.put_config("\xFF", valid_config()), s3repl::Error);
    CHECK_THROWS_AS(m.put_config("\xFF", valid_config()), std::runtime_error);
    CHECK_THROWS_WITH(m.put_config("\xFF", valid_config()), Catch::Contains("[s3repl."));
}

// ---- validate -------------------------------------------------------------

TEST_CASE("validate: a sound configuration has no findings", "[rules][validate]") {
    CHECK(s3repl::validate(valid_config()).empty());
    CHECK(s3repl::validate(make_config({make_rule(std::string(255, 'x'), 1, "dst")})).empty());
}

TEST_CASE("validate: an empty rule id is a finding", "[rules][validate]") {
    ReplicationConfig config = valid_config();
    config.rules[1].id.clear();
    CHECK(s3repl::validate(config).size() == 1);
}

TEST_CASE("validate: duplicate rule ids are a finding", "[rules][validate]") {
    ReplicationConfig config = valid_config();
    config.rules[2].id = config.rules[0].id;
    CHECK(s3repl::validate(config).size() == 1);
}

TEST_CASE("validate: an id over 255 characters is a finding", "[rules][validate]") {
    ReplicationConfig config = valid_config();
    config.rules[0].id = std::string(256, 'x');
    CHECK(s3repl::validate(config).size() == 1);
}

TEST_CASE("validate: an empty destination bucket is a finding", "[rules][validate]") {
    ReplicationConfig config = valid_config();
    config.rules[2].destination_bucket.clear();
    CHECK(s3repl::validate(config).size() == 1);
}

TEST_CASE("validate: every problem is reported, not only the first", "[rules][validate]") {
    ReplicationConfig config = valid_config();
    config.rules[0].id.clear();
    config.rules[1].destination_bucket.clear();
    config.rules[2].id = std::string(300, 'y');
    const std::vector<s3repl::ConfigProblem> problems = s3repl::validate(config);
    REQUIRE(problems.size() == 3);
    CHECK(s3repl::to_string(problems[0]) == "rule 0 (''): the id is empty");
    CHECK(s3repl::to_string(problems[1]) == "rule 1 ('images'): the destination bucket is empty");
    CHECK(s3repl::to_string(problems[2]) ==
          "rule 2 ('" + std::string(300, 'y') + "'): the id is longer than 255 characters");
}

TEST_CASE("validate: enabled rules with one destination and priority that can match one key are ambiguous",
          "[rules][validate]") {
    struct Case {
        const char* what;
        ReplicationFilter a, b;
    };
    const std::vector<Case> cases = {
        {"both match everything", {std::nullopt, {}}, {std::nullopt, {}}},
        {"absent and empty prefix", {std::nullopt, {}}, {std::string(), {}}},
        {"everything and a prefix", {std::nullopt, {}}, {std::string("a/"), {}}},
        {"nested prefixes", {std::string("a/"), {}}, {std::string("a/b/"), {}}},
        {"equal prefixes", {std::string("a/"), {}}, {std::string("a/"), {}}},
        {"equal tags", {std::nullopt, {{"env", "prod"}}}, {std::nullopt, {{"env", "prod"}}}},
        {"different tag keys", {std::nullopt, {{"env", "prod"}}}, {std::nullopt, {{"team", "x"}}}},
        {"tags and a prefix", {std::string("a/"), {{"env", "prod"}}}, {std::nullopt, {{"team", "x"}}}},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        ReplicationRule a = make_rule("a", 4, "dst");
        ReplicationRule b = make_rule("b", 4, "dst");
        a.filter = c.a;
        b.filter = c.b;
        CHECK(s3repl::validate(make_config({a, b})).size() == 1);
        CHECK(s3repl::validate(make_config({b, a})).size() == 1);
    }
}

TEST_CASE("validate: rules that cannot collide are not ambiguous", "[rules][validate]") {
    ReplicationRule a = make_rule("a", 4, "dst", "a/");
    ReplicationRule b = make_rule("b", 4, "dst", "b/");
    SECTION("disjoint prefixes") {}
    SECTION("conflicting tag values") {
        a.filter = {std::nullopt, {{"env", "prod"}}};
        b.filter = {std::nullopt, {{"team", "x"}, {"env", "dev"}}};
    }
    SECTION("different priority") {
        a.filter = b.filter = {};
        b.priority = 5;
    }
    SECTION("one rule disabled") {
        a.filter = b.filter = {};
        b.status_enabled = false;
    }
    CHECK(s3repl::validate(make_config({a, b})).empty());
}
