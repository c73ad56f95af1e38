// The AWS replication configuration document: the XML and JSON spellings
// (s3repl/aws_xml.hpp, s3repl/aws_json.hpp) against the user guide's
// examples in tests/fixtures/aws-config, validate()'s S3 rules, and bad input.

#include <s3repl/aws_json.hpp>
#include <s3repl/aws_xml.hpp>
#include <s3repl/json.hpp>
#include <s3repl/s3repl.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

using s3repl::ConfigError;
using s3repl::ConfigProblem;
using s3repl::ReplicationConfig;
using s3repl::ReplicationRule;
using s3repl::S3ErrorCode;

namespace {

const std::vector<std::string> fixture_names = {
    "prefix", "tag", "and", "several-rules", "v1-prefix", "replica-modifications", "rtc-metrics", "kms", "full-v2"};

std::string read_fixture(const std::string& file) {
    std::ifstream in(std::string(S3REPL_AWS_CONFIG_FIXTURES_DIR) + "/" + file, std::ios::binary);
    REQUIRE(in);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The fixture as S3 would send it: compact, the declaration kept.
std::string compact_xml(const std::string& text) {
    pugi::xml_document doc;
    REQUIRE(doc.load_string(text.c_str(), pugi::parse_default | pugi::parse_declaration));
    std::ostringstream out;
    doc.save(out, "", pugi::format_raw);
    return out.str();
}

ReplicationConfig fixture(const std::string& name) {
    return s3repl::parse_replication_xml(read_fixture(name + ".xml"));
}

// The single problem validate() finds.
ConfigProblem only_problem(const ReplicationConfig& config) {
    const std::vector<ConfigProblem> problems = s3repl::validate(config);
    INFO([&] {
        std::string all;
        for (const ConfigProblem& p : problems) all += s3repl::to_string(p) + "\n";
        return all;
    }());
    REQUIRE(problems.size() == 1);
    return problems.front();
}

void check_problem(const ConfigProblem& problem, S3ErrorCode code, std::optional<std::size_t> rule,
                   const std::string& field) {
    INFO(s3repl::to_string(problem));
    CHECK(problem.code == code);
    CHECK(problem.rule_index == rule);
    CHECK(problem.field == field);
    CHECK_FALSE(problem.message.empty());
}

ConfigError xml_error(const std::string& body) {
    try {
        s3repl::parse_replication_xml(body);
    } catch (const ConfigError& error) {
        return error;
    }
    FAIL("parse_replication_xml accepted: " << body.substr(0, 300));
    throw std::logic_error("unreachable");
}

ConfigError json_error(const std::string& text) {
    try {
        s3repl::parse_replication_json(text);
    } catch (const ConfigError& error) {
        return error;
    }
    FAIL("parse_replication_json accepted: " << text.substr(0, 300));
    throw std::logic_error("unreachable");
}

void check_error(const ConfigError& error, S3ErrorCode code, std::optional<std::size_t> rule,
                 const std::string& field) {
    INFO(error.what());
    CHECK(error.code() == code);
    CHECK(error.rule_index() == rule);
    CHECK(error.field() == field);
    CHECK(std::string(error.what()).rfind("[s3repl.config] ", 0) == 0);
}

// A one-rule XML document around `rule` (the Rule element's content).
std::string xml_with_rule(const std::string& rule) {
    return "<ReplicationConfiguration "
           "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Role>arn:aws:iam::1:role/r</Role>"
           "<Rule>" +
           rule + "</Rule></ReplicationConfiguration>";
}
const std::string good_rule_head = "<ID>r</ID><Priority>1</Priority>";
const std::string good_rule_tail = "<Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::dst</Bucket>"
                                   "</Destination><DeleteMarkerReplication><Status>Disabled</Status>"
                                   "</DeleteMarkerReplication>";

std::string json_with_rule(const std::string& members) {
    return R"({"Role": "arn:aws:iam::1:role/r", "Rules": [{)" + members + "}]}";
}
const std::string good_json_rule = R"("ID": "r", "Priority": 1, "Filter": {}, "Status": "Enabled",
    "Destination": {"Bucket": "arn:aws:s3:::dst"}, "DeleteMarkerReplication": {"Status": "Disabled"})";

} // namespace

// ---- the user guide's examples ---------------------------------------------

TEST_CASE("aws config: every fixture round-trips XML -> model -> XML exactly", "[aws_config][xml]") {
    for (const std::string& name : fixture_names) {
        INFO(name);
        const std::string xml = read_fixture(name + ".xml");
        const ReplicationConfig config = s3repl::parse_replication_xml(xml);
        CHECK(s3repl::to_replication_xml(config) == compact_xml(xml));
        CHECK(s3repl::parse_replication_xml(s3repl::to_replication_xml(config)) == config);
        CHECK(s3repl::validate(config).empty());
    }
}

TEST_CASE("aws config: every fixture round-trips JSON -> model -> JSON exactly", "[aws_config][json]") {
    for (const std::string& name : fixture_names) {
        INFO(name);
        const std::string text = read_fixture(name + ".json");
        const ReplicationConfig config = s3repl::parse_replication_json(text);
        CHECK(nlohmann::json::parse(s3repl::to_replication_json(config)) == nlohmann::json::parse(text));
        CHECK(s3repl::parse_replication_json(s3repl::to_replication_json(config, -1)) == config);
        // What `aws s3api get-bucket-replication` prints: the same inside ReplicationConfiguration.
        CHECK(s3repl::parse_replication_json(R"({"ReplicationConfiguration": )" + text + "}") == config);
    }
}

TEST_CASE("aws config: the XML and JSON of each fixture are one model", "[aws_config][xml][json]") {
    for (const std::string& name : fixture_names) {
        INFO(name);
        const ReplicationConfig from_xml = fixture(name);
        const ReplicationConfig from_json = s3repl::parse_replication_json(read_fixture(name + ".json"));
        CHECK(from_xml == from_json);
        CHECK(s3repl::to_replication_xml(from_json) == compact_xml(read_fixture(name + ".xml")));
        CHECK(nlohmann::json::parse(s3repl::to_replication_json(from_xml)) ==
              nlohmann::json::parse(read_fixture(name + ".json")));
    }
}

TEST_CASE("aws config: the model holds what each example says", "[aws_config]") {
    SECTION("a V1 rule keeps its rule-level prefix apart from the filter") {
        const ReplicationRule rule = fixture("v1-prefix").rules.at(0);
        CHECK_FALSE(rule.has_filter);
        CHECK_FALSE(rule.has_priority);
        CHECK(rule.prefix == std::optional<std::string>("key-prefix"));
        CHECK(rule.filter == s3repl::ReplicationFilter{});
        CHECK_FALSE(rule.delete_marker_replication);
        CHECK(rule.destination_bucket == "amzn-s3-demo-destination-bucket");
        const ReplicationConfig config = fixture("v1-prefix");
        CHECK(s3repl::select_rule(config, "key-prefix/a", {}) == &config.rules[0]);
        CHECK(s3repl::select_rule(config, "other/a", {}) == nullptr);
    }
    SECTION("And with a prefix and tags") {
        const ReplicationRule rule = fixture("and").rules.at(0);
        CHECK(rule.filter.prefix == std::optional<std::string>("Tax/"));
        CHECK(rule.filter.tags == s3repl::TagSet{{"Tag1", "Value1"}, {"Tag2", "Value2"}});
        CHECK_FALSE(rule.filter.and_operator); // two conditions: And is the only form
        CHECK(rule.delete_marker_replication == std::optional<bool>(false));
    }
    SECTION("And around one condition is remembered") {
        const ReplicationConfig config = s3repl::parse_replication_xml(xml_with_rule(
            good_rule_head + "<Filter><And><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter>" + good_rule_tail));
        CHECK(config.rules.at(0).filter.and_operator);
        CHECK(config.rules.at(0).filter.tags.size() == 1);
        CHECK(s3repl::to_replication_xml(config).find("<Filter><And><Tag>") != std::string::npos);
    }
    SECTION("an empty Filter and a disabled rule") {
        const ReplicationRule rule = fixture("several-rules").rules.at(2);
        CHECK(rule.has_filter);
        CHECK(rule.filter == s3repl::ReplicationFilter{});
        CHECK_FALSE(rule.status_enabled);
        CHECK(rule.priority == 3);
    }
    SECTION("every element of a V2 rule") {
        const ReplicationRule rule = fixture("full-v2").rules.at(0);
        CHECK(rule.priority == 7);
        REQUIRE(rule.source_selection_criteria);
        CHECK(rule.source_selection_criteria->sse_kms_encrypted_objects == std::optional<bool>(true));
        CHECK(rule.source_selection_criteria->replica_modifications == std::optional<bool>(false));
        CHECK(rule.existing_object_replication == std::optional<bool>(true));
        CHECK(rule.destination_account == std::optional<std::string>("111122223333"));
        CHECK(rule.destination_storage_class == std::optional<std::string>("INTELLIGENT_TIERING"));
        CHECK(rule.access_control_owner == std::optional<std::string>("Destination"));
        CHECK(rule.replica_kms_key_id == std::optional<std::string>("arn:aws:kms:us-east-1:111122223333:key/example"));
        CHECK(rule.replication_time == std::optional<s3repl::ReplicationTime>(s3repl::ReplicationTime{true, 15}));
        CHECK(rule.metrics == std::optional<s3repl::ReplicationMetrics>(s3repl::ReplicationMetrics{true, 15}));
    }
    SECTION("unset stays unset") {
        const ReplicationRule rule = fixture("prefix").rules.at(0);
        CHECK_FALSE(rule.source_selection_criteria);
        CHECK_FALSE(rule.existing_object_replication);
        CHECK_FALSE(rule.destination_account);
        CHECK_FALSE(rule.access_control_owner);
        CHECK_FALSE(rule.replica_kms_key_id);
        CHECK_FALSE(rule.replication_time);
        CHECK_FALSE(rule.metrics);
        CHECK_FALSE(rule.prefix);
    }
}

TEST_CASE("aws config: equality covers every member", "[aws_config]") {
    const ReplicationConfig base = fixture("full-v2");
    const std::vector<std::function<void(ReplicationRule&)>> changes = {
        [](ReplicationRule& r) {
            r.has_filter = false;
            r.filter = {};
        },
        [](ReplicationRule& r) {
            r.has_priority = false;
            r.priority = 0;
        },
        [](ReplicationRule& r) { r.prefix = "p"; },
        [](ReplicationRule& r) {
            r.filter.tags.clear();
            r.filter.and_operator = true;
        },
        [](ReplicationRule& r) { r.delete_marker_replication = true; },
        [](ReplicationRule& r) { r.existing_object_replication.reset(); },
        [](ReplicationRule& r) { r.source_selection_criteria->replica_modifications = true; },
        [](ReplicationRule& r) { r.source_selection_criteria->sse_kms_encrypted_objects.reset(); },
        [](ReplicationRule& r) { r.destination_account = "1"; },
        [](ReplicationRule& r) { r.access_control_owner.reset(); },
        [](ReplicationRule& r) { r.replica_kms_key_id = "k"; },
        [](ReplicationRule& r) { r.replication_time->enabled = false; },
        [](ReplicationRule& r) { r.replication_time->minutes = 16; },
        [](ReplicationRule& r) { r.metrics->enabled = false; },
        [](ReplicationRule& r) { r.metrics->event_threshold_minutes.reset(); },
    };
    for (std::size_t i = 0; i < changes.size(); ++i) {
        INFO("change " << i);
        ReplicationConfig changed = base;
        changes[i](changed.rules[0]);
        CHECK(changed != base);
        CHECK(s3repl::parse_replication_xml(s3repl::to_replication_xml(changed)) == changed);
        CHECK(s3repl::parse_replication_json(s3repl::to_replication_json(changed)) == changed);
    }
}

TEST_CASE("aws config: bucket ARNs both ways", "[aws_config]") {
    CHECK(s3repl::bucket_arn("dst") == "arn:aws:s3:::dst");
    CHECK(s3repl::bucket_from_arn("arn:aws:s3:::dst") == std::optional<std::string>("dst"));
    CHECK(s3repl::bucket_from_arn(s3repl::bucket_arn("a.b-c")) == std::optional<std::string>("a.b-c"));
    for (const char* wrong : {"dst", "arn:aws:s3:::", "arn:aws:s3:::dst/key", "arn:aws:s3:::ap:x",
                              "arn:aws:s3:us-east-1::dst", "arn:aws-cn:s3:::dst", "ARN:AWS:S3:::dst"}) {
        INFO(wrong);
        CHECK_FALSE(s3repl::bucket_from_arn(wrong));
    }
}

TEST_CASE("aws config: the manager stores and checks every member", "[aws_config]") {
    s3repl::ReplicationManager manager;
    const ReplicationConfig config = fixture("full-v2");
    manager.put_config("src", config);
    CHECK(manager.get_config("src") == std::optional<ReplicationConfig>(config));

    std::size_t strings = 0;
    s3repl::for_each_string(config, [&](std::string_view, const char*) { ++strings; });
    CHECK(strings == 10); // role, id, filter prefix, tag key and value, bucket, class, account, owner, key id

    const std::vector<std::function<void(ReplicationRule&)>> breakers = {
        [](ReplicationRule& r) { r.prefix = "\xFF"; },
        [](ReplicationRule& r) { r.destination_account = "\xFF"; },
        [](ReplicationRule& r) { r.access_control_owner = "\xFF"; },
        [](ReplicationRule& r) { r.replica_kms_key_id = "\xFF"; },
    };
    for (const auto& breaker : breakers) {
        ReplicationConfig bad = config;
        breaker(bad.rules[0]);
        CHECK_THROWS_AS(manager.put_config("src", bad), s3repl::InvalidArgument);
        CHECK_THROWS_AS(s3repl::to_replication_xml(bad), s3repl::InvalidArgument);
        CHECK_THROWS_AS(s3repl::to_replication_json(bad), s3repl::InvalidArgument);
    }
    CHECK(manager.get_config("src") == std::optional<ReplicationConfig>(config));
}

// ---- validate(): the S3 rules ----------------------------------------------

TEST_CASE("validate: each S3 rule is refused with its code, rule and field", "[aws_config][validate]") {
    ReplicationConfig config = fixture("full-v2");
    ReplicationRule& rule = config.rules[0];
    SECTION("the role") {
        config.role.clear();
        check_problem(only_problem(config), S3ErrorCode::InvalidArgument, std::nullopt, "Role");
    }
    SECTION("no rule") {
        config.rules.clear();
        check_problem(only_problem(config), S3ErrorCode::MalformedXML, std::nullopt, "Rule");
    }
    SECTION("an id over 255 characters") {
        rule.id = std::string(256, 'x');
        check_problem(only_problem(config), S3ErrorCode::InvalidArgument, 0, "ID");
    }
    SECTION("a duplicate id") {
        config.rules.push_back(rule);
        config.rules[1].priority = 8;
        check_problem(only_problem(config), S3ErrorCode::InvalidArgument, 1, "ID");
    }
    SECTION("a V2 rule without Priority") {
        rule.has_priority = false;
        rule.priority = 0;
        check_problem(only_problem(config), S3ErrorCode::InvalidRequest, 0, "Priority");
    }
    SECTION("a V2 rule without DeleteMarkerReplication") {
        rule.delete_marker_replication.reset();
        check_problem(only_problem(config), S3ErrorCode::InvalidRequest, 0, "DeleteMarkerReplication");
    }
    SECTION("a tag filter with delete marker replication enabled") {
        rule.delete_marker_replication = true;
        check_problem(only_problem(config), S3ErrorCode::InvalidRequest, 0, "DeleteMarkerReplication/Status");
    }
    SECTION("a tag key twice in one filter") {
        rule.filter.tags.push_back({"team", "other"});
        check_problem(only_problem(config), S3ErrorCode::InvalidRequest, 0, "Filter/And/Tag/Key");
    }
    SECTION("a tag key twice, no prefix") {
        rule.filter.prefix.reset();
        rule.filter.tags.push_back({"team", "storage"});
        check_problem(only_problem(config), S3ErrorCode::InvalidRequest, 0, "Filter/And/Tag/Key");
    }
    SECTION("ReplicationTime without Metrics") {
        rule.metrics.reset();
        check_problem(only_problem(config), S3ErrorCode::InvalidRequest, 0, "Destination/Metrics");
    }
    SECTION("ReplicationTime with Metrics disabled") {
        rule.metrics->enabled = false;
        check_problem(only_problem(config), S3ErrorCode::InvalidRequest, 0, "Destination/Metrics");
    }
    SECTION("ReplicationTime other than 15 minutes") {
        rule.replication_time->minutes = 10;
        check_problem(only_problem(config), S3ErrorCode::InvalidArgument, 0,
                      "Destination/ReplicationTime/Time/Minutes");
    }
    SECTION("a metrics threshold other than 15 minutes") {
        rule.metrics->event_threshold_minutes = 30;
        check_problem(only_problem(config), S3ErrorCode::InvalidArgument, 0,
                      "Destination/Metrics/EventThreshold/Minutes");
    }
    SECTION("SSE-KMS objects without a replica key") {
        rule.replica_kms_key_id.reset();
        check_problem(only_problem(config), S3ErrorCode::InvalidRequest, 0,
                      "Destination/EncryptionConfiguration/ReplicaKmsKeyID");
    }
    SECTION("a storage class S3 does not replicate to") {
        rule.destination_storage_class = "EXPRESS_ONEZONE";
        check_problem(only_problem(config), S3ErrorCode::InvalidArgument, 0, "Destination/StorageClass");
    }
    SECTION("a destination that is no bucket name") {
        rule.destination_bucket = "dst/key";
        check_problem(only_problem(config), S3ErrorCode::InvalidArgument, 0, "Destination/Bucket");
    }
    SECTION("an owner override other than Destination") {
        rule.access_control_owner = "Source";
        check_problem(only_problem(config), S3ErrorCode::InvalidArgument, 0,
                      "Destination/AccessControlTranslation/Owner");
    }
    SECTION("a rule-level Prefix beside a Filter") {
        rule.prefix = "p/";
        check_problem(only_problem(config), S3ErrorCode::MalformedXML, 0, "Prefix");
    }
    SECTION("a priority on a rule that has no Priority") {
        rule.has_priority = false;
        rule.has_filter = false;
        rule.filter = {};
        rule.delete_marker_replication.reset();
        check_problem(only_problem(config), S3ErrorCode::InvalidArgument, 0, "Priority");
    }
    SECTION("filter conditions on a rule without a Filter") {
        rule.has_filter = false;
        check_problem(only_problem(config), S3ErrorCode::InvalidArgument, 0, "Filter");
    }
}

TEST_CASE("validate: the limits are S3's, counted as S3 counts them", "[aws_config][validate]") {
    ReplicationConfig config = fixture("prefix");
    SECTION("255 characters of two bytes each are fine, 256 are not") {
        std::string id;
        for (int i = 0; i < 255; ++i) id += "\xC3\xA9"; // U+00E9
        config.rules[0].id = id;
        CHECK(s3repl::validate(config).empty());
        config.rules[0].id += "\xC3\xA9";
        check_problem(only_problem(config), S3ErrorCode::InvalidArgument, 0, "ID");
    }
    SECTION("1000 rules are fine, 1001 are not") {
        const ReplicationRule model = config.rules[0];
        config.rules.clear();
        for (std::uint32_t i = 0; i < 1000; ++i) {
            config.rules.push_back(model);
            config.rules.back().id = "r" + std::to_string(i);
            config.rules.back().priority = i;
        }
        CHECK(s3repl::validate(config).empty());
        config.rules.push_back(model);
        config.rules.back().id = "r1000";
        config.rules.back().priority = 1000;
        check_problem(only_problem(config), S3ErrorCode::InvalidRequest, std::nullopt, "Rule");
        // Past the limit, rules are not compared in pairs: a duplicate id goes unreported.
        config.rules.back().id = "r0";
        check_problem(only_problem(config), S3ErrorCode::InvalidRequest, std::nullopt, "Rule");
    }
    SECTION("every storage class S3 replicates to") {
        for (const std::string_view storage_class : s3repl::replication_storage_classes) {
            config.rules[0].destination_storage_class = std::string(storage_class);
            CHECK(s3repl::validate(config).empty());
        }
    }
}

TEST_CASE("validate: a parsed document gets the problem S3 would send", "[aws_config][validate][xml]") {
    // A V2 rule (it has a Filter) with no Priority and no DeleteMarkerReplication.
    const ReplicationConfig config = s3repl::parse_replication_xml(
        xml_with_rule("<ID>r</ID><Filter><Prefix>a</Prefix></Filter><Status>Enabled</Status>"
                      "<Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination>"));
    const std::vector<ConfigProblem> problems = s3repl::validate(config);
    REQUIRE(problems.size() == 2);
    check_problem(problems[0], S3ErrorCode::InvalidRequest, 0, "Priority");
    check_problem(problems[1], S3ErrorCode::InvalidRequest, 0, "DeleteMarkerReplication");
    CHECK(s3repl::to_string(problems[0]) == "rule 0 ('r'): a rule with a Filter (the V2 schema) needs a Priority");
    CHECK(s3repl::to_string(S3ErrorCode::InvalidRequest) == "InvalidRequest");
}

// ---- bad input: XML --------------------------------------------------------

TEST_CASE("parse_replication_xml: what is not the schema is MalformedXML", "[aws_config][xml][errors]") {
    const auto rule_error = [](const std::string& rule) { return xml_error(xml_with_rule(rule)); };
    check_error(xml_error("<ReplicationConfiguration><Role>r</Role>"), S3ErrorCode::MalformedXML, std::nullopt, "");
    check_error(xml_error("<Other/>"), S3ErrorCode::MalformedXML, std::nullopt, "");
    check_error(xml_error("<ReplicationConfiguration><Role>r</Role></ReplicationConfiguration><Again/>"),
                S3ErrorCode::MalformedXML, std::nullopt, "");
    check_error(xml_error("<ReplicationConfiguration/>"), S3ErrorCode::MalformedXML, std::nullopt, "Role");
    check_error(xml_error("<ReplicationConfiguration><Role>r</Role><Role>s</Role></ReplicationConfiguration>"),
                S3ErrorCode::MalformedXML, std::nullopt, "Role");
    check_error(xml_error("<ReplicationConfiguration><Role>r</Role>text</ReplicationConfiguration>"),
                S3ErrorCode::MalformedXML, std::nullopt, "");
    check_error(xml_error("<ReplicationConfiguration><Role><b/></Role></ReplicationConfiguration>"),
                S3ErrorCode::MalformedXML, std::nullopt, "Role");
    check_error(rule_error(good_rule_head + "<Bogus/>" + good_rule_tail), S3ErrorCode::MalformedXML, 0, "Bogus");
    check_error(rule_error(good_rule_head + "<ID>again</ID>" + good_rule_tail), S3ErrorCode::MalformedXML, 0, "ID");
    check_error(rule_error(good_rule_head +
                           "<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>" +
                           good_rule_tail),
                S3ErrorCode::MalformedXML, 0, "Filter");
    check_error(rule_error(good_rule_head + "<Filter><Prefix>a</Prefix><And><Prefix>b</Prefix></And></Filter>" +
                           good_rule_tail),
                S3ErrorCode::MalformedXML, 0, "Filter");
    check_error(rule_error(good_rule_head + "<Filter><Tag><Key>k</Key></Tag></Filter>" + good_rule_tail),
                S3ErrorCode::MalformedXML, 0, "Filter/Tag/Value");
    check_error(rule_error(good_rule_head + "<Filter><And><And/></And></Filter>" + good_rule_tail),
                S3ErrorCode::MalformedXML, 0, "Filter/And/And");
    for (const char* priority : {"x", "-1", "1.5", " 1", "4294967296", "", "99999999999"}) {
        INFO(priority);
        check_error(rule_error(std::string("<Priority>") + priority + "</Priority>" + good_rule_tail),
                    S3ErrorCode::MalformedXML, 0, "Priority");
    }
    check_error(rule_error(good_rule_head + "<Status>On</Status><Destination><Bucket>arn:aws:s3:::d</Bucket>"
                                            "</Destination>"),
                S3ErrorCode::MalformedXML, 0, "Status");
    check_error(rule_error(good_rule_head + "<Status>Enabled</Status>"), S3ErrorCode::MalformedXML, 0, "Destination");
    check_error(rule_error(good_rule_head + "<Status>Enabled</Status><Destination/>"), S3ErrorCode::MalformedXML, 0,
                "Destination/Bucket");
    check_error(rule_error(good_rule_head +
                           "<Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::d</Bucket>"
                           "<ReplicationTime><Status>Enabled</Status></ReplicationTime></Destination>"),
                S3ErrorCode::MalformedXML, 0, "Destination/ReplicationTime/Time");
    check_error(rule_error(good_rule_head + "<Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::d</Bucket>"
                                            "<Metrics><Status>Enabled</Status><EventThreshold><Minutes>x</Minutes>"
                                            "</EventThreshold></Metrics></Destination>"),
                S3ErrorCode::MalformedXML, 0, "Destination/Metrics/EventThreshold/Minutes");
    check_error(rule_error(good_rule_head + "<Status a=\"1\">Enabled</Status><Destination><Bucket>arn:aws:s3:::d"
                                            "</Bucket></Destination>"),
                S3ErrorCode::MalformedXML, 0, "Status");
    check_error(rule_error(good_rule_head + "<Status>Enabled</Status><Destination><Bucket>dst</Bucket></Destination>"),
                S3ErrorCode::InvalidArgument, 0, "Destination/Bucket");
    // The second rule is the one named.
    const std::string two = "<ReplicationConfiguration><Role>r</Role><Rule>" + good_rule_head + good_rule_tail +
                            "</Rule><Rule><Priority>p</Priority></Rule></ReplicationConfiguration>";
    check_error(xml_error(two), S3ErrorCode::MalformedXML, 1, "Priority");
}

TEST_CASE("parse_replication_xml: hostile bodies fail fast and cleanly", "[aws_config][xml][errors]") {
    SECTION("over 2 MB") {
        const std::string body =
            xml_with_rule(good_rule_head + "<!--" + std::string(2 * 1024 * 1024, 'x') + "-->" + good_rule_tail);
        check_error(xml_error(body), S3ErrorCode::MalformedXML, std::nullopt, "");
    }
    SECTION("just under 2 MB of padding still parses") {
        std::string body = xml_with_rule(good_rule_head + good_rule_tail);
        body += std::string(2 * 1024 * 1024 - body.size(), ' ');
        CHECK(s3repl::parse_replication_xml(body).rules.size() == 1);
    }
    SECTION("deep nesting") {
        std::string deep;
        for (int i = 0; i < 150000; ++i) deep += "<And>";
        check_error(xml_error(xml_with_rule(good_rule_head + "<Filter>" + deep)), S3ErrorCode::MalformedXML,
                    std::nullopt, "");
        std::string closed = deep;
        for (int i = 0; i < 150000; ++i) closed += "</And>";
        check_error(xml_error(xml_with_rule(good_rule_head + "<Filter>" + closed + "</Filter>" + good_rule_tail)),
                    S3ErrorCode::MalformedXML, 0, "Filter/And/And");
    }
    SECTION("a billion laughs") {
        std::string body = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">";
        for (int i = 1; i < 10; ++i)
            body += "<!ENTITY lol" + std::to_string(i) + " \"" + [&] {
                std::string refs;
                for (int j = 0; j < 10; ++j) refs += "&lol" + (i == 1 ? std::string() : std::to_string(i - 1)) + ";";
                return refs;
            }() + "\">";
        body += "]><ReplicationConfiguration><Role>&lol9;</Role></ReplicationConfiguration>";
        const ConfigError error = xml_error(body);
        check_error(error, S3ErrorCode::MalformedXML, std::nullopt, "");
        CHECK_THAT(error.what(), Catch::Contains("DOCTYPE"));
    }
    SECTION("an external entity") {
        const std::string body = "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                                 "<ReplicationConfiguration><Role>&x;</Role></ReplicationConfiguration>";
        check_error(xml_error(body), S3ErrorCode::MalformedXML, std::nullopt, "");
    }
    SECTION("undeclared entities and bare ampersands") {
        for (const char* text : {"&lol;", "a & b", "&#;", "&#x;", "&#12a;", "&amp", "&AMP;"}) {
            INFO(text);
            check_error(xml_error(xml_with_rule(std::string("<ID>") + text + "</ID>" + good_rule_tail)),
                        S3ErrorCode::MalformedXML, std::nullopt, "");
        }
        // In a comment, a CDATA section or a processing instruction, '&' is text.
        const ReplicationConfig config = s3repl::parse_replication_xml(xml_with_rule(
            "<!-- a & b --><?pi & ?><ID><![CDATA[&lol;]]>&lt;&#65;&#x42;&quot;&apos;&gt;</ID>" + good_rule_tail));
        CHECK(config.rules.at(0).id == "&lol;<AB\"'>");
    }
    SECTION("invalid UTF-8") {
        check_error(xml_error(xml_with_rule("<ID>\xC3\x28</ID>" + good_rule_tail)), S3ErrorCode::MalformedXML,
                    std::nullopt, "");
        check_error(xml_error(xml_with_rule("<ID>\xED\xA0\x80</ID>" + good_rule_tail)), S3ErrorCode::MalformedXML,
                    std::nullopt, "");
    }
    SECTION("character references and CDATA are text") {
        const ReplicationConfig config =
            s3repl::parse_replication_xml(xml_with_rule("<ID>a&amp;b&#x41;<![CDATA[<c>]]></ID>" + good_rule_tail));
        CHECK(config.rules.at(0).id == "a&bA<c>");
        CHECK(s3repl::parse_replication_xml(s3repl::to_replication_xml(config)) == config);
    }
}

// ---- bad input: JSON -------------------------------------------------------

TEST_CASE("parse_replication_json: what is not the schema is MalformedXML", "[aws_config][json][errors]") {
    CHECK(s3repl::parse_replication_json(json_with_rule(good_json_rule)).rules.size() == 1);
    check_error(json_error("{"), S3ErrorCode::MalformedXML, std::nullopt, "");
    check_error(json_error("[]"), S3ErrorCode::MalformedXML, std::nullopt, "");
    check_error(json_error(R"({"Role": "r", "Role": "s", "Rules": []})"), S3ErrorCode::MalformedXML, std::nullopt, "");
    check_error(json_error(R"({"Role": "r", "Rules": {}})"), S3ErrorCode::MalformedXML, std::nullopt, "Rules");
    check_error(json_error(R"({"Role": 1, "Rules": []})"), S3ErrorCode::MalformedXML, std::nullopt, "Role");
    check_error(json_error(R"({"Role": null, "Rules": []})"), S3ErrorCode::MalformedXML, std::nullopt, "Role");
    check_error(json_error(R"({"Role": "r", "Rule": []})"), S3ErrorCode::MalformedXML, std::nullopt, "Rule");
    check_error(json_error(json_with_rule(good_json_rule + R"(, "Bogus": 1)")), S3ErrorCode::MalformedXML, 0, "Bogus");
    for (const char* priority : {"\"1\"", "1.5", "-1", "4294967296", "true", "1e3"}) {
        INFO(priority);
        check_error(json_error(json_with_rule(std::string(R"("Priority": )") + priority +
                                              R"(, "Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::d"})")),
                    S3ErrorCode::MalformedXML, 0, "Priority");
    }
    check_error(
        json_error(json_with_rule(R"("Filter": {"And": {"Tag": {"Key": "k", "Value": "v"}}}, "Status": "Enabled",
        "Destination": {"Bucket": "arn:aws:s3:::d"})")),
        S3ErrorCode::MalformedXML, 0, "Filter/And/Tag");
    check_error(json_error(json_with_rule(R"("Filter": {"And": {"Tags": {"Key": "k"}}}, "Status": "Enabled",
        "Destination": {"Bucket": "arn:aws:s3:::d"})")),
                S3ErrorCode::MalformedXML, 0, "Filter/And/Tags");
    check_error(json_error(json_with_rule(R"("Filter": {"Prefix": "a", "Tag": {"Key": "k", "Value": "v"}},
        "Status": "Enabled", "Destination": {"Bucket": "arn:aws:s3:::d"})")),
                S3ErrorCode::MalformedXML, 0, "Filter");
    check_error(json_error(json_with_rule(R"("Status": "Enabled", "Destination": {"Bucket": "d"})")),
                S3ErrorCode::InvalidArgument, 0, "Destination/Bucket");
    check_error(json_error(R"({"ReplicationConfiguration": {"Role": "r"}, "Extra": 1})"), S3ErrorCode::MalformedXML,
                std::nullopt, "Extra"); // not unwrapped: the root holds more than the configuration
}

TEST_CASE("parse_replication_json: hostile text fails fast and cleanly", "[aws_config][json][errors]") {
    check_error(json_error(json_with_rule(good_json_rule) + std::string(2 * 1024 * 1024, ' ')),
                S3ErrorCode::MalformedXML, std::nullopt, "");
    check_error(json_error(std::string(200000, '[') + std::string(200000, ']')), S3ErrorCode::MalformedXML,
                std::nullopt, "");
    check_error(json_error(R"({"Role": "r", "Rules": [{"ID": ")" + std::string("\xC3\x28") + "\"}]}"),
                S3ErrorCode::MalformedXML, std::nullopt, "");
    check_error(json_error(R"({"Role": "\ud800", "Rules": []})"), S3ErrorCode::MalformedXML, std::nullopt, "");
}

// ---- the snapshot ------------------------------------------------------------

namespace {

// Every fixture's configuration under its own bucket.
s3repl::ReplicationManager manager_with_fixtures() {
    s3repl::ReplicationManager manager;
    for (const std::string& name : fixture_names) manager.put_config(name, fixture(name));
    return manager;
}

std::string restore_error(const std::string& rule_json) {
    s3repl::ReplicationManager manager;
    const std::string snapshot = R"({"by_bucket":{"b":{"role":"r","rules":[)" + rule_json + R"(]}},"statuses":[]})";
    try {
        manager.restore_json(snapshot);
    } catch (const s3repl::SnapshotError& error) {
        CHECK_FALSE(manager.get_config("b"));
        return error.what();
    }
    FAIL("restore_json accepted " << rule_json);
    return {};
}

const std::string rule_head = R"({"id":"a","priority":1,"status_enabled":true,"filter":{"prefix":null,"tags":[]},)"
                              R"("destination_bucket":"d","destination_storage_class":null)";

} // namespace

TEST_CASE("snapshot: every member of every fixture survives a save and a restore", "[aws_config][snapshot]") {
    const s3repl::ReplicationManager saved = manager_with_fixtures();
    s3repl::ReplicationManager restored;
    restored.restore_json(saved.to_json());
    for (const std::string& name : fixture_names) {
        INFO(name);
        CHECK(restored.get_config(name) == std::optional<ReplicationConfig>(fixture(name)));
    }
    CHECK(restored.to_json() == saved.to_json());
}

TEST_CASE("snapshot: a rule of today's fields is written byte for byte as before", "[aws_config][snapshot]") {
    s3repl::ReplicationManager manager;
    ReplicationRule rule;
    rule.id = "a";
    rule.priority = 1;
    rule.filter.prefix = "p/";
    rule.filter.tags = {{"k", "v"}};
    rule.destination_bucket = "d";
    manager.put_config("b", ReplicationConfig{"r", {rule}});
    CHECK(
        manager.to_json() ==
        R"({"by_bucket":{"b":{"role":"r","rules":[{"id":"a","priority":1,"status_enabled":true,)"
        R"("filter":{"prefix":"p/","tags":[["k","v"]]},"destination_bucket":"d","destination_storage_class":null}]}},)"
        R"("statuses":[],"next_generation":1})");
}

TEST_CASE("snapshot: the new members go into one extra member the Rust reader ignores", "[aws_config][snapshot]") {
    s3repl::ReplicationManager manager;
    manager.put_config("v1", fixture("v1-prefix"));
    manager.put_config("full", fixture("full-v2"));
    const nlohmann::json snapshot = nlohmann::json::parse(manager.to_json());
    const nlohmann::json& v1 = snapshot["by_bucket"]["v1"]["rules"][0];
    // The Rust server matches a V1 rule on its prefix: it is in "filter".
    CHECK(v1["filter"]["prefix"] == "key-prefix");
    CHECK(v1["aws"] == nlohmann::json{{"has_filter", false}, {"has_priority", false}});
    const nlohmann::json& full = snapshot["by_bucket"]["full"]["rules"][0];
    CHECK(full["aws"] == nlohmann::json::parse(R"({"delete_marker_replication":false,
        "existing_object_replication":true,
        "source_selection_criteria":{"sse_kms_encrypted_objects":true,"replica_modifications":false},
        "destination_account":"111122223333","access_control_owner":"Destination",
        "replica_kms_key_id":"arn:aws:kms:us-east-1:111122223333:key/example",
        "replication_time":{"enabled":true,"minutes":15},"metrics":{"enabled":true,"event_threshold_minutes":15}})"));
    // s3repl/json.hpp's to_json gives the snapshot's shape, extra member included.
    CHECK(snapshot["by_bucket"]["full"] == nlohmann::json(fixture("full-v2")));
    CHECK(snapshot["by_bucket"]["v1"] == nlohmann::json(fixture("v1-prefix")));
}

TEST_CASE("snapshot: the extra member is read strictly", "[aws_config][snapshot]") {
    CHECK_THAT(restore_error(rule_head + R"(,"aws":{"bogus":1}})"),
               Catch::Contains("/by_bucket/b/rules/0/aws/bogus: unknown field \"bogus\""));
    CHECK_THAT(restore_error(rule_head + R"(,"aws":{"has_filter":false,"has_filter":false}})"),
               Catch::Contains("/aws/has_filter: the field is given twice"));
    CHECK_THAT(restore_error(rule_head + R"(,"aws":{"has_filter":0}})"),
               Catch::Contains("/aws/has_filter: expected true or false, found a number"));
    CHECK_THAT(restore_error(rule_head + R"(,"aws":{"destination_account":null}})"),
               Catch::Contains("/aws/destination_account: expected a string, found null"));
    CHECK_THAT(restore_error(rule_head + R"(,"aws":{"replication_time":{"enabled":true}}})"),
               Catch::Contains("/aws/replication_time: missing required field \"minutes\""));
    CHECK_THAT(restore_error(rule_head + R"(,"aws":{"replication_time":{"enabled":true,"minutes":4294967296}}})"),
               Catch::Contains("/aws/replication_time/minutes: expected an unsigned 32-bit integer"));
    CHECK_THAT(restore_error(rule_head + R"(,"aws":{"metrics":{"enabled":true,"unit":"s"}}})"),
               Catch::Contains("/aws/metrics/unit: unknown field \"unit\""));
    CHECK_THAT(restore_error(rule_head + R"(,"aws":{"source_selection_criteria":{"x":true}}})"),
               Catch::Contains("/aws/source_selection_criteria/x: unknown field"));
    CHECK_THAT(restore_error(rule_head + R"(,"aws":{"has_filter":false,"prefix":"p"}})"),
               Catch::Contains("/by_bucket/b/rules/0: \"aws\" holds a \"prefix\" for a rule without a filter"));
    CHECK_THAT(restore_error(rule_head + R"(,"aws":[]})"), Catch::Contains("/aws: expected an object of AWS rule"));
}
